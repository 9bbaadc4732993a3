"""Shared fixtures: a fresh venue per test, and the CLI run in-process or as a real process."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from freezegun import freeze_time

from seatctl import Venue
from seatctl.cli import main

START = "2026-01-01T12:00:00Z"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    def error(self):
        return json.loads(self.err)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEATCTL_DB", "SEATCTL_USER", "SEATCTL_EVENT", "SEATCTL_NOW", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def db_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that does not exist yet, once per backend: a SQLite file's path, or a
    PostgreSQL URL with a fresh schema (skipped unless $SEATCTL_TEST_PG names a server).

    Tests of things only a SQLite file has are marked `sqlite_only`."""
    if request.param == "postgres":
        _freezable_server_clock(request.getfixturevalue("monkeypatch"))
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "venue.db")


def _freezable_server_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's "now" is the server's clock, which freezegun cannot stop; for the shared
    suite, this process's (frozen) clock stands in for it. tests/test_postgres.py checks the
    real server clock."""
    from seatctl.core import clock
    from seatctl.storage.postgres import PostgresTransaction

    monkeypatch.setattr(PostgresTransaction, "_server_now", lambda self: clock.now())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: runs against the SQLite backend only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the PostgreSQL variant of tests about SQLite files."""
    kept = [item for item in items if not _postgres_variant_of_sqlite_only(item)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def _postgres_variant_of_sqlite_only(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return (
        callspec is not None
        and callspec.params.get("db_path") == "postgres"
        and item.get_closest_marker("sqlite_only") is not None
    )


@pytest.fixture
def venue_db(db_path: str) -> str:
    """An initialised database holding the default venue, seats 1 to 5, created at START."""
    with freeze_time(START):
        Venue.init(db_path)
    return db_path


@pytest.fixture
def venue(venue_db: str):
    with Venue.open(venue_db) as opened:
        yield opened


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], db_path: str) -> Callable[..., Run]:
    """Run seatctl in this process against `db_path` (so freezegun applies)."""

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main(["--db", db_path, *args])
        captured = capsys.readouterr()
        return Run(int(code), captured.out, captured.err)

    return run


def run_process(*args: str, env: dict[str, str] | None = None, **kwargs) -> Run:
    """Run seatctl as a real process, the way scripts do."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    full_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "seatctl", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        **kwargs,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def dump(path: str) -> list[str] | dict[str, list[tuple]]:
    """The database's whole logical content: what "left exactly as it was" is checked against."""
    if path.startswith(("postgresql://", "postgres://")):
        return dump_pg(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


# --- PostgreSQL --------------------------------------------------------------------------------

PG_ENV = "SEATCTL_TEST_PG"  # a server URL, e.g. postgresql://postgres@127.0.0.1:5432/test


def with_search_path(url: str, schema: str) -> str:
    """`url` with the connection's search_path set to `schema`, as a user would write it."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_server() -> str:
    """The PostgreSQL server to test against (from $SEATCTL_TEST_PG); skips the test without one."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"set {PG_ENV} to a PostgreSQL URL to run the PostgreSQL tests")
    pytest.importorskip("psycopg")
    return url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema `seatctl_test_<random>`, dropped after
    the test: a new database as far as seatctl can tell (the PostgreSQL `db_path`)."""
    import psycopg

    schema = f"seatctl_test_{secrets.token_hex(6)}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(pg_server, schema)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def dump_pg(url: str) -> dict[str, list[tuple]]:
    """Every row of seatctl's tables behind `url`: the PostgreSQL counterpart of `dump`."""
    import psycopg

    with psycopg.connect(url) as conn:
        present = {
            row[0]
            for row in conn.execute(
                "SELECT relname::text FROM pg_class"
                " WHERE relnamespace = to_regnamespace(current_schema())"
            )
        }
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("meta", "seats", "events", "shows", "seat_states")
            if table in present
        }


@pytest.fixture(params=BACKENDS)
def new_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], tuple[str, Callable[[], None]]]:
    """Makes databases that do not exist yet, as many as a test needs (one per Hypothesis
    example), once per backend: each call returns one and the function that removes it."""
    if request.param == "postgres":
        import psycopg

        server = request.getfixturevalue("pg_server")
        _freezable_server_clock(request.getfixturevalue("monkeypatch"))

        def make_schema() -> tuple[str, Callable[[], None]]:
            schema = f"seatctl_test_{secrets.token_hex(6)}"
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f"CREATE SCHEMA {schema}")

            def drop() -> None:
                with psycopg.connect(server, autocommit=True) as admin:
                    admin.execute(f"DROP SCHEMA {schema} CASCADE")

            return with_search_path(server, schema), drop

        return make_schema

    def make_file() -> tuple[str, Callable[[], None]]:
        path = tmp_path / f"venue-{secrets.token_hex(6)}.db"

        def remove() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        return str(path), remove

    return make_file

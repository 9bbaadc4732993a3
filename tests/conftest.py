"""Shared fixtures: a fresh venue per test, and the CLI run in-process or as a real process.

Helpers (running seatctl, dumping a database, a stopped clock) are in tests/helpers.py.

What runs where:

- The database fixtures (`db_path`, `venue_db`, `cli`, `new_database`) run on SQLite, and on
  PostgreSQL too in tests marked `backend`: tests of what the backend does (storage,
  transactions, concurrency, upgrades, faults, change notifications, the model test). What is
  built above the `Store` protocol (the CLI, the HTTP API, the rules) behaves the same on
  either backend, and runs once.
- Tests marked `alone` (those that hold something to a time bound: a change arriving within
  half a second, a page drawn in under a second) run last, one at a time, with nothing else
  running beside them (tests/alone.py). Stress, crash and browser tests prove what holds under
  any scheduling: they run beside the rest, each module (or stress round) an `xdist_group` of
  its own so that its module fixture is built once.
- Hypothesis profiles: `dev` (the default), `ci` (the default under CI=true) and `soak` (20
  times the examples, for a long local run); HYPOTHESIS_PROFILE picks one.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import alone
from helpers import PG_ENV, START, Run, frozen, new_schema, vacuum_catalogs
from seatctl import Venue
from seatctl.cli import main

settings.register_profile("dev", deadline=None)
# CI machines are shared and slow: no health check fails a run for slowness alone, and a
# failure prints the blob that reproduces it.
settings.register_profile(
    "ci", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("soak", deadline=None, max_examples=2000)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEATCTL_DB", "SEATCTL_USER", "SEATCTL_EVENT", "SEATCTL_NOW", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


BACKENDS = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "backend: the test proves something the backend does; its database fixtures run on"
        " SQLite and on PostgreSQL (the rest run on SQLite only)",
        "sqlite_only: in a `backend` test, runs against the SQLite backend only",
        "alone: timed; runs after the rest of the suite, one test at a time, nothing beside it",
    ):
        config.addinivalue_line("markers", line)
    alone.configure(config)
    _cache_bytecode()
    if not hasattr(config, "workerinput") and os.environ.get(PG_ENV):  # once, before the workers
        vacuum_catalogs(os.environ[PG_ENV])


def _cache_bytecode() -> None:
    """Compiled modules are kept (in __pycache__, which git ignores), whatever
    PYTHONDONTWRITEBYTECODE says: the suite starts thousands of Python processes (commands,
    servers, racing workers), and each would otherwise compile seatctl's modules from source
    again, about 30 ms a command and 50 ms a server. xdist's workers and every process a test
    starts inherit this environment."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The database fixtures once per backend in `backend` tests, on SQLite in the rest."""
    definition = metafunc.definition
    backends = (
        BACKENDS
        if definition.get_closest_marker("backend")
        and not definition.get_closest_marker("sqlite_only")
        else ("sqlite",)
    )
    for name in ("db_path", "new_database"):
        if name in metafunc.fixturenames and name not in _parametrized_by_mark(definition):
            metafunc.parametrize(name, backends, indirect=True)


def _parametrized_by_mark(definition: pytest.Function) -> set[str]:
    """The names a test's own `parametrize` marks give values to (they choose the backend)."""
    names: set[str] = set()
    for mark in definition.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs["argnames"]
        if isinstance(argnames, str):
            argnames = argnames.split(",")
        names.update(name.strip() for name in argnames)
    return names


# The slowest tests (`--durations=40`), slowest first: started before the rest, so that the
# workers finish together rather than one waiting for another's last long test.
STARTED_FIRST = (
    # Groups that mostly wait (on a browser, a server, worker processes): started first, so
    # that their waits overlap the CPU-bound tests on the other workers.
    "tests/test_page_browser.py::",
    "tests/test_stress.py::",
    "tests/test_crash.py::",
    "tests/test_page_hall.py::",
    "tests/test_model.py::",
    "tests/test_postgres.py::test_sixteen_hosts",
    "tests/test_postgres.py::test_overlapping_multi_seat_locks",
    "tests/test_backup.py::test_backup_taken_while_others_write_is_consistent",
    "tests/test_best.py::test_lock_best_makes_the_choice_of_the_pure_rule_on_random_maps",
    "tests/test_fuzz.py::test_a_damaged_seat_record",
    "tests/test_transactions.py::test_init_interrupted_by_sigint_at_any_moment",
    "tests/test_concurrency.py::",
    "tests/test_postgres.py::test_concurrent_inits",
    "tests/test_best.py::test_sixteen_processes",
    "tests/test_fuzz.py::test_a_damaged_history_event",
    "tests/test_fuzz.py::test_whatever_it_is_given",
    "tests/test_fairness.py::test_eight_processes",
)


def _start_rank(item: pytest.Item) -> int:
    return next(
        (rank for rank, prefix in enumerate(STARTED_FIRST) if item.nodeid.startswith(prefix)),
        len(STARTED_FIRST),
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_start_rank)
    if hasattr(config, "workerinput"):  # an xdist worker: tell the scheduler the groups
        alone.write_groups(config, items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: two workers per core. Many tests spend most of their time waiting (on a
    browser, a server, worker processes they started, PostgreSQL): with fewer workers, a core
    idles while its worker waits (on 2 cores, 3 workers left 50 CPU-s of a run idle, 4 left
    35, and the run took 147 s on average instead of 153)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 2 * (cores or 1)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    if config.getvalue("dist") != "loadgroup":
        return None
    return alone.make_scheduler(config, log)


@pytest.fixture
def db_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that does not exist yet: a SQLite file's path, or (in `backend` tests) a
    PostgreSQL URL with a fresh schema (skipped unless $SEATCTL_TEST_PG names a server)."""
    if getattr(request, "param", "sqlite") == "postgres":
        _freezable_server_clock(request.getfixturevalue("monkeypatch"))
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "venue.db")


def _freezable_server_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's "now" is the server's clock, which no test can stop; for the shared
    suite, this process's (stopped) clock stands in for it. tests/test_postgres.py checks the
    real server clock."""
    from seatctl.core import clock
    from seatctl.storage.postgres import PostgresTransaction

    monkeypatch.setattr(PostgresTransaction, "_server_now", lambda self: clock.now())
    # The read cache reads the server's clock with its change marker: the same stand-in.
    from seatctl.server.cache import ReadCache

    monkeypatch.setattr(ReadCache, "_server_now", lambda self, read: clock.now())


@pytest.fixture
def venue_db(db_path: str) -> str:
    """An initialised database holding the default venue, seats 1 to 5, created at START."""
    with frozen(START):
        Venue.init(db_path)
    return db_path


@pytest.fixture
def venue(venue_db: str):
    with Venue.open(venue_db) as opened:
        yield opened


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], db_path: str) -> Callable[..., Run]:
    """Run seatctl in this process against `db_path` (so a stopped clock applies)."""

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main(["--db", db_path, *args])
        captured = capsys.readouterr()
        return Run(int(code), captured.out, captured.err)

    return run


# --- PostgreSQL --------------------------------------------------------------------------------


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
    url, drop = new_schema(pg_server)
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def pg(capsys: pytest.CaptureFixture[str], pg_url: str) -> Callable[..., Run]:
    """Run seatctl in this process against the test's PostgreSQL schema."""

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main(["--db", pg_url, *args])
        captured = capsys.readouterr()
        return Run(int(code), captured.out, captured.err)

    return run


@pytest.fixture
def new_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], tuple[str, Callable[[], None]]]:
    """Makes databases that do not exist yet, as many as a test needs (one per Hypothesis
    example), on each backend `db_path` runs on: each call returns one and the function that
    removes it."""
    if getattr(request, "param", "sqlite") == "postgres":
        server = request.getfixturevalue("pg_server")
        _freezable_server_clock(request.getfixturevalue("monkeypatch"))
        return lambda: new_schema(server)

    def make_file() -> tuple[str, Callable[[], None]]:
        path = tmp_path / f"venue-{secrets.token_hex(6)}.db"

        def remove() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        return str(path), remove

    return make_file


@pytest.fixture
def worker(venue_db: str) -> Iterator[Any]:
    """The server's database worker on the test's venue, started and stopped around the test
    (the server stack is imported here only: tests that need it skip without it)."""
    pytest.importorskip("starlette")
    from seatctl.server.worker import Worker

    running = Worker(venue_db)
    running.start()
    yield running
    running.stop()

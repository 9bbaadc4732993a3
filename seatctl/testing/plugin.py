"""seatctl's pytest plugin (the `pytest11` entry point `seatctl`; off with `-p no:seatctl`).

Fixtures: `seat_venue`, `seat_clock`, `seat_env`, `seatctl_run`, `seat_server`; the marker
`@pytest.mark.seatctl(...)`; the option `--seatctl-db`. See docs/testing.md.

pytest imports this module in every project that has seatctl installed, so it imports
nothing of seatctl's at the top: each fixture loads what it needs when a test asks for it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from seatctl.testing import SeatClock, SeatEnv, SeatServer
    from seatctl.testing._run import Runner
    from seatctl.venue import Venue

PG_ENV = "SEATCTL_TEST_PG"
# What the marker shapes; `now` is the clock's start, the rest `Venue.init`'s and events'.
MARKER_ARGS = ("seats", "ttl", "map", "events", "max_hold", "max_seats_per_user", "now")
SCHEMA_PREFIX = "seatctl_pytest_"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seatctl", "seatctl's fixtures")
    group.addoption(
        "--seatctl-db",
        metavar="URL",
        default=None,
        help=(
            "where seat_venue makes each test's venue: a PostgreSQL server"
            " (postgresql://...; a fresh schema per test, dropped after it) or 'sqlite'"
            f" (a file in the test's temporary directory). Default: ${PG_ENV} if set, else"
            " sqlite."
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "seatctl(seats=5, ttl=60, map=None, events=(), max_hold=None, max_seats_per_user=None,"
        " now=None): shape the test's seat_venue and where seat_clock starts",
    )
    if config.getoption("--seatctl-db"):
        _postgres_server(config)  # a wrong --seatctl-db stops the run before any test


def _postgres_server(config: pytest.Config) -> str | None:
    """The PostgreSQL server the venues go to, or None for SQLite."""
    option = config.getoption("--seatctl-db")
    chosen = option or os.environ.get(PG_ENV) or "sqlite"
    if chosen == "sqlite":
        return None
    if not chosen.startswith(("postgresql://", "postgres://")):
        where = "--seatctl-db" if option else f"${PG_ENV}"
        message = f"{where} {chosen!r}: give a postgresql:// URL or 'sqlite'"
        if option:  # checked as pytest starts
            raise pytest.UsageError(message)
        pytest.fail(message, pytrace=False)  # only tests that use the venue need it
    return chosen


def _marker(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("seatctl")
    if marker is None:
        return {}
    if marker.args:
        pytest.fail(
            f"@pytest.mark.seatctl takes names only, like seats=10 (not {marker.args!r})",
            pytrace=False,
        )
    unknown = sorted(set(marker.kwargs) - set(MARKER_ARGS))
    if unknown:
        pytest.fail(
            f"@pytest.mark.seatctl: unknown {', '.join(unknown)}"
            f" (it takes {', '.join(MARKER_ARGS)})",
            pytrace=False,
        )
    return dict(marker.kwargs)


@pytest.fixture
def seat_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> SeatClock:
    """The test's clock, at `@pytest.mark.seatctl(now=...)` or 2030-01-01T12:00:00Z. It is
    seatctl's clock in this process (Venue objects already open follow it), in `seat_env`,
    `seatctl_run` and `seat_server`; `seat_clock.env()` gives it to processes of your own."""
    from seatctl.testing._clock import DEFAULT_START, SeatClock, install

    start = _marker(request).get("now", DEFAULT_START)
    try:
        seat_clock = SeatClock(start)
    except (TypeError, ValueError) as exc:
        pytest.fail(f"@pytest.mark.seatctl: {exc}", pytrace=False)
    # A SEATCTL_NOW of the developer's would beat the test's clock in this process.
    monkeypatch.delenv("SEATCTL_NOW", raising=False)
    postgres = _postgres_server(request.config) is not None
    install(lambda: seat_clock.now, postgres, monkeypatch.setattr)
    return seat_clock


@pytest.fixture
def _seatctl_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the test's venue goes: a SQLite file in the test's temporary directory, or a
    PostgreSQL URL whose search_path is a fresh schema of its own, dropped after the test."""
    server = _postgres_server(request.config)
    if server is None:
        yield str(tmp_path / "venue.db")
        return
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        pytest.fail(
            "seat_venue on PostgreSQL needs psycopg: pip install 'seatctl[postgres]'",
            pytrace=False,
        )
    import psycopg

    from seatctl.storage.postgres import redacted

    schema = SCHEMA_PREFIX + secrets.token_hex(6)
    failure = ""
    try:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
    except psycopg.Error as exc:
        failure = f"seat_venue: cannot make a schema on {redacted(server)}: {exc}".strip()
    if failure:  # failed outside the `except`: no "during handling" chain
        pytest.fail(failure, pytrace=False)
    try:
        yield f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def seat_venue(
    request: pytest.FixtureRequest, seat_clock: SeatClock, _seatctl_db: str
) -> Iterator[Venue]:
    """A new venue, open, made at the clock's start as `seatctl init` makes one (seats 1 to
    5, 60 s locks, a new database's caps) or as `@pytest.mark.seatctl(...)` says;
    `seat_venue.db` is its location, for the code under test."""
    from seatctl.testing._venue import TestVenue, make_venue

    shape = {k: v for k, v in _marker(request).items() if k != "now"}
    make_venue(_seatctl_db, shape, request.config.rootpath)
    venue = cast(TestVenue, TestVenue.open(_seatctl_db))
    venue.db = _seatctl_db
    with venue:
        yield venue


@pytest.fixture
def seat_env(seat_venue: Venue, seat_clock: SeatClock, _seatctl_db: str) -> SeatEnv:
    """An environment for `seatctl` processes the test starts: SEATCTL_DB (the venue) and
    SEATCTL_NOW (the clock, as it is whenever the environment is read)."""
    from seatctl.testing import SeatEnv

    return SeatEnv(_seatctl_db, seat_clock)


@pytest.fixture
def seatctl_run(seat_venue: Venue, seat_clock: SeatClock, _seatctl_db: str) -> Runner:
    """`seatctl_run("lock", "3", "--user", "alice", "--json")`: a `seatctl` command against
    the venue at the clock; `(exit_code, stdout, stderr)` and `.json`. In this process, or
    `subprocess=True` for a real one."""
    from seatctl.testing._run import Runner

    return Runner(_seatctl_db, seat_clock)


@pytest.fixture
def seat_server(
    seat_venue: Venue, seat_clock: SeatClock, _seatctl_db: str, tmp_path: Path
) -> Iterator[SeatServer]:
    """`seatctl serve` for the venue on a free port, stopped after the test: `url`,
    `token(user)`; its clock is the test's."""
    from seatctl.testing import SeatServer

    workdir = tmp_path / "seat_server"
    workdir.mkdir()
    try:
        server = SeatServer(seat_venue, _seatctl_db, seat_clock, workdir)
    except RuntimeError as exc:  # it did not start: the server's own words say why
        failure = str(exc)
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield server
    finally:
        server.stop()

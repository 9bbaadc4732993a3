"""Real races between separate processes: exactly one wins, the rest are refused cleanly."""

from __future__ import annotations

import sqlite3

import pytest

from helpers import RACERS, START, assert_clean, dump, frozen, race
from seatctl import Venue

# The backend's part: races are settled by the backend's locks.
pytestmark = pytest.mark.backend


@pytest.fixture
def one_seat(db_path: str) -> str:
    with frozen(START):  # before every clock the tests use: a seat's history runs forward
        Venue.init(db_path, seats=1)
    return db_path


def test_sixteen_processes_locking_one_seat_produce_exactly_one_winner(one_seat):
    runs = race([["--db", one_seat, "lock", "1", "--user", f"u{n}"] for n in range(RACERS)])
    assert_clean(runs)
    assert sorted(run.code for run in runs) == [0] + [4] * (RACERS - 1)
    winner = next(n for n, run in enumerate(runs) if run.code == 0)
    with Venue.open(one_seat) as venue:
        assert venue.seats()[0].locked_by == f"u{winner}"


def test_after_expiry_the_former_holders_confirms_lose_to_exactly_one_new_locker(
    one_seat, monkeypatch
):
    monkeypatch.setenv("SEATCTL_NOW", "2026-01-01T12:00:00Z")
    with Venue.open(one_seat) as venue:
        venue.lock(["1"], user="alice", ttl=10)
    confirms = [["--db", one_seat, "confirm", "1", "--user", "alice"]] * (RACERS // 2)
    lockers = [["--db", one_seat, "lock", "1", "--user", f"u{n}"] for n in range(RACERS // 2)]
    runs = race(confirms + lockers, env={"SEATCTL_NOW": "2026-01-01T12:00:10Z"})
    assert_clean(runs)
    assert [run.code for run in runs[: RACERS // 2]] == [5] * (RACERS // 2)
    assert sorted(run.code for run in runs[RACERS // 2 :]) == [0] + [4] * (RACERS // 2 - 1)


def test_a_live_holders_confirm_racing_other_lockers_books_the_seat(one_seat):
    with Venue.open(one_seat) as venue:
        venue.lock(["1"], user="alice", ttl=600)
    confirm = [["--db", one_seat, "confirm", "1", "--user", "alice"]]
    lockers = [["--db", one_seat, "lock", "1", "--user", f"u{n}"] for n in range(RACERS - 1)]
    runs = race(confirm + lockers)
    assert_clean(runs)
    assert [run.code for run in runs] == [0] + [4] * (RACERS - 1)
    with Venue.open(one_seat) as venue:
        assert venue.seats()[0].booked_by == "alice"


@pytest.mark.sqlite_only
def test_a_writer_still_blocked_after_the_busy_timeout_gets_exit_6_busy(venue_db, cli, monkeypatch):
    monkeypatch.setattr("seatctl.storage.sqlite.BUSY_TIMEOUT_SECONDS", 0.2)
    blocker = sqlite3.connect(venue_db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        before = dump(venue_db)
        run = cli("lock", "1", "--user", "alice", "--json")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (run.code, run.error()["error"]) == (6, "busy")
    assert dump(venue_db) == before

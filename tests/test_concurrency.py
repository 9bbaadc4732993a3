"""Real races between separate processes: exactly one wins, the rest are refused cleanly."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from freezegun import freeze_time

from conftest import START, Run, dump
from seatctl import Venue

RACERS = 16

# Each racer imports everything (its backend too), says it is ready, then blocks until the
# starting pipe closes, so all of them hit the database at the same moment.
RACER = """
import importlib, os, sys
from seatctl.cli import main
importlib.import_module(os.environ["RACER_BACKEND"])
print("ready", flush=True)
os.read(int(sys.argv[1]), 1)
sys.exit(main(sys.argv[2:]))
"""


def race(commands: list[list[str]], env: dict[str, str] | None = None) -> list[Run]:
    """Run every command in its own process, all released at once; their results in order."""
    start_read, start_write = os.pipe()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    db = commands[0][commands[0].index("--db") + 1]
    full_env["RACER_BACKEND"] = (
        "seatctl.storage.postgres" if db.startswith("postgres") else "seatctl.storage.sqlite"
    )
    full_env.update(env or {})
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(start_read), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            pass_fds=(start_read,),
        )
        for command in commands
    ]
    os.close(start_read)
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline() == "ready\n", racer.stderr.read()
    finally:
        os.close(start_write)  # go
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        results.append(Run(racer.returncode, out, err))
    return results


def assert_clean(runs: list[Run]) -> None:
    for run in runs:
        assert "Traceback" not in run.err
        assert "database is locked" not in run.err


@pytest.fixture
def one_seat(db_path: str) -> str:
    with freeze_time(START):  # before every clock the tests use: a seat's history runs forward
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

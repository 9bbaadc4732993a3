"""`seatctl check`: SQLite's integrity check plus the booking invariants and history replay."""

from __future__ import annotations

import sqlite3

import pytest

from helpers import START, frozen

# The backend's part: `check` reads each backend's integrity and records.
pytestmark = [pytest.mark.backend, pytest.mark.usefixtures("venue_db")]


@pytest.fixture
def busy_history(cli):
    with frozen(START) as clock:
        cli("lock", "1", "2", "--user", "alice", "--ttl", "10")
        cli("confirm", "1", "--user", "alice")
        clock.tick(30)
        cli("lock", "2", "--user", "bob")
        cli("release", "2", "--user", "bob")
        cli("lock", "3", "--user", "carol")


def tamper(db_path: str, sql: str, *params) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def test_check_passes_on_a_database_built_by_commands(cli, busy_history):
    run = cli("check")
    assert (run.code, run.out) == (0, "ok\n")
    assert cli("check", "--json").json() == {"ok": True, "problems": []}


def test_check_passes_with_lapsed_locks_nobody_touched(cli, busy_history):
    with frozen("2026-02-01T00:00:00Z"):
        assert cli("check").code == 0


@pytest.mark.sqlite_only
def test_a_booking_changed_behind_seatctls_back_fails_the_replay(cli, busy_history, db_path):
    tamper(db_path, "UPDATE seat_states SET booked_by = 'mallory' WHERE seat = '1'")
    run = cli("check")
    assert run.code == 6
    assert "seat 1: stored" in run.out
    assert run.err == "error: check found 1 problem\n"


@pytest.mark.sqlite_only
def test_a_seat_booked_twice_is_reported(cli, busy_history, db_path):
    tamper(
        db_path,
        "INSERT INTO events (at, seat, action, user) VALUES (?, '1', 'confirm', 'bob')",
        1767268900,
    )
    problems = cli("check", "--json").json()["problems"]
    assert any("already booked by alice" in p for p in problems)


@pytest.mark.sqlite_only
def test_a_confirm_without_a_live_lock_is_reported(cli, busy_history, db_path):
    tamper(
        db_path,
        "INSERT INTO events (at, seat, action, user) VALUES (?, '4', 'confirm', 'eve')",
        1767268900,
    )
    tamper(
        db_path,
        "INSERT OR REPLACE INTO seat_states (show, seat, booked_by, booked_at)"
        " VALUES ('default', '4', 'eve', 1767268900)",
    )
    run = cli("check", "--json")
    assert run.code == 6
    assert run.json()["problems"] == [
        "seat 4: confirmed by eve without a live lock (event 13, 2026-01-01T12:01:40Z)"
    ]
    assert run.error()["error"] == "inconsistent"


@pytest.mark.sqlite_only
def test_a_lock_taken_over_a_live_lock_is_reported(cli, busy_history, db_path):
    tamper(
        db_path,
        "INSERT INTO events (at, seat, action, user, expires_at) VALUES (?, '3', 'lock', 'eve', ?)",
        1767268831,
        1767268891,
    )
    problems = cli("check", "--json").json()["problems"]
    assert any("locked by eve while the lock of carol stood" in p for p in problems)


@pytest.mark.sqlite_only
def test_impossible_seat_records_are_reported(cli, busy_history, db_path):
    tamper(db_path, "UPDATE seat_states SET lock_expires = NULL WHERE seat = '3'")
    problems = cli("check", "--json").json()["problems"]
    assert "seat 3: lock lacks its holder or its deadline" in problems


@pytest.mark.sqlite_only
def test_a_seat_missing_from_the_history_is_reported(cli, busy_history, db_path):
    tamper(db_path, "INSERT INTO seats (label, sort_key) VALUES ('Z9', 'Z0019')")
    problems = cli("check", "--json").json()["problems"]
    assert problems == ["seat Z9: exists but its history never added it"]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("token_id", [0, -3, "x", 1.5])
def test_a_token_event_whose_token_id_is_not_a_positive_whole_number_is_reported(
    cli, db_path, token_id
):
    cli("token", "add", "alice")
    tamper(db_path, "UPDATE events SET token_id = ? WHERE action = 'token_add'", token_id)
    problems = cli("check", "--json").json()["problems"]
    assert len(problems) == 1
    assert "a token_add event: its token id is not a positive whole number" in problems[0]


@pytest.mark.sqlite_only
def test_a_seat_event_naming_a_token_is_reported(cli, busy_history, db_path):
    tamper(db_path, "UPDATE events SET token_id = 1 WHERE seat = '3' AND action = 'lock'")
    problems = cli("check", "--json").json()["problems"]
    assert any(
        p.startswith("seat 3:") and p.endswith("it names a token (only token events do)")
        for p in problems
    )


@pytest.mark.sqlite_only
def test_a_damaged_file_fails_the_integrity_check(cli, db_path):
    cli("init", "--seats", "2000")
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db_path, "r+b") as damaged:
        for page in range(3, 9):  # scribble over the b-tree headers of a few pages
            damaged.seek(page_size * page)
            damaged.write(b"\xff" * 64)
    run = cli("check")
    assert run.code == 6
    assert run.err.startswith("error: ")

"""Databases written by seatctl 0.1.0 (schema 1, no history) upgrade in place on first write."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from helpers import dump

pytestmark = pytest.mark.sqlite_only

FIXTURE = Path(__file__).parent / "fixtures" / "v1-venue.db"
# The fixture was made by seatctl 0.1.0 at 2026-01-01T12:00:00Z: seats 1-6, A1, B2; seat 1 locked
# by alice until 13:00, seat 2 booked by bob, seat 3 locked by carol until 12:00:10.
LATER = "2026-01-01T12:30:00Z"


@pytest.fixture
def v1_db(db_path: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the 0.1.0 database, looked at half an hour after it was made."""
    shutil.copy(FIXTURE, db_path)
    monkeypatch.setenv("SEATCTL_NOW", LATER)
    return db_path


def version(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_the_fixture_really_is_schema_1():
    assert version(str(FIXTURE)) == 1


def test_reading_an_old_database_does_not_change_it(cli, v1_db):
    before = dump(v1_db)
    seats = cli("seats", "--json").json()
    assert [(s["seat"], s["status"]) for s in seats[:3]] == [
        ("1", "locked"),
        ("2", "booked"),
        ("3", "available"),
    ]
    assert cli("history").code == 0
    assert cli("check").out == "ok\n"
    assert dump(v1_db) == before
    assert version(v1_db) == 1


def test_a_refused_write_does_not_upgrade(cli, v1_db):
    before = dump(v1_db)
    assert cli("lock", "2", "--user", "eve").code == 4
    assert dump(v1_db) == before


def test_the_first_write_upgrades_and_seeds_the_history(cli, v1_db):
    assert cli("lock", "4", "--user", "dave").code == 0
    # Through 2 (history), 3 (tokens), 4 (map and events) to 5 (hold starts and caps).
    assert version(v1_db) == 7
    history = cli("history", "--json").json()
    seeded = [(e["seat"], e["action"], e["user"]) for e in history]
    assert seeded[:8] == [
        ("1", "add", None),
        ("1", "lock", "alice"),
        ("2", "add", None),
        ("2", "confirm", "bob"),
        ("3", "add", None),
        ("3", "lock", "carol"),
        ("3", "expire", "carol"),
        ("4", "add", None),
    ]
    assert ("4", "lock", "dave") in seeded
    bob = next(e for e in history if e["action"] == "confirm")
    assert bob["at"] == "2026-01-01T12:00:00Z", "a seeded booking keeps its real instant"


def test_an_upgraded_database_passes_check_and_keeps_every_seat(cli, v1_db):
    before = cli("seats", "--json").json()
    cli("lock", "4", "--user", "dave")
    cli("confirm", "1", "--user", "alice")
    assert cli("check").out == "ok\n"
    after = {s["seat"]: s for s in cli("seats", "--json").json()}
    assert after["2"] == before[1]
    assert after["1"]["booked_by"] == "alice"


def test_the_upgrade_is_one_transaction_with_the_write(cli, v1_db, monkeypatch):
    from seatctl.storage import sqlite as backend

    def fail(*args, **kwargs):
        raise sqlite3.OperationalError("simulated failure after the upgrade")

    monkeypatch.setattr(backend.SqliteTransaction, "save", fail)
    before = dump(v1_db)
    assert cli("lock", "4", "--user", "dave").code == 6
    assert dump(v1_db) == before
    assert version(v1_db) == 1


def test_the_python_api_upgrades_too(v1_db):
    from seatctl import Venue

    with Venue.open(v1_db) as venue:
        venue.release(["1"], user="alice")
        assert venue.check() == []
    assert version(v1_db) == 7


# --- to schema 4: the event `default` ----------------------------------------------------


def test_the_upgrade_from_1_keeps_every_state_in_the_event_default(cli, v1_db):
    before = cli("seats", "--json").json()
    assert cli("lock", "4", "--user", "dave").code == 0
    after = {s["seat"]: s for s in cli("seats", "--event", "default", "--json").json()}
    for seat in before:
        if seat["seat"] != "4":
            assert after[seat["seat"]] | {"held_since": None} == seat
    assert after["4"]["status"] == "locked"


def test_the_seeded_history_belongs_to_the_event_default(cli, v1_db):
    assert cli("lock", "4", "--user", "dave").code == 0
    history = cli("history", "--json").json()
    assert {e["event"] for e in history} == {"default"}
    assert cli("check").out == "ok\n"


def test_a_new_event_on_an_upgraded_0_1_database_has_every_seat_available(cli, v1_db):
    assert cli("event", "add", "gala").code == 0
    assert {s["status"] for s in cli("seats", "--event", "gala", "--json").json()} == {"available"}
    assert cli("lock", "2", "--user", "eve", "--event", "gala").code == 0  # booked in default
    assert cli("check").out == "ok\n"


def _indexes(path: str) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
        return {name for (name,) in rows}
    finally:
        conn.close()


def test_new_and_upgraded_databases_get_the_seat_instant_index(cli, db_path, v1_db):
    assert "events_seat_at" not in _indexes(v1_db)
    assert cli("lock", "4", "--user", "dan").code == 0  # upgrades 1 -> 3
    assert "events_seat_at" in _indexes(v1_db)


def test_a_database_without_the_seat_instant_index_gets_it_with_its_next_write(cli, db_path):
    # Databases of schema 3 written before the index existed: it is no part of the schema
    # version, so the first write of each connection makes sure of it.
    assert cli("init", "--seats", "3").code == 0
    conn = sqlite3.connect(db_path)
    conn.execute("DROP INDEX events_seat_at")
    conn.close()
    assert cli("seats").code == 0
    assert "events_seat_at" not in _indexes(db_path)  # a read changes nothing
    assert cli("lock", "1", "--user", "alice").code == 0
    assert "events_seat_at" in _indexes(db_path)
    assert cli("check").out == "ok\n"


def test_a_writes_clock_check_reads_each_seats_newest_instant_off_the_index(cli, db_path):
    assert cli("init", "--seats", "3").code == 0
    conn = sqlite3.connect(db_path)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT max(at) FROM events WHERE seat = ?", ("1",)
    ).fetchall()
    conn.close()
    assert any("events_seat_at" in str(row[-1]) for row in plan), plan

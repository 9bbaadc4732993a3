"""Schemas 4 and 5: a real 0.2 database (schema 3, and 2) upgrades in place, losslessly, on
both backends; its seats, states and history become those of the event `default`, each lock's
hold begins at its newest `lock` in the history, and it has no fairness caps."""

from __future__ import annotations

import sqlite3

import pytest

from helpers import dump, frozen
from old_schemas import old_database

# The backend's part: each backend upgrades its own schema.
pytestmark = pytest.mark.backend

LATER = "2026-01-01T13:00:00Z"  # carol's locks on 4 and A1 still stand
NEW_SEAT_FIELDS = ("section", "row", "number", "category")
NEW_EVENT_FIELDS = ("event", "reason")


def without(objects: list[dict], fields: tuple[str, ...]) -> list[dict]:
    return [{k: v for k, v in o.items() if k not in fields} for o in objects]


def schema_version(db_path: str) -> int:
    if db_path.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db_path) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(params=[3, 2])
def old_db(request, db_path: str) -> str:
    return old_database(db_path, request.param)


@frozen(LATER)
def test_reading_an_old_database_works_and_changes_nothing(cli, old_db):
    before = dump(old_db)
    seats = {s["seat"]: s["status"] for s in cli("seats", "--json").json()}
    assert seats == {
        "1": "booked",
        "2": "available",
        "3": "booked",
        "4": "locked",
        "5": "available",
        "6": "available",
        "A1": "locked",
        "B2": "available",
    }
    assert cli("history").code == 0
    assert [e["event"] for e in cli("event", "list", "--json").json()] == ["default"]
    assert cli("check").out == "ok\n"
    assert dump(old_db) == before


@frozen(LATER)
def test_the_first_write_upgrades_to_5_keeping_every_state_and_event(cli, old_db):
    seats_before = cli("seats", "--json").json()
    history_before = cli("history", "--json").json()
    assert cli("lock", "5", "--user", "zoe").code == 0
    assert schema_version(old_db) == 7
    seats_after = cli("seats", "--json").json()
    history_after = cli("history", "--json").json()
    expected = [s if s["seat"] != "5" else seats_after[4] for s in seats_before]
    assert without(seats_after, ("held_since",)) == without(expected, ("held_since",))
    assert all(s[f] is None for s in seats_after for f in NEW_SEAT_FIELDS)
    assert without(history_after, NEW_EVENT_FIELDS)[:-1] == without(
        history_before, NEW_EVENT_FIELDS
    )
    assert {e["event"] for e in history_after} == {"default"}
    assert (history_after[-1]["seat"], history_after[-1]["action"]) == ("5", "lock")


@frozen(LATER)
def test_the_upgrade_begins_each_live_hold_at_its_newest_lock_in_the_history(cli, old_db):
    history = cli("history", "--json").json()
    assert cli("lock", "5", "--user", "zoe").code == 0
    held = {s["seat"]: s["held_since"] for s in cli("seats", "--json").json()}
    newest_lock = {e["seat"]: e["at"] for e in history if e["action"] == "lock"}
    assert held["4"] == newest_lock["4"]
    assert held["A1"] == newest_lock["A1"]
    assert held["1"] is None  # booked


@frozen(LATER)
def test_an_upgraded_database_has_no_caps_until_init_sets_them(cli, old_db):
    assert cli("lock", "5", "--user", "zoe").code == 0
    assert cli("settings", "--json").json() == {"ttl": 60, "max_hold": 0, "max_seats_per_user": 0}


@frozen(LATER)
def test_reading_an_old_database_shows_its_settings_without_upgrading_it(cli, old_db):
    before = dump(old_db)
    assert cli("settings", "--json").json() == {"ttl": 60, "max_hold": 0, "max_seats_per_user": 0}
    assert dump(old_db) == before


@frozen(LATER)
def test_an_upgraded_database_passes_check_and_keeps_its_locks_holders(cli, old_db):
    assert cli("lock", "5", "--user", "zoe").code == 0
    assert cli("check").out == "ok\n"
    run = cli("lock", "4", "--user", "zoe", "--json")
    assert (run.code, run.error()["error"]) == (4, "locked")
    assert cli("confirm", "4", "A1", "--user", "carol").code == 0
    assert cli("check").out == "ok\n"


@frozen(LATER)
def test_a_refused_write_does_not_upgrade(cli, old_db):
    before = dump(old_db)
    assert cli("lock", "1", "--user", "zoe").code == 4
    assert dump(old_db) == before


@frozen(LATER)
def test_an_unknown_event_on_an_old_database_is_not_found(cli, old_db):
    run = cli("seats", "--event", "gala", "--json")
    assert (run.code, run.error()["error"]) == (3, "not_found")


@frozen(LATER)
def test_event_add_upgrades_and_the_new_event_has_every_seat_available(cli, old_db):
    assert cli("event", "add", "gala").code == 0
    statuses = {s["status"] for s in cli("seats", "--event", "gala", "--json").json()}
    assert statuses == {"available"}
    assert cli("check").out == "ok\n"


@frozen(LATER)
def test_lock_best_on_an_upgraded_database_weighs_one_row_in_natural_label_order(cli, old_db):
    # 1 booked, 2 free, 3 booked, 4 locked, 5 and 6 free, A1 locked, B2 free: 5-6 strand nobody.
    run = cli("lock", "--best", "2", "--user", "zoe", "--json")
    assert [seat["seat"] for seat in run.json()["seats"]] == ["5", "6"]
    assert cli("check").out == "ok\n"


def has_index(db_path: str, name: str) -> bool:
    if db_path.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db_path) as conn:
            found = conn.execute(
                "SELECT to_regclass(quote_ident(current_schema()) || '.' || %s)", (name,)
            ).fetchone()
        return found[0] is not None
    conn = sqlite3.connect(db_path)
    try:
        query = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
        return conn.execute(query, (name,)).fetchone()[0] == 1
    finally:
        conn.close()


def drop_index(db_path: str, name: str) -> None:
    if db_path.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db_path, autocommit=True) as conn:
            conn.execute(f"DROP INDEX {name}")
        return
    conn = sqlite3.connect(db_path)
    conn.execute(f"DROP INDEX {name}")
    conn.close()


@frozen(LATER)
def test_the_upgrade_adds_the_index_lock_best_ranks_rows_by(cli, old_db):
    assert not has_index(old_db, "seats_place")
    assert cli("lock", "5", "--user", "zoe").code == 0
    assert has_index(old_db, "seats_place")


def test_a_new_database_has_the_index_lock_best_ranks_rows_by(cli, db_path):
    assert cli("init").code == 0
    assert has_index(db_path, "seats_place")


def test_a_schema_4_database_without_that_index_gets_it_with_its_next_write(cli, db_path):
    # It is no part of the schema version: schema 4 databases made before it lack it.
    assert cli("init").code == 0
    drop_index(db_path, "seats_place")
    assert cli("lock", "--best", "2", "--user", "zoe").code == 0
    assert has_index(db_path, "seats_place")
    assert cli("check").out == "ok\n"


@pytest.mark.sqlite_only
@frozen(LATER)
def test_the_old_databases_token_still_works_after_the_upgrade(cli, db_path):
    old_database(db_path, 3)
    assert cli("lock", "5", "--user", "zoe").code == 0
    assert [t["user"] for t in cli("token", "list", "--json").json()] == ["eve"]


def test_the_fixture_really_is_a_schema_3_database_with_history():
    from old_schemas import FIXTURE_V3

    conn = sqlite3.connect(f"file:{FIXTURE_V3}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        actions = {row[0] for row in conn.execute("SELECT action FROM events")}
        columns = {row[1] for row in conn.execute("PRAGMA table_info(seats)")}
    finally:
        conn.close()
    assert {"add", "lock", "confirm", "release", "expire"} <= actions
    assert {"locked_by", "booked_by"} <= columns

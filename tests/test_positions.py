"""The hall's shape: seats at the map's x, y (schema 6), the stage of `init --stage`, the seat
object's name, and a schema-5 database read as it is and upgraded by its first write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from helpers import START, dump, frozen
from seatctl import Venue

pytestmark = pytest.mark.backend  # each backend stores and upgrades the positions itself

HALL = """\
label,section,row,number,category,x,y
1,Stalls,A,1,premium,0,0
2,Stalls,A,2,premium,1.5,0.25
3,Circle,12,1,,-3,20
B,,,,,,
"""


@pytest.fixture
def hall(db_path: str, tmp_path: Path) -> str:
    path = tmp_path / "hall.csv"
    path.write_text(HALL)
    with frozen(START):
        Venue.init(db_path, seat_map=str(path), stage="-5,-10,12.5,4")
    return db_path


def by_label(cli) -> dict[str, dict]:
    return {seat["seat"]: seat for seat in cli("seats", "--json").json()}


def test_seats_carry_the_maps_position_and_null_without_one(cli, hall):
    seats = by_label(cli)
    assert [(seats[label]["x"], seats[label]["y"]) for label in "123B"] == [
        (0.0, 0.0),
        (1.5, 0.25),
        (-3.0, 20.0),
        (None, None),
    ]


def test_seats_carry_their_name_from_the_map(cli, hall):
    seats = by_label(cli)
    assert [seats[label]["name"] for label in "123B"] == [
        "Stalls A1",
        "Stalls A2",
        "Circle row 12 seat 1",
        "B",
    ]


def test_the_stage_is_stored(hall):
    with Venue.open(hall) as venue:
        assert tuple(venue.stage() or ()) == (-5.0, -10.0, 12.5, 4.0)


def test_a_venue_without_a_stage_has_none(venue_db):
    with Venue.open(venue_db) as venue:
        assert venue.stage() is None


@pytest.mark.parametrize("stage", ["1,2,3", "a,b,c,d", "0,0,0,5", "0,0,5,-1", "0,0,nan,1"])
def test_a_bad_stage_is_exit_2_and_creates_nothing(cli, db_path, stage):
    run = cli("init", "--stage", stage)
    assert run.code == 2
    assert run.err.startswith(f"error: invalid --stage '{stage}': use X,Y,WIDTH,HEIGHT")
    assert not Path(db_path).exists() or db_path.startswith("postgres")


def test_a_lock_answers_with_the_position(cli, hall):
    with frozen(START):
        seat = cli("lock", "3", "--user", "alice", "--json").json()["seats"][0]
    assert (seat["name"], seat["x"], seat["y"]) == ("Circle row 12 seat 1", -3.0, 20.0)


# --- schema 5 -> 6 ----------------------------------------------------------------------------


def as_schema_5(db: str) -> None:
    """The database as seatctl 0.3 (schema 5) left it: no positions."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            conn.execute("ALTER TABLE seats DROP COLUMN x, DROP COLUMN y")
            conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
        return
    conn = sqlite3.connect(db)
    try:
        conn.execute("ALTER TABLE seats DROP COLUMN x")
        conn.execute("ALTER TABLE seats DROP COLUMN y")
        conn.execute("PRAGMA user_version = 5")
        conn.commit()
    finally:
        conn.close()


def columns(db: str) -> set[str]:
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'seats' AND table_schema = current_schema()"
            ).fetchall()
        return {row[0] for row in rows}
    conn = sqlite3.connect(db)
    try:
        return {row[1] for row in conn.execute("PRAGMA table_info(seats)")}
    finally:
        conn.close()


@frozen(START)
def test_a_schema_5_database_reads_without_positions_and_is_left_as_it_was(cli, venue_db):
    cli("lock", "2", "--user", "alice")
    as_schema_5(venue_db)
    before = dump(venue_db)
    seats = by_label(cli)
    assert (seats["2"]["locked_by"], seats["2"]["x"], seats["2"]["name"]) == ("alice", None, "2")
    assert seats["2"]["held_since"] is not None  # schema 5's hold start still read
    assert cli("check").out == "ok\n"
    assert dump(venue_db) == before


@frozen(START)
def test_the_first_write_adds_the_positions_keeping_every_seat(cli, venue_db):
    cli("lock", "2", "--user", "alice")
    as_schema_5(venue_db)
    seats_before = cli("seats", "--json").json()
    assert cli("lock", "3", "--user", "bob").code == 0
    assert {"x", "y"} <= columns(venue_db)
    after = cli("seats", "--json").json()
    assert [s for s in after if s["seat"] != "3"] == [s for s in seats_before if s["seat"] != "3"]
    assert cli("check").out == "ok\n"


def test_the_position_step_adds_only_the_columns_missing(venue_db):
    """Other steps of schema 6 add columns in parallel: this one may meet its own already."""
    if venue_db.startswith("postgresql://"):
        import psycopg

        from seatctl.storage.postgres.schema import ADD_POSITIONS

        with psycopg.connect(venue_db) as conn:
            conn.execute(ADD_POSITIONS)
            conn.execute(ADD_POSITIONS)
    else:
        from seatctl.storage.sqlite.schema import add_positions

        conn = sqlite3.connect(venue_db)
        try:
            add_positions(conn)
            add_positions(conn)
        finally:
            conn.close()
    assert {"x", "y"} <= columns(venue_db)


def test_get_v1_events_carries_the_stage_for_the_page(hall):
    pytest.importorskip("starlette")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's note about httpx's successor
        from starlette.testclient import TestClient

    from seatctl.server.app import create_app
    from seatctl.server.local import Local
    from seatctl.server.worker import Worker

    worker = Worker(hall)
    worker.start()
    try:
        events = (
            TestClient(create_app(worker, auth=False, local=Local(["testserver"], 80)))
            .get("/v1/events")
            .json()
        )
    finally:
        worker.stop()
    assert events[0]["stage"] == {"x": -5.0, "y": -10.0, "width": 12.5, "height": 4.0}


# --- seats named in sentences -----------------------------------------------------------------


def test_a_refusal_names_the_seat_as_the_map_does_with_its_label(cli, hall):
    with frozen(START):
        cli("lock", "1", "--user", "bob")
        run = cli("lock", "1", "--user", "alice", "--json")
    assert (run.code, run.error()["seats"][0]["seat"]) == (4, "1")  # the field stays the label
    assert run.error()["message"] == (
        "seat Stalls A1 (1) is locked by bob until 2026-01-01T12:01:00Z"
    )


def test_a_seat_without_a_place_is_named_by_its_label_alone(cli, hall):
    with frozen(START):
        cli("lock", "B", "--user", "bob")
        run = cli("lock", "B", "--user", "alice")
    assert run.err == "error: seat B is locked by bob until 2026-01-01T12:01:00Z\n"


def test_a_change_line_names_the_seat_as_the_map_does(cli, hall):
    with frozen(START):
        run = cli("lock", "3", "--user", "alice")
    assert run.out == "locked seat Circle row 12 seat 1 (3) for alice until 2026-01-01T12:01:00Z\n"

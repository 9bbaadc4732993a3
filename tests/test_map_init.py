"""`init --map FILE`: seats added from a seat-map file with their places, in file order, all
or none. (Parsing the file is `seatctl.core.seatmap`'s, tested with it.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import START, dump, frozen
from seatctl import Venue

HALL = """\
label,section,row,number,category
S-A2,Stalls,A,2,premium
S-A1,Stalls,A,1,premium
S-B1,Stalls,B,1,standard
C-A1,Circle,A,1,
"""


@pytest.fixture
def hall(tmp_path: Path) -> str:
    path = tmp_path / "hall.csv"
    path.write_text(HALL)
    return str(path)


def seats(cli, *args: str) -> list[dict]:
    return cli("seats", "--json", *args).json()


def map_order(db_path: str) -> list[str]:
    with Venue.open(db_path) as venue, venue._store.transaction(write=False) as tx:
        places = tx.places()
    return sorted(places, key=lambda label: places[label][1])


@frozen(START)
def test_init_map_stores_each_seats_section_row_number_and_category(cli, hall):
    run = cli("init", "--map", hall)
    assert (run.code, "added 4 seats (4 in all)" in run.out) == (0, True)
    by_label = {s["seat"]: s for s in seats(cli)}
    assert {k: by_label["S-A2"][k] for k in ("section", "row", "number", "category")} == {
        "section": "Stalls",
        "row": "A",
        "number": 2,
        "category": "premium",
    }
    assert by_label["C-A1"]["category"] is None


@frozen(START)
def test_init_map_on_a_new_database_adds_only_the_maps_seats(cli, hall):
    cli("init", "--map", hall)
    assert sorted(s["seat"] for s in seats(cli)) == ["C-A1", "S-A1", "S-A2", "S-B1"]


@frozen(START)
def test_init_map_stores_the_files_order(cli, hall, db_path):
    cli("init", "--map", hall)
    assert map_order(db_path) == ["S-A2", "S-A1", "S-B1", "C-A1"]


@frozen(START)
def test_seats_csv_gains_the_map_columns_after_the_existing_ones(cli, hall):
    cli("init", "--map", hall)
    lines = cli("seats", "--csv").out.splitlines()
    assert lines[0] == (
        "seat,status,locked_by,expires_at,booked_by,booked_at,section,row,number,category,"
        "held_since,name,x,y"
    )
    assert "C-A1,available,,,,,Circle,A,1,,,Circle A1,," in lines


@frozen(START)
def test_lock_output_carries_the_seats_place(cli, hall):
    cli("init", "--map", hall)
    seat = cli("lock", "S-B1", "--user", "alice", "--json").json()["seats"][0]
    assert (seat["section"], seat["row"], seat["number"]) == ("Stalls", "B", 1)


@frozen(START)
def test_init_map_again_adds_nothing_and_changes_nothing(cli, hall, db_path):
    cli("init", "--map", hall)
    before = seats(cli)
    run = cli("init", "--map", hall)
    assert (run.code, "added 0 seats (4 in all)" in run.out) == (0, True)
    assert seats(cli) == before


@frozen(START)
def test_a_later_map_adds_its_new_seats_after_the_stored_ones(cli, hall, db_path, tmp_path):
    cli("init", "--map", hall)
    more = tmp_path / "more.csv"
    more.write_text("label,section,row,number\nU-A1,Upper,A,1\nS-A1,Stalls,A,1\n")
    cli("init", "--map", str(more))  # S-A1 is stored with category premium: a conflict
    assert map_order(db_path) == ["S-A2", "S-A1", "S-B1", "C-A1"]
    more.write_text("label,section,row,number\nU-A1,Upper,A,1\n")
    assert cli("init", "--map", str(more)).code == 0
    assert map_order(db_path) == ["S-A2", "S-A1", "S-B1", "C-A1", "U-A1"]


@frozen(START)
def test_a_map_row_that_changes_a_stored_seat_refuses_the_whole_file(cli, hall, db_path, tmp_path):
    cli("init", "--map", hall)
    before = dump(db_path)
    other = tmp_path / "other.csv"
    other.write_text(
        "label,section,row,number,category\n"
        "N-1,New,A,1,\n"
        "S-A1,Stalls,A,1,standard\n"
        "N-2,New,A,2,\n"
        "C-A1,Circle,B,1,\n"
    )
    run = cli("init", "--map", str(other))
    assert run.code == 2
    assert "line 3: seat S-A1 is stored at section Stalls, row A, number 1" in run.err
    assert "line 5: seat C-A1" in run.err
    assert "nothing was added" in run.err
    assert dump(db_path) == before


@frozen(START)
def test_a_new_seat_on_a_stored_seats_position_is_a_conflict(cli, hall, db_path, tmp_path):
    cli("init", "--map", hall)
    before = dump(db_path)
    other = tmp_path / "other.csv"
    other.write_text("label,section,row,number\nX9,Stalls,A,2\n")
    run = cli("init", "--map", str(other))
    assert run.code == 2
    assert "line 2: seat X9 is at section Stalls, row A, number 2, where stored seat S-A2 is" in (
        run.err
    )
    assert dump(db_path) == before


@frozen(START)
def test_a_map_giving_a_place_to_a_seat_stored_without_one_is_a_conflict(cli, tmp_path):
    cli("init", "A1")
    seat_map = tmp_path / "hall.csv"
    seat_map.write_text("label,section,row,number\nA1,Stalls,A,1\n")
    run = cli("init", "--map", str(seat_map))
    assert run.code == 2
    assert "line 2: seat A1 is stored without a place" in run.err


def test_init_map_with_labels_is_a_usage_error(cli, hall, db_path):
    run = cli("init", "--map", hall, "A1")
    assert run.code == 2
    assert not os.path.exists(db_path) or db_path.startswith("postgresql://")


@pytest.mark.sqlite_only
def test_an_unreadable_map_creates_no_database(cli, db_path, tmp_path):
    run = cli("init", "--map", str(tmp_path / "missing.csv"))
    assert run.code == 2
    assert not os.path.exists(db_path)


@frozen(START)
def test_check_passes_after_init_map(cli, hall):
    cli("init", "--map", hall)
    cli("lock", "S-A1", "--user", "alice")
    assert cli("check").out == "ok\n"


@frozen(START)
def test_the_python_api_takes_a_map(db_path, hall):
    result = Venue.init(db_path, seat_map=hall)
    assert (result.added, result.total) == (4, 4)

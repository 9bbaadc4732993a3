"""`summary` and `map`: an event's seats counted and drawn (the counting and drawing are
`seatctl.core.venue_map`'s, tested with it), read from the database on both backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import START, frozen
from seatctl import Venue

# The backend's part: the counts are each backend's queries.
pytestmark = pytest.mark.backend

HALL = """\
label,section,row,number,category
S-A1,Stalls,A,1,premium
S-A2,Stalls,A,2,premium
S-A4,Stalls,A,4,premium
S-B1,Stalls,B,1,standard
C-A1,Circle,A,1,standard
"""
LATER = "2026-01-01T12:00:10Z"


@pytest.fixture
def hall(db_path: str, tmp_path: Path) -> str:
    """The hall with S-A1 locked, S-B1 booked and C-A1 blocked in the event default."""
    path = tmp_path / "hall.csv"
    path.write_text(HALL)
    with frozen(START):
        Venue.init(db_path, seat_map=str(path))
        with Venue.open(db_path) as venue:
            venue.lock(["S-A1", "S-B1"], user="alice", ttl=600)
            venue.confirm(["S-B1"], user="alice")
            venue.block(["C-A1"], reason="camera")
    return db_path


COUNTS = {"total": 5, "available": 2, "locked": 1, "booked": 1, "blocked": 1, "occupancy": 20.0}


@frozen(LATER)
def test_summary_json_counts_the_events_seats_by_status(hall, cli):
    assert cli("summary", "--json").json() == {"event": "default", **COUNTS}


@frozen(LATER)
def test_summary_by_section_counts_each_section_in_map_order(hall, cli):
    summary = cli("summary", "--by", "section", "--json").json()
    assert summary["groups"] == [
        {"section": "Stalls", "total": 4, "available": 2, "locked": 1, "booked": 1,
         "blocked": 0, "occupancy": 25.0},
        {"section": "Circle", "total": 1, "available": 0, "locked": 0, "booked": 0,
         "blocked": 1, "occupancy": 0.0},
    ]  # fmt: skip
    assert {k: summary[k] for k in COUNTS} == COUNTS


@frozen(LATER)
def test_summary_by_row_names_the_section_and_the_row(hall, cli):
    groups = cli("summary", "--by", "row", "--json").json()["groups"]
    assert [(g["section"], g["row"], g["total"]) for g in groups] == [
        ("Stalls", "A", 3),
        ("Stalls", "B", 1),
        ("Circle", "A", 1),
    ]


@frozen(LATER)
def test_summary_by_category_counts_each_category(hall, cli):
    groups = cli("summary", "--by", "category", "--json").json()["groups"]
    assert [(g["category"], g["booked"], g["total"]) for g in groups] == [
        ("premium", 0, 3),
        ("standard", 1, 2),
    ]


def test_summary_counts_a_lapsed_lock_as_available(hall, cli):
    with frozen("2026-01-01T13:00:00Z"):
        summary = cli("summary", "--json").json()
    assert (summary["available"], summary["locked"]) == (3, 0)


@frozen(LATER)
def test_summary_as_text_is_an_aligned_table(hall, cli):
    lines = cli("summary", "--by", "section").out.splitlines()
    assert lines[0].split() == [
        "SECTION", "TOTAL", "AVAILABLE", "LOCKED", "BOOKED", "BLOCKED", "OCCUPANCY",
    ]  # fmt: skip
    assert lines[1].split() == ["Stalls", "4", "2", "1", "1", "0", "25.0%"]
    assert lines[-1].split() == ["(all)", "5", "2", "1", "1", "1", "20.0%"]
    assert len({len(re.match(r"\S+\s+", line).group()) for line in lines}) == 1  # aligned


@frozen(LATER)
def test_summary_of_another_event_counts_its_own_states(hall, cli):
    cli("event", "add", "gala")
    assert cli("summary", "--event", "gala", "--json").json() == {
        "event": "gala", "total": 5, "available": 5, "locked": 0, "booked": 0, "blocked": 0,
        "occupancy": 0.0,
    }  # fmt: skip


@frozen(LATER)
def test_summary_of_an_unknown_event_is_not_found(hall, cli):
    run = cli("summary", "--event", "gala", "--json")
    assert (run.code, run.error()["error"]) == (3, "not_found")


@frozen(LATER)
def test_summary_by_an_unknown_grouping_is_a_usage_error(hall, cli):
    run = cli("summary", "--by", "colour")
    assert run.code == 2 and run.err.count("\n") == 1


@frozen(LATER)
def test_event_list_carries_the_same_counts_as_summary(hall, cli):
    listed = cli("event", "list", "--json").json()[0]
    assert {k: listed[k] for k in COUNTS} == COUNTS


@frozen(LATER)
def test_summary_of_seats_without_a_map_has_null_groups(db_path, cli):
    cli("init")
    groups = cli("summary", "--by", "section", "--json").json()["groups"]
    assert groups == [{"section": None, **COUNTS, "available": 5, "locked": 0, "booked": 0,
                       "blocked": 0, "occupancy": 0.0}]  # fmt: skip


@frozen(LATER)
def test_map_draws_each_seat_with_its_states_character(hall, cli):
    run = cli("map")
    assert run.code == 0
    lines = run.out.splitlines()
    assert "Section Stalls" in lines and "Section Circle" in lines
    assert any(line.split() == ["A", "L.", "."] for line in lines)  # a gap where 3 is missing
    assert any(line.split() == ["B", "B"] for line in lines)
    assert any(line.split() == ["A", "X"] for line in lines)
    assert "\x1b[" not in run.out  # no colour off a terminal


@frozen(LATER)
def test_map_of_one_section_draws_only_that_section(hall, cli):
    out = cli("map", "--section", "Circle").out
    assert "Section Circle" in out and "Stalls" not in out


@frozen(LATER)
def test_map_of_an_unknown_section_is_not_found(hall, cli):
    run = cli("map", "--section", "Balcony")
    assert run.code == 3
    assert run.err == (
        "error: section Balcony does not exist in the seat map: the sections are Circle, Stalls\n"
    )


@frozen(LATER)
def test_map_is_coloured_on_a_terminal_unless_no_color(hall, cli, monkeypatch):
    monkeypatch.setattr("seatctl.cli.app._colour", lambda: True)
    assert "\x1b[" in cli("map").out
    monkeypatch.setattr("seatctl.cli.app._colour", lambda: False)
    assert "\x1b[" not in cli("map").out


@frozen(LATER)
def test_map_shows_the_events_own_states(hall, cli):
    cli("event", "add", "gala")
    out = cli("map", "--event", "gala").out
    cells = "".join(line[3:] for line in out.splitlines() if re.match(r"[AB]  ", line))
    assert set(cells) == {".", " "}


@frozen(LATER)
def test_map_fits_the_terminal_width(db_path, cli, tmp_path, monkeypatch):
    path = tmp_path / "wide.csv"
    path.write_text(
        "label,section,row,number\n" + "".join(f"W{n},W,1,{n}\n" for n in range(1, 201))
    )
    cli("init", "--map", str(path))
    monkeypatch.setenv("COLUMNS", "60")
    out = cli("map").out
    assert max(len(line) for line in out.splitlines()) <= 60
    assert out.count(".") >= 200


@frozen(LATER)
def test_summary_and_map_work_inside_a_batch(hall, cli, monkeypatch):
    import io
    import json

    lines = b"summary --by section\nmap --section Circle\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines)))
    summary, drawn = (json.loads(line) for line in cli("batch").out.splitlines())
    assert (summary["exit"], summary["booked"], len(summary["groups"])) == (0, 1, 2)
    assert (drawn["exit"], drawn["map"].splitlines()[1]) == (0, "Section Circle")

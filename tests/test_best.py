"""`lock --best N`: the best-available rule (`seatctl.core.selection`, tested with it) wired to the
database: the choice and the lock in one transaction. The map's reading and the races run on
both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import RACERS, START, assert_clean, dump, frozen, race
from seatctl import Venue
from seatctl.core.errors import SeatctlError
from seatctl.core.selection import RowsInRankOrder, SeatSpot, choose_best

# Stalls: row A (5 seats, the best row), row B (4 seats); Circle: row A (4 seats, standard).
HALL = """\
label,section,row,number,category
S-A1,Stalls,A,1,premium
S-A2,Stalls,A,2,premium
S-A3,Stalls,A,3,premium
S-A4,Stalls,A,4,premium
S-A5,Stalls,A,5,premium
S-B1,Stalls,B,1,standard
S-B2,Stalls,B,2,standard
S-B3,Stalls,B,3,standard
S-B4,Stalls,B,4,standard
C-A1,Circle,A,1,standard
C-A2,Circle,A,2,standard
C-A3,Circle,A,3,standard
C-A4,Circle,A,4,standard
"""
LATER = "2026-01-01T12:00:10Z"


@pytest.fixture
def hall(db_path: str, tmp_path: Path) -> str:
    path = tmp_path / "hall.csv"
    path.write_text(HALL)
    with frozen(START):
        Venue.init(db_path, seat_map=str(path))
    return db_path


def labels(run) -> list[str]:
    return [seat["seat"] for seat in run.json()["seats"]]


@frozen(LATER)
def test_lock_best_takes_the_block_the_rule_chooses_and_prints_it_as_lock_does(hall, cli):
    run = cli("lock", "--best", "2", "--user", "alice", "--json")
    assert run.code == 0
    assert labels(run) == ["S-A1", "S-A2"]  # no orphan, front row, nearest the centre, lower
    assert {seat["status"] for seat in run.json()["seats"]} == {"locked"}
    assert {seat["locked_by"] for seat in run.json()["seats"]} == {"alice"}


@frozen(LATER)
def test_lock_best_text_output_is_that_of_lock(hall, cli):
    run = cli("lock", "--best", "2", "--user", "alice")
    assert run.out.splitlines() == [
        "locked seat S-A1 for alice until 2026-01-01T12:01:10Z",
        "locked seat S-A2 for alice until 2026-01-01T12:01:10Z",
    ]


@frozen(LATER)
def test_lock_best_never_picks_locked_booked_or_blocked_seats(hall, cli):
    with Venue.open(hall) as venue:
        venue.lock(["S-A2"], user="bob")
        venue.lock(["S-A4"], user="bob")
        venue.confirm(["S-A4"], user="bob")
        venue.block(["S-B2"])
    run = cli("lock", "--best", "2", "--user", "alice", "--json")
    assert labels(run) == ["S-B3", "S-B4"]  # row A has no two together; B2 is blocked


def test_lock_best_treats_an_expired_lock_as_available(hall, cli):
    with frozen(START), Venue.open(hall) as venue:
        venue.lock(["S-A1", "S-A2"], user="bob", ttl=5)
    with frozen(LATER):
        run = cli("lock", "--best", "2", "--user", "alice", "--json")
    assert labels(run) == ["S-A1", "S-A2"]


@frozen(LATER)
def test_lock_best_keeps_to_the_sections_given(hall, cli):
    run = cli("lock", "--best", "2", "--user", "alice", "--section", "Circle", "--json")
    assert labels(run) == ["C-A1", "C-A2"]


@frozen(LATER)
def test_lock_best_keeps_to_the_categories_given(hall, cli):
    run = cli("lock", "--best", "3", "--user", "alice", "--category", "standard", "--json")
    assert labels(run) == ["S-B1", "S-B2", "S-B3"]


@frozen(LATER)
def test_lock_best_takes_several_sections_and_categories(hall, cli):
    run = cli(
        "lock", "--best", "4", "--user", "alice", "--section", "Circle", "--section", "Stalls",
        "--category", "standard", "--category", "premium", "--json",
    )  # fmt: skip
    assert labels(run) == ["S-B1", "S-B2", "S-B3", "S-B4"]


@frozen(LATER)
def test_lock_best_without_a_block_refuses_with_not_enough_and_exit_4(hall, cli):
    before = dump(hall)
    run = cli("lock", "--best", "6", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (4, "not_enough")
    assert "13 seats available" in run.error()["message"]
    assert "largest block together is 5" in run.error()["message"]
    assert dump(hall) == before


@frozen(LATER)
def test_not_enough_counts_within_the_filters(hall, cli):
    run = cli("lock", "--best", "5", "--user", "alice", "--section", "Circle")
    assert run.code == 4
    assert run.err == (
        "error: no 5 seats together in section Circle: 4 seats available,"
        " the largest block together is 4\n"
    )


@frozen(LATER)
def test_lock_best_split_takes_the_best_single_seats_when_no_block_exists(hall, cli):
    with Venue.open(hall) as venue:
        venue.block(["S-A3", "S-B3", "C-A3"])
    run = cli("lock", "--best", "3", "--user", "alice", "--split", "--json")
    assert run.code == 0
    assert labels(run) == ["S-A1", "S-A2", "S-A4"]  # the front row's nearest the centre


@frozen(LATER)
def test_lock_best_split_still_refuses_when_too_few_seats_are_available(hall, cli):
    run = cli("lock", "--best", "14", "--user", "alice", "--split", "--json")
    assert (run.code, run.error()["error"]) == (4, "not_enough")


@frozen(LATER)
def test_lock_best_and_seat_labels_are_mutually_exclusive(hall, cli):
    before = dump(hall)
    run = cli("lock", "S-A1", "--best", "1", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (2, "usage")
    assert dump(hall) == before


@pytest.mark.parametrize("count", ["0", "-1"])
@frozen(LATER)
def test_lock_best_needs_at_least_one_seat(hall, cli, count):
    run = cli("lock", "--best", count, "--user", "alice")
    assert run.code == 2
    assert run.err.startswith("error: ") and run.err.count("\n") == 1


@frozen(LATER)
def test_section_category_and_split_need_best(hall, cli):
    run = cli("lock", "S-A1", "--user", "alice", "--split")
    assert run.code == 2


@frozen(LATER)
def test_lock_best_in_an_unknown_event_is_not_found(hall, cli):
    run = cli("lock", "--best", "2", "--user", "alice", "--event", "gala", "--json")
    assert (run.code, run.error()["error"]) == (3, "not_found")
    assert "gala" in run.error()["message"]


@frozen(LATER)
def test_lock_best_chooses_in_the_event_given(hall, cli):
    with Venue.open(hall) as venue:
        venue.add_event("gala")
        venue.lock(["S-A1", "S-A2"], user="bob")  # in the event default only
    run = cli("lock", "--best", "2", "--user", "alice", "--event", "gala", "--json")
    assert labels(run) == ["S-A1", "S-A2"]


@frozen(LATER)
def test_lock_best_records_lock_events_in_the_history(hall, cli):
    cli("lock", "--best", "2", "--user", "alice")
    history = cli("history", "--json").json()
    assert [(e["seat"], e["action"], e["user"]) for e in history if e["action"] != "add"] == [
        ("S-A1", "lock", "alice"),
        ("S-A2", "lock", "alice"),
    ]
    assert cli("check").code == 0


@frozen(LATER)
def test_lock_best_works_inside_a_batch(hall, cli, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(
        b"lock --best 2 --user alice\nlock --best 9 --user bob\n"
    )))  # fmt: skip
    run = cli("batch")
    first, second = (__import__("json").loads(line) for line in run.out.splitlines())
    assert [s["seat"] for s in first["seats"]] == ["S-A1", "S-A2"]
    assert (second["exit"], second["error"]) == (4, "not_enough")


@frozen(LATER)
def test_venue_lock_best_returns_the_locked_seats(hall):
    with Venue.open(hall) as venue:
        views = venue.lock_best(2, "alice", categories=["standard"], ttl=30)
    assert [(v.seat, v.locked_by) for v in views] == [("S-B1", "alice"), ("S-B2", "alice")]


@frozen(LATER)
def test_venue_lock_best_refuses_a_count_below_one(hall):
    with Venue.open(hall) as venue, pytest.raises(SeatctlError) as raised:
        venue.lock_best(0, "alice")
    assert raised.value.exit_code == 2


@pytest.mark.backend  # a race, settled by the backend's locks
def test_sixteen_processes_asking_for_the_best_two_get_distinct_seats(hall):
    runs = race(
        [["--db", hall, "lock", "--best", "2", "--user", f"u{n}", "--json"] for n in range(RACERS)]
    )
    assert_clean(runs)
    assert "busy" not in "".join(run.err for run in runs)
    won = [run for run in runs if run.code == 0]
    assert all(run.code == 4 and '"not_enough"' in run.err for run in runs if run.code != 0)
    taken = [seat["seat"] for run in won for seat in run.json()["seats"]]
    assert len(taken) == len(set(taken)) == 2 * len(won)
    assert len(won) == 6  # 13 seats: six pairs, then one seat is not enough
    with Venue.open(hall) as venue:
        assert venue.check() == []


# --- The database's shortcut makes the pure rule's choice ---------------------------------
#
# `lock --best` reads only the rows its choice needs (ranked from a per-row aggregate, read
# in rank order); `seatctl.core.selection.choose_best` over every seat of the event is the rule.

# A seat of a random small map: section, row, number (often none), category, and what it is
# in the event (available, or made locked, booked or blocked before the choice).
map_seat = st.tuples(
    st.sampled_from(["A", "B", None]),
    st.sampled_from(["1", "2", None]),
    st.one_of(st.none(), st.integers(1, 9), st.integers(1, 9)),
    st.sampled_from(["a", "b", None]),
    st.sampled_from(["available", "available", "locked", "booked", "blocked"]),
)
random_maps = st.lists(
    map_seat,
    min_size=1,
    max_size=30,
    unique_by=lambda s: (s[0], s[1], s[2]) if s[2] is not None else object(),
)


def write_map(path: Path, seats: list[tuple]) -> None:
    """The seats as a map file, in list order, labelled L0, L1... (so that natural label
    order is not list order); an empty field is a place not set."""
    lines = ["label,section,row,number,category"]
    for index, (section, row, number, category, _) in enumerate(seats):
        fields = (section, row, number, category)
        lines.append(f"L{index}," + ",".join("" if f is None else str(f) for f in fields))
    path.write_text("\n".join(lines) + "\n")


def set_states(venue: Venue, seats: list[tuple]) -> None:
    for state, action in (
        ("locked", lambda named: venue.lock(named, user="holder", ttl=3600)),
        ("booked", lambda named: venue.lock(named, user="booker", ttl=3600)),
        ("booked", lambda named: venue.confirm(named, user="booker")),
        ("blocked", venue.block),
    ):
        named = [f"L{index}" for index, seat in enumerate(seats) if seat[4] == state]
        if named:
            action(named)


def every_spot(venue: Venue) -> list[SeatSpot]:
    with venue._store.transaction(write=False) as tx:
        return [SeatSpot(*row) for row in tx.seat_spots("default", tx.now())]


@pytest.mark.backend  # each backend reads the map its own way
@pytest.mark.parametrize("lazy_rows", [64, 2], ids=["row-by-row", "then-all-at-once"])
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seats=random_maps,
    count=st.integers(1, 4),
    sections=st.lists(st.sampled_from(["A", "B", "C"]), max_size=2, unique=True),
    categories=st.lists(st.sampled_from(["a", "b"]), max_size=1),
    split=st.booleans(),
)
def test_lock_best_makes_the_choice_of_the_pure_rule_on_random_maps(
    new_database, tmp_path, monkeypatch, lazy_rows, seats, count, sections, categories, split
):
    # Past LAZY_ROWS rows the walk reads every seat at once: both ways must choose alike.
    monkeypatch.setattr(RowsInRankOrder, "LAZY_ROWS", lazy_rows)
    db, remove = new_database()
    try:
        write_map(tmp_path / "map.csv", seats)
        with frozen(START):
            Venue.init(db, seat_map=str(tmp_path / "map.csv"))
        with frozen(LATER), Venue.open(db) as venue:
            set_states(venue, seats)
            expected = choose_best(every_spot(venue), count, sections, categories, split)
            try:
                chosen = venue.lock_best(
                    count, "alice", sections=sections, categories=categories, split=split
                )
            except SeatctlError as error:
                assert (error.reason, expected) == ("not_enough", None)
            else:
                assert [seat.seat for seat in chosen] == expected
    finally:
        remove()

"""`lock --best`'s index of rows (`seatctl.service.picking`): kept by one Venue between its
picks, it must make the pure rule's choice after every change, whoever made it and whenever a
lock lapses, on both backends (each tells the index what others committed its own way)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import START, frozen, run_cli
from seatctl import Venue
from seatctl.core.clock import parse_instant
from seatctl.core.errors import SeatctlError
from seatctl.core.selection import SeatSpot, choose_best
from seatctl.service.choosing import not_enough

pytestmark = pytest.mark.backend

ROWS, PER_ROW = 3, 6
T0 = parse_instant(START)


def make_hall(folder: Path, db: str) -> str:
    """Three rows of six seats (seats 1 and 2 standard, the rest premium), locks of 30 s, in
    the database `db` (a file or a PostgreSQL URL)."""
    lines = ["label,section,row,number,category"]
    for r in "ABC"[:ROWS]:
        lines += [
            f"{r}{n},Stalls,{r},{n},{'premium' if n > 2 else 'standard'}"
            for n in range(1, PER_ROW + 1)
        ]
    path = folder / "hall.csv"
    path.write_text("\n".join(lines) + "\n")
    with frozen(START):
        Venue.init(db, seat_map=str(path), ttl=30)
    return db


@pytest.fixture
def hall(tmp_path: Path, db_path: str) -> str:
    return make_hall(tmp_path, db_path)


def every_spot(venue: Venue) -> list[SeatSpot]:
    with venue._store.transaction(write=False) as tx:
        return [SeatSpot(*row) for row in tx.seat_spots("default", tx.now())]


def picked(venue: Venue, count: int, split: bool = False) -> list[str] | None:
    """The seats picked, or None for a refusal, which must say what the pure rule's does."""
    spots = every_spot(venue)
    try:
        return [view.seat for view in venue.lock_best(count, "picker", split=split)]
    except SeatctlError as error:
        assert error.reason == "not_enough"
        assert error.message == not_enough(spots, count, [], [], split).message
        return None


def test_a_pick_after_another_process_wrote_reads_only_what_changed_not_the_hall(hall, monkeypatch):
    from seatctl.storage.sql import SqlTransaction

    with frozen(T0 + 1), Venue.open(hall) as venue:
        assert picked(venue, 2) == ["A3", "A4"]
        assert picked(venue, 2) == ["A1", "A2"]  # the venue's second pick builds the index
        assert run_cli("--db", hall, "lock", "B3", "--user", "other").code == 0

        def rescan(*args: object) -> None:
            raise AssertionError("the hall was read again")

        for read in ("free_from", "row_spots", "seat_spots"):
            monkeypatch.setattr(SqlTransaction, read, rescan)
        assert [v.seat for v in venue.lock_best(2, "picker")] == ["A5", "A6"]


def test_a_pick_sees_a_lock_another_process_made_since_the_last_pick(hall):
    with frozen(T0 + 1), Venue.open(hall) as venue:
        assert picked(venue, 2) == ["A3", "A4"]  # the index is built here
        assert run_cli("--db", hall, "lock", "A1", "A2", "A5", "A6", "--user", "other").code == 0
        assert picked(venue, 2) == ["B3", "B4"]  # row A has no pair left


def test_a_pick_sees_a_release_another_process_made_since_the_last_pick(hall):
    with frozen(T0 + 1), Venue.open(hall) as venue:
        assert run_cli("--db", hall, "lock", "A1", "A2", "--user", "other").code == 0
        assert picked(venue, 4) == ["A3", "A4", "A5", "A6"]
        assert run_cli("--db", hall, "release", "A1", "A2", "--user", "other").code == 0
        assert picked(venue, 2) == ["A1", "A2"]  # beside the picker's A3-A6: no orphan


def test_a_lock_lapses_for_the_next_pick_at_its_deadline(hall):
    with Venue.open(hall) as venue:
        with frozen(T0 + 1):
            assert picked(venue, 6) == ["A1", "A2", "A3", "A4", "A5", "A6"]  # until START + 31
        with frozen(T0 + 30):
            assert picked(venue, 2) == ["B3", "B4"]
        with frozen(T0 + 31):
            assert picked(venue, 2) == ["A3", "A4"]  # row A is free again


def test_a_pick_forgets_the_changes_of_a_group_that_did_not_commit(hall):
    with frozen(T0 + 1), Venue.open(hall) as venue:
        assert picked(venue, 2) == ["A3", "A4"]
        with pytest.raises(RuntimeError), venue.grouped():
            assert picked(venue, 2) == ["A1", "A2"]
            raise RuntimeError("the group's COMMIT never happens")
        assert picked(venue, 2) == ["A1", "A2"]  # not A5-A6: the group rolled back


def test_venues_of_one_process_keep_one_copy_of_the_halls_layout_and_their_own_states(hall):
    # A server keeps one Venue per database thread: the hall's layout, two records per seat,
    # must not be held once per thread.
    with frozen(T0 + 1), Venue.open(hall) as first, Venue.open(hall) as second:
        assert picked(first, 2) == ["A3", "A4"]
        assert picked(second, 2) == ["A1", "A2"]
        assert picked(first, 2) == ["A5", "A6"]  # its index (its second pick) saw the other's
        assert picked(second, 2) == ["B3", "B4"]
        assert first._picks is not None and second._picks is not None
        plans = [venue._picks._shows["default"].plan for venue in (first, second)]
        assert plans[0] is plans[1]


def test_a_seat_added_to_the_map_gives_the_hall_a_new_layout(hall):
    with frozen(T0 + 1), Venue.open(hall) as venue:
        assert picked(venue, 6) == ["A1", "A2", "A3", "A4", "A5", "A6"]
        assert picked(venue, 2) == ["B3", "B4"]  # the venue's second pick builds the index
        assert venue._picks is not None
        before = venue._picks._shows["default"].plan
        Venue.init(hall, labels=["Z1", "Z2"])
        assert picked(venue, 2) == ["B1", "B2"]
        after = venue._picks._shows["default"].plan
        assert after is not before and "Z1" in after.where


# One step of a sale: who acts (this Venue, another connection, or the clock), and what.
steps = st.lists(
    st.tuples(
        st.sampled_from(["pick", "pick", "other-lock", "other-release", "confirm", "later"]),
        st.integers(1, 4),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_every_pick_of_a_sale_is_the_pure_rules_choice(
    tmp_path_factory: pytest.TempPathFactory,
    new_database: Callable[[], tuple[str, Callable[[], None]]],
    steps: list[tuple[str, int, bool]],
) -> None:
    db, remove = new_database()
    try:
        sell(make_hall(tmp_path_factory.mktemp("sale"), db), steps)
    finally:
        remove()


def sell(hall: str, steps: list[tuple[str, int, bool]]) -> None:
    """The steps of a sale; every pick the pure rule's choice at its moment."""
    now = T0 + 1
    with Venue.open(hall) as picker, Venue.open(hall) as other:
        held: list[str] = []
        for action, count, split in steps:
            with frozen(now):
                if action == "pick":
                    expected = choose_best(every_spot(picker), count, split=split)
                    got = picked(picker, count, split)
                    assert got == expected
                    held += got or []
                elif action == "other-lock":
                    free = [s.label for s in every_spot(other) if s.available][:count]
                    if free:
                        other.lock(free, "other", ttl=count * 10)
                elif action == "other-release" and held:
                    # The picker's seat, released through another connection (unless it lapsed).
                    with contextlib.suppress(SeatctlError):
                        other.release(held[:1], "picker")
                    held = held[1:]
                elif action == "confirm" and held:
                    with contextlib.suppress(SeatctlError):  # unless some lapsed meanwhile
                        picker.confirm(held, "picker")
                    held = []
                elif action == "later":
                    now += count * 10


def test_a_refusal_counts_the_seats_left_alone_in_their_rows(hall):
    with frozen(T0 + 1), Venue.open(hall) as venue:
        assert picked(venue, 2) == ["A3", "A4"]  # the index is built here
        taken = ["A1", "A2", "A5", "B1", "B2", "B3", "B5", "B6", "C1", "C2", "C3", "C4", "C5", "C6"]
        venue.lock(taken, "other")
        with pytest.raises(SeatctlError) as refusal:
            venue.lock_best(2, "picker")
    assert refusal.value.message == (
        "no 2 seats together: 2 seats available, the largest block together is 1"
        " (split takes seats apart)"
    )


def test_a_venues_first_pick_reads_only_the_rows_it_needs_not_the_hall(hall, monkeypatch):
    # A command picks once: indexing the whole hall first would cost it more than the pick.
    from seatctl.storage.sql import SqlTransaction

    def whole_hall(*args: object) -> None:
        raise AssertionError("the whole hall was read")

    monkeypatch.setattr(SqlTransaction, "free_from", whole_hall)
    with frozen(T0 + 1), Venue.open(hall) as venue:
        assert [v.seat for v in venue.lock_best(2, "picker")] == ["A3", "A4"]

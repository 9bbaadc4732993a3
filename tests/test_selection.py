"""Best available: every rule of the choice in order, then the whole rule against a brute force."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import reference, reference_largest
from seatctl.core.selection import SeatSpot, available_count, choose_best, largest_block


class Venue:
    """A hand-made venue: rows drawn as text, one character per seat number from 1.

    `.` available, `X` unavailable, `_` no seat with that number (a gap).
    Labels are section + row + "-" + number, e.g. `A1-4`.
    """

    def __init__(self) -> None:
        self.spots: list[SeatSpot] = []

    def row(
        self, section: str | None, row: str | None, seats: str, category: str | None = None
    ) -> Venue:
        for number, mark in enumerate(seats, 1):
            if mark != "_":
                label = f"{section or ''}{row or ''}-{number}"
                self.add(label, section, row, number, category, mark == ".")
        return self

    def add(
        self,
        label: str,
        section: str | None,
        row: str | None,
        number: int | None,
        category: str | None,
        available: bool,
    ) -> Venue:
        order = len(self.spots)
        self.spots.append(SeatSpot(label, section, row, number, category, available, order))
        return self


def best(venue: Venue, count: int, **options: Any) -> list[str] | None:
    return choose_best(venue.spots, count, **options)


# 1. Candidates: N available seats, one row, consecutive numbers, allowed section and category


def test_the_best_block_in_an_empty_row_is_at_its_centre():
    assert best(Venue().row("A", "1", ".........."), 4) == ["A1-4", "A1-5", "A1-6", "A1-7"]


def test_unavailable_seats_are_never_chosen():
    assert best(Venue().row("A", "1", "X..X"), 2) == ["A1-2", "A1-3"]


def test_a_gap_in_the_numbering_breaks_a_block():
    assert best(Venue().row("A", "1", "..._..."), 4) is None


def test_a_block_never_spans_two_rows():
    assert best(Venue().row("A", "1", "..").row("A", "2", ".."), 3) is None


def test_a_block_never_spans_two_sections_with_the_same_row_name():
    assert best(Venue().row("A", "1", "..").row("B", "1", ".."), 3) is None


def test_no_block_is_none():
    assert best(Venue().row("A", "1", ".X.X."), 2) is None


def test_more_seats_than_the_venue_has_is_none():
    assert best(Venue().row("A", "1", "..."), 4) is None


def test_only_the_allowed_sections_are_searched():
    venue = Venue().row("A", "1", "...").row("B", "1", "...")
    assert best(venue, 3, sections=["B"]) == ["B1-1", "B1-2", "B1-3"]


def test_an_unknown_section_finds_nothing():
    assert best(Venue().row("A", "1", "..."), 1, sections=["Z"]) is None


def test_every_seat_of_a_block_is_of_an_allowed_category():
    venue = Venue().row("A", "1", "..", "cheap").row("A", "2", "...", "dear")
    venue.add("A2-4", "A", "2", 4, "cheap", True)
    assert best(venue, 3, categories=["dear"]) == ["A2-1", "A2-2", "A2-3"]
    assert best(venue, 4, categories=["dear"]) is None
    assert best(venue, 4, categories=["dear", "cheap"]) == ["A2-1", "A2-2", "A2-3", "A2-4"]


def test_a_count_below_one_is_a_value_error():
    with pytest.raises(ValueError):
        choose_best(Venue().row("A", "1", ".").spots, 0)


# 2. Orphans first: a block that strands one seat loses to any block that strands none


def test_fewer_orphans_beat_the_row_centre():
    # 2-6 is centred but strands 1 and 7; 1-5 and 3-7 strand nothing; the lower first wins.
    assert best(Venue().row("A", "1", "......."), 5) == ["A1-1", "A1-2", "A1-3", "A1-4", "A1-5"]


def test_fewer_orphans_beat_section_order():
    venue = Venue().row("A", "1", "X...X").row("B", "1", "..")
    assert best(venue, 2) == ["B1-1", "B1-2"]


def test_fewer_orphans_beat_row_order():
    venue = Venue().row("A", "1", "X...X").row("A", "2", "X..X")
    assert best(venue, 2) == ["A2-2", "A2-3"]


def test_one_orphan_beats_two():
    # Row 1: the dear pair 2-3 strands cheap seats 1 and 4. Row 2: either pair strands one.
    venue = Venue().row("A", "1", ".", "cheap").row("A", "1", "_..", "dear")
    venue.add("A1-4", "A", "1", 4, "cheap", True).row("A", "2", "X...X", "dear")
    assert best(venue, 2, categories=["dear"]) == ["A2-2", "A2-3"]


def test_a_seat_left_before_the_row_end_is_an_orphan():
    venue = Venue().row("A", "1", "...").row("A", "2", "..")
    assert best(venue, 2) == ["A2-1", "A2-2"]


def test_a_seat_left_before_a_gap_is_an_orphan():
    venue = Venue().row("A", "1", "...._.").row("A", "2", "...")
    assert best(venue, 3) == ["A2-1", "A2-2", "A2-3"]


def test_a_seat_beyond_a_gap_is_not_the_blocks_orphan():
    venue = Venue().row("A", "1", "..._.").row("A", "2", "...")
    assert best(venue, 3) == ["A1-1", "A1-2", "A1-3"]


def test_two_free_seats_left_beside_a_block_are_no_orphan():
    # Seats 2-5, centre 3: seat 3 strands 2; seat 2 leaves 3-4 together and wins.
    assert best(Venue().row("A", "1", "X...."), 1) == ["A1-2"]


def test_a_seat_already_alone_is_not_the_blocks_orphan():
    # 1 is stranded whatever happens; taking 3-4 leaves it as it was.
    assert best(Venue().row("A", "1", ".X..X"), 2) == ["A1-3", "A1-4"]


def test_a_seat_excluded_by_category_still_counts_as_an_orphan():
    venue = Venue().row("A", "1", ".", "cheap")
    for number in (2, 3):
        venue.add(f"A1-{number}", "A", "1", number, "dear", True)
    venue.row("A", "2", "..", "dear")
    assert best(venue, 2, categories=["dear"]) == ["A2-1", "A2-2"]


# 3-4. Then section order, then row order, both as first listed in the map


def test_section_order_is_the_order_of_first_appearance():
    venue = Venue().row("Z", "1", "..").row("A", "1", "..")
    assert best(venue, 2) == ["Z1-1", "Z1-2"]


def test_section_order_beats_row_order():
    venue = Venue().row("A", "9", "..").row("B", "1", "..")
    assert best(venue, 2) == ["A9-1", "A9-2"]


def test_row_order_is_the_order_of_first_appearance_in_the_section():
    venue = Venue().row("A", "9", "..").row("A", "1", "..")
    assert best(venue, 2) == ["A9-1", "A9-2"]


def test_a_section_listed_again_later_keeps_its_first_place():
    venue = Venue().row("A", "1", "X").row("B", "1", "..").row("A", "2", "..")
    assert best(venue, 2) == ["A2-1", "A2-2"]


def test_row_order_beats_the_row_centre():
    venue = Venue().row("A", "1", "..XXXXX").row("A", "2", "XX..XX")
    assert best(venue, 2) == ["A1-1", "A1-2"]


def test_map_order_not_list_order_ranks_sections():
    venue = Venue().row("A", "1", "..").row("B", "1", "..")
    shuffled = list(reversed(venue.spots))
    assert choose_best(shuffled, 2) == ["A1-1", "A1-2"]


# 5. Then the distance from the row's centre, then the lower first number


def test_the_row_centre_counts_every_seat_whatever_its_state():
    # Seats 1-10, centre 5.5: the pair 5-6, not the middle of the free seats 5-10.
    assert best(Venue().row("A", "1", "XXXX......"), 2) == ["A1-5", "A1-6"]


def test_the_row_centre_is_between_the_lowest_and_highest_number():
    # Numbers 3-9, centre 6: the block 5-7.
    assert best(Venue().row("A", "1", "__......."), 3) == ["A1-5", "A1-6", "A1-7"]


def test_the_lower_first_number_breaks_a_tie():
    # Seats 1-4: 1-2 and 3-4 are as far from 2.5 and strand nothing; 2-3 strands two.
    assert best(Venue().row("A", "1", "...."), 2) == ["A1-1", "A1-2"]


def test_the_result_is_in_seat_order():
    venue = Venue()
    for number in (3, 1, 2):
        venue.add(f"S{number}", "A", "1", number, None, True)
    assert choose_best(venue.spots, 3) == ["S1", "S2", "S3"]


# Seats without a position


def test_seats_without_a_number_are_one_row_in_natural_label_order():
    venue = Venue()
    for label in ("10", "2", "1", "3"):
        venue.add(label, None, None, None, None, True)
    # Positions 1, 2, 3, 10 -> 1..4, centre 2.5: 2 and 3 are 1 and 2 ... in label order.
    assert choose_best(venue.spots, 2) == ["1", "2"]
    assert choose_best(venue.spots, 4) == ["1", "2", "3", "10"]


def test_a_database_made_without_a_map_is_one_row():
    venue = Venue()
    for number in range(1, 11):
        venue.add(str(number), None, None, None, None, True)
    assert choose_best(venue.spots, 2) == ["5", "6"]


def test_seats_without_a_number_rank_after_their_sections_numbered_rows():
    venue = Venue().add("X1", "A", None, None, None, True).add("X2", "A", None, None, None, True)
    venue.row("A", "1", "X..X")
    assert best(venue, 2) == ["A1-2", "A1-3"]
    venue.row("B", "1", "..")
    assert best(venue, 2, sections=["A"]) == ["A1-2", "A1-3"]


def test_seats_without_a_number_rank_before_a_later_section():
    venue = Venue().row("A", "1", "X").add("X1", "A", "1", None, None, True)
    venue.add("X2", "A", "1", None, None, True).row("B", "1", "..")
    assert best(venue, 2) == ["X1", "X2"]


# Split


def test_split_takes_the_best_single_seats_when_no_block_exists():
    venue = Venue().row("A", "1", ".X.X.").row("A", "2", "X.X")
    # Row 1 centre 3: seat 3, then 1 and 5 (equally far; lower number first).
    assert best(venue, 2, split=True) == ["A1-1", "A1-3"]
    assert best(venue, 4, split=True) == ["A1-1", "A1-3", "A1-5", "A2-2"]


def test_split_is_ignored_when_a_block_exists():
    venue = Venue().row("A", "1", ".X.X.").row("B", "1", "..")
    assert best(venue, 2, split=True) == ["B1-1", "B1-2"]


def test_split_with_too_few_seats_is_none():
    assert best(Venue().row("A", "1", ".X."), 3, split=True) is None


def test_split_keeps_to_the_allowed_sections_and_categories():
    venue = Venue().row("A", "1", ".X.", "a").row("B", "1", ".X.", "b").row("C", "1", ".", "a")
    assert best(venue, 2, split=True, sections=["B"]) == ["B1-1", "B1-3"]
    assert best(venue, 3, split=True, categories=["a"]) == ["A1-1", "A1-3", "C1-1"]


def test_split_ranks_rows_before_distance():
    venue = Venue().row("A", "1", ".XXXXXXXX.").row("A", "2", "XX.XX")
    assert best(venue, 3, split=True) == ["A1-1", "A1-10", "A2-3"]


# For the not_enough message


def test_largest_block_is_the_longest_run_in_one_row():
    venue = Venue().row("A", "1", "..X...").row("A", "2", "...._..")
    assert largest_block(venue.spots) == 4


def test_largest_block_follows_the_filters():
    venue = Venue().row("A", "1", "..X...", "a").row("B", "1", "....", "b")
    assert largest_block(venue.spots, sections=["A"]) == 3
    assert largest_block(venue.spots, categories=["a"]) == 3
    assert largest_block(venue.spots, categories=["c"]) == 0


def test_largest_block_of_an_empty_venue_is_zero():
    assert largest_block([]) == 0


def test_available_count_follows_the_filters():
    venue = Venue().row("A", "1", "..X...", "a").row("B", "1", ".X", "b")
    assert available_count(venue.spots) == 6
    assert available_count(venue.spots, sections=["B"]) == 1
    assert available_count(venue.spots, categories=["a"]) == 5


# The whole rule against a brute force (helpers.reference): every block of the venue, sorted
# by the rule's key


seat = st.tuples(
    st.sampled_from(["A", "B", None]),
    st.sampled_from(["1", "2", None]),
    st.one_of(st.none(), st.integers(1, 9), st.integers(1, 9)),
    st.sampled_from(["a", "b", None]),
    st.booleans(),
)
venues = st.lists(
    seat,
    max_size=40,
    unique_by=lambda s: (s[0], s[1], s[2]) if s[2] is not None else object(),
)


@st.composite
def cases(draw: st.DrawFn) -> list[SeatSpot]:
    seats = draw(venues)
    order = draw(st.permutations(range(len(seats))))
    spots = [
        SeatSpot(f"L{index}", *fields, map_order=order[index]) for index, fields in enumerate(seats)
    ]
    random.Random(draw(st.integers(0, 1000))).shuffle(spots)
    return spots


@settings(max_examples=400, deadline=None)
@given(
    cases(),
    st.integers(1, 5),
    st.lists(st.sampled_from(["A", "B", "C"]), max_size=2),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
    st.booleans(),
)
def test_the_choice_is_the_brute_force_minimum_of_the_rules_key(
    spots, count, sections, categories, split
):
    expected = reference(spots, count, sections, categories, split)
    assert choose_best(spots, count, sections, categories, split) == expected


@settings(max_examples=200, deadline=None)
@given(
    cases(),
    st.lists(st.sampled_from(["A", "B"]), max_size=1),
    st.lists(st.sampled_from(["a", "b"]), max_size=1),
)
def test_largest_block_and_available_count_match_a_brute_force(spots, sections, categories):
    assert largest_block(spots, sections, categories) == reference_largest(
        spots, sections, categories
    )
    assert available_count(spots, sections, categories) == sum(
        1
        for s in spots
        if s.available
        and (not sections or s.section in sections)
        and (not categories or s.category in categories)
    )


@settings(max_examples=200, deadline=None)
@given(cases(), st.integers(1, 4))
def test_a_block_exists_exactly_when_the_largest_block_is_long_enough(spots, count):
    assert (choose_best(spots, count) is not None) == (largest_block(spots) >= count)


# The worked example of docs/commands.md (lock --best)


def worked_example() -> Venue:
    venue = Venue().row("Stalls", "A", "XX.......X", "premium")
    venue.row("Stalls", "B", ".X...X__....", "premium")
    return venue.row("Circle", "A", "........", "standard")


def labels(first: str, numbers: range | list[int]) -> list[str]:
    return [f"{first}-{number}" for number in numbers]


@pytest.mark.parametrize(
    ("count", "options", "expected"),
    [
        (4, {}, labels("StallsA", range(3, 7))),
        (3, {}, labels("StallsA", range(5, 8))),
        (3, {"sections": ["Stalls"], "categories": ["premium"]}, labels("StallsA", range(5, 8))),
        (6, {}, labels("CircleA", range(1, 7))),
        (6, {"categories": ["premium"]}, labels("StallsA", range(3, 9))),
        (8, {"categories": ["premium"]}, None),
        (
            8,
            {"categories": ["premium"], "split": True},
            [*labels("StallsA", range(3, 10)), "StallsB-5"],
        ),
        (4, {"sections": ["Circle"]}, labels("CircleA", range(3, 7))),
    ],
)
def test_the_worked_example_in_the_docs(count, options, expected):
    assert best(worked_example(), count, **options) == expected


def test_the_worked_example_gap_row_blocks():
    venue = Venue().row("Stalls", "B", ".X...X__....")
    assert best(venue, 3) == labels("StallsB", range(3, 6))
    # Without SB3-SB5, both blocks beyond the gap strand one seat; the nearer the centre wins.
    taken = Venue().row("Stalls", "B", ".XXXXX__....")
    assert best(taken, 3) == labels("StallsB", range(9, 12))


def test_the_worked_example_not_enough_numbers():
    spots = worked_example().spots
    assert available_count(spots, categories=["premium"]) == 15
    assert largest_block(spots, categories=["premium"]) == 7


@pytest.mark.parametrize("option", ["sections", "categories"])
def test_a_single_name_instead_of_a_list_is_a_type_error(option):
    with pytest.raises(TypeError, match="list of names"):
        best(Venue().row("A", "1", "."), 1, **{option: "A"})

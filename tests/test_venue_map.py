"""Counts, summaries by group, and the seat map drawn for a terminal."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seatctl.core.venue_map import (
    CHARACTERS,
    Counts,
    MapCell,
    count,
    occupancy,
    render_map,
    summary_groups,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


# Counts


def test_count_tallies_each_status_and_the_total():
    counts = count(["available", "booked", "locked", "booked", "blocked", "available"])
    assert counts == Counts(available=2, locked=1, booked=2, blocked=1, total=6, occupancy=33.3)


def test_count_of_nothing_is_zero_occupancy():
    assert count([]) == Counts(0, 0, 0, 0, 0, 0.0)


def test_an_unknown_status_is_a_value_error():
    with pytest.raises(ValueError, match="'sold'"):
        count(["available", "sold"])


def test_as_dict_is_in_the_json_order():
    counts = count(["available", "available", "available", "locked", "booked"])
    assert list(counts.as_dict().items()) == [
        ("total", 5),
        ("available", 3),
        ("locked", 1),
        ("booked", 1),
        ("blocked", 0),
        ("occupancy", 20.0),
    ]


@pytest.mark.parametrize(
    ("booked", "total", "percent"),
    [(0, 5, 0.0), (5, 5, 100.0), (1, 3, 33.3), (2, 3, 66.7), (1, 16, 6.3), (1, 8, 12.5)],
)
def test_occupancy_is_booked_over_total_rounded_half_up_to_one_decimal(booked, total, percent):
    assert occupancy(booked, total) == percent


def test_locked_and_blocked_seats_are_not_occupancy():
    assert count(["locked", "blocked", "booked", "available"]).occupancy == 25.0


# Summaries by group


SEATS = [
    ({"section": "Stalls", "row": "A", "category": "dear"}, "booked"),
    ({"section": "Stalls", "row": "A", "category": "dear"}, "available"),
    ({"section": "Stalls", "row": "B", "category": "cheap"}, "locked"),
    ({"section": "Circle", "row": "A", "category": "dear"}, "blocked"),
    ({"section": "Stalls", "row": "A", "category": "cheap"}, "available"),
]


def test_groups_by_section_in_order_of_first_appearance():
    groups = summary_groups(SEATS, "section")
    assert [g["section"] for g in groups] == ["Stalls", "Circle"]
    assert groups[0] == {
        "section": "Stalls",
        "total": 4,
        "available": 2,
        "locked": 1,
        "booked": 1,
        "blocked": 0,
        "occupancy": 25.0,
    }


def test_a_row_group_is_named_by_its_section_and_row():
    groups = summary_groups(SEATS, "row")
    assert [(g["section"], g["row"], g["total"]) for g in groups] == [
        ("Stalls", "A", 3),
        ("Stalls", "B", 1),
        ("Circle", "A", 1),
    ]


def test_groups_by_category():
    groups = summary_groups(SEATS, "category")
    assert [(g["category"], g["total"], g["booked"]) for g in groups] == [
        ("dear", 3, 1),
        ("cheap", 2, 0),
    ]


def test_seats_without_the_field_form_a_null_group():
    groups = summary_groups([({"section": None}, "available")], "section")
    assert groups == [
        {
            "section": None,
            "total": 1,
            "available": 1,
            "locked": 0,
            "booked": 0,
            "blocked": 0,
            "occupancy": 0.0,
        }
    ]


def test_no_seats_no_groups():
    assert summary_groups([], "row") == []


def test_an_unknown_grouping_is_a_value_error():
    with pytest.raises(ValueError, match="section, row, category"):
        summary_groups(SEATS, "price")


def test_an_unknown_status_in_a_group_is_a_value_error():
    with pytest.raises(ValueError):
        summary_groups([({"section": "A"}, "sold")], "section")


# The map


STATUS = {".": "available", "L": "locked", "B": "booked", "X": "blocked"}


class Hall:
    """Rows drawn as text: one character per seat number from 1 (`.` available, `L` locked,
    `B` booked, `X` blocked, `_` no seat with that number)."""

    def __init__(self) -> None:
        self.cells: list[MapCell] = []

    def row(self, section: str | None, row: str | None, marks: str, first: int = 1) -> Hall:
        for number, mark in enumerate(marks, first):
            if mark != "_":
                self.add(f"{section}{row}-{number}", section, row, number, STATUS[mark])
        return self

    def add(
        self, label: str, section: str | None, row: str | None, number: int | None, status: str
    ) -> Hall:
        self.cells.append(MapCell(label, section, row, number, status, len(self.cells)))
        return self

    def draw(self, colour: bool = False, width: int = 80) -> list[str]:
        """The drawing below its stage line (the line has tests of its own)."""
        lines = render_map(self.cells, colour, width).split("\n")
        assert "stage" in lines[0]
        return lines[1:]


LEGEND = ". available   L locked   B booked   X blocked"


def test_a_stage_line_marks_the_front_above_the_first_rows():
    lines = render_map(Hall().row("S", "A", "." * 12).row("S", "B", "..").cells, False).split("\n")
    assert lines[:3] == ["   == stage ===", "Section S", "   1        10"]


def test_the_stage_line_spans_the_widest_row():
    lines = render_map(Hall().row(None, "A", "." * 30).cells, False).split("\n")
    assert lines[0] == "   " + " stage ".center(30, "=")


def test_each_row_is_one_line_of_one_character_per_seat_with_a_legend():
    assert Hall().row("S", "A", ".LBX").row("S", "B", "....").draw() == [
        "Section S",
        "   1",
        "A  .LBX",
        "B  ....",
        "",
        LEGEND,
    ]


def test_missing_numbers_are_blank_columns_so_the_grid_stays_aligned():
    lines = Hall().row("S", "A", "..__..").row("S", "B", "_.....").draw()
    assert lines[2:4] == ["A  ..  ..", "B   ....."]


def test_cells_are_in_number_order_whatever_the_map_order():
    hall = Hall().add("a3", "S", "A", 3, "booked").add("a1", "S", "A", 1, "locked")
    hall.add("a2", "S", "A", 2, "available")
    assert hall.draw()[2] == "A  L.B"


def test_rows_keep_the_map_order():
    lines = Hall().row("S", "Z", "..").row("S", "A", "..").draw()
    assert [line[0] for line in lines[2:4]] == ["Z", "A"]


def test_sections_are_headed_in_map_order_with_a_blank_line_between():
    lines = Hall().row("Stalls", "A", ".").row("Circle", "A", "B").draw()
    assert lines[:7] == ["Section Stalls", "   1", "A  .", "", "Section Circle", "   1", "A  B"]


def test_a_grid_starts_at_the_sections_lowest_number():
    lines = Hall().row("S", "A", "...", first=101).row("S", "B", "..", first=102).draw()
    assert lines[1:4] == ["   101", "A  ...", "B   .."]


def test_the_ruler_marks_every_tenth_seat_over_its_column():
    lines = Hall().row("S", "A", "." * 25).draw()
    assert lines[1] == "   1        10        20"
    assert lines[2].index("." * 25) + 9 == lines[1].index("10")


def test_row_labels_are_right_aligned_to_the_longest():
    lines = Hall().row("S", "AA", ".").row("S", "B", ".").draw()
    assert lines[2:4] == ["AA  .", " B  ."]


def test_long_row_labels_are_cut():
    lines = Hall().row("S", "R" * 20, ".").draw()
    assert lines[2] == "R" * 11 + "~  ."


def test_a_map_without_sections_has_no_heading():
    assert Hall().row(None, "A", "..").draw()[:2] == ["   1", "A  .."]


def test_seats_without_a_section_are_headed_no_section_beside_named_ones():
    lines = Hall().row("S", "A", ".").row(None, "A", "B").draw()
    assert "No section" in lines


def test_seats_without_a_row_have_the_row_label_dash():
    assert Hall().row(None, None, "..").draw()[1] == "-  .."


def test_seats_without_a_number_are_one_row_in_natural_label_order():
    hall = Hall()
    for label, status in (("10", "booked"), ("2", "locked"), ("1", "available")):
        hall.add(label, None, None, None, status)
    assert hall.draw() == [
        "*  .LB",
        "",
        LEGEND,
        "row *: seats without a number, in label order",
    ]


def test_seats_without_a_number_follow_their_sections_rows():
    hall = Hall().add("x", "S", None, None, "blocked").row("S", "A", "..").row("T", "A", ".")
    assert hall.draw()[:4] == ["Section S", "   1", "A  ..", "*  X"]


def test_a_wide_section_is_cut_into_panels_of_whole_columns():
    lines = Hall().row("S", "A", "." * 30 + "B" * 30).row("S", "B", "L" * 60).draw(width=33)
    # 33 columns - "A  " = 30 seats per panel.
    assert lines == [
        "Section S",
        "   seats 1-30:",
        "   1        10        20",
        "A  " + "." * 30,
        "B  " + "L" * 30,
        "   seats 31-60:",
        "   31       40        50",
        "A  " + "B" * 30,
        "B  " + "L" * 30,
        "",
        LEGEND,
    ]


def test_no_line_of_cells_is_wider_than_the_width():
    hall = Hall()
    for row in "ABCDEFGH":
        hall.row("S", row, ".LB_X" * 40)
    for line in hall.draw(width=50)[:-1]:
        assert len(line) <= 50


def test_panels_never_go_below_ten_seats():
    lines = Hall().row("S", "A", "." * 20).draw(width=5)
    assert "A  .........." in lines


def test_sparse_numbers_print_no_empty_panels():
    lines = Hall().add("a", "S", "A", 1, "available").add("b", "S", "A", 999_999, "booked")
    drawn = lines.draw(width=40)
    assert len(drawn) < 12
    assert "   seats 999963-999999:" in drawn  # 37 seats per panel: 40 - "A  "


def test_the_characters_are_there_with_colour_too():
    hall = Hall().row("S", "A", ".LBX")
    coloured = hall.draw(colour=True)
    assert [ANSI.sub("", line) for line in coloured] == hall.draw(colour=False)
    assert coloured[2] != hall.draw()[2]


def test_colour_paints_runs_of_one_status_once():
    line = Hall().row("S", "A", "....BB").draw(colour=True)[2]
    assert line == "A  \x1b[32m....\x1b[0m\x1b[31mBB\x1b[0m"


def test_without_colour_there_is_no_escape_sequence():
    assert "\x1b" not in "\n".join(Hall().row("S", "A", ".LBX").draw())


def test_control_characters_in_names_are_escaped():
    drawn = "\n".join(Hall().row("S\x1b[2J", "A\x07", ".").draw())
    assert "\x1b" not in drawn
    assert "\x07" not in drawn


def test_an_unknown_status_is_a_value_error_in_the_map():
    with pytest.raises(ValueError):
        render_map([MapCell("a", None, None, 1, "sold", 0)], colour=False)


def test_no_seats_says_so():
    assert render_map([], colour=False) == "no seats"


def test_two_thousand_seats_render_fast():
    hall = Hall()
    for section in ("Stalls", "Circle"):
        for row in range(40):
            hall.row(section, str(row), ".LBX_" * 5 + "." * 5)
    start = time.perf_counter()
    render_map(hall.cells, colour=True)
    assert time.perf_counter() - start < 0.5


hall_seats = st.lists(
    st.tuples(
        st.sampled_from(["S", "T"]),
        st.sampled_from(["A", "BB", "C"]),
        st.integers(1, 30),
        st.sampled_from(list(STATUS.values())),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda seat: seat[:3],
)


@settings(max_examples=200, deadline=None)
@given(hall_seats, st.integers(10, 120))
def test_every_seat_is_drawn_in_its_rows_line_at_its_numbers_column(seats, width):
    cells = [
        MapCell(f"{section}{row}-{number}", section, row, number, status, order)
        for order, (section, row, number, status) in enumerate(seats)
    ]
    lines = render_map(cells, colour=False, width=width).split("\n")[1:]  # below the stage
    drawn: dict[tuple[str, str, int], str] = {}
    section, first = None, None
    for line in lines:
        if line.startswith("Section "):
            section, first = line.removeprefix("Section "), None
        elif match := re.fullmatch(r" +seats (\d+)-\d+:", line):
            first = int(match[1])
        elif re.fullmatch(r"[\d ]+", line):
            continue  # the ruler
        elif match := re.fullmatch(r" *(\w+)  (.*)", line):
            if first is None:  # a grid that fits: it starts at the section's lowest number
                first = min(n for s, _, n, _ in seats if s == section)
            for column, character in enumerate(match[2]):
                if character != " ":
                    drawn[section, match[1], first + column] = character
    assert drawn == {
        (section, row, number): CHARACTERS[status] for section, row, number, status in seats
    }
    # Rulers and rows fit the width (or the narrowest panel: 10 seats after "BB  ").
    grid = [line for line in lines if not re.match(r"Section |\. available| +seats ", line)]
    assert all(len(line) <= max(width, 2 + 2 + 10) for line in grid)
    assert render_map(cells, colour=False, width=width) == ANSI.sub(
        "", render_map(cells, colour=True, width=width)
    )

"""How seats and map names are named to people (`seatctl.core.names`)."""

from __future__ import annotations

import pytest

from seatctl.core.model import Place
from seatctl.core.names import seat_name, seat_phrase, unknown_name


@pytest.mark.parametrize(
    ("place", "name"),
    [
        (Place("Stalls", "B", 3), "Stalls B3"),
        (Place(None, "B", 3), "B3"),
        (Place("Stalls", None, 3), "Stalls 3"),
        (Place("Circle", "12", 3), "Circle row 12 seat 3"),
        (Place("Stalls", "B", None), "30"),  # no number: no place to name
        (Place(None, None, 3), "30"),  # a number alone says nothing
        (Place(), "30"),
    ],
)
def test_a_seat_is_named_from_its_section_row_and_number(place, name):
    assert seat_name("30", place.section, place.row, place.number) == name


def test_a_phrase_keeps_the_label_beside_a_name_that_differs():
    assert seat_phrase("30", Place("Stalls", "B", 3)) == "Stalls B3 (30)"
    assert seat_phrase("30") == "30"


def test_an_unknown_name_in_another_case_suggests_the_known_one():
    error = unknown_name("section", "stalls", ["Stalls", "Circle"])
    assert (error.reason, error.exit_code) == ("not_found", 3)
    assert error.message == "section stalls does not exist in the seat map: did you mean Stalls?"


def test_an_unknown_name_near_a_known_one_suggests_it():
    assert unknown_name("section", "Stals", ["Stalls", "Circle"]).message.endswith("Stalls?")


def test_an_unknown_name_far_from_every_known_one_lists_them():
    message = unknown_name("category", "vip", ["standard", "premium"]).message
    assert message.endswith(": the categories are premium, standard")


def test_a_long_list_of_names_is_cut():
    names = [f"S{n:02d}" for n in range(15)]
    assert unknown_name("section", "zzz", names).message.endswith("S09 and 5 more")


def test_a_map_without_names_says_so():
    assert unknown_name("category", "vip", []).message.endswith(": the map names no categories")

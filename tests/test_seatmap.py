"""Seat-map files: CSV or JSON lines in, seats in file order out, every bad line reported."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.core.seatmap import COLUMNS, MapSeat, parse_map

PLACE_COLUMNS = COLUMNS[:5]  # label, section, row, number, category (not the position)


def write(tmp_path: Path, text: str | bytes, name: str = "venue.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def error_of(path: str) -> SeatctlError:
    with pytest.raises(SeatctlError) as caught:
        parse_map(path)
    assert caught.value.exit_code is ExitCode.USAGE
    assert caught.value.reason is Reason.USAGE
    return caught.value


def test_a_csv_map_gives_every_field_and_its_line(tmp_path):
    path = write(tmp_path, "label,section,row,number,category\nA1,Stalls,A,1,premium\n")
    assert parse_map(path) == [MapSeat("A1", "Stalls", "A", 1, "premium", 2)]


def test_seats_keep_the_file_order(tmp_path):
    path = write(tmp_path, "label\nZ9\nA1\nM5\n")
    assert [seat.label for seat in parse_map(path)] == ["Z9", "A1", "M5"]


def test_only_the_label_column_is_required(tmp_path):
    path = write(tmp_path, "label\nA1\n")
    assert parse_map(path) == [MapSeat("A1", None, None, None, None, 2)]


def test_columns_may_come_in_any_order_and_case(tmp_path):
    path = write(tmp_path, "Number, ROW ,label\n7,B,B7\n")
    assert parse_map(path) == [MapSeat("B7", None, "B", 7, None, 2)]


def test_empty_fields_are_not_set(tmp_path):
    path = write(tmp_path, "label,section,row,number,category\nA1,,  ,,\n")
    assert parse_map(path) == [MapSeat("A1", None, None, None, None, 2)]


def test_fields_are_stripped(tmp_path):
    path = write(tmp_path, "label,section,number\n A1 , Stalls , 3 \n")
    assert parse_map(path) == [MapSeat("A1", "Stalls", None, 3, None, 2)]


def test_blank_lines_are_skipped_and_lines_still_counted(tmp_path):
    path = write(tmp_path, "label\n\nA1\n\n\nA2\n")
    assert [(seat.label, seat.line) for seat in parse_map(path)] == [("A1", 3), ("A2", 6)]


def test_a_quoted_field_spanning_lines_keeps_later_line_numbers_right(tmp_path):
    path = write(tmp_path, 'label,section\nA1,"Grand\nCircle"\nA2,x\n')
    error = error_of(path)  # a newline is not printable in a section name
    assert "line 2: invalid section" in error.message
    path = write(tmp_path, 'label,section\nA1,"Grand, Circle"\nA2,x\n')
    assert [seat.line for seat in parse_map(path)] == [2, 3]


def test_a_byte_order_mark_is_ignored(tmp_path):
    path = write(tmp_path, "\ufefflabel\nA1\n".encode())
    assert [seat.label for seat in parse_map(path)] == ["A1"]


def test_windows_line_endings_are_read(tmp_path):
    path = write(tmp_path, b"label,number\r\nA1,1\r\nA2,2\r\n")
    assert [(seat.label, seat.number) for seat in parse_map(path)] == [("A1", 1), ("A2", 2)]


def test_names_are_normalised_to_nfc(tmp_path):
    path = write(tmp_path, "label,section,category\nA1,Cafe\u0301,ba\u0308r\n")
    seat = parse_map(path)[0]
    assert (seat.section, seat.category) == ("Caf\u00e9", "b\u00e4r")


def test_numbers_with_leading_zeros_are_whole_numbers(tmp_path):
    path = write(tmp_path, "label,number\nA1,007\n")
    assert parse_map(path)[0].number == 7


def test_json_lines_by_extension(tmp_path):
    lines = [{"label": "A1", "section": "S", "row": "1", "number": 1, "category": None}]
    path = write(tmp_path, "\n".join(json.dumps(x) for x in lines), "venue.jsonl")
    assert parse_map(path) == [MapSeat("A1", "S", "1", 1, None, 1)]


def test_json_lines_by_content(tmp_path):
    path = write(tmp_path, '\n  {"label": "A1"}\n{"label": "A2", "number": "2"}\n', "venue.txt")
    assert parse_map(path) == [
        MapSeat("A1", None, None, None, None, 2),
        MapSeat("A2", None, None, 2, None, 3),
    ]


def test_a_json_row_number_is_text_for_the_row_name(tmp_path):
    path = write(tmp_path, '{"label": "A1", "row": 12}\n', "venue.jsonl")
    assert parse_map(path)[0].row == "12"


def test_a_missing_label_column_is_an_error(tmp_path):
    error = error_of(write(tmp_path, "seat,row\nA1,1\n"))
    assert "venue.csv" in error.message
    assert "line 1: no label column" in error.message


def test_unknown_columns_are_an_error_naming_them(tmp_path):
    error = error_of(write(tmp_path, "label,price,colour\nA1,10,red\n"))
    assert "line 1: unknown column 'price', 'colour'" in error.message


def test_a_column_given_twice_is_an_error(tmp_path):
    error = error_of(write(tmp_path, "label,row,row\nA1,1,2\n"))
    assert "line 1: column 'row' given twice" in error.message


def test_duplicate_labels_name_both_lines(tmp_path):
    error = error_of(write(tmp_path, "label\nA1\nA2\nA1\n"))
    assert error.message.endswith("line 4: duplicate label 'A1' (first on line 2)")


def test_duplicate_positions_name_both_lines(tmp_path):
    error = error_of(write(tmp_path, "label,section,row,number\nA1,S,A,1\nA2,S,B,1\nX,S,A,1\n"))
    assert "line 4: duplicate position section 'S', row 'A', number 1 (first on line 2)" in (
        error.message
    )


def test_seats_without_a_number_never_share_a_position(tmp_path):
    path = write(tmp_path, "label,section,row\nA1,S,A\nA2,S,A\n")
    assert len(parse_map(path)) == 2


def test_the_same_number_in_other_rows_is_fine(tmp_path):
    path = write(tmp_path, "label,section,row,number\nA1,S,A,1\nB1,S,B,1\nC1,T,A,1\n")
    assert len(parse_map(path)) == 3


@pytest.mark.parametrize("number", ["x", "1.5", "+3", "1_0", "\u0661", "1e3"])
def test_a_number_that_is_not_a_whole_number_is_an_error(tmp_path, number):
    error = error_of(write(tmp_path, f"label,number\nA1,1\nA2,{number}\n"))
    assert f"line 3: number {number!r} is not a whole number" in error.message


@pytest.mark.parametrize("number", ["1.0", "true", "[1]"])
def test_a_json_number_that_is_not_whole_is_an_error(tmp_path, number):
    error = error_of(write(tmp_path, f'{{"label": "A1", "number": {number}}}\n', "v.jsonl"))
    assert "line 1: number" in error.message
    assert "is not a whole number" in error.message


@pytest.mark.parametrize("number", ["-3", "-0003"])
def test_a_negative_number_is_out_of_range_not_a_non_number(tmp_path, number):
    error = error_of(write(tmp_path, f"label,number\nA1,1\nA2,{number}\n"))
    assert "line 3: number -3 is out of range: use a whole number from 0 to 999999" in error.message


def test_a_number_out_of_range_is_an_error(tmp_path):
    error = error_of(write(tmp_path, "label,number\nA1,1000000\n"))
    assert "line 2: number 1000000 is out of range" in error.message


@pytest.mark.parametrize("label", ["-1", ".a", "a b", "ä1", "x" * 33, "a/b"])
def test_an_invalid_label_is_an_error(tmp_path, label):
    error = error_of(write(tmp_path, f"label\n{label}\n"))
    assert "line 2: invalid label" in error.message


def test_an_empty_label_is_an_error(tmp_path):
    error = error_of(write(tmp_path, "label,row\n,1\n"))
    assert "line 2: no label" in error.message


def test_a_name_that_is_too_long_is_an_error(tmp_path):
    error = error_of(write(tmp_path, f"label,category\nA1,{'x' * 65}\n"))
    assert "line 2: invalid category" in error.message


def test_a_row_with_the_wrong_number_of_fields_is_an_error(tmp_path):
    error = error_of(write(tmp_path, "label,row\nA1,1,extra\nA2\n"))
    assert "line 2: 3 fields, but the header on line 1 has 2" in error.message
    assert "line 3: 1 field, but the header on line 1 has 2" in error.message


def test_malformed_csv_is_an_error_with_its_line(tmp_path):
    error = error_of(write(tmp_path, 'label,row\nA1,1\nA2,"1"x\n'))
    assert "line 3: not valid CSV" in error.message


def test_every_bad_line_is_listed_in_one_message_in_line_order(tmp_path):
    text = "label,number\nA1,1\nA1,2\nA3,x\nA4,4\nbad label,5\n"
    error = error_of(write(tmp_path, text))
    assert error.message == (
        f"invalid map {tmp_path / 'venue.csv'}: line 3: duplicate label 'A1' (first on line 2);"
        " line 4: number 'x' is not a whole number; line 6: invalid label 'bad label': use 1 to"
        " 32 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
    )


def test_one_line_with_two_problems_reports_both(tmp_path):
    error = error_of(write(tmp_path, "label,number\n-x,y\n"))
    assert "line 2: invalid label '-x'" in error.message
    assert "line 2: number 'y' is not a whole number" in error.message


def test_an_empty_file_has_no_seats(tmp_path):
    assert "no seats" in error_of(write(tmp_path, "")).message


def test_a_header_alone_has_no_seats(tmp_path):
    assert "no seats" in error_of(write(tmp_path, "label,row\n\n")).message


def test_an_unreadable_file_is_a_usage_error_naming_it(tmp_path):
    missing = str(tmp_path / "nowhere.csv")
    error = error_of(missing)
    assert error.message.startswith(f"cannot read map {missing}: ")


def test_a_directory_is_a_usage_error(tmp_path):
    assert "cannot read map" in error_of(str(tmp_path)).message


def test_undecodable_text_is_an_error_with_its_line(tmp_path):
    error = error_of(write(tmp_path, b"label\nA1\nA\xff2\n"))
    assert "line 3: not UTF-8 text (byte 0xff)" in error.message


def test_a_json_line_that_is_not_an_object_is_an_error(tmp_path):
    error = error_of(write(tmp_path, '{"label": "A1"}\n[1]\n{oops\n', "v.jsonl"))
    assert "line 2: not a JSON object; line 3: not a JSON object" in error.message


def test_a_json_object_with_unknown_keys_is_an_error(tmp_path):
    error = error_of(write(tmp_path, '{"label": "A1", "price": 3}\n', "v.jsonl"))
    assert "line 1: unknown key 'price'" in error.message


def test_a_json_object_without_a_label_is_an_error(tmp_path):
    error = error_of(write(tmp_path, '{"row": "A"}\n', "v.jsonl"))
    assert "line 1: no label" in error.message


def test_a_json_label_that_is_not_text_is_an_error(tmp_path):
    error = error_of(write(tmp_path, '{"label": 12}\n', "v.jsonl"))
    assert "line 1: label '12' is not text" in error.message


def test_a_json_section_that_is_not_text_is_an_error(tmp_path):
    error = error_of(write(tmp_path, '{"label": "A1", "section": true}\n', "v.jsonl"))
    assert "line 1: section 'true' is not text" in error.message


def test_control_characters_in_errors_are_escaped(tmp_path):
    error = error_of(write(tmp_path, "label\nA\x1b[31m\n"))
    assert "\x1b" not in error.message


def test_a_large_map_parses(tmp_path):
    rows = "".join(
        f"S{s}R{r}N{n},S{s},{r},{n},c\n" for s in range(3) for r in range(30) for n in range(30)
    )
    path = write(tmp_path, "label,section,row,number,category\n" + rows)
    seats = parse_map(path)
    assert len(seats) == 2700
    assert seats[-1] == MapSeat("S2R29N29", "S2", "29", 29, "c", 2701)


def test_a_unicode_line_separator_inside_a_field_is_not_a_new_line(tmp_path):
    path = write(tmp_path, "label,section\nA1,Grand\u2028Circle\nA2,x\n")
    error = error_of(path)  # not printable, so refused, but on its own line 2
    assert "line 2: invalid section" in error.message
    assert "line 3" not in error.message


def test_json_lines_with_windows_line_endings(tmp_path):
    path = write(tmp_path, b'{"label": "A1"}\r\n\r\n{"label": "A2"}\r\n', "v.jsonl")
    assert [(seat.label, seat.line) for seat in parse_map(path)] == [("A1", 1), ("A2", 3)]


def test_old_mac_line_endings_are_read(tmp_path):
    path = write(tmp_path, b"label\rA1\rA2\r")
    assert [(seat.label, seat.line) for seat in parse_map(path)] == [("A1", 2), ("A2", 3)]


def test_two_json_objects_on_one_line_are_an_error(tmp_path):
    error = error_of(write(tmp_path, '{"label": "A1"} {"label": "A2"}\n', "v.jsonl"))
    assert "line 1: not a JSON object" in error.message


def test_json_whole_numbers_are_read_like_csv_digits(tmp_path):
    path = write(tmp_path, '{"label": "A1", "section": 2, "number": 7}\n', "v.jsonl")
    assert parse_map(path) == [MapSeat("A1", "2", None, 7, None, 1)]


names = st.one_of(
    st.none(),
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cf", "Co", "Cn", "Zs")),
        min_size=1,
        max_size=10,
    ).map(lambda text: unicodedata.normalize("NFC", text)),
)
map_rows = st.lists(
    st.tuples(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", fullmatch=True),
        names,
        names,
        st.one_of(st.none(), st.integers(0, 999_999)),
        names,
    ),
    min_size=1,
    max_size=30,
    unique_by=(
        lambda seat: seat[0],
        lambda seat: (seat[1], seat[2], seat[3]) if seat[3] is not None else object(),
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(map_rows, st.booleans())
def test_any_valid_map_written_as_csv_or_json_lines_reads_back(tmp_path, rows, as_json):
    if as_json:
        text = "".join(
            json.dumps(dict(zip(PLACE_COLUMNS, row, strict=True))) + "\n" for row in rows
        )
    else:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(PLACE_COLUMNS)
        writer.writerows(["" if field is None else field for field in row] for row in rows)
        text = out.getvalue()
    path = write(tmp_path, text, "venue.jsonl" if as_json else "venue.csv")
    seats = parse_map(path)
    assert [seat[:5] for seat in seats] == [
        (label, *(_stripped(name) for name in (section, row)), number, _stripped(category))
        for label, section, row, number, category in rows
    ]


def _stripped(name: str | None) -> str | None:
    # Surrounding whitespace is not part of a name, and a name of only whitespace is no name.
    return (name.strip() or None) if name is not None else None


# --- positions on the hall's plan ---------------------------------------------------------


def test_x_and_y_give_the_seats_position_in_any_unit(tmp_path):
    path = write(tmp_path, "label,row,number,x,y\nA1,A,1,-2.5,10\nA2,A,2,1e2,.5\n")
    assert [(seat.x, seat.y) for seat in parse_map(path)] == [(-2.5, 10.0), (100.0, 0.5)]


def test_a_json_map_takes_x_and_y_as_numbers(tmp_path):
    path = write(tmp_path, '{"label": "A1", "x": 3, "y": 4.25}\n', "v.jsonl")
    assert parse_map(path) == [MapSeat("A1", None, None, None, None, 1, 3.0, 4.25)]


def test_a_seat_without_a_position_has_none(tmp_path):
    path = write(tmp_path, "label,x,y\nA1,,\n")
    assert (parse_map(path)[0].x, parse_map(path)[0].y) == (None, None)


@pytest.mark.parametrize("x", ["east", "1,5", "nan", "inf", "0x10"])
def test_an_x_that_is_not_a_number_is_an_error(tmp_path, x):
    error = error_of(write(tmp_path, f'label,x,y\nA1,"{x}",1\n'))
    assert f"line 2: x {x!r} is not a number" in error.message


def test_a_position_out_of_range_is_an_error(tmp_path):
    error = error_of(write(tmp_path, "label,x,y\nA1,1,2e9\n"))
    assert "line 2: y '2e9' is out of range: use a number from -1e+09 to 1e+09" in error.message


def test_x_without_y_is_an_error(tmp_path):
    error = error_of(write(tmp_path, "label,x,y\nA1,1,\nA2,1,2\n"))
    assert error.message.endswith("line 2: x and y go together: give both or neither")

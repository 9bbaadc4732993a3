"""Seat-map files: a hall's seats with their section, row, number, price category and position.

A map is CSV with a header row, or JSON lines (one object per line) with the same keys:

    label,section,row,number,category,x,y
    A1,Stalls,A,1,premium,120,40.5

`label` is required; `section`, `row`, `number`, `category`, `x` and `y` are optional (an
empty CSV field or a JSON null means "not set"). `x` and `y` are the seat's position on the
hall's plan in any unit (both or neither; `y` grows away from the stage unless the venue's
stage says otherwise). The file's order is kept: sections and rows are listed
best first, and `MapSeat.line` is each seat's line number for error messages.

Everything wrong with a file is reported at once, in ONE usage error (exit 2) naming the file
and every bad line, so that a box office fixes a 100,000-seat export in one pass:

    invalid map venue.csv: line 3: duplicate label 'A1' (first on line 2);
    line 7: number 'x' is not a whole number

This module reads a file and returns records; it knows nothing about databases.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from operator import itemgetter
from typing import Any, NamedTuple

from seatctl.core.errors import FieldError, SeatctlError, usage_error
from seatctl.core.model import Stage
from seatctl.core.validate import LABEL_PATTERN

COLUMNS = ("label", "section", "row", "number", "category", "x", "y")
MAX_COORDINATE = 1e9  # any unit a plan is drawn in, with room to spare
MAX_NAME_LENGTH = 64  # sections, rows and categories, like user names
MAX_NUMBER = 999_999  # fits every backend's integer and any real hall
_LABEL_MATCH = LABEL_PATTERN.fullmatch
# Not int(): it takes "1_0", "+3" and Arabic digits. A sign is read, to say what range to use.
_SIGNED_NUMBER = re.compile(r"-?[0-9]+", re.ASCII)
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_COLUMN_SET = frozenset(COLUMNS)
_DECODE = json.JSONDecoder().raw_decode
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)


class MapSeat(NamedTuple):
    label: str
    section: str | None
    row: str | None
    number: int | None
    category: str | None
    line: int  # 1-based line of the file where the seat starts
    x: float | None = None  # the position on the hall's plan, in the map's unit
    y: float | None = None


class _Problems:
    """Every bad line of one file, so the whole file is judged before anything is refused."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def error(self, name: str) -> SeatctlError:
        listed = "; ".join(f"line {line}: {message}" for line, message in sorted(self.items))
        return usage_error(f"invalid map {name}: {listed}")


def parse_map(path: str) -> list[MapSeat]:
    """The seats of the map file at `path`, in file order; a usage error lists every bad line."""
    name = _shown_path(path)
    text = _read_text(path, name)
    with _no_cycle_collection():
        return _parsed(path, name, text)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Parsing makes a few objects per seat and no reference cycles; on a 100,000-seat map
    the cycle collector, woken every few hundred allocations, would take a third of the time
    rescanning them. Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parsed(path: str, name: str, text: str) -> list[MapSeat]:
    problems = _Problems()
    if _is_json_lines(path, text):
        raw = list(_json_rows(text, problems))
    else:
        raw = list(_csv_rows(text, problems))
    checks = _Checks(problems)
    seats = [seat for fields, line in raw if (seat := checks.seat(fields, line))]
    _check_unique(seats, problems)
    if not problems.items and not seats:
        raise usage_error(f"invalid map {name}: no seats in the file")
    if problems.items:
        raise problems.error(name)
    return seats


def _shown_path(path: str) -> str:
    return repr(path) if not path.isprintable() else path


def _read_text(path: str, name: str) -> str:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise usage_error(f"cannot read map {name}: {error.strerror or error}") from None
    try:
        # utf-8-sig: spreadsheet programs start their CSV exports with a byte-order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise usage_error(
            f"invalid map {name}: line {line}: not UTF-8 text (byte {data[error.start]:#04x})"
        ) from None


def _is_json_lines(path: str, text: str) -> bool:
    if path.lower().endswith(_JSONL_SUFFIXES):
        return True
    stripped = text.lstrip()
    return stripped.startswith("{")


# A row's raw fields in COLUMNS order, as the file gave them (CSV text, or JSON values).
_Raw = tuple[Any, Any, Any, Any, Any, Any, Any]


def _csv_rows(text: str, problems: _Problems) -> Iterator[tuple[_Raw, int]]:
    # newline="": csv itself splits records, so quoted newlines stay in their field and
    # only \n, \r\n and \r end lines (str.splitlines would also split on U+2028 and others).
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    pick, width, header_line, end = None, 0, 1, 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if len(fields) < 2 and not (fields and fields[0].strip()):
                continue  # blank lines (often a trailing one) are not seats
            if pick is None:
                header = _header(fields, start, problems)
                if header is None:
                    return  # without its columns no row can be read
                pick, width, header_line = _picker(header), len(header), start
                continue
            if len(fields) != width:
                found = f"{len(fields)} field" + ("" if len(fields) == 1 else "s")
                problems.add(start, f"{found}, but the header on line {header_line} has {width}")
                continue
            fields.append("")  # what a column the header does not have reads as
            yield pick(fields), start
    except csv.Error as error:
        problems.add(end + 1, f"not valid CSV ({error})")


def _picker(header: list[str]) -> Callable[[list[str]], _Raw]:
    """A C-speed function from a row's fields (plus one empty field) to its `_Raw` tuple."""
    absent = len(header)
    return itemgetter(*(header.index(c) if c in header else absent for c in COLUMNS))


def _header(fields: list[str], line: int, problems: _Problems) -> list[str] | None:
    names = [field.strip().lower() for field in fields]
    unknown = [name for name in names if name not in COLUMNS]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if "label" not in names:
        problems.add(line, f"no label column (the header is {_listed(fields)})")
    if unknown:
        problems.add(line, f"unknown column {_listed(unknown)}: use {', '.join(COLUMNS)}")
    if repeated:
        problems.add(line, f"column {_listed(repeated)} given twice")
    return None if "label" not in names or unknown or repeated else names


def _listed(names: Iterable[str]) -> str:
    return ", ".join(_quoted(name) for name in names)


def _json_rows(text: str, problems: _Problems) -> Iterator[tuple[_Raw, int]]:
    for line, content in enumerate(text.split("\n"), 1):  # a line is what ends in \n
        content = content.strip()
        if not content:
            continue
        value = _json_object(content)
        if value is None:
            problems.add(line, "not a JSON object")
            continue
        if not _COLUMN_SET.issuperset(value):
            unknown = [key for key in value if key not in _COLUMN_SET]
            problems.add(line, f"unknown key {_listed(unknown)}: use {', '.join(COLUMNS)}")
            continue
        get = value.get
        # The label is never a number: `"label": 12` is refused, not read as "12".
        raw = (get("label"), _scalar(get("section")), _scalar(get("row")))
        position = (_scalar(get("x")), _scalar(get("y")))
        yield (*raw, _scalar(get("number")), _scalar(get("category")), *position), line


def _json_object(content: str) -> dict[str, Any] | None:
    """The object on one (stripped) line, or None. raw_decode skips json.loads' wrappers,
    a third of the time on a 100,000-line map."""
    try:
        value, end = _DECODE(content)
    except ValueError:
        return None
    return value if end == len(content) and isinstance(value, dict) else None


def _scalar(value: Any) -> Any:
    """A JSON value as the field checks take it. A whole number becomes its digits, as in a
    CSV file (so it is checked once and remembered); true, false and 1.0 stay as they are, to
    be refused. Lists and objects become their JSON text, for the error message."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is int:
        return str(value)
    return json.dumps(value) if kind is list or kind is dict else value


_Verdict = tuple[Any, str | None]  # the field's value, or the reason it is bad


class _Checks:
    """Field checks that remember valid values: a 100,000-seat map repeats a few dozen
    sections, rows, numbers and categories, so each distinct text is checked once and the
    common row costs one regex match and four dictionary look-ups."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self.valid: dict[str, dict[str, Any]] = {column: {} for column in _OPTIONAL}

    def seat(self, raw: _Raw, line: int) -> MapSeat | None:
        """The row's seat, or None after recording everything wrong with it."""
        label, section, row, number, category, x, y = raw
        valid = self.valid
        try:
            if _LABEL_MATCH(label) and (x is None or x == "") == (y is None or y == ""):
                # As it stands: ASCII and unpadded, nothing to normalise.
                return MapSeat(
                    label,
                    valid["section"][section],
                    valid["row"][row],
                    valid["number"][number],
                    valid["category"][category],
                    line,
                    valid["x"][x],
                    valid["y"][y],
                )
        except (KeyError, TypeError):  # a field not seen before, or not text (JSON)
            pass
        return self._checked(raw, line)

    def _checked(self, raw: _Raw, line: int) -> MapSeat | None:
        verdicts = [_check_label(raw[0])]
        for column, field in zip(_OPTIONAL, raw[1:], strict=True):
            verdict = _CHECKS[column](field)
            if type(field) is str and verdict[1] is None:
                self.valid[column][field] = verdict[0]  # JSON values are never remembered
            verdicts.append(verdict)
        errors = [error for _, error in verdicts if error]
        label, section, row, number, category, x, y = (value for value, _ in verdicts)
        if not errors and (x is None) != (y is None):
            errors.append("x and y go together: give both or neither")
        for error in errors:
            self.problems.add(line, error)
        if errors:
            return None
        return MapSeat(label, section, row, number, category, line, x, y)


def _check_label(raw: Any) -> _Verdict:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, "no label"
    if not isinstance(raw, str):
        return None, f"label {_quoted(json.dumps(raw))} is not text"
    label = _nfc(raw.strip())
    if not LABEL_PATTERN.fullmatch(label):
        return None, (
            f"invalid label {_quoted(label)}: use 1 to 32 characters from A-Z a-z 0-9 . _ -,"
            " starting with a letter or digit"
        )
    return label, None


def _check_name(column: str, raw: Any) -> _Verdict:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)  # {"row": 12} means row "12"
    if raw is None:
        return None, None
    if not isinstance(raw, str):
        return None, f"{column} {_quoted(json.dumps(raw))} is not text"
    name = _nfc(raw.strip())
    if not name:
        return None, None
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        return None, (
            f"invalid {column} {_quoted(name)}: use up to {MAX_NAME_LENGTH} printable characters"
        )
    return name, None


def _check_number(raw: Any) -> _Verdict:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, str) and _SIGNED_NUMBER.fullmatch(raw.strip()):
        number = int(raw.strip())  # "-3" is a whole number: its range is what is wrong
    else:
        shown = raw if isinstance(raw, str) else json.dumps(raw)
        return None, f"number {_quoted(shown)} is not a whole number"
    if not 0 <= number <= MAX_NUMBER:
        return None, f"number {number} is out of range: use a whole number from 0 to {MAX_NUMBER}"
    return number, None


def _check_coordinate(column: str, raw: Any) -> _Verdict:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str) and _DECIMAL.fullmatch(raw.strip()):
        value = float(raw.strip())
    else:
        shown = raw if isinstance(raw, str) else json.dumps(raw)
        return None, f"{column} {_quoted(shown)} is not a number"
    if not -MAX_COORDINATE <= value <= MAX_COORDINATE:  # NaN too
        return None, (
            f"{column} {_quoted(str(raw))} is out of range:"
            f" use a number from {-MAX_COORDINATE:g} to {MAX_COORDINATE:g}"
        )
    return value, None


_OPTIONAL = ("section", "row", "number", "category", "x", "y")
_CHECKS: dict[str, Callable[[Any], _Verdict]] = {
    "section": partial(_check_name, "section"),
    "row": partial(_check_name, "row"),
    "number": _check_number,
    "category": partial(_check_name, "category"),
    "x": partial(_check_coordinate, "x"),
    "y": partial(_check_coordinate, "y"),
}


def parse_stage(text: str) -> Stage:
    """The stage of `init --stage` ("X,Y,WIDTH,HEIGHT": a rectangle on the plan, in the map's
    unit, X and Y its corner nearest the origin); a `FieldError` on `stage` otherwise."""
    parts = [part.strip() for part in str(text).split(",")]
    verdicts = [_check_coordinate("stage", part) for part in parts]
    numbers = [value for value, error in verdicts if error is None and value is not None]
    if len(parts) != 4 or len(numbers) != 4 or numbers[2] <= 0 or numbers[3] <= 0:
        raise FieldError(
            "stage",
            text,
            lambda name: (
                f"invalid {name('stage')} {_quoted(str(text))}: use X,Y,WIDTH,HEIGHT, four"
                " numbers in the map's unit (a width and height above 0)"
            ),
        )
    return Stage(*numbers)


def _check_unique(seats: list[MapSeat], problems: _Problems) -> None:
    """Report every repeated label and (section, row, number) with the line it repeats."""
    if len({seat.label for seat in seats}) < len(seats):
        _report_repeats(seats, lambda seat: seat.label, _repeated_label, problems)
    numbered = [seat for seat in seats if seat.number is not None]  # only these have a position
    if len({(seat.section, seat.row, seat.number) for seat in numbered}) < len(numbered):
        _report_repeats(numbered, lambda seat: seat[1:4], _repeated_position, problems)


def _report_repeats(
    seats: list[MapSeat],
    key: Callable[[MapSeat], Hashable],
    message: Callable[[MapSeat, int], str],
    problems: _Problems,
) -> None:
    first_lines: dict[Hashable, int] = {}
    for seat in seats:
        first = first_lines.setdefault(key(seat), seat.line)
        if first != seat.line:
            problems.add(seat.line, message(seat, first))


def _repeated_label(seat: MapSeat, first: int) -> str:
    return f"duplicate label {_quoted(seat.label)} (first on line {first})"


def _repeated_position(seat: MapSeat, first: int) -> str:
    return (
        f"duplicate position section {_shown_name(seat.section)}, row {_shown_name(seat.row)},"
        f" number {seat.number} (first on line {first})"
    )


def _shown_name(name: str | None) -> str:
    return "(none)" if name is None else _quoted(name)


def _nfc(text: str) -> str:
    # The same name typed composed or decomposed must be one section, row or category.
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _quoted(text: str, limit: int = 40) -> str:
    """User text quoted for a one-line error, never letting control characters through."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text) if text.isprintable() else ascii(text)


__all__ = ["COLUMNS", "MapSeat", "parse_map", "parse_stage"]

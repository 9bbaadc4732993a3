"""How full a show is: status counts, per-group summaries, and the seat map for a terminal.

Pure functions of seat records: the storage layer loads them, these count and draw them.

The map draws each section as a grid: one line per row, one character per seat number (so a
missing number is a blank column and the grid stays aligned), a ruler of seat numbers above
the rows, and a legend at the end. The characters are always there (`.` available, `L`
locked, `B` booked, `X` blocked), so the map reads in a log and without colour; colour is
added on top. A section wider than the terminal is cut into panels of whole columns, each
headed with the seat numbers it shows, so the grid never breaks. Seats without a number are
drawn as one more row of their section, marked `*`, in natural label order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from seatctl.core.validate import natural_key

STATUSES = ("available", "locked", "booked", "blocked")
GROUPINGS = ("section", "row", "category")


class Counts(NamedTuple):
    available: int
    locked: int
    booked: int
    blocked: int
    total: int
    occupancy: float  # booked / total as a percentage, to one decimal (0.0 when no seats)

    def as_dict(self) -> dict[str, int | float]:
        """The counts in the order of the JSON outputs (`summary`, `event list`)."""
        return {
            "total": self.total,
            "available": self.available,
            "locked": self.locked,
            "booked": self.booked,
            "blocked": self.blocked,
            "occupancy": self.occupancy,
        }


def count(statuses: Iterable[str]) -> Counts:
    """The counts of seats with these statuses; an unknown status is a ValueError."""
    return _counts(_tally(Counter(statuses)))


def _tally(counted: Mapping[str, int]) -> dict[str, int]:
    unknown = [status for status in counted if status not in STATUSES]
    if unknown:
        raise ValueError(f"unknown seat status {unknown[0]!r}")
    return {status: counted.get(status, 0) for status in STATUSES}


def _counts(tally: Mapping[str, int]) -> Counts:
    total = sum(tally.values())
    return Counts(
        tally["available"],
        tally["locked"],
        tally["booked"],
        tally["blocked"],
        total,
        occupancy(tally["booked"], total),
    )


def occupancy(booked: int, total: int) -> float:
    """booked / total in percent, rounded half up to one decimal, in whole-number arithmetic
    so that 1 of 16 is 6.3 on every platform (float rounding would give 6.2)."""
    if total == 0:
        return 0.0
    tenths = (2000 * booked + total) // (2 * total)
    return tenths / 10


# Which fields name a group: a row is only a row within its section.
_GROUP_FIELDS = {"section": ("section",), "row": ("section", "row"), "category": ("category",)}


def summary_groups(
    rows: Iterable[tuple[Mapping[str, str | None], str]], by: str
) -> list[dict[str, str | int | float | None]]:
    """Counts per group for `summary --by`, groups in the order they first appear in `rows`
    (give the seats in map order). Each row is (the seat's fields, its status); each group
    is its naming fields (`section`; `section` and `row`; or `category`) then the counts."""
    fields = _GROUP_FIELDS.get(by)
    if fields is None:
        raise ValueError(f"cannot group by {by!r}: use {', '.join(GROUPINGS)}")
    counted = _counted(rows, by)
    by_group: dict[tuple[str | None, ...], dict[str, int]] = {}
    for (key, status), number in counted.items():
        by_group.setdefault(key if by == "row" else (key,), {})[status] = number
    return [
        {**dict(zip(fields, key, strict=True)), **_counts(_tally(tally)).as_dict()}
        for key, tally in by_group.items()
    ]


def _counted(rows: Iterable[tuple[Mapping[str, str | None], str]], by: str) -> Counter[Any]:
    """(group key, status) -> seats. One plain generator per grouping: the cheapest way to
    count 100,000 seats in Python. A Counter keeps keys in order of first appearance."""
    if by == "row":
        return Counter(((seat.get("section"), seat.get("row")), status) for seat, status in rows)
    return Counter((seat.get(by), status) for seat, status in rows)


class MapCell(NamedTuple):
    label: str
    section: str | None
    row: str | None
    number: int | None
    status: str  # available, locked, booked or blocked
    map_order: int


CHARACTERS = {"available": ".", "locked": "L", "booked": "B", "blocked": "X"}
_COLOURS = {".": "32", "L": "33", "B": "31", "X": "90"}  # green, yellow, red, grey
_RUNS = re.compile(r"\.+|L+|B+|X+")
MAX_ROW_LABEL = 12
MIN_PANEL = 10  # seats per panel, however narrow the terminal
UNNUMBERED = "*"  # the row label of a section's seats without a number


class _Grid(NamedTuple):
    """Rows sharing one column per seat number: a section's numbered rows, or its seats
    without a number (numbered 1, 2, ... in label order)."""

    heading: str | None
    rows: list[tuple[str, dict[int, str]]]  # (row label, {number: character})
    ruler: bool  # seat numbers above the rows (not for positions in label order)


def render_map(seats: Sequence[MapCell], colour: bool, width: int = 80) -> str:
    """The seat map as text lines (no final newline), sections in map order."""
    if not seats:
        return "no seats"
    grids = _grids(seats)
    label_width = max(len(label) for grid in grids for label, _ in grid.rows)
    lines: list[str] = []
    for grid in grids:
        if grid.heading is not None and lines:
            lines.append("")  # a blank line between sections
        lines += _grid_lines(grid, label_width, width, colour)
    lines.insert(0, _stage_line(lines, label_width))
    lines.append("")
    lines.append(_legend(colour, any(not grid.ruler for grid in grids)))
    return "\n".join(lines)


_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")


def _stage_line(lines: list[str], label_width: int) -> str:
    """The front of the hall: the map lists its best rows first, nearest the stage, so the
    stage is drawn above them, across the seats' columns."""
    widest = max(len(_ESCAPES.sub("", line)) for line in lines)
    across = max(widest - label_width - 2, len(" stage ") + 2)
    return " " * (label_width + 2) + " stage ".center(across, "=")


def _grids(seats: Sequence[MapCell]) -> list[_Grid]:
    sections: dict[str | None, dict[str | None, dict[int, str]]] = {}
    loose: dict[str | None, list[MapCell]] = {}
    for seat in sorted(seats, key=_map_order):
        rows = sections.setdefault(seat.section, {})
        if seat.number is None:
            loose.setdefault(seat.section, []).append(seat)
        else:
            rows.setdefault(seat.row, {})[seat.number] = _character(seat.status)
    headed = list(sections) != [None]  # a map without sections needs no heading
    grids = []
    for section, rows in sections.items():
        heading = _section_heading(section) if headed else None
        if rows:
            grids.append(
                _Grid(heading, [(_row_label(r), cells) for r, cells in rows.items()], True)
            )
            heading = None  # the unnumbered seats continue the same section
        if section in loose:
            ordered = sorted(loose[section], key=lambda seat: (natural_key(seat.label), seat.label))
            cells = {n: _character(seat.status) for n, seat in enumerate(ordered, 1)}
            grids.append(_Grid(heading, [(UNNUMBERED, cells)], False))
    return grids


def _map_order(seat: MapCell) -> int:
    return seat.map_order


def _character(status: str) -> str:
    character = CHARACTERS.get(status)
    if character is None:
        raise ValueError(f"unknown seat status {status!r}")
    return character


def _section_heading(section: str | None) -> str:
    return "No section" if section is None else f"Section {_printable(section)}"


def _row_label(row: str | None) -> str:
    label = "-" if row is None else _printable(row)
    return label if len(label) <= MAX_ROW_LABEL else label[: MAX_ROW_LABEL - 1] + "~"


def _printable(text: str) -> str:
    # Names come from a validated map, but a terminal must never get a raw control character.
    return text if text.isprintable() else ascii(text)[1:-1]


def _grid_lines(grid: _Grid, label_width: int, width: int, colour: bool) -> list[str]:
    numbers = [number for _, cells in grid.rows for number in cells]
    low, high = min(numbers), max(numbers)
    per_panel = max(MIN_PANEL, width - label_width - 2)
    # Only panels holding a seat: sparse numbering never prints pages of blanks.
    panels = sorted({(number - low) // per_panel for number in numbers})
    lines = [] if grid.heading is None else [grid.heading]
    for panel in panels:
        first = low + panel * per_panel
        last = min(first + per_panel - 1, high)
        if len(panels) > 1 or first != low or last != high:
            lines.append(f"{'':{label_width}}  seats {first}-{last}:")
        if grid.ruler:
            lines.append(_ruler(first, last, label_width))
        for label, cells in grid.rows:
            line = "".join(cells.get(number, " ") for number in range(first, last + 1)).rstrip()
            lines.append(f"{label:>{label_width}}  {_painted(line) if colour else line}".rstrip())
    return lines


def _ruler(first: int, last: int, label_width: int) -> str:
    """Seat numbers over their columns: the panel's first, then each multiple of ten that
    fits inside the panel without touching the number before it."""
    ruler = str(first)
    for number in range(first - first % 10 + 10, last + 1, 10):
        column, text = number - first, str(number)
        if column > len(ruler) and column + len(text) <= last - first + 1:
            ruler = ruler.ljust(column) + text
    return f"{'':{label_width}}  {ruler}"


def _painted(cells: str) -> str:
    return _RUNS.sub(lambda run: _ansi(run.group(), _COLOURS[run.group()[0]]), cells)


def _ansi(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m"


def _legend(colour: bool, unnumbered: bool) -> str:
    parts = [
        f"{_ansi(character, _COLOURS[character]) if colour else character} {status}"
        for status, character in CHARACTERS.items()
    ]
    legend = "   ".join(parts)
    if unnumbered:
        legend += f"\nrow {UNNUMBERED}: seats without a number, in label order"
    return legend


__all__ = ["Counts", "MapCell", "count", "occupancy", "render_map", "summary_groups"]

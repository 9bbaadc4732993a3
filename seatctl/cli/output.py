"""How results and errors look: aligned text for people, fixed JSON shapes for scripts.

Each command returns one `Output`; the CLI writes it as text, as JSON, or (in `batch`) as the
fields of one JSON line. Listings are written as they are read, so 100,000 seats stream.
"""

# No `from __future__ import annotations`: records define faster (seatctl/core/model.py).
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TextIO

from seatctl.core.errors import FieldError, SeatctlError
from seatctl.core.model import Place, SeatView, Status
from seatctl.core.names import seat_phrase
from seatctl.wire import (
    SEAT_FIELDS,
    dumps,
    instant,
    printable,
    seat_object,
)

if TYPE_CHECKING:  # loaded only by the commands that use them
    pass

_STATUS_COLOURS = {
    Status.AVAILABLE: "green",
    Status.LOCKED: "yellow",
    Status.BOOKED: "red",
    Status.BLOCKED: "blue",
}


class Output(Protocol):
    @property
    def committed(self) -> bool:
        """True when the output reports a change already committed: if it cannot be written,
        the change is done but unreported (exit 7), which a script must tell from "not done"."""

    def write_text(self, out: TextIO, colour: bool) -> None: ...

    def write_json(self, out: TextIO) -> None: ...

    def fields(self) -> dict[str, Any]:
        """What a `batch` result line carries beside `line` and `exit`."""

    def error(self) -> SeatctlError | None:
        """An error to report after the output (exit code and stderr), if any."""


class SeatList(NamedTuple):
    """`seats`: every seat (filtered), read lazily inside the listing's transaction."""

    views: Iterable[SeatView]
    form: str = "table"  # as text: table or csv; as JSON: array or nl (one object a line)

    @property
    def committed(self) -> bool:
        return False

    def write_text(self, out: TextIO, colour: bool) -> None:
        if self.form == "csv":
            _write_csv(out, self.views)
        else:
            out.write(seats_table(list(self.views), colour) + "\n")

    def write_json(self, out: TextIO) -> None:
        if self.form == "nl":
            for view in self.views:
                out.write(dumps(seat_object(view)) + "\n")
        else:
            write_json_array(out, (seat_object(v) for v in self.views))

    def fields(self) -> dict[str, Any]:
        return {"seats": [seat_object(v) for v in self.views]}

    def error(self) -> SeatctlError | None:
        return None


class SeatChange(NamedTuple):
    """`lock`, `confirm`, `release`: the named seats after the change."""

    verb: str
    views: Sequence[SeatView]
    unchanged: frozenset[str] = frozenset()  # `unblock`: the seats that were not blocked

    @property
    def committed(self) -> bool:
        return True

    def write_text(self, out: TextIO, colour: bool) -> None:
        out.write("".join(self._line(v) + "\n" for v in self.views))

    def _line(self, view: SeatView) -> str:
        if view.seat in self.unchanged:
            seat = seat_phrase(view.seat, Place(view.section, view.row, view.number))
            return f"seat {seat} was not blocked"  # left as it was, whatever its state
        return _change_line(self.verb, view)

    def write_json(self, out: TextIO) -> None:
        out.write(dumps(self.fields()) + "\n")

    def fields(self) -> dict[str, Any]:
        return {"seats": [seat_object(v) for v in self.views]}

    def error(self) -> SeatctlError | None:
        return None


def seats_table(views: Sequence[SeatView], colour: bool) -> str:
    rows = [("SEAT", "STATUS", "HOLDER", "UNTIL")]
    rows += [
        (v.seat, v.status.value, v.locked_by or v.booked_by or "", instant(v.expires_at) or "")
        for v in views
    ]
    lines = aligned(rows).split("\n")
    if colour:
        start = max(len(row[0]) for row in rows) + 2  # where the STATUS column begins
        for n, row in enumerate(rows[1:], 1):
            status, line = row[1], lines[n]
            painted = coloured(status, _STATUS_COLOURS[Status(status)])
            lines[n] = line[:start] + painted + line[start + len(status) :]
    return "\n".join(lines)


def _change_line(verb: str, view: SeatView) -> str:
    seat = seat_phrase(view.seat, Place(view.section, view.row, view.number))
    if view.status is Status.LOCKED:
        return f"locked seat {seat} for {view.locked_by} until {instant(view.expires_at)}"
    if view.status is Status.BOOKED:
        return f"booked seat {seat} for {view.booked_by} at {instant(view.booked_at)}"
    if view.status is Status.BLOCKED:
        return f"blocked seat {seat}"
    return f"{verb} seat {seat}"


def error_line(message: str) -> str:
    return f"error: {printable(message)}"


def as_options(error: SeatctlError) -> SeatctlError:
    """The error in the command line's words: a field it names as its option (`best` as
    `--best`, `max_hold` as `--max-hold`)."""
    if isinstance(error, FieldError):
        return error.worded(lambda field: "--" + field.replace("_", "-"))
    return error


def aligned(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(
            [*(_padded(cell, w) for cell, w in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in rows
    )


def _padded(cell: str, width: int) -> str:
    return cell + " " * (width - display_width(cell))


# Zero-width: combining marks (an accent typed as its own character), enclosing marks,
# and format characters (the zero-width joiner inside emoji sequences).
_ZERO_WIDTH = frozenset({"Mn", "Me", "Cf"})


def display_width(text: str) -> int:
    """The columns `text` takes on a terminal: East Asian wide and full-width characters
    (CJK, most emoji) take two, combining marks none, everything else one."""
    if text.isascii():
        return len(text)
    import unicodedata  # only for names beyond ASCII

    return sum(
        0
        if unicodedata.category(ch) in _ZERO_WIDTH
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in text
    )


def write_json_array(out: TextIO, objects: Iterator[dict[str, Any]]) -> None:
    """`dumps(list(objects))`, byte for byte, without holding the whole list. Nothing is
    written before the first chunk is read: a listing that fails at once prints nothing."""
    first = True
    while chunk := list(islice(objects, 1000)):
        text = ", ".join(dumps(o) for o in chunk)
        out.write(("[" if first else ", ") + text)
        first = False
    out.write("[]\n" if first else "]\n")


def _write_csv(out: TextIO, views: Iterable[SeatView]) -> None:
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SEAT_FIELDS)
    writer.writerows(
        [value if value is not None else "" for value in seat_object(v).values()] for v in views
    )


def coloured(text: str, colour: str) -> str:
    from typer import style

    return style(text, fg=colour)

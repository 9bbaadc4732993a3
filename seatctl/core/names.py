"""How people name things: a seat by its place in the hall ("Stalls B3"), and a section or
category that does not exist by the names that do ("did you mean Stalls?").

The seat's display name is computed here only: the seat object's `name`, the refusals of
`seatctl.core.rules` and the seat-map page all say the same.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.core.model import NO_PLACE, Place

MAX_LISTED = 10  # known names a refusal lists before it says how many more there are


def seat_name(
    label: str, section: str | None = None, row: str | None = None, number: int | None = None
) -> str:
    """The seat as people read it: section, then row and number ("Stalls B3"; "Stalls row 12
    seat 3" when the row's own name ends in a digit, so that row 12 seat 3 is not "123"). The
    label alone when the map gives no number, or neither a section nor a row."""
    if number is None or (section is None and row is None):
        return label
    if row is None:
        spot = str(number)
    elif row[-1:].isdigit():
        spot = f"row {row} seat {number}"
    else:
        spot = f"{row}{number}"
    return spot if section is None else f"{section} {spot}"


def seat_phrase(label: str, place: Place = NO_PLACE) -> str:
    """A seat in a sentence: its name, and its label in brackets when they differ ("Stalls B3
    (30)"), so that a person reads the name and a script still finds the label it gave."""
    name = seat_name(label, place.section, place.row, place.number)
    return label if name == label else f"{name} ({label})"


def unknown_name(kind: str, given: str, known: Iterable[str]) -> SeatctlError:
    """Exit 3 `not_found`: the section or category (`kind`) `given` is not in the map; the
    name it most likely meant (a different case, a typo) or the names there are."""
    names = sorted(set(known), key=str.casefold)
    message = f"{kind} {_shown(given)} does not exist in the seat map"
    same = [name for name in names if name.casefold() == given.casefold()]
    close = same or difflib.get_close_matches(given, names, n=1, cutoff=0.6)
    plural = "categories" if kind == "category" else f"{kind}s"
    if close:
        message += f": did you mean {_shown(close[0])}?"
    elif not names:
        message += f": the map names no {plural}"
    else:
        listed = ", ".join(map(_shown, names[:MAX_LISTED]))
        more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
        message += f": the {plural} are {listed}{more}"
    return SeatctlError(Reason.NOT_FOUND, message, ExitCode.NOT_FOUND)


def _shown(text: str) -> str:
    """The name with control characters as escapes: it cannot reach a terminal raw."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)

"""`lock --best`'s checks and refusal: the names of sections and categories it may choose
from, and what it says when there is no such choice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from seatctl.core.errors import ExitCode, FieldError, Reason, SeatctlError
from seatctl.core.names import unknown_name
from seatctl.service.shared import shown

if TYPE_CHECKING:
    from seatctl.core.selection import SeatSpot


def names(field: str, names: Sequence[str]) -> list[str]:
    """The sections or categories (`field`) to choose from: names (non-empty text)."""
    if isinstance(names, str):
        raise FieldError(
            field,
            names,
            lambda name: f"{name(field)}: expected a list of names, not the string {names!r}",
        )
    listed = list(names)
    # Any other text is a name to look for: one the map does not have is exit 3 `not_found`.
    bad = [n for n in listed if not isinstance(n, str) or not n]
    if bad:
        raise FieldError(field, bad[0], lambda name: f"invalid {name(field)} {bad[0]!r}")
    return listed


def known_names(field: str, wanted: Sequence[str], known: Iterable[str | None]) -> None:
    """Exit 3 `not_found` for the first of the sections or categories (`field`) wanted that
    the map does not name, with the name it most likely meant or the names there are: an
    unknown name is a mistake to point out, not a sold-out section."""
    present = {name for name in known if name is not None}
    for name in wanted:
        if name not in present:
            raise unknown_name(field, name, present)


def not_enough(
    spots: list[SeatSpot], count: int, sections: list[str], categories: list[str], split: bool
) -> SeatctlError:
    """Exit 4 `not_enough`: how many seats are available and the largest block together,
    within the filters."""
    from seatctl.core import selection

    available = selection.available_count(spots, sections, categories)
    largest = selection.largest_block(spots, sections, categories)
    within = [
        f"{what} {', '.join(map(shown, names))}"
        for what, names in (("section", sections), ("category", categories))
        if names
    ]
    where = f" in {' and '.join(within)}" if within else ""
    seats = "seat" if available == 1 else "seats"
    what = (
        f"no {count} seats {'to be had' if split else 'together'}{where}: {available} {seats}"
        f" available, the largest block together is {largest}"
    )
    if not split and available >= count:
        return FieldError(
            "split",
            split,
            lambda name: f"{what} ({name('split')} takes seats apart)",
            Reason.NOT_ENOUGH,
            ExitCode.LOCK_REFUSED,
        )
    return SeatctlError(Reason.NOT_ENOUGH, what, ExitCode.LOCK_REFUSED)

"""What the summary and the terminal map read of an event: its seats counted and placed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seatctl.core import validate
from seatctl.core.errors import FieldError
from seatctl.core.model import DEFAULT_SHOW
from seatctl.core.names import unknown_name
from seatctl.service.shared import existing_show
from seatctl.storage import Store

if TYPE_CHECKING:  # loaded only by the commands that use them
    from seatctl.core.venue_map import Counts, MapCell


class Reports:
    """The summary and map methods of `Venue`."""

    _store: Store

    def summary(
        self, event: str = DEFAULT_SHOW, by: str | None = None
    ) -> tuple[Counts, list[dict[str, str | int | float | None]] | None]:
        """The event's seats counted by status now, and with `by` (section, row or category)
        the counts of each group, in map order."""
        from seatctl.core import venue_map

        show = validate.event_name(event)
        if by is not None and by not in venue_map.GROUPINGS:
            groupings = ", ".join(venue_map.GROUPINGS)
            raise FieldError("by", by, lambda name: f"invalid {name('by')} {by!r}: use {groupings}")
        with self._store.transaction(write=False) as tx:
            existing_show(tx, show)
            rows = list(tx.placed_states(show, tx.now()))
        counts = venue_map.count(row[5] for row in rows)
        if by is None:
            return counts, None
        seats = (
            ({"section": section, "row": row, "category": category}, status)
            for _, section, row, _, category, status, _ in rows
        )
        return counts, venue_map.summary_groups(seats, by)

    def map_cells(self, event: str = DEFAULT_SHOW, section: str | None = None) -> list[MapCell]:
        """The event's seats as the terminal map draws them, in map order; only one section's
        if `section` is given (exit 3 `not_found` if the map has no such section)."""
        from seatctl.core import venue_map

        show = validate.event_name(event)
        with self._store.transaction(write=False) as tx:
            existing_show(tx, show)
            cells = [
                venue_map.MapCell(label, sec, row, number, status, n)
                for label, sec, row, number, _, status, n in tx.placed_states(show, tx.now())
            ]
        if section is not None:
            everything, cells = cells, [cell for cell in cells if cell.section == section]
            if not cells:
                raise unknown_name("section", section, (c.section for c in everything if c.section))
        return cells

"""What the summary, the terminal map and the history read of an event."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from seatctl.core import rules, validate
from seatctl.core.clock import Instant
from seatctl.core.errors import FieldError, refused
from seatctl.core.model import DEFAULT_SHOW, HistoryEntry
from seatctl.core.names import unknown_name
from seatctl.service.shared import existing_show, operator
from seatctl.storage import Store

if TYPE_CHECKING:  # loaded only by the commands that use them
    from seatctl.core.venue_map import Counts, MapCell


class Reports:
    """The summary, map and history methods of `Venue`."""

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

    def history(
        self,
        labels: Iterable[str] = (),
        user: str | None = None,
        since: Instant | None = None,
        limit: int | None = None,
        event: str = DEFAULT_SHOW,
        by: str | None = None,
    ) -> list[HistoryEntry]:
        """Committed events of `event` (and the seats' adds), oldest first, with lapsed locks
        nobody touched yet shown as `expire` events at their deadline. Every filter given
        must match (`by`: the changes that user made for others)."""
        wanted = validate.labels(labels)
        show = validate.event_name(event)
        user = validate.user(user) if user is not None else None
        by = operator(by)
        if limit is not None and limit < 0:
            raise FieldError(
                "limit",
                limit,
                lambda name: f"invalid {name('limit')} {limit}: use a whole number from 0",
            )
        from seatctl.core import history

        with self._store.transaction(write=False) as tx:
            existing_show(tx, show)
            found = tx.seats(wanted, show)
            missing = [label for label in wanted if label not in found]
            if missing:
                raise refused([rules.not_found(label) for label in missing])
            now = tx.now()
            events = history.with_pending_expiries(tx.history(show), tx.all_seats(show), now)
        return history.select(history.of_show(events, show), wanted, user, since, limit, by)

"""The change stream's reads (`seatctl.core.changefeed`): what `watch` and `GET /v1/stream`
start from, what they read when the database has changed, and `watch` itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from seatctl.core import clock, validate
from seatctl.core.clock import Instant
from seatctl.core.model import DEFAULT_SHOW, HistoryEntry, Place
from seatctl.service.shared import existing_show
from seatctl.storage import Store

if TYPE_CHECKING:  # loaded only by the commands that use them
    from seatctl.core.changefeed import Item, StreamState

# How long `watch` waits for a commit before it looks at the clock for lapsed locks.
WATCH_POLL_SECONDS = 0.1


class ChangeStream:
    """The change-stream methods of `Venue`."""

    _store: Store

    def stream_state(self, event: str = DEFAULT_SHOW, after: int | None = None) -> StreamState:
        """What a watcher starts from, in one read transaction: the clock (read first), the
        newest event id, every seat of `event` in map order, and with `after` (a cursor's
        event id) the event's history after it and the time of its newest event up to it."""
        from seatctl.core.changefeed import MAX_REPLAY, StreamState, extended_holds

        show = validate.event_name(event)
        with self._store.transaction(write=False) as tx:
            existing_show(tx, show)
            now = tx.now()  # before the reads: a change they miss happens at or after it
            newest = tx.newest_history_id()
            order = {label: n for label, (_, n) in tx.places().items()}
            seats = sorted(tx.all_seats(show), key=lambda seat: order.get(seat.label, 0))
            if after is None or after > newest:
                return StreamState(now, newest, seats, [], None)
            events = tx.history_after(show, after, MAX_REPLAY + 1)
            holds = tx.hold_starts(extended_holds(events), show, after)
            return StreamState(
                now, newest, seats, events, tx.history_at_through(show, after), holds
            )

    def stream_changes(
        self, event: str, after: int
    ) -> tuple[Instant, list[HistoryEntry], dict[str, Place]]:
        """The clock (read first), the history of `event` after id `after`, and the places of
        the seats it names: what a running stream reads when the database has changed."""
        from seatctl.core.changefeed import MAX_REPLAY

        show = validate.event_name(event)
        with self._store.transaction(write=False) as tx:
            now = tx.now()
            events = tx.history_after(show, after, MAX_REPLAY)
            labels = sorted({e.seat for e in events})
            places = {label: seat.place for label, seat in tx.seats(labels, show).items()}
        return now, events, places

    def watch(self, event: str = DEFAULT_SHOW) -> Iterator[StreamState | Item]:
        """`seatctl watch`: the state of `event` now, then each change as it happens, expiries
        included (within a poll of their deadline), without end. Changes by any process."""
        from seatctl.core import changefeed

        show = validate.event_name(event)
        self.wait_for_change(0)  # from here on a commit is noticed
        state = self.stream_state(show)
        yield state
        tracker = changefeed.tracker_at(state)
        while True:
            changed = self.wait_for_change(WATCH_POLL_SECONDS)
            deadline = tracker.next_deadline
            if changed or (deadline is not None and clock.now() >= deadline):
                now, events, places = self.stream_changes(show, tracker.event_id)
                yield from tracker.committed(events, places) + tracker.expired(now)

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for another connection to commit; True if one may have."""
        return self._store.wait_for_change(timeout)

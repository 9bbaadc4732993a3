"""The audit history as pure functions: seeding it, completing it, and selecting from it."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from seatctl.core.clock import Instant
from seatctl.core.model import DEFAULT_SHOW, Action, HistoryEntry, Seat


def seed_events(seats: Iterable[Seat], now: Instant) -> list[HistoryEntry]:
    """What a database from before the history existed is known to have done: each seat was
    added, and its current lock or booking made. Bookings keep their real instant."""
    events: list[HistoryEntry] = []
    for seat in seats:
        events.append(HistoryEntry(now, seat.label, Action.ADD))
        if seat.locked_by is not None:
            events.append(
                HistoryEntry(now, seat.label, Action.LOCK, seat.locked_by, seat.lock_expires)
            )
        if seat.booked_by is not None:
            events.append(
                HistoryEntry(seat.booked_at or now, seat.label, Action.CONFIRM, seat.booked_by)
            )
    # Everything but the adds (which are the map's) happened in the one event there was.
    return [
        e._replace(id=n, show=None if e.action is Action.ADD else DEFAULT_SHOW)
        for n, e in enumerate(events, 1)
    ]


def with_pending_expiries(
    events: list[HistoryEntry], seats: Iterable[Seat], now: Instant
) -> list[HistoryEntry]:
    """The committed events plus an `expire` for every lapsed lock nobody has touched yet.

    Such an expiry is placed after the lock it ends, and among later events by its deadline.
    """
    last_event_of = {event.seat: event.id or 0 for event in events}
    pending = [
        (seat.lock_expires or 0, last_event_of.get(seat.label, 0), seat.label, seat.locked_by)
        for seat in seats
        if seat.lapsed_lock(now)
    ]
    if not pending:
        return events
    heapq.heapify(pending)
    merged: list[HistoryEntry] = []
    for event in events:
        while pending and pending[0][1] < (event.id or 0) and pending[0][0] <= event.at:
            merged.append(_expiry(*heapq.heappop(pending)))
        merged.append(event)
    merged.extend(_expiry(*heapq.heappop(pending)) for _ in range(len(pending)))
    return merged


def _expiry(deadline: Instant, _after: int, label: str, holder: str | None) -> HistoryEntry:
    return HistoryEntry(deadline, label, Action.EXPIRE, holder, deadline)


def of_show(events: Iterable[HistoryEntry], show: str) -> list[HistoryEntry]:
    """The history of one event as shown: the map's adds count as its own."""
    return [e if e.show == show else e._replace(show=show) for e in events]


def select(
    events: Iterable[HistoryEntry],
    labels: Iterable[str] = (),
    user: str | None = None,
    since: Instant | None = None,
    limit: int | None = None,
    by: str | None = None,
) -> list[HistoryEntry]:
    """Events matching every filter given, oldest first; `limit` keeps the last ones."""
    wanted = set(labels)
    chosen = [
        e
        for e in events
        if (not wanted or e.seat in wanted)
        and (user is None or e.user == user)
        and (since is None or e.at >= since)
        and (by is None or e.by == by)
    ]
    return chosen[max(len(chosen) - limit, 0) :] if limit is not None else chosen

"""The change stream as pure functions: which message tells a watcher what, and after which.

Shared by `GET /v1/stream` and `seatctl watch`; nothing here reads the clock or a database.

A stream is a sequence of items. A committed history event becomes a `seat` item carrying
the seat as it was right after the event. A lock that runs out writes nothing; the stream
tells it as an `expire` item (the seat, available) once time has passed its deadline: when
the clock says so, or when a committed event at or after the deadline is about to be told
(so an expiry always comes before the changes made after it, as `history` orders them).

Where a watcher is in the stream is a `Cursor`, sent as the SSE `id`:

- `N` (a `seat` item, or a snapshot): every committed event up to id N is told, and so is
  every expiry of a lock up to N whose deadline is at or before the time of event N.
- `N:T` (right after a snapshot read at instant T): as `N`, with every expiry of a lock up to
  N whose deadline is at or before T.
- `N:T:LABEL` (an `expire` item): as `N`, with every expiry of a lock up to N whose
  (deadline, label) comes at or before (T, LABEL).

Resuming from a cursor re-derives the rest of the stream from the history and the seats'
current states (`resume`), so a reconnect neither loses nor repeats an item, as long as the
hosts writing the database agree on the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple

from seatctl.core.clock import Instant
from seatctl.core.model import NO_PLACE, Action, HistoryEntry, Place, Seat, SeatView
from seatctl.core.rules import LOCKING
from seatctl.core.validate import LABEL_PATTERN

# A resume that would replay more events than this sends a fresh snapshot instead: cheaper
# for both sides, and the watcher ends up in the same state.
MAX_REPLAY = 10_000
_LOCKING = LOCKING  # the actions that set a deadline
_NEVER = 1 << 62  # an event id no history reaches


class Kind(StrEnum):
    SNAPSHOT = "snapshot"
    SEAT = "seat"
    EXPIRE = "expire"
    CANCEL = "cancel"  # a `seat` item whose change cancelled a booking (`watch` says so)


class Item(NamedTuple):
    """One change told to watchers. For an expiry, `lock_id` is the id of the lock it ends (or
    an id at least as new, for a lock older than the tracker) and `at` is its deadline."""

    kind: Kind
    label: str
    at: Instant
    event_id: int  # the committed event's id; for an expiry, the newest event told before it
    lock_id: int  # expiries only (0 for a seat item)
    view: SeatView  # the seat after the change, as GET /v1/seats shows it
    action: Action | None = None  # what the committed change did (`watch` says why)

    @property
    def id_text(self) -> str:
        if self.kind is Kind.EXPIRE:
            return f"{self.event_id}:{self.at}:{self.label}"
        return str(self.event_id)


class Cursor(NamedTuple):
    """What a watcher has been told (see the module's description). `label` None: every
    label at `expired_through`."""

    event_id: int
    expired_through: Instant
    label: str | None = None

    def told(self, item: Item) -> bool:
        if item.kind is not Kind.EXPIRE:
            return item.event_id <= self.event_id
        return item.lock_id <= self.event_id and _before_or_at(
            (item.at, item.label), (self.expired_through, self.label)
        )

    def after(self, item: Item) -> Cursor:
        """The cursor once `item` is told too."""
        if item.kind is not Kind.EXPIRE:
            if item.at >= self.expired_through:  # every expiry due by then came before it
                return Cursor(max(self.event_id, item.event_id), item.at)
            return self._replace(event_id=max(self.event_id, item.event_id))
        mark = (item.at, item.label)
        if _before_or_at(mark, (self.expired_through, self.label)):
            return self._replace(event_id=max(self.event_id, item.event_id))
        return Cursor(max(self.event_id, item.event_id), item.at, item.label)


def _before_or_at(mark: tuple[Instant, str], bound: tuple[Instant, str | None]) -> bool:
    if mark[0] != bound[0]:
        return mark[0] < bound[0]
    return bound[1] is None or mark[1] <= bound[1]


class GivenCursor(NamedTuple):
    """A cursor as a client sent it (`Last-Event-ID`): a plain `N` leaves the time to be read
    from the history (the time of event N)."""

    event_id: int
    expired_through: Instant | None
    label: str | None


def parse_cursor(text: str | None) -> GivenCursor | None:
    """The cursor in a `Last-Event-ID`, or None if there is none or it is not one of ours."""
    if text is None:
        return None
    parts = text.strip().split(":")
    if len(parts) > 3 or not all(_decimal(part) for part in parts[:2]):
        return None
    if len(parts) == 3 and not LABEL_PATTERN.fullmatch(parts[2]):
        return None
    event_id = int(parts[0])
    through = int(parts[1]) if len(parts) > 1 else None
    return GivenCursor(event_id, through, parts[2] if len(parts) == 3 else None)


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18


def seat_after(event: HistoryEntry, place: Place, held_since: Instant | None = None) -> Seat:
    """The seat's state right after `event`: each action alone decides it, but for the start
    of the hold an extension continues (`held_since`; a `lock` starts one)."""
    label, action = event.seat, event.action
    if action in _LOCKING:
        since = event.at if action is Action.LOCK else held_since
        return Seat(label, event.user, event.expires_at, place=place, held_since=since)
    if action is Action.CONFIRM:
        return Seat(label, booked_by=event.user, booked_at=event.at, place=place)
    if action is Action.BLOCK:
        return Seat(label, blocked_at=event.at, block_reason=event.reason, place=place)
    return Seat(label, place=place)  # add, release, unblock, expire: available


class Lock(NamedTuple):
    """A lock the stream has not told the end of: its deadline, its event id, the seat's place."""

    deadline: Instant
    event_id: int
    place: Place
    held_since: Instant | None = None  # when the hold this lock belongs to began


class Tracker:
    """The stream of one event from a known point on: feed it committed events in order and
    the clock's readings; it answers the items to tell."""

    def __init__(
        self, event_id: int, locks: dict[str, Lock], hold_starts: dict[str, Instant] | None = None
    ) -> None:
        self.event_id = event_id  # the newest committed event passed
        self._locks = dict(locks)
        # The start of each hold that began before the tracker and that an extension continues.
        self._hold_starts = hold_starts or {}

    @property
    def next_deadline(self) -> Instant | None:
        """The earliest deadline of a lock whose end is still to be told."""
        return min((lock.deadline for lock in self._locks.values()), default=None)

    def committed(self, events: Iterable[HistoryEntry], places: dict[str, Place]) -> list[Item]:
        items: list[Item] = []
        for event in events:
            items += self.expired(event.at)  # expiries due by then come first
            lock = self._locks.pop(event.seat, None)
            place = places.get(event.seat, lock.place if lock else NO_PLACE)
            since = lock.held_since if lock else self._hold_starts.get(event.seat)
            seat = seat_after(event, place, since)
            if event.action in _LOCKING and event.expires_at is not None:
                self._locks[event.seat] = Lock(
                    event.expires_at, event.id or 0, place, seat.held_since
                )
            self.event_id = max(self.event_id, event.id or 0)
            # A committed expire ends a lock whose expiry was told just above (its time is
            # the deadline), or one older than this stream, told before it started.
            # A change of no seat (settings, a token made) is no seat's news.
            if event.action is not Action.EXPIRE and event.seat:
                view = seat.view(event.at)
                kind = Kind.CANCEL if event.action is Action.CANCEL else Kind.SEAT
                item = Item(kind, event.seat, event.at, self.event_id, 0, view, event.action)
                items.append(item)
        return items

    def expired(self, now: Instant) -> list[Item]:
        """The expiries due at `now`, in (deadline, label) order."""
        due = sorted(
            (lock.deadline, label) for label, lock in self._locks.items() if lock.deadline <= now
        )
        items = []
        for deadline, label in due:
            lock = self._locks.pop(label)
            view = Seat(label, place=lock.place).view(deadline)
            items.append(
                Item(
                    Kind.EXPIRE,
                    label,
                    deadline,
                    self.event_id,
                    lock.event_id,
                    view,
                )
            )
        return items


class StreamState(NamedTuple):
    """What one read transaction found for a stream: the clock (read before anything else),
    the newest event id of the database, every seat of the event in map order (with their
    places), and, when resuming, the events after the cursor and the time of the cursor's
    event."""

    now: Instant
    newest_id: int
    seats: list[Seat]
    events: list[HistoryEntry]
    at_through: Instant | None
    hold_starts: dict[str, Instant] = {}  # noqa: RUF012 (never mutated) see `extended_holds`


class Start(NamedTuple):
    """How a watcher starts: the messages to send first, the cursor they leave it at, and the
    tracker that continues from there."""

    items: list[Item]
    cursor: Cursor
    snapshot: StreamState | None  # set when it starts with a snapshot


def tracker_at(state: StreamState) -> Tracker:
    """A tracker starting where a snapshot read left off: the live locks are to be told; the
    lapsed ones were told by the snapshot itself."""
    locks = {
        seat.label: Lock(seat.lock_expires, state.newest_id, seat.place, seat.held_since)
        for seat in state.seats
        if seat.lock_expires is not None
        and seat.booked_by is None
        and seat.blocked_at is None
        and seat.lock_expires > state.now
    }
    return Tracker(state.newest_id, locks)


def snapshot_start(state: StreamState) -> Start:
    return Start([], Cursor(state.newest_id, state.now), state)


def resume(given: GivenCursor, state: StreamState) -> Start:
    """The rest of the stream after the client's cursor, from the history and the current
    seats; a fresh snapshot if the cursor means nothing here (newer than the history, or
    too far behind it)."""
    if given.event_id > state.newest_id or len(state.events) > MAX_REPLAY:
        return snapshot_start(state)
    through = given.expired_through
    if through is None:
        through = state.at_through if state.at_through is not None else 0
    cursor = Cursor(given.event_id, through, given.label)
    # The locks open at the cursor whose end it has not told: those the seats still hold or
    # lapsed, and those a later write ended with a committed expire, unless locked again
    # after the cursor (the tracker meets that lock itself).
    first_lock: dict[str, int] = {}  # each seat's first lock after the cursor
    for event in state.events:
        if event.action in _LOCKING:
            first_lock.setdefault(event.seat, event.id or 0)
    places = {seat.label: seat.place for seat in state.seats}
    locks: dict[str, Lock] = {}
    for event in state.events:
        ends_an_older_lock = (event.id or 0) < first_lock.get(event.seat, _NEVER)
        if event.action is Action.EXPIRE and ends_an_older_lock and event.expires_at:
            place = places.get(event.seat, NO_PLACE)
            locks.setdefault(event.seat, Lock(event.expires_at, given.event_id, place))
    for seat in state.seats:
        if (
            seat.label not in first_lock
            and seat.label not in locks
            and seat.booked_by is None
            and seat.lock_expires is not None
        ):
            locks[seat.label] = Lock(seat.lock_expires, given.event_id, seat.place, seat.held_since)
    pending = {
        label: lock
        for label, lock in locks.items()
        if not _before_or_at((lock.deadline, label), (cursor.expired_through, cursor.label))
    }
    tracker = Tracker(given.event_id, pending, state.hold_starts)
    items = tracker.committed(state.events, places) + tracker.expired(state.now)
    # Everything the read saw is told now: every change up to the newest id (this event's
    # are all above) and every expiry due by `now` (fired just above, or before the cursor).
    # The live feed's expiries of older locks (whose ids it only bounds) then count as told.
    if cursor.expired_through > state.now:  # a cursor from a clock ahead of this one
        return Start(items, cursor._replace(event_id=state.newest_id), None)
    return Start(items, Cursor(state.newest_id, state.now), None)


def extended_holds(events: Iterable[HistoryEntry]) -> list[str]:
    """The seats whose first deadline-setting event among `events` extends a hold begun
    before them: a resume needs to know when each of those holds began."""
    first: dict[str, Action] = {}
    for event in events:
        if event.action in _LOCKING:
            first.setdefault(event.seat, event.action)
    return [label for label, action in first.items() if action is not Action.LOCK]

"""What a seat is: its stored record, and the state that record means at a given instant."""

from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple

from seatctl.core.clock import Instant


class Status(StrEnum):
    AVAILABLE = "available"
    LOCKED = "locked"
    BOOKED = "booked"
    BLOCKED = "blocked"  # kept off sale in one event


class Action(StrEnum):
    """What one history event did to one seat."""

    ADD = "add"
    LOCK = "lock"
    EXTEND = "extend"  # the holder locked again: the deadline moved later (or stayed)
    SHORTEN = "shorten"  # the holder locked again with a shorter ttl: the deadline moved earlier
    RELEASE = "release"
    CONFIRM = "confirm"
    EXPIRE = "expire"
    BLOCK = "block"
    UNBLOCK = "unblock"
    SETTINGS = "settings"  # `init` changed the venue's settings (no seat: `seat` is "")
    CANCEL = "cancel"  # the box office cancelled a booking: the seat is available again
    TOKEN_ADD = "token_add"  # an API token was made for `user` (no seat; `reason`: its role)
    TOKEN_REVOKE = "token_revoke"  # `token revoke` removed one of `user`'s tokens (no seat)
    TOKEN_EXPIRED = "token_expired"  # an expired token of `user` was presented (no seat; once)


# The history's token actions: none of them changes a seat; each names the token's id.
TOKEN_ACTIONS = frozenset({Action.TOKEN_ADD, Action.TOKEN_REVOKE, Action.TOKEN_EXPIRED})


class Role(StrEnum):
    """What an API token may do: a buyer acts only as its user and sees only its own names;
    staff (the box office) see everything and act for any customer."""

    BUYER = "buyer"
    STAFF = "staff"


# Records are NamedTuples rather than dataclasses: just as immutable and typed, and several
# times cheaper to define, which every short-lived CLI process pays at start-up. For the same
# reason this module (like the others that define records on the CLI's path) has no
# `from __future__ import annotations`: NamedTuple compiles each annotation given as a string.


class Place(NamedTuple):
    """Where a seat is in the hall (from the seat map); every part is None when not set.
    `x`, `y` are its position on the hall's plan, in the map's own unit (both or neither)."""

    section: str | None = None
    row: str | None = None
    number: int | None = None
    category: str | None = None
    x: float | None = None
    y: float | None = None


NO_PLACE = Place()


class Stage(NamedTuple):
    """The stage on the hall's plan: a rectangle in the seat map's unit, `x`, `y` its corner
    nearest the origin."""

    x: float
    y: float
    width: float
    height: float


class Seat(NamedTuple):
    """A seat as stored for one event. A lapsed lock stays in the record until something
    replaces it; only `status(now)` and `view(now)` say what it means. `place` belongs to the
    seat map (the same in every event), not to the event's state. `held_since` is when the
    lock's hold began: relocking as the holder keeps it, so a cap on holds can be enforced."""

    label: str
    locked_by: str | None = None
    lock_expires: Instant | None = None
    booked_by: str | None = None
    booked_at: Instant | None = None
    blocked_at: Instant | None = None
    block_reason: str | None = None
    place: Place = NO_PLACE
    held_since: Instant | None = None

    def status(self, now: Instant) -> Status:
        if self.booked_by is not None:
            return Status.BOOKED
        if self.blocked_at is not None:
            return Status.BLOCKED
        if self.lock_expires is not None and self.lock_expires > now:
            return Status.LOCKED
        return Status.AVAILABLE

    def holds_live_lock(self, user: str, now: Instant) -> bool:
        return self.status(now) is Status.LOCKED and self.locked_by == user

    def lapsed_lock(self, now: Instant) -> bool:
        """True if the record still names a lock that has run out (nothing replaced it yet)."""
        return (
            self.booked_by is None
            and self.locked_by is not None
            and self.lock_expires is not None
            and self.lock_expires <= now
        )

    def lapsed_lock_of(self, user: str, now: Instant) -> bool:
        return self.lapsed_lock(now) and self.locked_by == user

    def locked(self, user: str, until: Instant, since: Instant | None = None) -> "Seat":
        return self._replace(locked_by=user, lock_expires=until, held_since=since)

    def booked(self, user: str, at: Instant) -> "Seat":
        return Seat(self.label, booked_by=user, booked_at=at, place=self.place)

    def freed(self) -> "Seat":
        return Seat(self.label, place=self.place)

    def blocked(self, at: Instant, reason: str | None) -> "Seat":
        return Seat(self.label, blocked_at=at, block_reason=reason, place=self.place)

    def state(self) -> "Seat":
        """The record without its place: what the event's history determines."""
        return self._replace(place=NO_PLACE)

    def view(self, now: Instant) -> "SeatView":
        status = self.status(now)
        live_lock = status is Status.LOCKED
        return SeatView(
            seat=self.label,
            status=status,
            locked_by=self.locked_by if live_lock else None,
            expires_at=self.lock_expires if live_lock else None,
            booked_by=self.booked_by,
            booked_at=self.booked_at,
            section=self.place.section,
            row=self.place.row,
            number=self.place.number,
            category=self.place.category,
            held_since=self.held_since if live_lock else None,
            x=self.place.x,
            y=self.place.y,
        )


class SeatView(NamedTuple):
    """A seat as a user sees it at one instant: an expired lock is simply not there."""

    seat: str
    status: Status
    locked_by: str | None
    expires_at: Instant | None
    booked_by: str | None
    booked_at: Instant | None
    section: str | None = None
    row: str | None = None
    number: int | None = None
    category: str | None = None
    held_since: Instant | None = None  # when the current live hold began
    x: float | None = None  # the position on the hall's plan (the map's unit)
    y: float | None = None

    def belongs_to(self, user: str) -> bool:
        return user in (self.locked_by, self.booked_by)


class HistoryEntry(NamedTuple):
    """One line of a seat's history. `expires_at` is the deadline of the lock the event made
    (lock, extend) or ended (expire); `id` orders events as they were committed. `show` is the
    event (show) it happened in: None for `add`, which adds the seat to the map (every show);
    `reason` is a block's or a cancellation's. `by` is who made the change when that is not
    `user` (a clerk acting for a customer, an operator at the shell); None otherwise.
    `token` is the id of the API token a token event (`token_add`, `token_revoke`,
    `token_expired`) is about: never the token itself; None for every other event, and for a
    `token_add` recorded before schema 7."""

    at: Instant
    seat: str
    action: Action
    user: str | None = None
    expires_at: Instant | None = None
    id: int | None = None
    show: str | None = None
    reason: str | None = None
    by: str | None = None
    token: int | None = None


DEFAULT_SHOW = "default"


class Show(NamedTuple):
    """An event (a show) held in the venue: its own seat states and history over the map."""

    name: str
    title: str | None = None
    starts_at: Instant | None = None


class Settings(NamedTuple):
    """The venue's settings: the default lock duration, and the fairness caps (0: no cap)."""

    ttl: int
    max_hold: int = 0  # the longest one hold may last, however often its holder relocks
    max_seats_per_user: int = 0  # the most live locks one user may have in one event


class StatusCounts(NamedTuple):
    """How many seats of an event are in each state."""

    available: int = 0
    locked: int = 0
    booked: int = 0
    blocked: int = 0

    @property
    def total(self) -> int:
        return self.available + self.locked + self.booked + self.blocked


class Token(NamedTuple):
    """An API token of `seatctl serve` as stored: never the token itself, only its hash."""

    id: int
    user: str
    created_at: Instant
    expires_at: Instant | None
    last_used_at: Instant | None
    hash: str
    role: Role = Role.BUYER

    def live(self, now: Instant) -> bool:
        return self.expires_at is None or self.expires_at > now


def status_counts(total: int, booked: int, blocked: int, locked: int) -> StatusCounts:
    return StatusCounts(total - booked - blocked - locked, locked, booked, blocked)


def count_statuses(statuses: Iterable[Status]) -> StatusCounts:
    tally = dict.fromkeys(Status, 0)
    for status in statuses:
        tally[status] += 1
    return StatusCounts(*(tally[s] for s in Status))


# A `settings` event's reason: the settings it changed, "name old -> new" joined by ", ".
_SETTING_NAMES = ("ttl", "max_hold", "max_seats_per_user")


def settings_change(before: Settings, after: Settings) -> str | None:
    """What a `settings` event records of a change of settings (None if nothing changed)."""
    changed = [
        f"{name} {old} -> {new}"
        for name, old, new in zip(_SETTING_NAMES, before, after, strict=True)
        if old != new
    ]
    return ", ".join(changed) or None


def settings_changed(reason: str | None) -> dict[str, tuple[int, int]] | None:
    """The changes a `settings` event's reason records (name -> (old, new)); None if it is
    not one `settings_change` could have written."""
    if not reason:
        return None
    changes: dict[str, tuple[int, int]] = {}
    for part in reason.split(", "):
        name, _, values = part.partition(" ")
        old, arrow, new = values.partition(" -> ")
        if name not in _SETTING_NAMES or name in changes or not arrow:
            return None
        if not (_is_count(old) and _is_count(new)) or old == new:
            return None
        changes[name] = (int(old), int(new))
    return changes


def _is_count(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 18

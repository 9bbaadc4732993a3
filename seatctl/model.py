"""What a seat is: its stored record, and the state that record means at a given instant."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from seatctl.clock import Instant


class Status(StrEnum):
    AVAILABLE = "available"
    LOCKED = "locked"
    BOOKED = "booked"


class Action(StrEnum):
    """What one history event did to one seat."""

    ADD = "add"
    LOCK = "lock"
    EXTEND = "extend"
    RELEASE = "release"
    CONFIRM = "confirm"
    EXPIRE = "expire"


# Records are NamedTuples rather than dataclasses: just as immutable and typed, and several
# times cheaper to define, which every short-lived CLI process pays at start-up.


class Seat(NamedTuple):
    """A seat as stored. A lapsed lock stays in the record until something replaces it;
    only `status(now)` and `view(now)` say what it means."""

    label: str
    locked_by: str | None = None
    lock_expires: Instant | None = None
    booked_by: str | None = None
    booked_at: Instant | None = None

    def status(self, now: Instant) -> Status:
        if self.booked_by is not None:
            return Status.BOOKED
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

    def locked(self, user: str, until: Instant) -> Seat:
        return self._replace(locked_by=user, lock_expires=until)

    def booked(self, user: str, at: Instant) -> Seat:
        return Seat(self.label, booked_by=user, booked_at=at)

    def freed(self) -> Seat:
        return Seat(self.label)

    def view(self, now: Instant) -> SeatView:
        status = self.status(now)
        live_lock = status is Status.LOCKED
        return SeatView(
            seat=self.label,
            status=status,
            locked_by=self.locked_by if live_lock else None,
            expires_at=self.lock_expires if live_lock else None,
            booked_by=self.booked_by,
            booked_at=self.booked_at,
        )


class SeatView(NamedTuple):
    """A seat as a user sees it at one instant: an expired lock is simply not there."""

    seat: str
    status: Status
    locked_by: str | None
    expires_at: Instant | None
    booked_by: str | None
    booked_at: Instant | None

    def belongs_to(self, user: str) -> bool:
        return user in (self.locked_by, self.booked_by)


class Event(NamedTuple):
    """One line of a seat's history. `expires_at` is the deadline of the lock the event made
    (lock, extend) or ended (expire); `id` orders events as they were committed."""

    at: Instant
    seat: str
    action: Action
    user: str | None = None
    expires_at: Instant | None = None
    id: int | None = None


class Token(NamedTuple):
    """An API token of `seatctl serve` as stored: never the token itself, only its hash."""

    id: int
    user: str
    created_at: Instant
    expires_at: Instant | None
    last_used_at: Instant | None
    hash: str

    def live(self, now: Instant) -> bool:
        return self.expires_at is None or self.expires_at > now

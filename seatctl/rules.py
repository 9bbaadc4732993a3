"""The booking rules: pure functions of (seat, user, now) that return a change or a refusal.

Nothing here reads the clock, touches storage or prints; `seatctl.venue` applies the result.
"""

from __future__ import annotations

from typing import NamedTuple

from seatctl.clock import Instant, format_instant
from seatctl.errors import ExitCode, Reason, SeatRefusal
from seatctl.model import Action, Event, Seat, Status


class Change(NamedTuple):
    """The seat after a successful operation; `action` is None when nothing changed."""

    after: Seat
    action: Action | None

    def events(self, before: Seat, user: str, now: Instant) -> list[Event]:
        """The history this change writes: a lapsed lock it replaces ends first, at its deadline."""
        if self.action is None:
            return []
        events = []
        if before.lapsed_lock(now):
            expired = before.lock_expires
            events.append(
                Event(expired or 0, before.label, Action.EXPIRE, before.locked_by, expired)
            )
        made = self.after.lock_expires if self.action in (Action.LOCK, Action.EXTEND) else None
        events.append(Event(now, before.label, self.action, user, made))
        return events


Decision = Change | SeatRefusal


def lock(seat: Seat, user: str, now: Instant, ttl: int) -> Decision:
    status = seat.status(now)
    if status is Status.BOOKED:
        return _refuse(seat, Reason.BOOKED, ExitCode.LOCK_REFUSED, f"is booked by {seat.booked_by}")
    if status is Status.LOCKED and seat.locked_by != user:
        return _refuse(seat, Reason.LOCKED, ExitCode.LOCK_REFUSED, _locked_by(seat))
    action = Action.EXTEND if status is Status.LOCKED else Action.LOCK
    return Change(seat.locked(user, now + ttl), action)


def confirm(seat: Seat, user: str, now: Instant) -> Decision:
    if seat.booked_by == user:
        return Change(seat, None)  # scripts retry: confirming one's own booking again is fine
    refusal = _unless_holder(seat, user, now)
    return refusal or Change(seat.booked(user, now), Action.CONFIRM)


def release(seat: Seat, user: str, now: Instant) -> Decision:
    refusal = _unless_holder(seat, user, now)
    return refusal or Change(seat.freed(), Action.RELEASE)


def _unless_holder(seat: Seat, user: str, now: Instant) -> SeatRefusal | None:
    """Refuse confirm/release unless `user` holds a live lock on `seat`."""
    if seat.holds_live_lock(user, now):
        return None
    code = ExitCode.NOT_HOLDER
    if seat.status(now) is Status.BOOKED:
        return _refuse(seat, Reason.BOOKED, code, f"is booked by {seat.booked_by}")
    if seat.lapsed_lock_of(user, now):
        expired_at = format_instant(seat.lock_expires or 0)
        what = f"is no longer locked by {user}: the lock expired at {expired_at}"
        return _refuse(seat, Reason.EXPIRED, code, what)
    if seat.status(now) is Status.LOCKED:
        return _refuse(seat, Reason.NOT_HOLDER, code, _locked_by(seat))
    return _refuse(seat, Reason.NOT_HOLDER, code, f"is not locked by {user}")


def _locked_by(seat: Seat) -> str:
    return f"is locked by {seat.locked_by} until {format_instant(seat.lock_expires or 0)}"


def _refuse(seat: Seat, reason: Reason, code: ExitCode, what: str) -> SeatRefusal:
    return SeatRefusal(seat.label, reason, code, f"seat {seat.label} {what}")


def not_found(label: str) -> SeatRefusal:
    return SeatRefusal(label, Reason.NOT_FOUND, ExitCode.NOT_FOUND, f"seat {label} does not exist")

"""The booking rules: pure functions of (seat, user, now) that return a change or a refusal.

Nothing here reads the clock, touches storage or prints; `seatctl.venue` applies the result.
"""

# No `from __future__ import annotations`: records define faster (seatctl/core/model.py).
from collections.abc import Mapping
from typing import NamedTuple

from seatctl.core.clock import Instant, format_instant
from seatctl.core.errors import ExitCode, Reason, SeatctlError, SeatRefusal
from seatctl.core.model import Action, HistoryEntry, Seat, Status
from seatctl.core.names import seat_phrase


class Change(NamedTuple):
    """The seat after a successful operation; `action` is None when nothing changed. A
    cancellation records the customer whose booking it ends (`customer`) and its `reason`."""

    after: Seat
    action: Action | None
    customer: str | None = None
    reason: str | None = None

    def events(self, before: Seat, user: str | None, now: Instant) -> list[HistoryEntry]:
        """The history this change writes: a lapsed lock it replaces ends first, at its deadline."""
        if self.action is None:
            return []
        events = []
        if before.lapsed_lock(now):
            expired = before.lock_expires
            events.append(
                HistoryEntry(expired or 0, before.label, Action.EXPIRE, before.locked_by, expired)
            )
        made = self.after.lock_expires if self.action in LOCKING else None
        reason = self.after.block_reason if self.action is Action.BLOCK else self.reason
        who = self.customer if self.customer is not None else user
        events.append(HistoryEntry(now, before.label, self.action, who, made, reason=reason))
        return events


Decision = Change | SeatRefusal
LOCKING = frozenset({Action.LOCK, Action.EXTEND, Action.SHORTEN})  # the events that set a deadline

# How far a write's clock may read behind a seat's newest event and still act (at that event's
# instant): enough for an NTP step or hosts a little out of step, not for a wrong SEATCTL_NOW.
CLOCK_TOLERANCE = 5


def acting_instant(now: Instant, newest: Mapping[str, Instant]) -> Instant | list[SeatRefusal]:
    """The instant a write acts at, given its clock and the newest event of each seat it names.

    A seat's history never goes back in time: a clock up to CLOCK_TOLERANCE seconds behind a
    seat's newest event acts at that event's instant; a seat further ahead refuses the write.
    Only the named seats count, so one far-future write cannot freeze the rest of the venue.
    """
    ahead = [
        SeatRefusal(label, Reason.CLOCK_BEHIND, ExitCode.DATABASE, _clock_behind(label, at, now))
        for label, at in newest.items()
        if at - now > CLOCK_TOLERANCE
    ]
    return ahead or max([now, *newest.values()])


def _clock_behind(label: str, newest: Instant, now: Instant) -> str:
    return (
        f"seat {label} has history at {format_instant(newest)}, more than {CLOCK_TOLERANCE} s"
        f" after this clock's {format_instant(now)}: a seat's history cannot go back in time"
        " (check the clock, or SEATCTL_NOW)"
    )


def lock(seat: Seat, user: str, now: Instant, ttl: int, max_hold: int = 0) -> Decision:
    """Hold `seat` for `user` until `now + ttl`, but never past the hold's start plus
    `max_hold` (0: no cap). Locking again as the live holder keeps the hold's start; a relock
    that cannot move a deadline already standing at that cap is refused (`max_hold`)."""
    status = seat.status(now)
    if status is Status.BOOKED:
        return _refuse(seat, Reason.BOOKED, ExitCode.LOCK_REFUSED, f"is booked by {seat.booked_by}")
    if status is Status.BLOCKED:
        return _refuse(seat, Reason.BLOCKED, ExitCode.LOCK_REFUSED, _blocked(seat))
    if status is Status.LOCKED and seat.locked_by != user:
        return _refuse(seat, Reason.LOCKED, ExitCode.LOCK_REFUSED, _locked_by(seat))
    relock = status is Status.LOCKED
    # A live lock from before holds were tracked has no start: its hold starts now.
    since = seat.held_since if relock and seat.held_since is not None else now
    deadline = now + ttl
    if max_hold and deadline > since + max_hold:
        final = since + max_hold
        if relock and (seat.lock_expires or 0) >= final:
            return _refuse(
                seat, Reason.MAX_HOLD, ExitCode.LOCK_REFUSED, _at_max_hold(seat, since, max_hold)
            )
        deadline = final
    action = Action.LOCK
    if relock:
        # Locking again sets the deadline to now + ttl: with a shorter ttl that is earlier.
        action = Action.SHORTEN if deadline < (seat.lock_expires or 0) else Action.EXTEND
    return Change(seat.locked(user, deadline, since), action)


def seats_cap(user: str, show: str, held: int, adding: list[str], cap: int) -> SeatctlError | None:
    """Refuse a lock that would leave `user` with more than `cap` live locks in `show` (0: no
    cap), given the `held` live locks they have there now and the seats it newly locks. A lock
    that starts no new hold is never refused: a cap lowered below what a user holds stops new
    seats, not the relocks of those already held."""
    total = held + len(adding)
    if not cap or not adding or total <= cap:
        return None
    seats = "seat" if held == 1 else "seats"
    message = (
        f"max-seats-per-user is {cap}: {user} holds {held} {seats} in event {show} now,"
        f" and locking {', '.join(adding)} would make {total}"
    )
    refusals = [
        SeatRefusal(label, Reason.MAX_SEATS, ExitCode.LOCK_REFUSED, message) for label in adding
    ]
    return SeatctlError(Reason.MAX_SEATS, message, ExitCode.LOCK_REFUSED, refusals)


def _at_max_hold(seat: Seat, since: Instant, max_hold: int) -> str:
    return (
        f"is held by {seat.locked_by} since {format_instant(since)}: the hold has reached its"
        f" final deadline {format_instant(seat.lock_expires or 0)} (max-hold {max_hold} s)"
        " and cannot be extended; confirm or release it by then"
    )


def confirm(seat: Seat, user: str, now: Instant) -> Decision:
    if seat.booked_by == user:
        return Change(seat, None)  # scripts retry: confirming one's own booking again is fine
    refusal = _unless_holder(seat, user, now)
    return refusal or Change(seat.booked(user, now), Action.CONFIRM)


def release(seat: Seat, user: str, now: Instant) -> Decision:
    if seat.booked_by == user:
        # The user most likely meant to undo their booking: say who can.
        what = (
            f"is booked by {user}: a booking cannot be released"
            " (the box office cancels one: seatctl cancel)"
        )
        return _refuse(seat, Reason.BOOKED, ExitCode.NOT_HOLDER, what)
    refusal = _unless_holder(seat, user, now)
    return refusal or Change(seat.freed(), Action.RELEASE)


def _unless_holder(seat: Seat, user: str, now: Instant) -> SeatRefusal | None:
    """Refuse confirm/release unless `user` holds a live lock on `seat`."""
    if seat.holds_live_lock(user, now):
        return None
    code = ExitCode.NOT_HOLDER
    if seat.status(now) is Status.BOOKED:
        return _refuse(seat, Reason.BOOKED, code, f"is booked by {seat.booked_by}")
    if seat.status(now) is Status.BLOCKED:
        return _refuse(seat, Reason.BLOCKED, code, _blocked(seat))
    if seat.lapsed_lock_of(user, now):
        expired_at = format_instant(seat.lock_expires or 0)
        what = f"is no longer locked by {user}: the lock expired at {expired_at}"
        return _refuse(seat, Reason.EXPIRED, code, what)
    if seat.status(now) is Status.LOCKED:
        return _refuse(seat, Reason.NOT_HOLDER, code, _locked_by(seat))
    return _refuse(seat, Reason.NOT_HOLDER, code, f"is not locked by {user}")


def block(seat: Seat, now: Instant, reason: str | None) -> Decision:
    """Take the seat off sale in its event: only an available one (a blocked one stays so)."""
    status = seat.status(now)
    if status is Status.BOOKED:
        return _refuse(seat, Reason.BOOKED, ExitCode.LOCK_REFUSED, f"is booked by {seat.booked_by}")
    if status is Status.LOCKED:
        return _refuse(seat, Reason.LOCKED, ExitCode.LOCK_REFUSED, _locked_by(seat))
    if status is Status.BLOCKED:
        return Change(seat, None)  # scripts retry: blocking a blocked seat again is fine
    return Change(seat.blocked(now, reason), Action.BLOCK)


def unblock(seat: Seat, now: Instant) -> Decision:
    """Put a blocked seat back on sale; a seat that is not blocked is left as it is."""
    if seat.status(now) is not Status.BLOCKED:
        return Change(seat, None)
    return Change(seat.freed(), Action.UNBLOCK)


def cancel(seat: Seat, now: Instant, reason: str | None) -> Decision:
    """End a booking (the box office's decision, as a refund is): the seat is available
    again. Only a booked seat can be cancelled; nothing else about the seat changes."""
    if seat.status(now) is not Status.BOOKED:
        what = f"is not booked (it is {seat.status(now).value}): only a booking can be cancelled"
        return _refuse(seat, Reason.NOT_BOOKED, ExitCode.NOT_HOLDER, what)
    return Change(seat.freed(), Action.CANCEL, seat.booked_by, reason)


def _blocked(seat: Seat) -> str:
    because = f" ({seat.block_reason})" if seat.block_reason else ""
    return f"is blocked{because}"


def _locked_by(seat: Seat) -> str:
    return f"is locked by {seat.locked_by} until {format_instant(seat.lock_expires or 0)}"


def _refuse(seat: Seat, reason: Reason, code: ExitCode, what: str) -> SeatRefusal:
    # Named as the map names it, the label beside ("seat Stalls B3 (30) is locked by ..."):
    # people read the name, scripts still find the label they gave.
    return SeatRefusal(
        seat.label, reason, code, f"seat {seat_phrase(seat.label, seat.place)} {what}"
    )


def recorded_by(entry: HistoryEntry, by: str | None) -> str | None:
    """The `by` a history entry records: who made the change, unless that is its user (or
    nobody made it: an expiry a write records)."""
    return None if entry.action is Action.EXPIRE or entry.user == by else by


def not_found(label: str) -> SeatRefusal:
    return SeatRefusal(label, Reason.NOT_FOUND, ExitCode.NOT_FOUND, f"seat {label} does not exist")

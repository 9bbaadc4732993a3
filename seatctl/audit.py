"""`seatctl check`'s booking invariants, as pure functions over seat records and history.

Replaying the history from empty must reproduce every stored seat, and every step of the
replay must be one the booking rules allow: that is what "never double-booked" means here.
"""

from __future__ import annotations

from collections.abc import Iterable

from seatctl.clock import format_instant
from seatctl.model import Action, Event, Seat


def record_problems(seats: Iterable[Seat]) -> list[str]:
    """Seat records that no sequence of commands could have produced. (A record with a value
    of the wrong kind, or half a lock or booking, never gets this far: the storage layer's
    decoder, `seatctl.storage.records`, refuses it and describes it for `check`.)"""
    problems = []
    for seat in seats:
        if seat.booked_by is not None and seat.locked_by is not None:
            problems.append(f"seat {seat.label}: both booked and locked")
    return problems


def history_problems(
    seats: Iterable[Seat], events: Iterable[Event], seeded_through: int
) -> list[str]:
    """Replay `events` in commit order; report illegal steps and seats the replay gets wrong.

    Events up to `seeded_through` were seeded by a schema upgrade from the state they
    describe, so a seeded booking need not follow a lock.
    """
    replayed: dict[str, Seat] = {}
    problems = []
    for event in events:
        seeded = (event.id or 0) <= seeded_through
        before = replayed.get(event.seat)
        after, problem = _step(before, event, seeded)
        if problem:
            problems.append(f"seat {event.seat}: {problem} (event {event.id}, {_at(event)})")
        if after is not None:
            replayed[event.seat] = after
    for seat in seats:
        expected = replayed.pop(seat.label, None)
        if expected is None:
            problems.append(f"seat {seat.label}: exists but its history never added it")
        elif expected != seat:
            problems.append(f"seat {seat.label}: stored {seat} but history replays to {expected}")
    problems += [f"seat {label}: in the history but not stored" for label in replayed]
    return problems


def _step(before: Seat | None, event: Event, seeded: bool) -> tuple[Seat | None, str | None]:
    """The seat after `event`, and what was wrong with applying it, if anything."""
    action, user, at = event.action, event.user, event.at
    if action is Action.ADD:
        return (before, "added twice") if before else (Seat(event.seat), None)
    if before is None:
        return None, f"{action} before the seat was added"
    holds_live_lock = before.locked_by == user and (before.lock_expires or 0) > at
    if action is Action.LOCK:
        if before.booked_by is not None:
            return before, f"locked by {user} while booked by {before.booked_by}"
        if before.locked_by is not None:
            return before, f"locked by {user} while the lock of {before.locked_by} stood"
        return before.locked(user or "", event.expires_at or 0), None
    if action is Action.EXTEND:
        if not holds_live_lock:
            return before, f"extended by {user} without a live lock"
        return before.locked(user or "", event.expires_at or 0), None
    if action is Action.RELEASE:
        if not holds_live_lock:
            return before, f"released by {user} without a live lock"
        return before.freed(), None
    if action is Action.CONFIRM:
        if before.booked_by is not None:
            return before, f"confirmed by {user} but already booked by {before.booked_by}"
        if not holds_live_lock and not seeded:
            return before.booked(user or "", at), f"confirmed by {user} without a live lock"
        return before.booked(user or "", at), None
    # Action.EXPIRE
    if before.locked_by != user or before.lock_expires != at:
        return before.freed(), f"expiry of a lock {user} did not hold until then"
    return before.freed(), None


def _at(event: Event) -> str:
    return format_instant(event.at)

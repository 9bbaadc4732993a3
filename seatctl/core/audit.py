"""`seatctl check`'s booking invariants, as pure functions over seat records and history.

Replaying the history from empty must reproduce every stored seat, and every step of the
replay must be one the booking rules allow: that is what "never double-booked" means here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from seatctl.core.clock import Instant, format_instant
from seatctl.core.model import (
    DEFAULT_SHOW,
    TOKEN_ACTIONS,
    Action,
    HistoryEntry,
    Seat,
    Settings,
    Status,
    settings_changed,
)


def record_problems(seats: Iterable[Seat]) -> list[str]:
    """Seat records that no sequence of commands could have produced. (A record with a value
    of the wrong kind, or half a lock or booking, never gets this far: the storage layer's
    decoder, `seatctl.storage.records`, refuses it and describes it for `check`.)"""
    problems = []
    for seat in seats:
        if seat.booked_by is not None and seat.locked_by is not None:
            problems.append(f"seat {seat.label}: both booked and locked")
    return problems


class _Replayed(NamedTuple):
    """One seat as the replay has it so far."""

    seat: Seat
    latest: Instant | None = None  # the instant of its newest event written by a command
    unexpired: Seat | None = None  # the seat just before its newest event, if that was an expiry


def history_problems(
    seats: Iterable[Seat],
    events: Iterable[HistoryEntry],
    seeded_through: int,
    states: Iterable[tuple[str, Seat]] | None = None,
    shows: Iterable[str] = (DEFAULT_SHOW,),
    settings: Settings | None = None,
) -> list[str]:
    """Replay `events` in commit order; report illegal steps and seats the replay gets wrong.

    Each event is judged by the booking rules as they stood at its own instant, and a seat's
    events must never go back in time. Events up to `seeded_through` were seeded by a schema
    upgrade from the state they describe, so a seeded booking need not follow a lock, and
    their instants (the upgrade's) do not order the events after them.

    `seats` are the seat map; `states` the stored state of each (event, seat) that has one
    (by default the seats' own, all in the event `default`). A seat's `add` puts it in the
    map, and so in every event; every other event replays one (event, seat).

    `settings` are the stored settings (by default: no caps); `settings` events say how they
    changed, so every lock is judged against the max-hold in force when it was made.
    """
    seats = list(seats)
    events = list(events)
    if states is None:
        states = [(DEFAULT_SHOW, seat) for seat in seats]
    known_shows = set(shows)
    added: dict[str, _Replayed] = {}
    replayed: dict[tuple[str, str], _Replayed] = {}
    in_force, problems = _first_settings(events, settings or Settings(0))
    holds: dict[tuple[str, str], dict[str, Instant]] = {}  # each user's locks in each event
    for event in events:
        seeded = (event.id or 0) <= seeded_through
        if event.action is Action.SETTINGS:
            in_force = _changed(in_force, event)
            continue
        if event.action in TOKEN_ACTIONS:
            continue  # a token made, revoked or found expired: no seat changed
        if event.action is Action.ADD:
            after, problem = _step(added.get(event.seat), event, seeded)
            if after is not None and event.seat not in added:
                added[event.seat] = after
            where = _seat_in(event.seat, DEFAULT_SHOW)
        else:
            show = event.show or DEFAULT_SHOW
            key = (show, event.seat)
            before = replayed.get(key) or added.get(event.seat)
            after, problem = _step(before, event, seeded)
            if after is not None:
                _track_holds(holds, show, before.seat if before else None, after.seat)
            if problem is None and after is not None and not seeded:
                problem = _past_max_hold(after.seat, event, in_force.max_hold)
                cap = in_force.max_seats_per_user
                problem = problem or _past_max_seats(holds, show, event, cap)
            if after is not None:
                replayed[key] = after
            if problem is None and show not in known_shows:
                problem = f"{event.action} in event {show}, which does not exist"
            where = _seat_in(event.seat, show)
        if problem:
            problems.append(f"{where}: {problem} (event {event.id}, {_at(event)})")
    labels = {seat.label for seat in seats}
    problems += [
        f"seat {label}: exists but its history never added it"
        for label in (seat.label for seat in seats)
        if label not in added
    ]
    stored = {(show, seat.label): seat.state() for show, seat in states}
    for key in sorted(stored.keys() | replayed.keys()):
        show, label = key
        if label not in labels:
            if key in replayed:
                problems.append(f"{_seat_in(label, show)}: in the history but not stored")
            else:
                problems.append(f"{_seat_in(label, show)}: has a state but is not in the map")
            continue
        expected = replayed[key].seat if key in replayed else Seat(label)
        found = stored.get(key, Seat(label))
        if label not in added:
            continue  # reported above
        replays_to = expected.state()
        if found.held_since is None:
            # A record from before holds were tracked (schema 4 or older, read without an
            # upgrade) has no hold start to compare.
            replays_to = replays_to._replace(held_since=None)
        if replays_to == found:
            continue
        if replays_to._replace(held_since=None) == found._replace(held_since=None):
            problems.append(
                f"{_seat_in(label, show)}: stored with its hold begun at"
                f" {format_instant(found.held_since or 0)}, but its history begins it at"
                f" {format_instant(replays_to.held_since or 0)}"
            )
        else:
            problems.append(
                f"{_seat_in(label, show)}: stored as {_described(found)},"
                f" but its history replays to {_described(replays_to)}"
            )
    problems += [
        f"seat {label}: in the history but not stored" for label in added if label not in labels
    ]
    return problems


def _first_settings(events: list[HistoryEntry], stored: Settings) -> tuple[Settings, list[str]]:
    """The settings before the history's first `settings` event: the stored ones, with every
    recorded change undone, newest first; and the changes that do not follow on (a setting
    recorded as changed to a value the next change does not start from)."""
    current = stored._asdict()
    problems = []
    for event in reversed([e for e in events if e.action is Action.SETTINGS]):
        for name, (old, new) in (settings_changed(event.reason) or {}).items():
            if current[name] != new:
                problems.append(
                    f"settings: {name} was set to {new} (event {event.id}, {_at(event)}),"
                    f" but {current[name]} is what followed"
                )
            current[name] = old
    return Settings(**current), problems


def _changed(settings: Settings, event: HistoryEntry) -> Settings:
    """The settings after a `settings` event."""
    changes = settings_changed(event.reason) or {}
    return settings._replace(**{name: new for name, (_, new) in changes.items()})


def _past_max_hold(seat: Seat, event: HistoryEntry, max_hold: int) -> str | None:
    """A lock or extension whose deadline lies past its hold's start plus the max-hold then
    in force (0: no cap)."""
    if not max_hold or event.action not in (Action.LOCK, Action.EXTEND, Action.SHORTEN):
        return None
    since = seat.held_since if seat.held_since is not None else event.at
    final = since + max_hold
    if (event.expires_at or 0) <= final:
        return None
    return (
        f"{event.action} by {event.user} until {format_instant(event.expires_at or 0)} outlives"
        f" its hold's cap: held since {format_instant(since)}, max-hold {max_hold} s allowed"
        f" until {format_instant(final)}"
    )


def _track_holds(
    holds: dict[tuple[str, str], dict[str, Instant]], show: str, before: Seat | None, after: Seat
) -> None:
    """Keep each (event, user)'s locks (seat -> deadline) as the replay changes a seat."""
    if before is not None and before.locked_by is not None:
        holds.get((show, before.locked_by), {}).pop(before.label, None)
    if after.locked_by is not None and after.booked_by is None and after.blocked_at is None:
        holds.setdefault((show, after.locked_by), {})[after.label] = after.lock_expires or 0


def _past_max_seats(
    holds: dict[tuple[str, str], dict[str, Instant]], show: str, event: HistoryEntry, cap: int
) -> str | None:
    """A new hold that leaves its user with more live locks in the event than the
    max-seats-per-user then in force (0: no cap). A command's seats are recorded one by one,
    so the last of them counts them all."""
    if not cap or event.action is not Action.LOCK:
        return None
    held = sum(
        1 for deadline in holds.get((show, event.user or ""), {}).values() if deadline > event.at
    )
    if held <= cap:
        return None
    return f"lock by {event.user} leaves them {held} live locks, past max-seats-per-user {cap}"


def _seat_in(label: str, show: str) -> str:
    return f"seat {label}" if show == DEFAULT_SHOW else f"seat {label} in event {show}"


def _step(
    before: _Replayed | None, event: HistoryEntry, seeded: bool
) -> tuple[_Replayed | None, str | None]:
    """The seat after `event`, and what was wrong with it, if anything."""
    if event.action is Action.ADD:
        if before is not None:
            return before, "added twice"
        return _Replayed(Seat(event.seat), None if seeded else event.at), None
    if before is None:
        return None, f"{event.action} before the seat was added"
    problem = _out_of_order(before, event) if not seeded else None
    if problem is None:
        problem = _illegal(before.seat, event, seeded)
    after = _applied(before.seat, event)
    # After an out-of-order event the replay goes on from its instant: one problem per bad step.
    latest = before.latest if seeded else event.at
    unexpired = before.seat if event.action is Action.EXPIRE else None
    return _Replayed(after, latest, unexpired), problem


def _out_of_order(before: _Replayed, event: HistoryEntry) -> str | None:
    """What is wrong with an event dated before the seat's newest one, if it is."""
    if before.latest is None or event.at >= before.latest:
        return None
    standing = before.unexpired
    if standing is not None and standing.status(event.at) is not Status.AVAILABLE:
        # An expiry committed first, but at this event's instant the lock it ends still stood.
        return _illegal(standing, event, seeded=False) or _backwards(before, event)
    return _backwards(before, event)


def _backwards(before: _Replayed, event: HistoryEntry) -> str:
    return (
        f"{event.action} by {event.user} is recorded after an event at"
        f" {format_instant(before.latest or 0)}: the seat's history goes back in time"
    )


def _illegal(seat: Seat, event: HistoryEntry, seeded: bool) -> str | None:
    """Why the booking rules would not have made `event` on `seat` at its instant, if so."""
    action, user, at = event.action, event.user or "", event.at
    if action is Action.EXPIRE:
        if seat.locked_by != user or seat.lock_expires != at:
            return f"expiry of a lock {user} did not hold until then"
        return None
    if action is Action.BLOCK:
        if seat.booked_by is not None:
            return f"blocked while booked by {seat.booked_by}"
        if seat.blocked_at is not None:
            return "blocked while already blocked"
        if seat.status(at) is Status.LOCKED:
            return f"blocked while the lock of {seat.locked_by} stood until {_deadline(seat)}"
        return None
    if action is Action.UNBLOCK:
        return None if seat.blocked_at is not None else "unblocked but not blocked"
    if action is Action.CANCEL:
        if seat.booked_by is None:
            return f"booking of {user} cancelled but the seat was not booked"
        if seat.booked_by != user:
            return f"booking of {user} cancelled but the seat was booked by {seat.booked_by}"
        return None
    if action is Action.CONFIRM and seat.booked_by is not None:
        return f"confirmed by {user} but already booked by {seat.booked_by}"
    if action is Action.LOCK:
        # A seeded lock may have lapsed before the upgrade that seeded it.
        return _illegal_lock(seat, user, at) or (None if seeded else _illegal_deadline(event))
    if action is Action.CONFIRM and seeded:
        return None  # a seeded booking stands for one made before the history existed
    done = _PAST[action]
    if seat.lapsed_lock_of(user, at):
        return f"{done} by {user} after the lock expired at {_deadline(seat)}"
    if not seat.holds_live_lock(user, at):
        return f"{done} by {user} without a live lock"
    return _illegal_deadline(event) if action in (Action.EXTEND, Action.SHORTEN) else None


def _illegal_lock(seat: Seat, user: str, at: Instant) -> str | None:
    if seat.booked_by is not None:
        return f"locked by {user} while booked by {seat.booked_by}"
    if seat.blocked_at is not None:
        return f"locked by {user} while blocked"
    if seat.locked_by is None:
        return None
    if seat.status(at) is Status.LOCKED:
        return f"locked by {user} while the lock of {seat.locked_by} stood until {_deadline(seat)}"
    return (
        f"locked by {user} over the lapsed lock of {seat.locked_by} before its expiry was recorded"
    )


def _illegal_deadline(event: HistoryEntry) -> str | None:
    """A lock lasts at least a second: its deadline is after the instant it was made."""
    if (event.expires_at or 0) > event.at:
        return None
    until = format_instant(event.expires_at or 0)
    return f"locked by {event.user} until {until}, not after the lock was taken"


def _applied(seat: Seat, event: HistoryEntry) -> Seat:
    """The seat after `event`, applied even if it was illegal, so one bad step is one problem."""
    action, user = event.action, event.user or ""
    if action is Action.BLOCK:
        return seat if seat.booked_by is not None else seat.blocked(event.at, event.reason)
    if action is Action.UNBLOCK:
        return seat.freed() if seat.blocked_at is not None else seat
    if action is Action.LOCK:
        return seat.locked(user, event.expires_at or 0, event.at)  # a new hold begins
    if action in (Action.EXTEND, Action.SHORTEN):
        # The holder's relock keeps the hold's start (a lapsed or foreign lock starts anew).
        live = seat.holds_live_lock(user, event.at) and seat.held_since is not None
        since = seat.held_since if live else event.at
        return seat.locked(user, event.expires_at or 0, since)
    if action is Action.CONFIRM:
        return seat if seat.booked_by is not None else seat.booked(user, event.at)
    if action is Action.EXPIRE and seat.locked_by != user:
        return seat  # not this seat's lock: nothing to end
    if action is Action.CANCEL and seat.booked_by is None:
        return seat  # no booking to end
    return seat.freed()  # release, expire, cancel


_PAST = {
    Action.EXTEND: "extended",
    Action.SHORTEN: "shortened",
    Action.RELEASE: "released",
    Action.CONFIRM: "confirmed",
}


def _described(seat: Seat) -> str:
    """A seat record in words, with formatted instants (whatever its state at any instant)."""
    parts = []
    if seat.booked_by is not None or seat.booked_at is not None:
        parts.append(f"booked by {seat.booked_by} at {format_instant(seat.booked_at or 0)}")
    if seat.locked_by is not None or seat.lock_expires is not None:
        parts.append(f"locked by {seat.locked_by} until {_deadline(seat)}")
    if seat.blocked_at is not None:
        because = f" ({seat.block_reason})" if seat.block_reason else ""
        parts.append(f"blocked at {format_instant(seat.blocked_at)}{because}")
    return " and ".join(parts) or "available"


def _deadline(seat: Seat) -> str:
    return format_instant(seat.lock_expires or 0)


def _at(event: HistoryEntry) -> str:
    return format_instant(event.at)

"""Stored records, checked as they are read: one decoder for every backend.

A database can be edited behind seatctl's back, or damaged. Every seat, history event and
setting is checked here as it is read, so that a value no seatctl command could have written
(text or bytes where an instant belongs, an instant outside what the clock can print, an
unknown action, a missing user) becomes one clear exit-6 error naming the seat, instead of a
crash wherever the value is first used. `check` describes the same problems in words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from seatctl.core.clock import LATEST_INSTANT, format_instant
from seatctl.core.errors import ExitCode, Reason, SeatctlError, SeatRefusal
from seatctl.core.model import (
    NO_PLACE,
    TOKEN_ACTIONS,
    Action,
    HistoryEntry,
    Place,
    Role,
    Seat,
    Settings,
    Stage,
    Token,
    settings_changed,
)
from seatctl.core.validate import (
    LABEL_PATTERN,
    MAX_HOLD,
    MAX_SEATS,
    MAX_TTL,
    MAX_USER_LENGTH,
    MIN_TTL,
)

_ACTIONS = {action.value: action for action in Action}
_TOKEN_ACTIONS = frozenset(action.value for action in TOKEN_ACTIONS)
# Events that name the user who made them (`add` has none), and those that carry a deadline.
_WITH_USER = frozenset(_ACTIONS) - {
    Action.ADD.value,
    Action.BLOCK.value,
    Action.UNBLOCK.value,
    Action.SETTINGS.value,
}
_WITH_DEADLINE = frozenset(
    {Action.LOCK.value, Action.EXTEND.value, Action.SHORTEN.value, Action.EXPIRE.value}
)


class DamagedRecord(SeatctlError):
    """A stored record that the booking rules could not have written; `problem` says what,
    in the words `check` uses."""

    def __init__(self, problem: str, label: Any = None) -> None:
        message = f"damaged database record: {problem} (run 'seatctl check' to list every problem)"
        # The seat is named in --json's `seats` too, when its label is one.
        named = [SeatRefusal(label, Reason.BAD_DATABASE, ExitCode.DATABASE, problem)]
        super().__init__(
            Reason.BAD_DATABASE, message, ExitCode.DATABASE, named if _is_label(label) else []
        )
        self.problem = problem


def seat(row: tuple[Any, ...]) -> Seat:
    """The seat stored in `row` (label, locked_by, lock_expires, booked_by, booked_at, from
    schema 4 blocked_at, block_reason, section, row, number, category, from schema 5
    held_since, and from schema 6 x, y)."""
    # Inline checks first: a listing decodes 100,000 of these; `seat_problem` says what is wrong.
    label, locked_by, lock_expires, booked_by, booked_at = row[:5]
    if len(row) > 5 and not _good_extra(row):
        raise DamagedRecord(seat_problem(row) or "seat record is damaged", label)
    if (
        type(label) is str
        and _label_match(label)
        and (
            (locked_by is None and lock_expires is None)
            or (_good_instant(lock_expires) and _good_user(locked_by))
        )
        and (
            (booked_by is None and booked_at is None)
            or (_good_instant(booked_at) and _good_user(booked_by))
        )
    ):
        if len(row) == 5:
            return _new_seat(Seat, (*row, None, None, NO_PLACE, None))
        if len(row) > 12 and (row[12] is not None or row[13] is not None):
            place = Place(row[7], row[8], row[9], row[10], row[12], row[13])  # schema 6
        else:
            place = NO_PLACE if row[7:11] == _NO_PLACE_ROW else Place(*row[7:11])
        return _new_seat(Seat, (*row[:7], place, row[11] if len(row) > 11 else None))
    raise DamagedRecord(seat_problem(row) or "seat record is damaged", label)


_NO_PLACE_ROW = (None, None, None, None)


def _good_extra(row: tuple[Any, ...]) -> bool:
    """The block, the place and the hold start of a schema-4 or 5 seat row are of the kinds
    seatctl writes (a hold start only beside a lock)."""
    blocked_at, reason, section, seat_row, number, category = row[5:11]
    held_since = row[11] if len(row) > 11 else None
    position = row[12:14]
    return (
        all(part is None or type(part) is float or type(part) is int for part in position)
        and (held_since is None or (_good_instant(held_since) and row[1] is not None))
        and (
            (blocked_at is None and reason is None)
            or (_good_instant(blocked_at) and (reason is None or type(reason) is str))
        )
        and (
            all(part is None or type(part) is str for part in (section, seat_row, category))
            and (number is None or type(number) is int)
        )
    )


_label_match = LABEL_PATTERN.fullmatch
_new_seat = tuple.__new__  # what Seat(*row) does, without its argument handling


def _good_instant(value: Any) -> bool:
    return type(value) is int and 0 <= value <= LATEST_INSTANT


def _good_user(value: Any) -> bool:
    return (
        type(value) is str
        and 0 < len(value) <= MAX_USER_LENGTH
        and value.isprintable()
        and value == value.strip()
    )


def stage(value: str | None) -> Stage | None:
    """The stage stored in `meta` ("x,y,width,height"), or None if there is none (or it is
    not one seatctl wrote: a damaged value never stops a listing)."""
    if not value:
        return None
    parts = value.split(",")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        return None
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        return None
    return Stage(*numbers)


def event(row: tuple[Any, ...]) -> HistoryEntry:
    """The event stored in `row` (at, seat, action, user, expires_at, id, show, reason, from
    schema 6 acted_by, and from schema 7 token_id)."""
    problem = event_problem(row)
    if problem:
        raise DamagedRecord(problem, row[1])
    at, label, action, user, expires_at, id_, show, reason = row[:8]
    by = row[8] if len(row) > 8 else None
    token = row[9] if len(row) > 9 else None
    return HistoryEntry(at, label, _ACTIONS[action], user, expires_at, id_, show, reason, by, token)


def token(row: tuple[Any, ...]) -> Token:
    """The token stored in `row` (id, user, created_at, expires_at, last_used_at, hash, and
    from schema 6 role); a role this version does not know acts as a buyer's, the lesser."""
    role = Role.STAFF if len(row) > 6 and row[6] == Role.STAFF.value else Role.BUYER
    id_, user, created_at, expires_at, last_used_at, hash_ = row[:6]
    return Token(id_, user, created_at, expires_at, last_used_at, hash_, role)


def settings(stored: dict[str, Any], default_ttl_: int) -> Settings:
    """The settings in `meta` (key -> value); a cap not stored is no cap (a database from
    before the caps keeps its old behaviour)."""
    problem = _settings_problem(stored)
    if problem:
        raise DamagedRecord(problem)
    return Settings(
        default_ttl(stored.get("default_ttl"), default_ttl_),
        int(stored.get("max_hold") or 0),
        int(stored.get("max_seats_per_user") or 0),
    )


def newest_instant(label: Any, at: Any) -> int:
    """The instant of `label`'s newest history event, as a backend's `latest_history_at` finds
    it (the greatest stored value: a damaged one, text included, sorts there too)."""
    problem = _instant_problem("time", at, required=True)
    if problem:
        raise DamagedRecord(f"seat {label}: a history event's {problem}", label)
    return int(at)


def default_ttl(stored: Any, default: int) -> int:
    problem = _ttl_problem(stored)
    if problem:
        raise DamagedRecord(problem)
    return int(stored) if stored is not None else default


def seeded_through(stored: Any) -> int:
    problem = _seeded_problem(stored)
    if problem:
        raise DamagedRecord(problem)
    return int(stored) if stored is not None else 0


def problems(
    seat_rows: Iterable[tuple[Any, ...]],
    event_rows: Iterable[tuple[Any, ...]],
    settings: dict[str, Any],
) -> list[str]:
    """Every damaged record, described in words (empty when there is none)."""
    found = [_settings_problem(settings), _seeded_problem(settings.get("seeded"))]
    found += (seat_problem(row) for row in seat_rows)
    found += (event_problem(row) for row in event_rows)
    return [problem for problem in found if problem]


def seat_problem(row: tuple[Any, ...]) -> str | None:
    label, locked_by, lock_expires, booked_by, booked_at = row[:5]
    if not _is_label(label):
        return f"a seat's label is not a valid seat label ({_shown(label)})"
    problem = (
        _user_problem("lock holder", locked_by)
        or _instant_problem("lock deadline", lock_expires)
        or _user_problem("booker", booked_by)
        or _instant_problem("booking instant", booked_at)
    )
    # A lock or booking is always written whole: one half alone would be shown as "None".
    if not problem and (locked_by is None) != (lock_expires is None):
        problem = "lock lacks its holder or its deadline"
    if not problem and (booked_by is None) != (booked_at is None):
        problem = "booking lacks its booker or its instant"
    if not problem and len(row) > 5 and not _good_extra(row):
        problem = "its block, its place in the seat map or its hold start is not of the right kind"
    return f"seat {label}: {problem}" if problem else None


def event_problem(row: tuple[Any, ...]) -> str | None:
    at, label, action, user, expires_at, id_, show, reason = row[:8]
    if action == Action.SETTINGS.value:
        return _settings_event_problem(row)
    if action in _TOKEN_ACTIONS:
        return _token_event_problem(row)
    if len(row) > 8 and _user_problem("by", row[8]):
        return f"seat {label}: history event {id_}: {_user_problem('by', row[8])}"
    if len(row) > 9 and row[9] is not None:
        return f"seat {label}: history event {id_}: it names a token (only token events do)"
    if not _is_label(label):
        return f"history event {id_}: its seat is not a valid seat label ({_shown(label)})"
    if type(action) is not str or action not in _ACTIONS:
        problem: str | None = f"action is unknown ({_shown(action)})"
    else:
        problem = (
            _instant_problem("time", at, required=True)
            or _user_problem("user", user, required=action in _WITH_USER)
            or _instant_problem("lock deadline", expires_at, required=action in _WITH_DEADLINE)
        )
        if not problem and not (show is None or _is_label(show)):
            problem = f"its event is not a valid event name ({_shown(show)})"
        if not problem and not (reason is None or type(reason) is str):
            problem = f"its reason is not text ({_shown(reason)})"
    return f"seat {label}: history event {id_}: {problem}" if problem else None


def _token_event_problem(row: tuple[Any, ...]) -> str | None:
    """A token event (`token_add`, `token_revoke`, `token_expired`) names no seat, deadline
    nor event: the token's user, its id (none in a `token_add` from before schema 7), who
    acted (if anyone did), and for `token_add` its role."""
    at, label, action, user, expires_at, id_, show, reason = row[:8]
    by = row[8] if len(row) > 8 else None
    token = row[9] if len(row) > 9 else None
    problem = _instant_problem("time", at, required=True) or _user_problem("user", user, True)
    if not problem and (label != "" or expires_at is not None or show is not None):
        problem = "it names a seat, a deadline or an event"
    if not problem and not (reason is None or type(reason) is str):
        what = "role" if action == Action.TOKEN_ADD.value else "reason"
        problem = f"its {what} is not text ({_shown(reason)})"
    if not problem:
        problem = _user_problem("by", by)
    if not problem and not (token is None or (type(token) is int and token > 0)):
        problem = f"its token id is not a positive whole number ({_shown(token)})"
    return f"history event {id_}: a {action} event: {problem}" if problem else None


def _settings_event_problem(row: tuple[Any, ...]) -> str | None:
    """A `settings` event names no seat, user, deadline nor event, and says what changed."""
    at, label, _, user, expires_at, id_, show, reason = row[:8]
    problem = _instant_problem("time", at, required=True)
    if not problem and (label != "" or user is not None or expires_at is not None):
        problem = "it names a seat, a user or a deadline"
    if not problem and show is not None:
        problem = f"it names an event ({_shown(show)})"
    if not problem and settings_changed(reason if type(reason) is str else None) is None:
        problem = f"its change of settings is not readable ({_shown(reason)})"
    return f"history event {id_}: a settings event: {problem}" if problem else None


def _is_label(value: Any) -> bool:
    return type(value) is str and LABEL_PATTERN.fullmatch(value) is not None


def _user_problem(what: str, value: Any, required: bool = False) -> str | None:
    if value is None:
        return f"{what} is missing" if required else None
    if type(value) is not str:
        return f"{what} is not text ({_shown(value)})"
    # What `validate.user` lets through: stripped, 1 to 64 printable characters.
    if not value or value != value.strip() or len(value) > MAX_USER_LENGTH:
        return f"{what} is not a valid user name ({_shown(value)})"
    if not value.isprintable():
        return f"{what} is not a valid user name ({_shown(value)})"
    return None


def _instant_problem(what: str, value: Any, required: bool = False) -> str | None:
    if value is None:
        return f"{what} is missing" if required else None
    if type(value) is not int:
        return f"{what} is not an instant ({_shown(value)})"
    # Described by the bound it breaks: a raw epoch number means nothing to a reader.
    if value < 0:
        return f"{what} is out of range (before {format_instant(0)})"
    if value > LATEST_INSTANT:
        return f"{what} is out of range (after {format_instant(LATEST_INSTANT)})"
    return None


def _ttl_problem(stored: Any) -> str | None:
    if stored is None or (_is_digits(stored) and MIN_TTL <= int(stored) <= MAX_TTL):
        return None
    return (
        f"the default lock duration is not a whole number of seconds from {MIN_TTL}"
        f" to {MAX_TTL} ({_shown(stored)})"
    )


def _settings_problem(stored: dict[str, Any]) -> str | None:
    return (
        _ttl_problem(stored.get("default_ttl"))
        or _cap_problem("max-hold", stored.get("max_hold"), MAX_HOLD)
        or _cap_problem("max-seats-per-user", stored.get("max_seats_per_user"), MAX_SEATS)
    )


def _cap_problem(what: str, stored: Any, most: int) -> str | None:
    if stored is None or (_is_digits(stored) and int(stored) <= most):
        return None
    return f"the {what} setting is not a whole number from 0 to {most} ({_shown(stored)})"


def _seeded_problem(stored: Any) -> str | None:
    if stored is None or _is_digits(stored):
        return None
    return f"the history's upgrade mark is not a whole number ({_shown(stored)})"


def _is_digits(value: Any) -> bool:
    return type(value) is str and value.isascii() and value.isdigit() and len(value) <= 18


def _shown(value: Any, limit: int = 40) -> str:
    """A stored value as words or quoted text, never as a Python repr of bytes or numbers."""
    if isinstance(value, bytes):
        return f"{len(value)} bytes of binary data"
    if type(value) is float:
        return "a floating-point number"
    if type(value) is int:
        return "a number"
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    text = value if len(value) <= limit else value[:limit] + "..."
    return repr(text) if text.isprintable() else ascii(text)

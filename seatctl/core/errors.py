"""Typed failures: every refusal or error carries its reason code and its exit code.

The CLI turns these into output in one place; Python callers catch `SeatctlError`.
"""

# No `from __future__ import annotations`: records define faster (seatctl/core/model.py).
from collections.abc import Callable
from enum import IntEnum, StrEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    OK = 0
    USAGE = 2
    NOT_FOUND = 3
    LOCK_REFUSED = 4
    NOT_HOLDER = 5
    DATABASE = 6
    UNREPORTED = 7  # done (a change is committed), but its output could not be written


class Reason(StrEnum):
    USAGE = "usage"
    NOT_FOUND = "not_found"
    BOOKED = "booked"
    LOCKED = "locked"
    BLOCKED = "blocked"
    NOT_HOLDER = "not_holder"
    EXPIRED = "expired"
    NO_DATABASE = "no_database"
    BAD_DATABASE = "bad_database"
    NEWER_SCHEMA = "newer_schema"
    READ_ONLY = "read_only"
    BUSY = "busy"
    # The database could not be reached, or the connection broke before the change committed:
    # nothing was done, retrying is safe.
    UNAVAILABLE = "unavailable"
    # The connection broke during COMMIT: the change may or may not have been made.
    COMMIT_UNKNOWN = "commit_unknown"
    BACKUP_FAILED = "backup_failed"
    INCONSISTENT = "inconsistent"
    # `seatctl serve`: no valid token, or a token acting for another user.
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    TOO_LARGE = "too_large"  # a request body over the server's limit
    TOO_MANY = "too_many"  # serve: more open streams than the server allows (429)
    UNSUPPORTED = "unsupported_media_type"  # serve --no-auth: a change not sent as JSON (415)
    OUTPUT_LOST = "output_lost"
    CLOCK_BEHIND = "clock_behind"
    NOT_ENOUGH = "not_enough"  # lock --best: no N seats to be had (together, unless --split)
    MAX_HOLD = "max_hold"  # a relock would take a hold past the venue's max-hold
    NOT_BOOKED = "not_booked"  # cancel: the seat is not booked
    MAX_SEATS = "max_seats"  # a lock would leave its user over max-seats-per-user in the event


class SeatRefusal(NamedTuple):
    """Why one seat of a command was refused, and what that costs the caller."""

    seat: str
    reason: Reason
    exit_code: ExitCode
    message: str


class SeatctlError(Exception):
    """Any failure a user can cause or meet; `exit_code` is the process exit status."""

    def __init__(
        self,
        reason: Reason,
        message: str,
        exit_code: ExitCode,
        seats: list[SeatRefusal] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.exit_code = exit_code
        self.seats = seats or []


Naming = Callable[[str], str]  # a field's name -> the name a shell gives it


class FieldError(SeatctlError):
    """An error about a value given for a field (`best`, `ttl`, `max_hold`, ...).

    The library names no shell's flags: `message` names the field as it is (`invalid ttl 0:
    ...`, the HTTP API's own words, whose JSON fields have these names), and each shell words
    it its own way with `worded`: the CLI as its options (`invalid --ttl 0: ...`). Most are
    usage errors; a refusal may name a field too (`lock --best`'s hint at `split`)."""

    def __init__(
        self,
        field: str,
        value: object,
        wording: Callable[[Naming], str],
        reason: Reason = Reason.USAGE,
        exit_code: ExitCode = ExitCode.USAGE,
    ) -> None:
        super().__init__(reason, wording(_as_is), exit_code)
        self.field = field
        self.value = value
        self._wording = wording

    def worded(self, name: Naming) -> SeatctlError:
        """The same error, every field it names named by `name`."""
        return SeatctlError(self.reason, self._wording(name), self.exit_code, self.seats)


def _as_is(field: str) -> str:
    return field


class SeatctlWarning(UserWarning):
    """Something worth telling the user about a command that went ahead."""


def usage_error(message: str) -> SeatctlError:
    return SeatctlError(Reason.USAGE, message, ExitCode.USAGE)


def database_error(reason: Reason, message: str) -> SeatctlError:
    return SeatctlError(reason, message, ExitCode.DATABASE)


def refused(refusals: list[SeatRefusal]) -> SeatctlError:
    """One error for a whole command: the lowest exit code wins, the first seat with it names it."""
    lowest = min(refusals, key=lambda r: r.exit_code)
    message = "; ".join(r.message for r in refusals)
    return SeatctlError(lowest.reason, message, lowest.exit_code, list(refusals))


def busy_error(location: str, labels: list[str]) -> SeatctlError:
    """Other writers kept `labels` (or, with none named, the database) past the busy timeout."""
    if not labels:
        return database_error(Reason.BUSY, f"{location} is still busy after waiting; try again")
    seats = f"seat {labels[0]}" if len(labels) == 1 else f"seats {', '.join(labels)}"
    return SeatctlError(
        Reason.BUSY,
        f"{seats} still held by another command after waiting, on {location}; try again",
        ExitCode.DATABASE,
        [
            SeatRefusal(label, Reason.BUSY, ExitCode.DATABASE, f"seat {label} is busy")
            for label in labels
        ],
    )

"""The one source of "now", and the one format for instants.

Instants are whole UTC seconds since the epoch (`int`), so a printed deadline is exact.
`SEATCTL_NOW` overrides the clock for one run; freezegun patches `time.time` for in-process tests.
"""

from __future__ import annotations

import functools
import os
import time

from seatctl.core.errors import usage_error

Instant = int

NOW_ENV = "SEATCTL_NOW"
# 9999-12-30T23:59:59Z: a day before the last instant ISO 8601 can print, so that a deadline
# a maximal TTL later is still printable (and parsable again by --since).
LATEST_INSTANT = 253_402_300_799 - 86_400


def now() -> Instant:
    """The current instant: `SEATCTL_NOW` if set and non-empty, else the system clock."""
    override = clock_override()
    return override if override is not None else int(time.time())


def clock_override() -> Instant | None:
    value = os.environ.get(NOW_ENV, "")
    if not value:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise usage_error(f"{NOW_ENV} {value!r}: {exc}") from None


# Why an instant is refused; the caller names where the text came from (an option, a variable).
OUT_OF_RANGE = "instants run from 1970-01-01T00:00:00Z to 9999-12-30T23:59:59Z"
NOT_AN_INSTANT = (
    "not an ISO 8601 instant (like 2026-01-01T12:00:00Z, 2026-01-01T13:00:00+01:00,"
    " the date 2026-01-01 or @1767268800)"
)
NO_ZONE = "the instant has no time zone (add Z or an offset like +01:00)"


def parse_instant(text: str) -> Instant:
    """Parse an ISO 8601 instant with a zone (`Z`, `z` or an offset), a date (the start of
    that day in UTC), or `@EPOCH` seconds; the ValueError says why not, without the text.

    Fractions of a second are truncated, like the clock itself.
    """
    text = text.strip()
    if text.startswith("@"):
        return _epoch(text[1:])
    if text.endswith("z"):  # RFC 3339 allows the lowercase form
        text = text[:-1] + "Z"
    if _is_date(text):
        text += "T00:00:00Z"
    from datetime import datetime  # only paid when an instant is given as text

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(NOT_AN_INSTANT) from None
    if moment.tzinfo is None:
        raise ValueError(NO_ZONE)
    try:
        instant = int(moment.timestamp() // 1)
    except (OverflowError, ValueError):  # year 1 at a positive offset is before year 1 in UTC
        raise ValueError(OUT_OF_RANGE) from None
    if not 0 <= instant <= LATEST_INSTANT:
        raise ValueError(OUT_OF_RANGE)
    return instant


def _epoch(digits: str) -> Instant:
    negative = digits.startswith("-")
    if not digits.isascii() or not digits.removeprefix("-").isdigit():
        raise ValueError("not a whole number of epoch seconds (like @1767268800)")
    if negative or int(digits) > LATEST_INSTANT:
        raise ValueError(OUT_OF_RANGE)
    return int(digits)


def _is_date(text: str) -> bool:
    """`YYYY-MM-DD` and nothing else (datetime would take it as a local midnight)."""
    return (
        len(text) == 10
        and text[4] == text[7] == "-"
        and text.replace("-", "").isdigit()
        and text.isascii()
    )


# 9999-12-31T23:59:59Z: the last instant ISO 8601's four-digit years can print.
_LAST_PRINTABLE = 253_402_300_799


def format_instant(instant: Instant) -> str:
    """ISO 8601 in UTC. Stored instants are checked on reading, so an instant it cannot print
    is a bug; it still answers in words rather than crash an error report."""
    if type(instant) is not int or not 0 <= instant <= _LAST_PRINTABLE:
        return "(an instant out of range)"
    return _formatted(instant)


@functools.lru_cache(maxsize=1024)
def _formatted(instant: Instant) -> str:
    # Cached: a server formats the same few deadlines (now + a lock's TTL) over and over.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(instant))

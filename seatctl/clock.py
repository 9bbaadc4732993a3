"""The one source of "now", and the one format for instants.

Instants are whole UTC seconds since the epoch (`int`), so a printed deadline is exact.
`SEATCTL_NOW` overrides the clock for one run; freezegun patches `time.time` for in-process tests.
"""

from __future__ import annotations

import os
import time

from seatctl.errors import usage_error

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
        raise usage_error(f"{NOW_ENV}: {exc}") from None


def parse_instant(text: str) -> Instant:
    """Parse an ISO 8601 instant with a zone (`Z` or an offset), or `@EPOCH` seconds.

    Fractions of a second are truncated, like the clock itself.
    """
    text = text.strip()
    if text.startswith("@"):
        digits = text[1:]
        if not digits.isascii() or not digits.isdigit() or int(digits) > LATEST_INSTANT:
            raise ValueError(f"not a whole number of epoch seconds: {text!r}")
        return int(digits)
    from datetime import datetime  # only paid when an instant is given as text

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not an ISO 8601 instant: {text!r} (like 2026-01-01T12:00:00Z or @1767268800)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"instant has no time zone: {text!r} (add Z or an offset like +01:00)")
    instant = int(moment.timestamp() // 1)
    if not 0 <= instant <= LATEST_INSTANT:
        raise ValueError(f"instant out of range: {text!r}")
    return instant


# 9999-12-31T23:59:59Z: the last instant ISO 8601's four-digit years can print.
_LAST_PRINTABLE = 253_402_300_799


def format_instant(instant: Instant) -> str:
    """ISO 8601 in UTC. Stored instants are checked on reading, so an instant it cannot print
    is a bug; it still answers in words rather than crash an error report."""
    if type(instant) is not int or not 0 <= instant <= _LAST_PRINTABLE:
        return "(an instant out of range)"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(instant))

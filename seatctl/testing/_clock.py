"""`seat_clock`: one clock for a test's venue, moved by hand and never backwards.

seatctl reads the time from one function, `seatctl.core.clock.now` (and, on PostgreSQL, the
server's clock, read by `PostgresTransaction._server_now`). A `SeatClock` replaces both in
the test's process, so `Venue` objects already open follow it too; processes started with
`env()` get it as `SEATCTL_NOW`; and `seat_server` reads it from a file the clock rewrites on
every move (see `seatctl.testing._serve`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from seatctl.core import clock

# The default start: a fixed instant, so that a test's output is the same on every run, and
# (until 2030) in the future, so that a change made by a process the test forgot to give the
# clock (SEATCTL_NOW) is refused (exit 6 clock_behind) rather than passing by luck.
DEFAULT_START = "2030-01-01T12:00:00Z"

When = str | int | datetime


def instant_of(when: When, what: str = "instant") -> int:
    """Epoch seconds for ISO 8601 text (as SEATCTL_NOW takes it), epoch seconds, or an aware
    datetime; a ValueError saying what is wrong otherwise."""
    if isinstance(when, bool) or not isinstance(when, str | int | datetime):
        raise TypeError(f"{what}: give ISO 8601 text, epoch seconds or a datetime, not {when!r}")
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{what} {when!r}: {clock.NO_ZONE}")
        when = int(when.timestamp() // 1)
    if isinstance(when, int):
        if not 0 <= when <= clock.LATEST_INSTANT:
            raise ValueError(f"{what} {when}: {clock.OUT_OF_RANGE}")
        return when
    try:
        return clock.parse_instant(when)
    except ValueError as exc:
        raise ValueError(f"{what} {when!r}: {exc}") from None


class SeatClock:
    """The test's clock: `now` (epoch seconds), `iso`, `advance(seconds)`, `set(instant)`,
    and `env()` for the processes a test starts. It only ever moves forwards: a seat's
    history never runs backwards, and seatctl refuses a command more than 5 s behind it."""

    def __init__(self, start: When = DEFAULT_START) -> None:
        self._now = instant_of(start, "seat_clock start")
        self._files: list[Path] = []

    @property
    def now(self) -> int:
        """The clock's instant, in whole seconds since the epoch (UTC)."""
        return self._now

    @property
    def iso(self) -> str:
        """The clock's instant as ISO 8601 text, as SEATCTL_NOW takes it."""
        return clock.format_instant(self._now)

    def advance(self, seconds: int | timedelta) -> int:
        """Move the clock `seconds` ahead (whole seconds; a timedelta too); the new instant.
        A negative step raises ValueError at once, and the clock stays where it is."""
        if isinstance(seconds, timedelta):
            step = seconds.total_seconds()
        elif isinstance(seconds, int | float) and not isinstance(seconds, bool):
            step = float(seconds)
        else:
            raise TypeError(f"seat_clock.advance({seconds!r}): give whole seconds")
        if step < 0:
            raise ValueError(
                f"seat_clock.advance({seconds!r}): the clock never goes backwards"
                f" (it is at {self.iso}; a seat's history never runs back in time)"
            )
        if step != int(step):
            raise ValueError(f"seat_clock.advance({seconds!r}): give whole seconds")
        return self._move_to(self._now + int(step), f"advance({seconds!r})")

    def set(self, when: When) -> int:
        """Move the clock to `when` (ISO 8601 text, epoch seconds or an aware datetime); the
        new instant. An instant before the clock's raises ValueError at once."""
        target = instant_of(when, f"seat_clock.set({when!r})")
        if target < self._now:
            raise ValueError(
                f"seat_clock.set({when!r}): the clock never goes backwards:"
                f" {clock.format_instant(target)} is {self._now - target} s before its"
                f" time {self.iso} (a seat's history never runs back in time)"
            )
        return self._move_to(target, f"set({when!r})")

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (this process's environment if None) with `SEATCTL_NOW` set to the clock's
        instant now: for a `seatctl` process a test starts. A later move of the clock does not
        reach a process already started; `seat_env` is read afresh on every use."""
        env = dict(os.environ if base is None else base)
        env[clock.NOW_ENV] = self.iso
        return env

    def _move_to(self, target: int, how: str) -> int:
        if target > clock.LATEST_INSTANT:
            raise ValueError(f"seat_clock.{how}: {clock.OUT_OF_RANGE}")
        self._now = target
        for path in self._files:
            _write_instant(path, target)
        return target

    def _share(self, path: Path) -> None:
        """Keep `path` holding the clock's instant, for a process that reads it there."""
        _write_instant(path, self._now)
        self._files.append(path)

    def __repr__(self) -> str:
        return f"<SeatClock {self.iso}>"

    def __str__(self) -> str:
        return self.iso


def _write_instant(path: Path, instant: int) -> None:
    # Written beside and renamed over: a reader sees the old instant or the new, never half.
    part = path.with_name(path.name + ".part")
    part.write_text(str(instant), encoding="ascii")
    os.replace(part, path)


def read_instant(path: str) -> int:
    return int(Path(path).read_text(encoding="ascii"))


def install(read: Callable[[], int], postgres: bool, setattr: Callable[..., Any]) -> None:
    """Make `read` seatctl's clock in this process: `setattr(obj, name, value)` is how
    (pytest's monkeypatch undoes it after the test; the server process keeps it).

    On PostgreSQL seatctl asks the server for the time unless SEATCTL_NOW is set, and warns
    that SEATCTL_NOW applies to everyone sharing the database: replacing the server's clock
    for this process instead keeps the Python API quiet, like seatctl's own test suite does.
    """
    setattr(clock, "now", read)
    if postgres:
        from seatctl.storage.postgres import PostgresTransaction

        setattr(PostgresTransaction, "_server_now", lambda self: read())

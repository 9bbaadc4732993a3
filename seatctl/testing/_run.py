"""`seatctl_run` and `seat_env`: `seatctl` commands against the test's venue, at its clock."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess as processes
import sys
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from seatctl.testing._clock import SeatClock

DB_ENV = "SEATCTL_DB"
NOW_ENV = "SEATCTL_NOW"
RUN_TIMEOUT = 120.0  # seconds; an upper bound for a loaded CI machine, not a pace


class RunResult(NamedTuple):
    """What a `seatctl` command did: unpack it as `code, out, err = seatctl_run(...)`."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        """The JSON the command printed (`--json`): its stdout, or, for a command that failed
        and printed nothing there, its JSON error from stderr."""
        import json

        on_stdout = bool(self.stdout.strip()) or self.exit_code == 0
        try:
            return json.loads(self.stdout if on_stdout else self.stderr)
        except ValueError:
            where = "stdout" if on_stdout else "stderr"
            raise AssertionError(
                f"seatctl printed no JSON on {where} (was --json given?):"
                f" exit {self.exit_code}, stdout {self.stdout!r}, stderr {self.stderr!r}"
            ) from None

    @property
    def json_lines(self) -> list[Any]:
        """Each line of stdout as JSON: `batch`'s results, one per line."""
        import json

        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def clean_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (this process's environment if None) without seatctl's variables, so that a
    developer's SEATCTL_USER or SEATCTL_EVENT never changes what a test does."""
    source = os.environ if base is None else base
    return {k: v for k, v in source.items() if not k.startswith("SEATCTL_")}


class SeatEnv(Mapping[str, str]):
    """An environment for a `seatctl` process: this process's, without its SEATCTL_*
    variables, with `SEATCTL_DB` (the test's venue) and `SEATCTL_NOW` (the test's clock, read
    whenever the mapping is read, so that `subprocess.run(..., env=seat_env)` after
    `seat_clock.advance(61)` runs at the new time). `dict(seat_env)` takes a snapshot."""

    def __init__(self, db: str, seat_clock: SeatClock) -> None:
        self._db = db
        self._clock = seat_clock

    def _current(self) -> dict[str, str]:
        env = clean_environ()
        env[DB_ENV] = self._db
        env[NOW_ENV] = self._clock.iso
        return env

    def __getitem__(self, key: str) -> str:
        return self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"<SeatEnv SEATCTL_DB={self._db!r} SEATCTL_NOW={self._clock.iso}>"


class Runner:
    """`seatctl_run(*args, subprocess=False, input=None, env=None)`: the `seatctl` command
    `args` against the test's venue at the test's clock.

    In this process by default (seatctl's CLI entry function, as the console script calls
    it): fast, and the clock is the test's. With `subprocess=True`, as a real process
    (`python -m seatctl`), the way code under test starts it. Either way the command sees
    SEATCTL_DB and SEATCTL_NOW and none of the test process's other SEATCTL_* variables;
    `env` adds variables (SEATCTL_USER=...), `input` is its stdin. Commands that run until
    stopped (`serve`, `watch`) are for `seat_server` or a process of the test's own.
    """

    def __init__(self, db: str, seat_clock: SeatClock) -> None:
        self._env = SeatEnv(db, seat_clock)

    def __call__(
        self,
        *args: str,
        subprocess: bool = False,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunResult:
        words = [str(arg) for arg in args]
        full_env = {**self._env, **(env or {})}
        if subprocess:
            done = processes.run(
                [sys.executable, "-m", "seatctl", *words],
                input=input if input is not None else "",
                capture_output=True,
                text=True,
                env=full_env,
                timeout=RUN_TIMEOUT,
            )
            return RunResult(done.returncode, done.stdout, done.stderr)
        return _in_process(words, full_env, input or "")

    def __repr__(self) -> str:
        return f"<seatctl_run {self._env!r}>"


def _in_process(args: list[str], env: dict[str, str], stdin: str) -> RunResult:
    from seatctl.cli import main

    out, err = _stream(""), _stream("")
    with _environ(env), _standard_streams(_stream(stdin), out, err):
        code = main(args)
    return RunResult(int(code), _text(out), _text(err))


def _stream(text: str) -> io.TextIOWrapper:
    # A text stream over bytes, like a real one: `batch` reads stdin's `buffer`.
    return io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8", "replace")


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """The process environment as `env` for the command's run (seatctl reads SEATCTL_* from
    os.environ), then as it was."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _standard_streams(
    stdin: io.TextIOWrapper, stdout: io.TextIOWrapper, stderr: io.TextIOWrapper
) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved

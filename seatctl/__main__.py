"""The `seatctl` console script and `python -m seatctl`: Ctrl-C is exit 130 from the first line.

This module imports nothing but the standard library's start-up modules until it has taken
over Ctrl-C: importing the CLI (Typer and the rest) takes most of a short run, and a Ctrl-C
during it must not print a traceback either.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False  # `typing` is not loaded yet at this point: mypy alone reads these
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

INTERRUPTED = 130  # 128 + SIGINT, as shells report a process stopped by Ctrl-C


def run() -> None:
    """Run the CLI and exit with its code, skipping interpreter teardown.

    Tearing down Typer's many modules costs a short-lived process several milliseconds, paid
    by every call from a shell loop; everything that matters (output, the database
    connection) is flushed and closed before this point, and no atexit work is registered.
    """
    code = INTERRUPTED
    try:
        _take_ctrl_c()
        _fill_closed_standard_streams()
        from seatctl import _deferred

        _deferred.defer()  # this process is the command's own: before Typer is imported
        from seatctl.cli import main

        code = main()
        _flush(sys.stdout)
        _flush(sys.stderr)
        # From here on it is too late to interrupt: the code is decided. (A Ctrl-C already
        # pending is raised by this call, inside the `try`.)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        code = INTERRUPTED  # transactions were rolled back as the exception unwound them
    except BaseException as exc:
        # Python wraps an exception raised while setting up a class body (which Ctrl-C may
        # land in, during an import) in a RuntimeError.
        if not _caused_by_ctrl_c(exc):
            raise
        code = INTERRUPTED
    os._exit(code)


def _caused_by_ctrl_c(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 100:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _take_ctrl_c() -> None:
    """Ctrl-C raises KeyboardInterrupt once, then is ignored while the run unwinds (rolling
    back its transaction); a process started with Ctrl-C ignored (`cmd &`) keeps ignoring it."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)
        sys.unraisablehook = _passing_on(sys.unraisablehook)


def _interrupted(signum: int, frame: object) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _passing_on(default: Callable[[Any], object]) -> Callable[[Any], None]:
    """A Ctrl-C that lands in a finaliser or a callback (the import system has some) cannot
    propagate: Python would print it as "Exception ignored" and carry on. Raise it again
    instead, at the next Python call the run makes."""

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            default(unraisable)
            return
        # Not as a pending signal: Python would handle that right here, inside this hook,
        # as the call that set it returns, and print the hook's own failure instead.
        sys.settrace(_raise_ctrl_c)

    return hook


def _raise_ctrl_c(frame: object, event: str, arg: object) -> None:
    """A trace function for one call: raises the Ctrl-C in the next frame that starts."""
    sys.settrace(None)
    raise KeyboardInterrupt


def _fill_closed_standard_streams() -> None:
    """Put /dev/null on a closed stdin, stdout or stderr (`seatctl seats >&-`), so that no file
    or socket seatctl opens can take its number and receive what was meant for the terminal.
    Python has already set `sys.stdout` (or the others) to None; that is how seatctl knows."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free number: `fd`
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)


def _flush(stream: object) -> None:
    """Flush what is left; the CLI has already reported an output it could not write."""
    import contextlib  # loaded by the CLI long before this point

    with contextlib.suppress(OSError, ValueError, AttributeError):
        stream.flush()  # type: ignore[attr-defined]


if __name__ == "__main__":
    run()

"""stdout and stderr for one CLI run: an output that cannot be written is news, not a crash.

stdout may be closed (`seatctl seats >&-`), full (`> /dev/full`) or a pipe whose reader left
(`| head`). Every write to it goes through `ReportStream`, which turns the failure into
`OutputLost` for `seatctl.cli.main` to report: a change is committed before its report is
written, so "done, but unreported" must be told apart from "not done". stderr gets
`ErrorStream`: an error message that cannot be written is dropped, and the exit code still
says what happened (`seatctl lock 9 --user a 2>&-` exits 3).
"""

from __future__ import annotations

import errno
from typing import Any, TextIO


class OutputLost(Exception):
    """stdout refused what a command printed; `why` says how, in words."""

    def __init__(self, why: str, reader_left: bool) -> None:
        super().__init__(why)
        self.why = why
        self.reader_left = reader_left  # a pipe's reader went away (`seatctl seats | head`)


class ReportStream:
    """A command's stdout (or None, if it was closed when the process started)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._target().write(text)
        except (OSError, ValueError) as exc:
            raise _lost(exc) from exc

    def flush(self) -> None:
        try:
            self._target().flush()
        except (OSError, ValueError) as exc:
            raise _lost(exc) from exc

    def isatty(self) -> bool:
        try:
            return self._target().isatty()
        except (OSError, ValueError, OutputLost):
            return False

    def _target(self) -> TextIO:
        if self._stream is None:
            raise OutputLost("stdout is closed", reader_left=False)
        return self._stream

    def __getattr__(self, name: str) -> Any:  # encoding, errors, fileno... for click's echo
        return getattr(self._stream, name)


class ErrorStream:
    """A command's stderr, which never raises: there is nowhere left to report its failure."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text) if self._stream is not None else len(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        try:
            if self._stream is not None:
                self._stream.flush()
        except (OSError, ValueError):
            pass

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _lost(exc: OSError | ValueError) -> OutputLost:
    if isinstance(exc, UnicodeEncodeError):  # e.g. PYTHONIOENCODING=ascii:strict
        return OutputLost(f"stdout's encoding, {exc.encoding}, cannot show it", reader_left=False)
    if isinstance(exc, ValueError):  # "I/O operation on closed file"
        return OutputLost("stdout is closed", reader_left=False)
    reader_left = exc.errno == errno.EPIPE
    return OutputLost((exc.strerror or str(exc)).lower(), reader_left)

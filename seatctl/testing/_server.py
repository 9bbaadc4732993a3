"""`seat_server`: `seatctl serve` for the test's venue, on a free port, at the test's clock."""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from seatctl.testing._clock import SeatClock
from seatctl.testing._run import clean_environ

if TYPE_CHECKING:
    from seatctl.venue import Venue

# What `seatctl serve` prints on stderr once it accepts connections.
_READY = re.compile(r"serving .+ on (http://127\.0\.0\.1:(\d+)) \(auth: \w+\)")
START_TIMEOUT = 60.0  # seconds: a loaded CI machine starts Python slowly; an upper bound only
STOP_TIMEOUT = 30.0


class SeatServer:
    """A running `seatctl serve` for a venue: `url` (http://127.0.0.1:PORT), `port`,
    `token(user)` for a new API token, and `log` (what the server printed on stderr).

    The server is the real `serve` command in its own process, whose clock is the test's:
    it reads the instant from a file that `seat_clock` rewrites whenever it moves (see
    `seatctl.testing._serve`), so `seat_clock.advance(61)` reaches it at once.
    """

    def __init__(self, venue: Venue, db: str, seat_clock: SeatClock, workdir: Path) -> None:
        self._venue = venue
        clock_file = workdir / "seat_clock"
        seat_clock._share(clock_file)
        self._lines: queue.Queue[str] = queue.Queue()
        self._log: list[str] = []
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "seatctl.testing._serve",
                str(clock_file),
                db,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_environ(),
        )
        threading.Thread(target=self._drain, name="seat_server stderr", daemon=True).start()
        try:
            self.url, self.port = self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._log.append(line)
            self._lines.put(line)
        self._lines.put("")  # the end: the server has exited

    def _wait_until_ready(self) -> tuple[str, int]:
        while True:
            try:
                line = self._lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                raise RuntimeError(
                    f"seat_server: seatctl serve did not start within {START_TIMEOUT:.0f} s:"
                    f" {self.log!r}"
                ) from None
            if not line:
                code = self._proc.wait()
                raise RuntimeError(
                    f"seat_server: seatctl serve stopped (exit {code}): {self.log.strip()}"
                )
            ready = _READY.search(line)
            if ready:
                return ready.group(1), int(ready.group(2))

    @property
    def log(self) -> str:
        """What the server has printed on stderr so far."""
        return "".join(self._log)

    def token(self, user: str, expires_in: int | None = None, role: str = "buyer") -> str:
        """A new API token for `user` (made now, at the test's clock), for
        `Authorization: Bearer <token>`; `role="staff"` for the box office's."""
        token, _ = self._venue.add_token(user, expires_in, role)
        return token

    def stop(self) -> int:
        """Stop the server as an operator would (SIGTERM), and its exit code."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        try:
            code = self._proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        if self._proc.stderr is not None:
            with contextlib.suppress(OSError):
                self._proc.stderr.close()
        return code

    def __repr__(self) -> str:
        return f"<SeatServer {getattr(self, 'url', '(starting)')}>"

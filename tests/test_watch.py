"""`seatctl watch` as a real process, on both backends: what it prints first, one line (or one
JSON object) per change by any process, expiries, and how it ends."""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
from datetime import datetime

import pytest

from forking import start_seatctl
from helpers import run_process

# The backend's part: changes reach `watch` through each backend's notifications.
pytestmark = pytest.mark.backend

START_TIMEOUT = 60.0  # a loaded machine starts Python slowly: an upper bound only
OTHER_PROCESS_BOUND = 0.5


class Watch:
    """`seatctl --db DB watch ...` running; its stdout lines queue up as they come."""

    def __init__(self, db: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
        self.proc = start_seatctl(["--db", db, "watch", *args], env)  # SIGINT at its default
        self.lines: queue.Queue[tuple[str, float]] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((line, time.time()))

    def line(self, timeout: float = 30.0) -> tuple[str, float]:
        return self.lines.get(timeout=timeout)

    def started(self) -> str:
        """Its first stderr line: it says so once it is watching."""
        assert self.proc.stderr is not None
        return self.proc.stderr.readline()

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)


def test_watch_says_what_it_watches_on_stderr_first(venue_db):
    with Watch(venue_db) as watch:
        first = watch.started()
        assert first.startswith("watching event default of ")
        assert "5 seats (5 available, 0 locked, 0 booked, 0 blocked); Ctrl-C to stop" in first
        assert watch.stop() == (0, "")


@pytest.mark.alone  # timed: nothing else may load the machine
def test_watch_prints_a_change_by_another_process_within_half_a_second(venue_db):
    with Watch(venue_db) as watch:
        watch.started()
        assert run_process("--db", venue_db, "lock", "2", "--user", "ann").code == 0
        committed = time.time()
        line, arrived = watch.line(timeout=OTHER_PROCESS_BOUND + 10)
    assert line.split()[1:] == ["seat", "2", "locked", "by", "ann", "until", line.split()[-1]]
    assert arrived - committed <= OTHER_PROCESS_BOUND


def test_watch_json_starts_with_a_snapshot_then_one_object_per_change(venue_db):
    with Watch(venue_db, "--json") as watch:
        snapshot = json.loads(watch.line()[0])
        assert snapshot["type"] == "snapshot" and len(snapshot["seats"]) == 5
        run_process("--db", venue_db, "lock", "3", "--user", "ann", "--ttl", "1")
        locked = json.loads(watch.line()[0])
        expired, arrived = watch.line(timeout=10)
    assert (locked["type"], locked["seat"]["seat"], locked["seat"]["status"]) == (
        "seat",
        "3",
        "locked",
    )
    expired = json.loads(expired)
    assert (expired["type"], expired["seat"]["status"]) == ("expire", "available")
    deadline = datetime.fromisoformat(locked["seat"]["expires_at"]).timestamp()
    assert deadline <= arrived <= deadline + 1.0


def test_watch_says_why_a_seat_became_available(venue_db):
    with Watch(venue_db) as watch:
        watch.started()
        for args in (("lock", "2", "--user", "ann"), ("release", "2", "--user", "ann")):
            assert run_process("--db", venue_db, *args).code == 0
        for args in (("block", "3"), ("unblock", "3")):
            assert run_process("--db", venue_db, *args).code == 0
        lines = [watch.line()[0].split(maxsplit=1)[1] for _ in range(4)]
    assert lines[1] == "seat 2  available (released)\n"
    assert lines[3] == "seat 3  available (unblocked)\n"


def test_watch_ends_with_exit_0_on_sigterm(venue_db):
    with Watch(venue_db) as watch:
        watch.started()
        assert watch.stop(signal.SIGTERM) == (0, "")


def test_watch_of_an_unknown_event_exits_3(venue_db):
    done = run_process("--db", venue_db, "watch", "--event", "gala")
    assert done.code == 3
    assert done.err == "error: event gala does not exist (see 'seatctl event list')\n"


@pytest.mark.sqlite_only
def test_watch_without_a_database_exits_6(tmp_path):
    done = run_process("--db", str(tmp_path / "none.db"), "watch")
    assert done.code == 6 and "run 'seatctl init' first" in done.err

"""What PostgreSQL's on-sale waits for, sampled from the database while the sale runs.

Every `SAMPLE_SECONDS` a thread asks `pg_locks` and `pg_stat_activity`, on a connection of
its own, how many sessions wait for each of seatctl's transaction locks (an event's pick lock,
a user's lock, the history's commit-order lock), and in what state the session holding an
event's pick lock is: `active` (the database works for it) or `idle in transaction` (it waits
for its server process's next statement, a round trip). Over the same time, /proc/stat gives
the share of the machine's CPUs that were busy.

Together they say what limits the picks of one event: if its lock is held in nearly every
sample while other picks queue on it, picks run one at a time whatever the number of servers,
and a second server (or host) can only add queueing; if the CPUs are busy too, this machine
has no room left for it either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_SECONDS = 0.02
LOCK_CLASS = 0x5EA7  # seatctl's advisory lock classes (seatctl.storage.postgres.transaction)
EVENT, USER, HISTORY = LOCK_CLASS + 1, LOCK_CLASS + 2, LOCK_CLASS + 3

_SAMPLE = """
SELECT l.classid::int, l.granted, a.state, coalesce(a.wait_event, 'working')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid::int BETWEEN %s AND %s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@dataclass
class Waits:
    samples: int = 0
    event_held: int = 0  # samples in which a session held an event's pick lock
    holder_idle: int = 0  # ... and it was idle in transaction (waiting for its server)
    waiting: dict[int, int] = field(default_factory=dict)  # lock class -> waiting, summed
    holder_busy: dict[str, int] = field(default_factory=dict)  # an active holder's wait event
    cpu_busy: float = 0.0  # the machine's CPUs' busy share over the sale

    def mean_waiting(self, lock_class: int) -> float:
        return self.waiting.get(lock_class, 0) / self.samples if self.samples else 0.0

    def _busy(self) -> str:
        """What an active holder of an event's lock did: `working`, or its wait event
        (WALSync: flushing the commit to disk), by share of the samples it held the lock."""
        busy = sorted(self.holder_busy.items(), key=lambda kv: -kv[1])[:3]
        return ", ".join(f"{event} {n / self.event_held:.0%}" for event, n in busy)

    def line(self) -> str:
        held = self.event_held / self.samples if self.samples else 0.0
        idle = self.holder_idle / self.event_held if self.event_held else 0.0
        return (
            f"  waits ({self.samples} samples): an event's pick lock held in {held:.0%},"
            f" its holder idle in transaction in {idle:.0%} of those, else {self._busy()};"
            f" sessions waiting on average: event {self.mean_waiting(EVENT):.1f},"
            f" user {self.mean_waiting(USER):.1f}, history {self.mean_waiting(HISTORY):.1f};"
            f" machine CPUs busy {self.cpu_busy:.0%}"
        )


@contextmanager
def sampling(url: str) -> Iterator[Waits]:
    """Sample the database at `url` until the block ends; the figures are filled in then."""
    import psycopg

    waits = Waits()
    stop = threading.Event()
    conn = psycopg.connect(url, autocommit=True)

    def sample() -> None:
        while not stop.wait(SAMPLE_SECONDS):
            rows = conn.execute(_SAMPLE, (LOCK_CLASS, HISTORY)).fetchall()
            waits.samples += 1
            holders = [
                (state, event) for cls, granted, state, event in rows if cls == EVENT and granted
            ]
            waits.event_held += bool(holders)
            for state, event in holders[:1]:
                if state == "idle in transaction":
                    waits.holder_idle += 1
                else:
                    waits.holder_busy[event] = waits.holder_busy.get(event, 0) + 1
            for cls, granted, _, _ in rows:
                if not granted:
                    waits.waiting[cls] = waits.waiting.get(cls, 0) + 1

    busy_before = _cpu_times()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield waits
    finally:
        stop.set()
        thread.join()
        conn.close()
        busy_after = _cpu_times()
        total = busy_after[1] - busy_before[1]
        waits.cpu_busy = (busy_after[0] - busy_before[0]) / total if total else 0.0


def _cpu_times() -> tuple[int, int]:
    """The machine's busy and total CPU ticks so far (/proc/stat; zeros where there is none)."""
    try:
        line = Path("/proc/stat").read_text().split("\n", 1)[0]
        fields = [int(f) for f in line.split()[1:9]]  # guest time is counted in user time
    except OSError:
        return 0, 0
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


if __name__ == "__main__":  # a quick look at a running sale: python pg_waits.py URL SECONDS
    import sys

    with sampling(sys.argv[1]) as found:
        time.sleep(float(sys.argv[2]))
    print(found.line())

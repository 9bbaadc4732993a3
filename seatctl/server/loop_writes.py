"""SQLite writes of a one-process server: their work on the event loop, their COMMIT in a thread.

A writer thread that runs a group's statements shares the GIL with the event loop: each
statement gives it up while SQLite works and must win it back, often only after the loop's
current batch of callbacks. Here the loop runs a group itself, as a writer thread would, with
no thread switch in between (docs/performance.md has the measurements):

- the writes that arrive together wait in `pending`; the loop begins one transaction, waiting
  at most `BEGIN_WAIT` seconds for SQLite's write lock, and runs each write in its own
  savepoint, all or nothing on its own, as `_Lane._commit_group` does;
- a thread of its own commits the group, so the disk's flush never stalls the loop, and the
  group's answers follow the COMMIT: no 2xx precedes the commit that makes it true. Writes
  that arrive meanwhile form the next group;
- a group that finds the write lock held (a command writing, a `backup`) is handed, untouched,
  to the writer thread, which waits for the lock with each write's time left: the loop never
  waits for another process.

The connection is used by the loop and the commit thread in turn, never by both at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from seatctl.server.jobs import (
    MAX_GROUP,
    Answer,
    Claims,
    Job,
    Outcome,
    attempt_all,
    broken,
    lost,
    settle_all,
    take,
    waited,
)
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")
BEGIN_WAIT = 0.001  # seconds the loop waits for the write lock before handing a group over


class LoopWrites:
    """The writes of one worker whose requests all run on one event loop."""

    def __init__(self, db: str, claims: Claims, hand_over: Callable[[Job], None]) -> None:
        self._db = db
        self._claims = claims
        self._hand_over = hand_over  # to the writer thread, still queued
        self._pending: list[Job] = []
        self._committing = False  # a group is with the commit thread
        self._venue: Venue | None = None
        self._commits: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="seatctl-commit", daemon=True)

    def start(self) -> None:
        """Open the database (its errors are raised here) and start the commit thread."""
        self._venue = Venue.open(self._db, any_thread=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit the group in hand, if any, then stop the thread and close the database."""
        if self._thread.is_alive():
            self._commits.put(None)
            self._thread.join()
        if self._venue is not None:
            self._venue.close()
            self._venue = None

    def submit(self, job: Job) -> None:
        """On the job's event loop."""
        self._pending.append(job)
        if len(self._pending) == 1 and not self._committing:
            job.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """On the loop: begin a group with the pending writes, run them, have it committed."""
        if self._committing or not self._pending:
            return
        batch, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
        if self._pending:  # more than a group's worth waited: the rest after this group
            asyncio.get_running_loop().call_soon(self._flush)
        live, late = take(batch, self._claims)
        settle_all(late)
        if not live:
            return
        venue = self._open()
        if venue is None:
            return self._hand_all_over(live)
        venue.within(min(job.deadline for job in live), BEGIN_WAIT)
        group = venue.grouped()
        try:
            group.__enter__()
        except Exception as exc:  # BEGIN failed (or a bug): none of them ran
            if waited(exc):  # the write lock is held: the writer thread waits for it
                return self._hand_all_over(live)
            return self._answer([(job, None, exc) for job in live], broken(exc))
        outcomes = attempt_all(live, venue)
        self._committing = True
        self._commits.put(_Group(group, live, outcomes, asyncio.get_running_loop()))

    def _open(self) -> Venue | None:
        if self._venue is None:
            try:
                self._venue = Venue.open(self._db, any_thread=True)
            except Exception as exc:  # still unreachable: the writer thread tries in turn
                log.error("opening the database for writes: %s", exc)
        return self._venue

    def _hand_all_over(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._hand_over(job)

    def _main(self) -> None:
        """The commit thread."""
        while (group := self._commits.get()) is not None:
            answers = group.commit()
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
                group.loop.call_soon_threadsafe(self._committed, answers)

    def _committed(self, answers: list[Answer]) -> None:
        """On the loop, after a group's COMMIT (or its failure)."""
        self._committing = False
        self._answer(answers, any(broken(error) for _, _, error in answers))
        self._flush()

    def _answer(self, answers: list[Answer], link_broken: bool) -> None:
        settle_all(answers)
        if link_broken and self._venue is not None:  # a new connection for the next group
            with contextlib.suppress(Exception):
                self._venue.close()
            self._venue = None


class _Group:
    """A group whose writes have run, for the commit thread: COMMIT, or ROLLBACK if one of
    them found the transaction gone."""

    def __init__(
        self,
        transaction: AbstractContextManager[None],
        jobs: list[Job],
        outcomes: list[Outcome],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.transaction = transaction
        self.jobs = jobs
        self.outcomes = outcomes
        self.loop = loop

    def commit(self) -> list[Answer]:
        failed = next((error for _, error in self.outcomes if lost(error)), None)
        try:
            if failed is not None:
                self.transaction.__exit__(type(failed), failed, failed.__traceback__)
                raise failed
            self.transaction.__exit__(None, None, None)
        except BaseException as exc:  # COMMIT failed, or the group was lost: none happened
            return [(job, None, exc) for job in self.jobs]
        return [(job, *outcome) for job, outcome in zip(self.jobs, self.outcomes, strict=False)]

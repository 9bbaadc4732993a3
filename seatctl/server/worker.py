"""The threads that talk to the database, group commit, and each request's one deadline.

Every request's database work runs in a thread of its own kind, as a function of the `Venue`,
on that thread's own connection:

- readers (`READERS`) answer reads one at a time, beside the writers: a read never queues
  behind a write (SQLite's WAL lets it read while another connection writes);
- writers (`WRITERS`) take the writes that arrive together and run them in one transaction,
  each in its own savepoint so that each stays all or nothing, and answer them only after that
  transaction's COMMIT: a durable write costs one disk flush per group, not per request, and no
  2xx reply precedes the commit that makes it true. On SQLite, a server of one process runs
  its groups on the event loop instead and commits them in a thread of their own
  (`seatctl.server.loop_writes`); its writer thread takes the groups that find the write lock
  held;
- on PostgreSQL, where writers on different seats need not wait for each other, a write in a
  group waits at most `GROUP_WAIT_SECONDS` for any lock (another command's row, say); one that
  would wait longer is taken out of the group, untouched, and retried alone by a waiter
  (`WAITERS`), with what is left of its time. So one request stuck behind a held row delays
  the others of its group by milliseconds, not by its whole wait. A pick (below) that is its
  group's first write is the exception: it holds nothing yet, and its event's lock is a queue
  it would only rejoin, so it waits for that lock with most of its time
  (`PostgresStore.group`);
- on PostgreSQL, best-seats picks (`lock --best`) have a writer of their own. The picks of
  an event queue on one lock held to COMMIT: spread over both writers, each would wait for
  the other's group, leave its own and commit alone; in one writer's groups, the picks after
  the first take the lock their transaction already holds, and commit together.

Each request has one deadline (`budget` seconds from its arrival: `serve --request-timeout`,
by default `BUDGET_SECONDS`) for everything it waits for:
a free thread, a connection, locks, statements (the store passes the time left to the
database as lock_timeout and statement_timeout). Past it, a request that has not started is
answered 503 `busy` and never runs; a read is answered so even if it has; a write that has
started is answered with its outcome, which the database's own timeouts bring within the
deadline, because a write may never be answered 503 while it might still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import queue
import sys
import threading
import time
from concurrent.futures import Future
from typing import Any

from seatctl.core.errors import Reason, SeatctlError, database_error
from seatctl.core.validate import is_postgres_url
from seatctl.server.jobs import (
    ABANDONED,
    MAX_GROUP,
    QUEUED,
    TAKEN,
    Answer,
    Job,
    Work,
    attempt,
    attempt_all,
    broken,
    lost,
    settle_all,
    take,
    waited,
)
from seatctl.server.loop_writes import LoopWrites
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")
# A request's whole time by default, as a command's busy timeout (docs/http-api.md).
BUDGET_SECONDS = 10.0
GROUP_WAIT_SECONDS = 0.02  # the longest a write in a group waits for any one lock
READERS = 2
# On PostgreSQL; SQLite has one writer at a time, so one thread. Few: a write that waits for a
# lock leaves its group for a waiter, and every connection is one more to make again after
# an outage (each costs the server a process start).
WRITERS = 2
WAITERS = 8  # on PostgreSQL: writes that wait for locks, each alone on its connection
READY_SECONDS = 1.0  # the readiness check's limit


class Worker:
    def __init__(self, db: str, budget: float = BUDGET_SECONDS, alone: bool = True) -> None:
        """`alone`: the only process of its server (on SQLite its writes then run on the
        event loop, `seatctl.server.loop_writes`)."""
        self.db = db  # as given: others open their own connections to it
        self.budget = budget  # seconds: each request's one deadline, from its arrival
        self.location = db
        self._postgres = is_postgres_url(db)
        self._claims = threading.Lock()  # guards every Job.state
        self._reads: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._writes: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._waits: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._picks: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        writers = WRITERS if self._postgres else 1
        self._lanes = [_Lane(self, "read", self._reads) for _ in range(READERS)]
        self._lanes += [_Lane(self, "write", self._writes) for _ in range(writers)]
        if self._postgres:
            self._lanes += [_Lane(self, "wait", self._waits, eager=False) for _ in range(WAITERS)]
            self._lanes.append(_Lane(self, "pick", self._picks))  # see the module's docstring
        # Bumped when a thread finds its connection broken (a restarted server, terminated
        # backends): the others reconnect before their next request instead of each failing one.
        self.epoch = 0
        self._probe = _Probe(db)
        self._loop_writes: LoopWrites | None = None
        if alone and not self._postgres:
            self._loop_writes = LoopWrites(db, self, self._to_writer)

    def start(self) -> None:
        """Open the database in the threads; raise its error here if that fails."""
        _share_malloc_arenas()
        for lane in self._lanes:
            lane.start()
        for lane in self._lanes:
            location = lane.ready.result()
            if lane.eager:
                self.location = location
        if self._loop_writes is not None:
            self._loop_writes.start()
        self._probe.start()

    def stop(self) -> None:
        """Finish what is queued, then stop every thread."""
        if self._loop_writes is not None:
            self._loop_writes.stop()
        for lane in self._lanes:
            lane.jobs.put(None)
        for lane in self._lanes:
            lane.join()
        self._probe.stop()

    async def ready(self) -> bool:
        """Whether the database answers a query within READY_SECONDS, asked on a connection
        of its own (never queued behind requests)."""
        try:
            async with asyncio.timeout(READY_SECONDS):
                return await asyncio.shield(asyncio.wrap_future(self._probe.check()))
        except TimeoutError:
            return False

    async def read(self, work: Work) -> Any:
        return await self._submit(work, write=False)

    async def write(self, work: Work, pick: bool = False) -> Any:
        """`pick`: the work picks the best seats of an event (`Venue.lock_best`)."""
        return await self._submit(work, write=True, pick=pick)

    async def _submit(self, work: Work, write: bool, pick: bool = False) -> Any:
        loop = asyncio.get_running_loop()
        job = Job(work, write, loop.create_future(), loop, time.monotonic() + self.budget)
        if pick and self._postgres:
            self._picks.put(job)
        elif write and self._loop_writes is not None:
            self._loop_writes.submit(job)
        else:
            (self._writes if write else self._reads).put(job)
        # A timer of the loop's own, not asyncio.timeout and shield: those cost a task
        # cancellation's bookkeeping and one more turn of the loop on every request.
        timer = loop.call_at(loop.time() + self.budget, self._expire, job)
        try:
            return await job.done
        finally:
            timer.cancel()

    def _expire(self, job: Job) -> None:
        """On the event loop, at a request's deadline: answer it 503 unless it is a write
        that has started; that one's outcome, whatever it is, is the answer (the database's
        own timeouts, given the time left at BEGIN, end its waits)."""
        if job.done.done() or (job.write and not self.claim(job, ABANDONED)):
            return
        job.done.set_exception(self.out_of_time())

    def out_of_time(self) -> SeatctlError:
        """A request's answer past its deadline. Its message names the database, for the log;
        the answer itself does not (`seatctl.server.answers`)."""
        return database_error(
            Reason.BUSY, f"{self.location} did not answer within {self.budget:g} s; try again"
        )

    def claim(self, job: Job, state: str) -> bool:
        """Move a queued job to `state` (TAKEN by a thread, ABANDONED by its request); False
        if it was no longer queued."""
        with self._claims:
            if job.state != QUEUED:
                return False
            job.state = state
            return True

    def _to_writer(self, job: Job) -> None:
        """A write the loop did not run (the write lock was held): the writer thread runs it."""
        with self._claims:
            job.state = QUEUED
        self._writes.put(job)

    def requeue_to_wait(self, job: Job) -> None:
        """A write that met a held lock in a group, undone: a waiter retries it alone."""
        with self._claims:
            job.state = QUEUED
        self._waits.put(job)

    def link_broken(self, opened_in: int) -> None:
        """A thread found its connection, opened in epoch `opened_in`, broken. Only the first
        such news since then counts: a connection opened after it is likely sound."""
        with self._claims:
            if opened_in == self.epoch:
                self.epoch += 1


class _Probe:
    """The readiness check's own thread and connection: one query at a time, shared by every
    check that comes while it runs (a frozen database then holds up one thread, not many)."""

    def __init__(self, db: str) -> None:
        self._db = db
        self._asks: queue.SimpleQueue[Future[bool] | None] = queue.SimpleQueue()
        self._pending: Future[bool] | None = None
        self._asked_at = 0.0  # when `_pending` was asked
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._main, name="seatctl-ready", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._asks.put(None)  # a thread stuck connecting to a frozen database is not waited for

    def check(self) -> Future[bool]:
        with self._lock:
            # A check still running from over a second ago began in another state of the
            # database (an outage since ended, say): its answer is not this one's.
            stale = time.monotonic() - self._asked_at > READY_SECONDS
            if self._pending is None or self._pending.done() or stale:
                self._pending = Future()
                self._asked_at = time.monotonic()
                self._asks.put(self._pending)
            return self._pending

    def _main(self) -> None:
        venue: Venue | None = None
        while (asked := self._asks.get()) is not None:
            deadline = time.monotonic() + READY_SECONDS
            # A connection kept from an earlier check may have died since (a restart): one
            # failure on it earns one more try on a new connection, within the same second.
            for fresh in (venue is None, True):
                try:
                    if venue is None:
                        venue = Venue.open(self._db)
                    venue.within(deadline)
                    venue.settings()
                    asked.set_result(True)
                    break
                except Exception as exc:
                    if venue is not None:
                        with contextlib.suppress(Exception):
                            venue.close()
                        venue = None
                    if fresh or time.monotonic() >= deadline:
                        log.error("readiness check: the database did not answer: %s", _why(exc))
                        asked.set_result(False)
                        break
        if venue is not None:
            with contextlib.suppress(Exception):
                venue.close()


# glibc's malloc gives each thread that allocates an arena of its own, up to 8 per CPU, and
# an arena keeps what it once held. A worker's dozen database threads each read rows into
# theirs (a pick reads the whole hall once), so on PostgreSQL's on-sale a worker's RSS grew
# 1.36x over the sale against 1.23x with two arenas, at the same hold rate
# (docs/performance.md). The GIL serialises most of their allocations anyway.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h


def _share_malloc_arenas() -> None:
    """Cap this process's malloc arenas at `MALLOC_ARENAS` for the threads it starts from
    now on, unless the operator set MALLOC_ARENA_MAX (or glibc's tunable); nothing where
    malloc is not glibc's."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    if "glibc.malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    import ctypes

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None and platform.libc_ver()[0] == "glibc":
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def _why(exc: Exception) -> str:
    return exc.message if isinstance(exc, SeatctlError) else f"{type(exc).__name__}: {exc}"


class _Lane:
    """One thread and its connection, serving one queue."""

    def __init__(
        self, worker: Worker, kind: str, jobs: queue.SimpleQueue[Job | None], eager: bool = True
    ) -> None:
        self.worker = worker
        self.kind = kind
        self.jobs = jobs
        self.eager = eager
        self.ready: Future[str] = Future()
        self.venue: Venue | None = None
        self.epoch = 0
        self.outbox: list[Answer] = []  # settled, not yet told
        self._thread = threading.Thread(target=self._main, name=f"seatctl-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def _main(self) -> None:
        if self.eager:
            try:
                self._open()
            except BaseException as exc:
                self.ready.set_exception(exc)
                return
        self.ready.set_result(self.venue.location if self.venue else self.worker.location)
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    self._serve(batch)
                finally:
                    self._answer()
        finally:
            self._close()

    def _open(self) -> None:
        self.epoch = self.worker.epoch
        self.venue = Venue.open(self.worker.db)

    def _close(self) -> None:
        if self.venue is not None:
            try:
                self.venue.close()
            except Exception as exc:
                log.error("closing the broken database connection: %s", exc)
            self.venue = None

    def _serve(self, batch: list[Job]) -> None:
        if self.venue is not None and (self.epoch != self.worker.epoch or self.venue.link_lost()):
            # Another thread found the link broken (this one likely is too), or the server
            # ended this connection while it was idle: a new one, before any request fails.
            self._close()
        if self.venue is None:
            try:
                self._open()
            except Exception as exc:  # still unreachable: these fail, the next ones retry
                for job in batch:
                    if self.worker.claim(job, TAKEN):
                        self._settle(job, None, exc)
                return
        live, late = take(batch, self.worker)
        self.outbox += late
        if not live:
            return
        assert self.venue is not None
        healthy = self._reads(live) if self.kind == "read" else self._commit_group(live)
        if not healthy:
            self.worker.link_broken(self.epoch)
            self._close()

    def _reads(self, jobs: list[Job]) -> bool:
        assert self.venue is not None
        healthy = True
        for job in jobs:
            self.venue.within(job.deadline)
            outcome = attempt(job.work, self.venue)
            healthy = healthy and not broken(outcome[1])
            self._settle(job, *outcome)
        return healthy

    def _commit_group(self, writes: list[Job]) -> bool:
        """Commit the writes together; False if the database connection may be broken (a
        PostgreSQL server restarted, a connection dropped)."""
        venue = self.venue
        assert venue is not None
        short = self.kind in ("write", "pick") and self.worker._postgres
        venue.within(min(job.deadline for job in writes), GROUP_WAIT_SECONDS if short else None)
        try:
            with venue.grouped():
                outcomes = attempt_all(writes, venue)
                if lost(outcomes[-1][1]):  # the transaction is gone: so is the group
                    raise outcomes[-1][1]  # type: ignore[misc]
        except BaseException as exc:  # BEGIN or COMMIT failed, or the link broke: none happened
            for job in writes:
                if short and waited(exc) and time.monotonic() < job.deadline:
                    # A lock waited for at the group's end (its history's): all rolled back,
                    # untouched; each is retried alone, as a write that waited in the group.
                    self.worker.requeue_to_wait(job)
                else:
                    self._settle(job, None, exc)
            return not broken(exc)
        for job, (result, error) in zip(writes, outcomes, strict=True):
            if short and waited(error) and time.monotonic() < job.deadline:
                self.worker.requeue_to_wait(job)  # rolled back to its savepoint: untouched
            else:
                self._settle(job, result, error)
        return not any(broken(error) for _, error in outcomes)

    def _next_batch(self) -> list[Job] | None:
        """The next job and, for writers, every job queued behind it (up to MAX_GROUP); None
        to stop."""
        first = self.jobs.get()
        if first is None:
            return None
        batch = [first]
        while self.kind in ("write", "pick") and len(batch) < MAX_GROUP:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self.jobs.put(None)  # finish this batch, then stop
                break
            batch.append(job)
        return batch

    def _settle(self, job: Job, result: Any, error: BaseException | None) -> None:
        self.outbox.append((job, result, error))

    def _answer(self) -> None:
        """Hand the settled jobs to their event loops: one wake-up per loop and batch, not one
        per request (each wake-up is a write to the loop's self-pipe and a callback there)."""
        if not self.outbox:
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[Answer]] = {}
        for settled in self.outbox:
            by_loop.setdefault(settled[0].loop, []).append(settled)
        self.outbox = []
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting
                loop.call_soon_threadsafe(settle_all, answers)

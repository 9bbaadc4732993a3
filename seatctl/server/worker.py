"""The one thread that talks to the database, and group commit.

Every request's database work runs here, as a function of the `Venue`. Reads run one by one.
Writes that arrive together (typically while the previous commit was reaching the disk) run in
one transaction, each in its own savepoint so that each stays all or nothing, and are answered
only after that transaction's COMMIT: a durable write costs one disk flush per group, not per
request, and no 2xx reply precedes the commit that makes it true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple

from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")
Work = Callable[[Venue], Any]
MAX_GROUP = 256  # writes per transaction: bounds how long one commit keeps others waiting


class Job(NamedTuple):
    work: Work
    write: bool
    done: asyncio.Future[Any]  # settled on its own event loop, never from this thread
    loop: asyncio.AbstractEventLoop


class Worker:
    def __init__(self, db: str) -> None:
        self._db = db
        self.db = db  # as given: others open their own connections to it
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="seatctl-db", daemon=True)
        self._ready: Future[str] = Future()
        self._outbox: list[tuple[Job, Any, BaseException | None]] = []  # settled, not yet told
        self.location = db

    def start(self) -> None:
        """Open the database in the worker thread; raise its error here if that fails."""
        self._thread.start()
        self.location = self._ready.result()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    async def read(self, work: Work) -> Any:
        return await self._submit(work, write=False)

    async def write(self, work: Work) -> Any:
        return await self._submit(work, write=True)

    def _submit(self, work: Work, write: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._jobs.put(Job(work, write, done, loop))
        return done

    def _main(self) -> None:
        try:
            opened = Venue.open(self._db)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(opened.location)
        venue: Venue | None = opened
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    if venue is None:  # the last connection broke: a new one for this batch
                        venue = self._reopen(batch)
                        if venue is None:
                            continue
                    if not self._run(venue, batch):
                        _close_quietly(venue)
                        venue = None
                finally:
                    self._answer()
        finally:
            if venue is not None:
                venue.close()

    def _run(self, venue: Venue, batch: list[Job]) -> bool:
        """Do a batch's reads, then commit its writes together; False if the database
        connection may be broken (a PostgreSQL server restarted, a connection dropped)."""
        healthy = True
        writes = [job for job in batch if job.write]
        for job in batch:
            if not job.write:
                outcome = _attempt(job.work, venue)
                healthy = healthy and not _broken(outcome[1])
                self._settle(job, *outcome)
        self._answer()  # the reads need not wait for the writes' COMMIT
        if writes:
            healthy = self._commit_group(venue, writes) and healthy
        return healthy

    def _reopen(self, batch: list[Job]) -> Venue | None:
        try:
            return Venue.open(self._db)
        except Exception as exc:  # still unreachable: this batch fails, the next one retries
            for job in batch:
                self._settle(job, None, exc)
            return None

    def _next_batch(self) -> list[Job] | None:
        """The next job and every job queued behind it (up to MAX_GROUP); None to stop."""
        first = self._jobs.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < MAX_GROUP:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)  # finish this batch, then stop
                break
            batch.append(job)
        return batch

    def _settle(self, job: Job, result: Any, error: BaseException | None) -> None:
        self._outbox.append((job, result, error))

    def _answer(self) -> None:
        """Hand the settled jobs to their event loops: one wake-up per loop and batch, not one
        per request (each wake-up is a write to the loop's self-pipe and a callback there)."""
        if not self._outbox:
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, Any, BaseException | None]]] = {}
        for settled in self._outbox:
            by_loop.setdefault(settled[0].loop, []).append(settled)
        self._outbox = []
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting
                loop.call_soon_threadsafe(_settle_all, answers)

    def _commit_group(self, venue: Venue, writes: list[Job]) -> bool:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            with venue.grouped():
                outcomes = [_attempt(job.work, venue) for job in writes]
        except BaseException as exc:  # BEGIN or COMMIT failed: none of the group happened
            for job in writes:
                self._settle(job, None, exc)
            return not _broken(exc)
        for job, (result, error) in zip(writes, outcomes, strict=True):
            self._settle(job, result, error)
        return not any(_broken(error) for _, error in outcomes)


def _attempt(work: Work, venue: Venue) -> tuple[Any, BaseException | None]:
    try:
        return work(venue), None
    except SeatctlError as exc:
        return None, exc
    except Exception as exc:  # a bug: this request fails with a 500, the server goes on
        log.error("internal error: %s: %s", type(exc).__name__, exc)
        return None, exc


def _broken(error: BaseException | None) -> bool:
    """A failure after which the connection is not to be trusted: any database problem but
    a busy database or a clock behind the records (those are about the data, not the link),
    and any bug."""
    if error is None:
        return False
    if isinstance(error, SeatctlError):
        return error.exit_code == ExitCode.DATABASE and error.reason not in _NOT_THE_LINK
    return True


_NOT_THE_LINK = frozenset({Reason.BUSY, Reason.CLOCK_BEHIND, Reason.INCONSISTENT})


def _close_quietly(venue: Venue) -> None:
    try:
        venue.close()
    except Exception as exc:
        log.error("closing the broken database connection: %s", exc)


def _settle_all(answers: list[tuple[Job, Any, BaseException | None]]) -> None:
    """On the event loop: give each waiting request its outcome."""
    for job, result, error in answers:
        if job.done.done():  # cancelled: the client went away, or the server is stopping
            continue
        if error is not None:
            job.done.set_exception(error)
        else:
            job.done.set_result(result)

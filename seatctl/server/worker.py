"""The one thread that talks to the database, and group commit.

Every request's database work runs here, as a function of the `Venue`. Reads run one by one.
Writes that arrive together (typically while the previous commit was reaching the disk) run in
one transaction, each in its own savepoint so that each stays all or nothing, and are answered
only after that transaction's COMMIT: a durable write costs one disk flush per group, not per
request, and no 2xx reply precedes the commit that makes it true.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple

from seatctl.errors import SeatctlError
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")
Work = Callable[[Venue], Any]
MAX_GROUP = 256  # writes per transaction: bounds how long one commit keeps others waiting


class Job(NamedTuple):
    work: Work
    write: bool
    done: Future[Any]


class Worker:
    def __init__(self, db: str) -> None:
        self._db = db
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="seatctl-db", daemon=True)
        self._ready: Future[str] = Future()
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
        done: Future[Any] = Future()
        self._jobs.put(Job(work, write, done))
        return asyncio.wrap_future(done)

    def _main(self) -> None:
        try:
            venue = Venue.open(self._db)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(venue.location)
        try:
            while (batch := self._next_batch()) is not None:
                writes = [job for job in batch if job.write]
                for job in batch:
                    if not job.write:
                        _settle(job, *_attempt(job.work, venue))
                if writes:
                    self._commit_group(venue, writes)
        finally:
            venue.close()

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

    def _commit_group(self, venue: Venue, writes: list[Job]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            with venue.grouped():
                outcomes = [_attempt(job.work, venue) for job in writes]
        except BaseException as exc:  # BEGIN or COMMIT failed: none of the group happened
            for job in writes:
                _settle(job, None, exc)
            return
        for job, (result, error) in zip(writes, outcomes, strict=True):
            _settle(job, result, error)


def _attempt(work: Work, venue: Venue) -> tuple[Any, BaseException | None]:
    try:
        return work(venue), None
    except SeatctlError as exc:
        return None, exc
    except Exception as exc:  # a bug: this request fails with a 500, the server goes on
        log.error("internal error: %s: %s", type(exc).__name__, exc)
        return None, exc


def _settle(job: Job, result: Any, error: BaseException | None) -> None:
    if error is not None:
        job.done.set_exception(error)
    else:
        job.done.set_result(result)

"""A request's database work as the threads (and the loop) that run it see it: its `Job`,
the states it passes through, and how an outcome is told and judged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")
Work = Callable[[Venue], Any]
Outcome = tuple[Any, BaseException | None]  # the work's result, or what it raised
QUEUED, TAKEN, ABANDONED = "queued", "taken", "abandoned"
MAX_GROUP = 256  # writes per transaction: bounds how long one commit keeps others waiting


@dataclass(eq=False)
class Job:
    work: Work
    write: bool
    done: asyncio.Future[Any]  # settled on its own event loop, never from a thread here
    loop: asyncio.AbstractEventLoop
    deadline: float  # time.monotonic()
    state: str = field(default=QUEUED)


Answer = tuple[Job, Any, BaseException | None]  # a job and its outcome, to be told


class Claims(Protocol):
    """What runs jobs needs of the worker that queued them."""

    def claim(self, job: Job, state: str) -> bool: ...

    def out_of_time(self) -> SeatctlError: ...


def take(batch: list[Job], claims: Claims) -> tuple[list[Job], list[Answer]]:
    """The jobs of `batch` to run now, and the answers of those that waited their whole time
    in the queue (not run at all); a job abandoned at its deadline was answered then."""
    now = time.monotonic()
    live: list[Job] = []
    late: list[Answer] = []
    for job in batch:
        if not claims.claim(job, TAKEN):
            continue
        if job.deadline <= now:
            late.append((job, None, claims.out_of_time()))
        else:
            live.append(job)
    return live, late


def attempt_all(jobs: list[Job], venue: Venue) -> list[Outcome]:
    """A group's writes, each in its own savepoint, until one finds the transaction gone (the
    group with it: its outcome is the last)."""
    outcomes: list[Outcome] = []
    for job in jobs:
        outcomes.append(attempt(job.work, venue))
        if lost(outcomes[-1][1]):
            break
    return outcomes


def attempt(work: Work, venue: Venue) -> Outcome:
    try:
        return work(venue), None
    except SeatctlError as exc:
        # Its frames are of no use to an answer, and they hold what the work had in hand
        # (a refusal's list of the hall's free seats, say) until the cyclic GC runs.
        return None, _without_frames(exc)
    except Exception as exc:  # a bug: this request fails with a 500, the server goes on
        log.error("internal error: %s: %s", type(exc).__name__, exc)
        return None, exc


def _without_frames(error: SeatctlError) -> SeatctlError:
    """`error` and the errors it was raised from or during, without their tracebacks."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return error


def waited(error: BaseException | None) -> bool:
    return isinstance(error, SeatctlError) and error.reason == Reason.BUSY


def lost(error: BaseException | None) -> bool:
    return isinstance(error, SeatctlError) and error.reason == Reason.UNAVAILABLE


def broken(error: BaseException | None) -> bool:
    """A failure after which the connection is not to be trusted: any database problem but
    a busy database or a clock behind the records (those are about the data, not the link),
    and any bug."""
    if error is None:
        return False
    if isinstance(error, SeatctlError):
        return error.exit_code == ExitCode.DATABASE and error.reason not in _NOT_THE_LINK
    return True


_NOT_THE_LINK = frozenset({Reason.BUSY, Reason.CLOCK_BEHIND, Reason.INCONSISTENT})


def settle_all(answers: list[Answer]) -> None:
    """On the event loop: give each waiting request its outcome."""
    for job, result, error in answers:
        if job.done.done():  # cancelled: the client went away, or the server is stopping
            continue
        if error is not None:
            job.done.set_exception(error)
        else:
            job.done.set_result(result)

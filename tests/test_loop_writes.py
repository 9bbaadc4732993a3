"""A one-process server's SQLite writes (`seatctl.server.loop_writes`): their work runs on
the event loop, a thread commits them, and nothing is answered before its COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from helpers import refuse_seat_3_at_commit_on_sqlite
from seatctl import Venue
from seatctl.core.errors import ExitCode

pytest.importorskip("starlette")

from seatctl.server import loop_writes
from seatctl.server.worker import Worker

HELD = 10.0  # the most a test holds a COMMIT back; each lets it go far sooner


@pytest.fixture
def held_commits(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Every group's COMMIT waits until the test sets the event."""
    go = threading.Event()
    commit = loop_writes._Group.commit

    def held(group: Any) -> Any:
        go.wait(HELD)
        return commit(group)

    monkeypatch.setattr(loop_writes._Group, "commit", held)
    yield go
    go.set()


def run(scenario: Callable[[], Any]) -> Any:
    return asyncio.run(scenario())


def lock(label: str, user: str) -> Callable[[Venue], Any]:
    return lambda venue: venue.lock([label], user)


def holder_seen_elsewhere(db: str, label: str) -> str | None:
    """Who holds `label`, as another connection reads it (what is committed)."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT locked_by FROM seat_states WHERE seat = ?", (label,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def test_a_write_is_answered_only_after_its_commit(worker: Worker, venue_db, held_commits):
    async def scenario() -> tuple[bool, str | None, Any]:
        write = asyncio.ensure_future(worker.write(lock("1", "alice")))
        # The write runs on this loop, then waits for the held COMMIT.
        while not worker._loop_writes._committing:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
        answered_early = write.done()
        seen_before = holder_seen_elsewhere(venue_db, "1")
        held_commits.set()
        return answered_early, seen_before, await write

    answered_early, seen_before, views = run(scenario)
    assert (answered_early, seen_before) == (False, None)
    assert [(v.seat, v.locked_by) for v in views] == [("1", "alice")]
    assert holder_seen_elsewhere(venue_db, "1") == "alice"


def test_reads_are_answered_while_a_group_is_being_committed(worker: Worker, held_commits):
    async def scenario() -> tuple[list[str], Any]:
        write = asyncio.ensure_future(worker.write(lock("1", "alice")))
        while not worker._loop_writes._committing:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
        seats = await worker.read(lambda venue: [v.seat for v in venue.iter_seats()])
        held_commits.set()
        return seats, await write

    seats, views = run(scenario)
    assert seats == ["1", "2", "3", "4", "5"]
    assert views[0].locked_by == "alice"


def test_writes_that_arrive_during_a_commit_are_committed_together_after_it(
    worker: Worker, venue_db, held_commits
):
    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(worker.write(lock("1", "alice")))
        while not worker._loop_writes._committing:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
        later = [asyncio.ensure_future(worker.write(lock(s, "bob"))) for s in ("2", "3", "4")]
        await asyncio.sleep(0)
        assert not any(write.done() for write in later)
        held_commits.set()
        return [await first, *[await write for write in later]]

    answers = run(scenario)
    assert [views[0].locked_by for views in answers] == ["alice", "bob", "bob", "bob"]
    with Venue.open(venue_db) as venue:
        assert [v.locked_by for v in venue.seats()] == ["alice", "bob", "bob", "bob", None]


def test_a_refused_write_in_a_group_leaves_the_others_of_its_group_done(worker: Worker):
    async def scenario() -> list[Any]:
        writes = [worker.write(lock("1", "alice")), worker.write(lock("1", "bob"))]
        writes.append(worker.write(lock("2", "bob")))
        return await asyncio.gather(*writes, return_exceptions=True)

    alice, bob_on_1, bob_on_2 = run(scenario)
    assert alice[0].locked_by == "alice"
    assert getattr(bob_on_1, "reason", None) == "locked"
    assert bob_on_2[0].locked_by == "bob"


def test_a_group_that_meets_a_held_write_lock_is_done_once_it_is_free(worker: Worker, venue_db):
    blocker = sqlite3.connect(venue_db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def scenario() -> Any:
        write = asyncio.ensure_future(worker.write(lock("1", "alice")))
        # The loop does not wait for the lock: it keeps answering (a read, here).
        seats = await worker.read(lambda venue: len(venue.seats()))
        assert (seats, write.done()) == (5, False)
        blocker.execute("ROLLBACK")
        return await write

    try:
        views = run(scenario)
    finally:
        blocker.close()
    assert views[0].locked_by == "alice"


def test_a_group_whose_commit_fails_answers_each_of_its_writes_with_the_error(
    venue_db, monkeypatch
):
    refuse_seat_3_at_commit_on_sqlite(venue_db, monkeypatch)
    worker = Worker(venue_db)
    worker.start()

    async def scenario() -> list[Any]:
        writes = [worker.write(lock("3", "alice")), worker.write(lock("4", "bob"))]
        failed = await asyncio.gather(*writes, return_exceptions=True)
        return [*failed, await worker.write(lock("4", "bob"))]

    try:
        on_3, on_4, again_on_4 = run(scenario)
    finally:
        worker.stop()
    assert [getattr(e, "exit_code", None) for e in (on_3, on_4)] == [ExitCode.DATABASE] * 2
    assert again_on_4[0].locked_by == "bob"  # the next group commits
    assert holder_seen_elsewhere(venue_db, "3") is None


def test_more_writes_than_a_group_takes_are_all_done_in_the_groups_after_it(
    worker: Worker, venue_db, monkeypatch
):
    monkeypatch.setattr(loop_writes, "MAX_GROUP", 2)

    async def scenario() -> list[Any]:
        return await asyncio.gather(*(worker.write(lock(s, f"user{s}")) for s in "12345"))

    answers = run(scenario)
    assert [views[0].locked_by for views in answers] == [f"user{s}" for s in "12345"]


def test_a_worker_that_never_started_stops_without_error(venue_db):
    Worker(venue_db).stop()

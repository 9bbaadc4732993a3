"""The stream's server side in this process (the ASGI app called directly): keep-alive comments
while nothing changes, and a watcher that disconnects leaves nothing behind."""

from __future__ import annotations

import asyncio
import threading

import pytest

from seatctl import Venue

pytest.importorskip("starlette")

from seatctl.server import live
from seatctl.server.app import create_app
from seatctl.server.live import Hub
from seatctl.server.worker import Worker

# The backend's part: the stream waits on each backend's notifications.
pytestmark = pytest.mark.backend


def stream_scope(token: str) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": "/v1/stream",
        "raw_path": b"/v1/stream",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
    }


async def watch_until(hub: Hub, worker: Worker, token: str, enough) -> list[bytes]:
    """Run one stream until `enough(chunks)` holds, then disconnect; the body chunks."""
    chunks: list[bytes] = []
    gone = asyncio.Event()
    seen = asyncio.Event()

    requested: list[bool] = []

    async def receive() -> dict:
        if not requested:
            requested.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            chunks.append(message["body"])
            if enough(chunks):
                seen.set()

    app = create_app(worker, auth=True, hub=hub)
    task = asyncio.create_task(app(stream_scope(token), receive, send))
    await asyncio.wait_for(seen.wait(), 30)
    gone.set()
    await asyncio.wait_for(task, 30)
    return chunks


def test_a_keep_alive_comment_comes_while_nothing_changes(venue_db, worker, monkeypatch):
    monkeypatch.setattr(live, "KEEP_ALIVE_SECONDS", 0.2)
    with Venue.open(venue_db) as venue:
        token = venue.add_token("alice")[0]
    hub = Hub(venue_db, worker)

    async def run() -> list[bytes]:
        try:
            return await watch_until(hub, worker, token, lambda c: b": keep-alive\n\n" in c)
        finally:
            hub.close()

    chunks = asyncio.run(run())
    hub.join()
    assert chunks[0].startswith(b"event: snapshot\n")
    assert chunks[-1] == b": keep-alive\n\n"


def test_a_watcher_that_disconnects_leaves_no_feed_behind(venue_db, worker):
    with Venue.open(venue_db) as venue:
        token = venue.add_token("alice")[0]
    hub = Hub(venue_db, worker)

    async def run() -> dict[str, int]:
        try:
            await watch_until(hub, worker, token, lambda c: len(c) >= 1)
            return hub.watched()
        finally:
            hub.close()

    assert asyncio.run(run()) == {}
    hub.join()


def test_streams_that_start_together_share_one_snapshot_read_off_the_request_thread(
    venue_db, worker, monkeypatch
):
    with Venue.open(venue_db) as venue:
        token = venue.add_token("alice")[0]
    reads: list[str] = []
    real = Venue.stream_state

    def counted(venue: Venue, show: str, after: int | None = None):
        reads.append(threading.current_thread().name)
        return real(venue, show, after)

    monkeypatch.setattr(Venue, "stream_state", counted)
    # "Together": within the sharing age, however long a loaded machine takes to let twenty
    # watchers in (the age limit has a test of its own, below).
    monkeypatch.setattr(live, "SHARE_SECONDS", 3600.0)
    hub = Hub(venue_db, worker)

    async def run() -> list[list[bytes]]:
        try:
            # Open all along, as when the twenty overlap: on a loaded machine the first may
            # have its snapshot and leave before the last arrives, and a feed nobody watches
            # is closed (a new one would read the event again).
            keeper = await hub.subscribe("default")
            watchers = [watch_until(hub, worker, token, lambda c: bool(c)) for _ in range(20)]
            answers = await asyncio.gather(*watchers)
            hub.unsubscribe(keeper)
            return answers
        finally:
            hub.close()

    answers = asyncio.run(run())
    hub.join()
    assert all(chunks[0].startswith(b"event: snapshot\n") for chunks in answers)
    assert len({chunks[0] for chunks in answers}) == 1
    # One read to start the event's feed, one for the snapshot: both by the stream thread,
    # none by the database thread that answers the requests.
    assert reads == ["seatctl-stream", "seatctl-stream"]


def test_a_stream_that_starts_later_gets_a_snapshot_of_its_own_with_a_fresh_now(
    venue_db, worker, monkeypatch
):
    monkeypatch.setattr(live, "SHARE_SECONDS", 0.0)  # "later": past the sharing age
    hub = Hub(venue_db, worker)

    async def run() -> tuple[bytes, bytes]:
        try:
            feed = await hub.subscribe("default")
            first = (await hub.snapshot(feed))[1]
            second = (await hub.snapshot(feed))[1]
            hub.unsubscribe(feed)
            return first, second
        finally:
            hub.close()

    first, second = asyncio.run(run())
    hub.join()
    assert first is not second  # read again, not the first one's bytes

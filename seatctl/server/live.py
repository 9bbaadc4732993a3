"""The change stream's server side: one watcher of the database, one feed per event watched.

One thread (`Hub`) waits for the database to change (`Venue.wait_for_change`: SQLite's
`PRAGMA data_version`, PostgreSQL's LISTEN), whoever changed it, and then reads each watched
event's new history once, on a connection of its own (the request worker is not held up).
It also reads when the earliest lock deadline of a feed has passed, so that an expiry, which
writes nothing, is told within a poll of its deadline. Each `Feed` turns what was read into
items once (`seatctl.core.changefeed.Tracker`), encoded once, kept in a bounded log that every
watcher of the event reads from at its own pace. A watcher that falls further behind than
the log reaches catches up from the database; one that disconnects leaves nothing behind,
and a feed nobody watches is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from seatctl import wire
from seatctl.core import changefeed, clock
from seatctl.core.changefeed import Cursor, GivenCursor, Item, StreamState
from seatctl.core.clock import Instant
from seatctl.core.errors import SeatctlError
from seatctl.core.model import HistoryEntry, Place
from seatctl.server.worker import Worker
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")

POLL_SECONDS = 0.1  # the longest the thread waits before looking at the feeds' deadlines
# How often that wait looks for a new watcher: its first snapshot should not wait out a poll
# (two, with its feed's start: a page took 0.15-0.2 s to go live).
KICK_SECONDS = 0.02
# After a read that found changes, the next read waits this long: changes that come together
# reach each watcher in one write, so the cost per watcher is per batch, not per change
# (500 watchers woken per change would saturate a core at 100 changes/s).
BATCH_SECONDS = 0.05
RETRY_SECONDS = 1.0  # after the database could not be read
KEEP_ALIVE_SECONDS = 15.0
MAX_LOG = 4096  # items a feed keeps for watchers that are behind (memory stays bounded)
# A new watcher shares the feed's last snapshot while it is at most SHARE_SECONDS old (its
# `now` sets the page's clock) and fewer than SHARE_WINDOW entries came after it (they are
# sent after it, as to the watchers that started with it); else a new one is read.
SHARE_SECONDS = 1.0
SHARE_WINDOW = 256


class Feed:
    """One event's stream on the event loop: the tracker, and the log of encoded items."""

    def __init__(self, show: str) -> None:
        self.show = show
        self.watchers = 0
        self.started = asyncio.Event()
        self.error: BaseException | None = None  # the start read failed
        self.closed = False
        self._tracker: changefeed.Tracker | None = None
        self._log: list[tuple[Item | None, bytes]] = []  # None: a keep-alive comment
        self._timer: asyncio.TimerHandle | None = None
        self._first = 0  # the sequence number of _log[0]
        self._changed = asyncio.Event()
        # Read and written by the hub thread only: the newest event id it has read.
        self.read_through = 0
        # Written here, read by the hub thread: when to read even if nothing was committed.
        self.next_deadline: Instant | None = None
        self.needs_start = True
        # The newest snapshot (log position, encoded messages, cursor), shared by the watchers
        # that start from it; and the one being read for them, if any.
        self.snapshot: tuple[int, wire.SharedSnapshot, Cursor] | None = None
        self.snapshot_at = 0.0  # the loop's clock when it was read
        self.reading: asyncio.Future[tuple[int, wire.SharedSnapshot, Cursor]] | None = None
        self.wants_snapshot = False  # set here, read and cleared by the hub thread

    @property
    def end(self) -> int:
        return self._first + len(self._log)

    def start(self, state: StreamState) -> None:
        self.error = None  # a failed start (the database was away) is retried until it works
        self._tracker = changefeed.tracker_at(state)
        self.next_deadline = self._tracker.next_deadline
        self.started.set()
        self._schedule_keep_alive()

    def _schedule_keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(KEEP_ALIVE_SECONDS, self._keep_alive)

    def _keep_alive(self) -> None:
        """Every KEEP_ALIVE_SECONDS, a comment to every watcher (one timer per feed, not one
        per watcher): proxies and browsers keep the connection open."""
        if self.closed:
            return
        self._log.append((None, wire.KEEP_ALIVE))
        self._trim()
        self._wake()
        self._schedule_keep_alive()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.started.set()

    def apply(self, now: Instant, events: list[HistoryEntry], places: dict[str, Place]) -> None:
        if self._tracker is None:
            return
        items = self._tracker.committed(events, places) + self._tracker.expired(now)
        self.next_deadline = self._tracker.next_deadline
        if items:
            self._log += [(item, wire.item_message(item)) for item in items]
            self._trim()
            self._wake()

    def _trim(self) -> None:
        if len(self._log) > MAX_LOG:
            drop = len(self._log) - MAX_LOG
            del self._log[:drop]
            self._first += drop

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._wake()

    def snapshot_read(self, message: wire.SharedSnapshot, cursor: Cursor) -> None:
        """On the loop: the hub thread read a snapshot; it follows every entry logged so far."""
        self.snapshot = (self.end, message, cursor)
        self.snapshot_at = asyncio.get_running_loop().time()
        if self.reading is not None and not self.reading.done():
            self.reading.set_result(self.snapshot)
        self.reading = None

    def snapshot_failed(self, error: BaseException) -> None:
        if self.reading is not None and not self.reading.done():
            self.reading.set_exception(error)
        self.reading = None

    def nudge(self) -> None:
        """Wake the watchers (one of them is to end): each looks at its own state."""
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def since(self, seq: int) -> list[tuple[Item | None, bytes]] | None:
        """The entries from sequence number `seq` on; None if the log no longer reaches back."""
        if seq < self._first:
            return None
        return self._log[seq - self._first :]

    async def wait(self, seq: int) -> None:
        """Wait until there is something after `seq`, or the feed is closed."""
        if self.end <= seq and not self.closed:
            await self._changed.wait()


class Hub:
    """The server's one database watcher and its feeds (one per event being watched)."""

    def __init__(self, db: str, worker: Worker) -> None:
        self._db = db
        self._worker = worker
        self._feeds: dict[str, Feed] = {}
        self._lock = threading.Lock()  # _feeds is read by the thread, changed on the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self.closed = False

    # --- on the event loop ------------------------------------------------------------------

    async def subscribe(self, show: str) -> Feed:
        """The started feed of `show` (made if need be), counting one more watcher."""
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._watch, name="seatctl-stream", daemon=True)
            self._thread.start()
        with self._lock:
            feed = self._feeds.get(show)
            if feed is None:
                feed = self._feeds[show] = Feed(show)
            feed.watchers += 1
        self._kick.set()
        try:
            await feed.started.wait()
        except BaseException:
            self.unsubscribe(feed)
            raise
        if feed.error is not None:
            self.unsubscribe(feed)
            raise feed.error
        return feed

    def unsubscribe(self, feed: Feed) -> None:
        with self._lock:
            feed.watchers -= 1
            if feed.watchers == 0 and self._feeds.get(feed.show) is feed:
                del self._feeds[feed.show]  # nobody watches: the thread stops reading it

    async def snapshot(self, feed: Feed) -> tuple[int, wire.SharedSnapshot, Cursor]:
        """A snapshot of the feed's event and the log position it is current at: the feed's
        last one if it is recent, else one read by the hub thread (on its own connection, so
        a large venue does not hold up the requests) and shared by every watcher waiting."""
        shared = feed.snapshot
        age = asyncio.get_running_loop().time() - feed.snapshot_at
        if shared is not None and age <= SHARE_SECONDS and feed.end - shared[0] <= SHARE_WINDOW:
            return shared
        if feed.reading is None:
            feed.reading = asyncio.get_running_loop().create_future()
            feed.wants_snapshot = True
            self._kick.set()
        return await asyncio.shield(feed.reading)

    def watched(self) -> dict[str, int]:
        """Each event with a feed, and how many watchers it has."""
        with self._lock:
            return {show: feed.watchers for show, feed in self._feeds.items()}

    def close(self) -> None:
        """End every stream (the server is shutting down) and stop the thread."""
        self.closed = True
        with self._lock:
            feeds = list(self._feeds.values())
        for feed in feeds:
            feed.close()
        self._stop.set()
        self._kick.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=10)

    # --- in the hub thread -----------------------------------------------------------------

    def _watch(self) -> None:
        venue: Venue | None = None
        while not self._stop.is_set():
            try:
                if venue is None:
                    venue = Venue.open(self._db)
                changed = self._wait_for_change(venue)
                self._kick.clear()
                if self._read(venue, changed):
                    self._kick.wait(BATCH_SECONDS)  # unless a new watcher is waiting
            except Exception as exc:  # the database went away: say so once a try, retry
                log.error("change stream: reading the database failed: %s", _why(exc))
                if venue is not None:
                    with contextlib.suppress(Exception):
                        venue.close()
                    venue = None
                self._stop.wait(RETRY_SECONDS)
        if venue is not None:
            venue.close()

    def _wait_for_change(self, venue: Venue) -> bool:
        """Up to POLL_SECONDS for another connection's commit, but no longer once a new
        watcher (or a snapshot) is waiting; True if one may have come."""
        deadline = time.monotonic() + POLL_SECONDS
        while not self._kick.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if venue.wait_for_change(min(KICK_SECONDS, left)):
                return True
        return venue.wait_for_change(0)

    def _read(self, venue: Venue, changed: bool) -> bool:
        """Read what each feed needs; True if any change was found."""
        with self._lock:
            feeds = list(self._feeds.values())
        now = clock.now()
        found = False
        for feed in feeds:
            if feed.needs_start:
                self._start(venue, feed)
            elif changed or (feed.next_deadline is not None and now >= feed.next_deadline):
                read_at, events, places = venue.stream_changes(feed.show, feed.read_through)
                if events:
                    feed.read_through = events[-1].id or feed.read_through
                    found = True
                self._post(feed.apply, read_at, events, places)
            if feed.wants_snapshot:
                self._snapshot(venue, feed)
        return found

    def _snapshot(self, venue: Venue, feed: Feed) -> None:
        feed.wants_snapshot = False
        try:
            start = changefeed.snapshot_start(venue.stream_state(feed.show))
            assert start.snapshot is not None
            message = wire.shared_snapshot(feed.show, start.snapshot)
        except Exception as error:  # its watchers answer it; a database problem is retried
            self._post(feed.snapshot_failed, error)
            if not isinstance(error, SeatctlError):
                raise
            return
        self._post(feed.snapshot_read, message, start.cursor)

    def _start(self, venue: Venue, feed: Feed) -> None:
        feed.needs_start = False
        try:
            state = venue.stream_state(feed.show)
        except SeatctlError as error:  # e.g. no such event: its watchers are told
            feed.needs_start = True
            self._post(feed.fail, error)
            return
        feed.read_through = state.newest_id
        self._post(feed.start, state)

    def _post(self, call: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is gone
            self._loop.call_soon_threadsafe(call, *args)


def _end_message(why: SeatctlError) -> bytes:
    """`event: end` with the error object, and no `id` (the client resumes from its last)."""
    data = json.dumps(wire.error_fields(why), ensure_ascii=False, separators=(",", ":"))
    return f"event: end\ndata: {data}\n\n".encode()


def _why(exc: Exception) -> str:
    return exc.message if isinstance(exc, SeatctlError) else f"{type(exc).__name__}: {exc}"


class Watcher:
    """One client's stream: where it starts, then the feed's items it has not been told."""

    def __init__(
        self, hub: Hub, worker: Worker, feed: Feed, show: str, viewer: str | None = None
    ) -> None:
        self._viewer = viewer  # a buyer sees other people's seats without names
        self._hub = hub
        self._worker = worker
        self._feed = feed
        self._show = show

    async def start(self, given: GivenCursor | None) -> bytes:
        """The first bytes to send (a snapshot, or what the client missed); sets the cursor."""
        self.ended: SeatctlError | None = None
        if given is None:  # a snapshot: the feed's shared one, current at log position _seq
            self._seq, shared, self._cursor = await self._hub.snapshot(self._feed)
            return shared.for_viewer(self._viewer)  # a buyer's: other people's names hidden
        self._seq = self._feed.end  # the feed's items from here on are checked against it
        first, self._cursor = await self._read_start(given)
        return first

    def end(self, why: SeatctlError) -> None:
        """End this stream with a last message saying why (its token was revoked...)."""
        if self.ended is None:
            self.ended = why
            self._feed.nudge()

    async def _read_start(self, given: GivenCursor | None) -> tuple[bytes, Cursor]:
        show = self._show
        after = given.event_id if given is not None else None
        state: StreamState = await self._worker.read(lambda v: v.stream_state(show, after))
        start = changefeed.resume(given, state) if given else changefeed.snapshot_start(state)
        if start.snapshot is not None:
            return wire.snapshot_message(show, start.snapshot, self._viewer), start.cursor
        told = b"".join(wire.item_message(item, self._viewer) for item in start.items)
        return told, start.cursor

    async def messages(self, first: bytes) -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
                del first  # a snapshot can be large: not kept for the stream's lifetime
            while not self._feed.closed and self.ended is None:
                await self._feed.wait(self._seq)
                if self.ended is not None:
                    break
                chunk = await self._next_chunk()
                if chunk:
                    yield chunk
            if self.ended is not None:
                yield _end_message(self.ended)
        finally:
            self._hub.unsubscribe(self._feed)

    async def _next_chunk(self) -> bytes:
        entries = self._feed.since(self._seq)
        if entries is None:  # fell behind the log: catch up from the database
            cursor = self._cursor
            given = GivenCursor(cursor.event_id, cursor.expired_through, cursor.label)
            self._seq = self._feed.end
            first, self._cursor = await self._read_start(given)
            return first
        self._seq += len(entries)
        parts = []
        cursor = self._cursor
        for item, encoded in entries:
            if item is None:  # a keep-alive
                parts.append(encoded)
            elif not cursor.told(item):
                whole = wire.sees_whole(item, self._viewer)
                parts.append(encoded if whole else wire.item_message(item, self._viewer))
                cursor = cursor.after(item)
        self._cursor = cursor
        return b"".join(parts)

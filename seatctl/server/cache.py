"""The read cache of `GET /seats` and `GET /v1/seats`: the encoded answer, kept until a write
commits or a lock it depends on lapses.

What a seat listing says changes only when a write commits (through this process, another
worker, the CLI or another host) or when a lock's deadline passes. So each answer is kept with
the database's change marker read *before* the answer was read, and the earliest deadline of a
live lock in the event (any lock: one that lapses can change what a filter shows). A later read
is answered from the cache only if the marker it reads on arrival is the same (nothing has
committed since the cached answer was read, by anyone) and "now" lies between the instant the
answer was read at and that deadline. Otherwise the answer is read again.

The marker, read once per request before anything else:
- SQLite: `PRAGMA data_version` on a connection of the cache's own that never writes, so that
  every commit by any connection (this process's database thread included) moves it. Reading
  it costs a few microseconds and no disk access.
- PostgreSQL: `pg_current_snapshot()`, one round trip on an async connection of its own. The
  snapshot's in-progress list loses a transaction when it commits, and its xmax moves when a
  new one takes a transaction id, so no commit anywhere on the server leaves it unchanged (it
  moves for other databases' writes too: then the cache only misses). The same query reads
  the server's clock, which PostgreSQL transactions use as "now".

When the marker cannot be read, nothing is cached and every read goes to the database.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from seatctl.core import clock, validate
from seatctl.core.clock import Instant
from seatctl.core.model import SeatView, Status
from seatctl.core.validate import is_postgres_url

if TYPE_CHECKING:
    from seatctl.server.worker import Worker
    from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")
MAX_ENTRIES = 64  # answers per marker: filters by user could otherwise fill memory


class State(NamedTuple):
    """What a read saw on arrival: the change marker (None: not known) and "now"."""

    marker: object | None
    now: Instant


class _Entry(NamedTuple):
    body: bytes
    read_at: Instant
    until: Instant | None  # the earliest live lock's deadline (None: no live lock)


class ReadCache:
    def __init__(self, db: str) -> None:
        self._db = db
        self._marker: object | None = None
        self._entries: dict[Any, _Entry] = {}
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None  # psycopg.AsyncConnection, opened at the first read
        self._postgres = is_postgres_url(db)

    async def state(self) -> State:
        """The marker and "now", read before the answer is (see the module's docstring)."""
        if self._postgres:
            return await self._pg_state()
        return State(self._sqlite_marker(), clock.now())

    async def listing(
        self,
        worker: Worker,
        key: Hashable,
        named: str | None,
        authorise: Callable[[Venue], object] | None,
        status: Status | None,
        event: str,
        encode: Callable[[list[SeatView]], bytes],
    ) -> bytes:
        """A seat listing's encoded answer: the seats of `event` (only those of `status`, and
        those the user `named` holds or booked, if given), from the cache while nothing has
        changed. `authorise` (with tokens) checks the request on the database thread, every
        time, cached or not."""
        user = validate.user(named) if named is not None else None
        state = await self.state()  # first: the answer must be at least this new
        cached = self.get(key, state)
        if cached is not None and authorise is None:
            return cached

        def work(venue: Venue) -> tuple[bytes, Instant | None]:
            if authorise is not None:
                authorise(venue)
            if cached is not None:
                return cached, None
            # Every seat, not only those shown: a lock that lapses may change what a filter
            # shows, so each live lock's deadline bounds how long the answer holds.
            views = list(venue.iter_seats(event=event))
            shown = [
                v
                for v in views
                if (status is None or v.status is status) and (user is None or v.belongs_to(user))
            ]
            return encode(shown), min((v.expires_at for v in views if v.expires_at), default=None)

        body: bytes
        until: Instant | None
        body, until = await worker.read(work)
        if body is not cached and state.marker is not None:
            # The answer was read at some instant after `state.now`; it holds from then on.
            # Taking "now" again afterwards bounds that instant, so that a later request never
            # gets an answer read at an instant after its own (a lock that lapsed in between).
            after = await self.state()
            if after.marker == state.marker:
                self.keep(key, state._replace(now=after.now), body, until)
        return body

    def get(self, key: Any, state: State) -> bytes | None:
        if state.marker is None or state.marker != self._marker:
            return None
        entry = self._entries.get(key)
        if entry is None or state.now < entry.read_at:
            return None
        if entry.until is not None and state.now >= entry.until:
            return None  # a lock it shows (or a filter hides) has lapsed
        return entry.body

    def keep(self, key: Any, state: State, body: bytes, until: Instant | None) -> None:
        """Keep `body`, read between reading `state.marker` and `state.now`, until the marker
        moves or `until`."""
        if state.marker is None:
            return
        if state.marker != self._marker or len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
            self._marker = state.marker
        self._entries[key] = _Entry(body, state.now, until)

    def _sqlite_marker(self) -> object | None:
        try:
            if self._sqlite is None:
                uri = Path(self._db).resolve().as_uri() + "?mode=ro"
                self._sqlite = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return cast(int, self._sqlite.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            log.error("the read cache cannot read the database's change counter: %s", exc)
            self.close()
            return None

    async def _pg_state(self) -> State:
        override = clock.clock_override()
        try:
            if self._pg is None:
                import psycopg

                self._pg = await psycopg.AsyncConnection.connect(
                    self._db, autocommit=True, prepare_threshold=None
                )
            cursor = await self._pg.execute(_PG_STATE)
            row = await cursor.fetchone()
        except Exception as exc:  # the server restarted, the link dropped: read uncached
            log.error("the read cache cannot read PostgreSQL's snapshot: %s", exc)
            await self._close_pg()
            return State(None, override if override is not None else clock.now())
        marker, server_now = row
        return State(marker, override if override is not None else self._server_now(server_now))

    def _server_now(self, read: int) -> Instant:
        """PostgreSQL's clock, as its transactions read it (tests stand this process's in)."""
        return int(read)

    async def _close_pg(self) -> None:
        pg, self._pg = self._pg, None
        if pg is not None:
            try:
                await pg.close()
            except Exception as exc:
                log.error("closing the read cache's connection: %s", exc)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


_PG_STATE = (
    "SELECT pg_current_snapshot()::text, floor(extract(epoch FROM clock_timestamp()))::bigint"
)

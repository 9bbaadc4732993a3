"""SQLite's side of a transaction: what its SQL does differently from PostgreSQL's.

Writers are serialised by `BEGIN IMMEDIATE` (no row locks, no queues), many rows are written
with `executemany`, and "now" is this machine's clock.
"""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

from seatctl.core import clock
from seatctl.core.clock import Instant
from seatctl.core.model import DEFAULT_SHOW, NO_PLACE, HistoryEntry, Place, Role, Seat
from seatctl.core.validate import natural_key
from seatctl.storage import ChangeMarker, records
from seatctl.storage.sql import (
    SEAT_COLUMNS,
    STATE_COLUMNS,
    STATE_UPSERT,
    Queries,
    SqlTransaction,
    state_rows,
)

_CHUNK = 500  # well under SQLite's limit on bound parameters
LAST_TOKEN_KEY = "last_token_id"  # meta: the highest token id ever given out (ids not reused)
# One seat, with its newest event's instant in the event, which a write asks for next
# (`latest_history_at`): one statement for a request's usual single seat instead of two.
_QUERIES = Queries("?")
_SEAT_AND_NEWEST = (
    f"SELECT {SEAT_COLUMNS}, (SELECT max(at) FROM events WHERE seat = s.label"
    f" AND (show = ? OR show IS NULL)) {_QUERIES.map_and_states} WHERE s.label = ?"
)
_SAVE = f"INSERT INTO seat_states ({STATE_COLUMNS}) VALUES ({', '.join('?' * 9)}){STATE_UPSERT}"


class SqliteTransaction(SqlTransaction):
    sql = _QUERIES
    _conn: sqlite3.Connection
    # (event, label, its newest event's `at`), read with the seat by `seats`, taken by the
    # `latest_history_at` that follows; forgotten at any new history entry.
    _newest_read: tuple[str, str, Any] | None = None

    def now(self) -> Instant:
        if self._now is None:
            self._now = clock.now()
        return self._now

    def _new_id(self, cursor: Any) -> int:
        return int(cursor.lastrowid or 0)

    def add_token(
        self, token_hash: str, user: str, expires_at: Instant | None, role: Role = Role.BUYER
    ) -> int:
        # Ids are never reused, although a revoked token's row is deleted: a script that
        # revokes an id it stored must not revoke someone else's newer token. The highest id
        # given out is kept in meta (PostgreSQL's identity column never goes back itself).
        given = self._meta(LAST_TOKEN_KEY) or ""
        newest = int(self.execute("SELECT coalesce(max(id), 0) FROM tokens").fetchone()[0])
        token_id = max(int(given) if given.isdigit() else 0, newest) + 1
        self.execute(
            "INSERT INTO tokens (id, hash, user, created_at, expires_at, role)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, token_hash, user, self.now(), expires_at, role.value),
        )
        self._set_meta(LAST_TOKEN_KEY, str(token_id))
        return token_id

    def serialise_user(self, show: str, user: str) -> None:
        pass  # BEGIN IMMEDIATE already serialises every writer

    def serialise_show(self, show: str) -> None:
        pass  # BEGIN IMMEDIATE already serialises every writer

    def change_marker(self) -> ChangeMarker | None:
        # Moves when another connection commits, not this one: the pick index counts this
        # connection's own writes itself. The connection tells indexes apart.
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        return ChangeMarker(id(self._conn), version)

    def seats(
        self, labels: list[str], show: str = DEFAULT_SHOW, lock: bool = True
    ) -> dict[str, Seat]:
        # `lock` changes nothing: BEGIN IMMEDIATE already keeps every other writer out.
        if len(labels) == 1:
            row = self.execute(_SEAT_AND_NEWEST, (show, show, labels[0])).fetchone()
            if row is None:
                return {}
            self._newest_read = (show, labels[0], row[-1])
            return {row[0]: records.seat(row[:-1])}
        found: dict[str, Seat] = {}
        for start in range(0, len(labels), _CHUNK):
            chunk = labels[start : start + _CHUNK]
            rows = self.execute(
                f"{self.sql.seats_in}({self.sql.marks(len(chunk))})", [show, *chunk]
            )
            found.update((row[0], records.seat(row)) for row in rows)
        return found

    def save(self, seats: list[Seat], show: str = DEFAULT_SHOW) -> None:
        self._conn.executemany(_SAVE, state_rows(seats, show))

    def add_seats(self, labels: list[str], places: dict[str, Place] | None = None) -> list[str]:
        # Under BEGIN IMMEDIATE nobody else can add seats meanwhile: all of `labels` that are
        # missing now are created by this insert.
        existing = self.seats(labels)
        new = [label for label in labels if label not in existing]
        first = self._value("SELECT coalesce(max(map_order), 0) FROM seats")
        places = places or {}
        placed = [places.get(label, NO_PLACE) for label in new]
        columns = zip(*placed, strict=True) if placed else ((), (), (), (), (), ())
        # sqlite3 directly: sqlite-utils' insert_all costs more Python per row than the rest
        # of a 100,000-seat `init --map` together.
        self._conn.executemany(
            "INSERT INTO seats (label, sort_key, section, seat_row, seat_number, category,"
            " x, y, map_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            # Rows put together by zip at C speed: label, sort key, the place's fields, order.
            zip(new, map(natural_key, new), *columns, itertools.count(first + 1)),
        )
        return new

    def append_adds(self, labels: list[str], at: Instant) -> None:
        self._newest_read = None  # the seats' newest instants may be these now
        # Rows zipped at C speed, the action a constant: a 100,000-seat `init --map` pays no
        # Python per event.
        self._conn.executemany(
            "INSERT INTO events (at, seat, action) VALUES (?, ?, 'add')",
            zip(itertools.repeat(at), labels),
        )

    def append_history(self, events: list[HistoryEntry]) -> None:
        self._newest_read = None  # the seats' newest instants may be these now
        self._conn.executemany(
            "INSERT INTO events"
            " (at, seat, action, user, expires_at, show, reason, acted_by, token_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            # An Action is a str: bound as its text, without a Python call per event for .value.
            [
                (at, seat, action, user, expires_at, show, reason, by, token)
                for at, seat, action, user, expires_at, _, show, reason, by, token in events
            ],
        )

    def hold_starts(self, labels: list[str], show: str, through: int) -> dict[str, Instant]:
        starts: dict[str, Instant] = {}
        for label in labels:  # one seat at a time, through the (seat, at) index
            at = self._value(
                "SELECT max(at) FROM events WHERE seat = ? AND action = 'lock' AND id <= ?"
                " AND show = ?",
                (label, through, show),
            )
            if at is not None:
                starts[label] = records.newest_instant(label, at)
        return starts

    def latest_history_at(self, labels: list[str], show: str = DEFAULT_SHOW) -> dict[str, Instant]:
        read, self._newest_read = self._newest_read, None
        if read is not None and read[0] == show and labels == [read[1]]:
            return {} if read[2] is None else {read[1]: records.newest_instant(read[1], read[2])}
        latest: dict[str, Instant] = {}
        for label in labels:
            # One seat at a time, read through the (seat, at) index; an event's changes are
            # its own, and a seat's `add` (no event) belongs to every event.
            at = self._value(
                "SELECT max(at) FROM events WHERE seat = ? AND (show = ? OR show IS NULL)",
                (label, show),
            )
            if at is not None:
                latest[label] = records.newest_instant(label, at)
        return latest

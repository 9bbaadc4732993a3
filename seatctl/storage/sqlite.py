"""The SQLite backend: one file, WAL mode, one `BEGIN IMMEDIATE` transaction per change.

The hot path talks to `sqlite3` directly; sqlite-utils (slow to import) is used only where
a database is created or seats are added.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from seatctl import clock
from seatctl.clock import Instant
from seatctl.errors import Reason, SeatctlError, database_error
from seatctl.model import (
    DEFAULT_SHOW,
    NO_PLACE,
    Event,
    Place,
    Seat,
    Settings,
    Show,
    StatusCounts,
    Token,
)
from seatctl.storage import (
    AVAILABLE_AT,
    CREATE_SEATS_PLACE_INDEX,
    DEFAULT_TTL,
    HELD_SINCE_FROM_HISTORY,
    HOLDER_INDEX,
    LIVE_LOCK_COUNT,
    MAP_ORDER_BY_LABEL,
    MAP_ROW_FIRSTS,
    MAX_HOLD_KEY,
    MAX_SEATS_KEY,
    SHOW_COUNTS,
    STATUS_AT,
    PlacedState,
    RowFirstsRow,
    RowKey,
    SpotRow,
    count_statuses,
    records,
    row_spots_query,
    status_counts,
)
from seatctl.storage import sqlite_access as access
from seatctl.validate import natural_key

LAST_TOKEN_KEY = "last_token_id"  # meta: the highest token id ever given out (ids not reused)
# 1: seats and meta (0.1.0); 2: adds the events history; 3: adds the tokens of `seatctl serve`;
# 4: the seat map (section, row, number, category, map order), events (shows) and their own
# seat states (`seat_states`, blocks included); the history names each change's event.
# 5: each seat state's `held_since` (when its hold began), the fairness caps in `meta`, and
# `settings` events in the history.
SCHEMA_VERSION = 5
BUSY_TIMEOUT_SECONDS = 10.0
# How often a change stream reads `PRAGMA data_version`: far within its 0.5 s promise, and
# the read costs microseconds.
CHANGE_POLL_SECONDS = 0.02
_OLD_SEAT_COLUMNS = "label, locked_by, lock_expires, booked_by, booked_at"
# A seat of one event: the map's row, and the event's state row if it has one (else available).
_SEAT_COLUMNS = (
    "s.label, st.locked_by, st.lock_expires, st.booked_by, st.booked_at, st.blocked_at,"
    " st.block_reason, s.section, s.seat_row, s.seat_number, s.category"
)
_HELD_SINCE = ", st.held_since"  # schema 5's last seat column
_SEAT_SOURCE = "seats AS s LEFT JOIN seat_states AS st ON st.show = ? AND st.seat = s.label"
# Every seat of the map with its place and whether it is available in one event at an instant.
# No ORDER BY: the selection sorts by map order itself, and sorting here would cost more.
_SEAT_SPOTS = f"""
SELECT s.label, s.section, s.seat_row, s.seat_number, s.category, {AVAILABLE_AT}, s.map_order
FROM seats AS s LEFT JOIN seat_states AS st ON st.show = %s AND st.seat = s.label
"""
# Every seat of the map with its place and its status in one event at an instant, map order.
_PLACED_STATES = f"""
SELECT s.label, s.section, s.seat_row, s.seat_number, s.category, {STATUS_AT}, s.map_order
FROM seats AS s LEFT JOIN seat_states AS st ON st.show = %s AND st.seat = s.label
ORDER BY s.map_order
"""
_EVENT_COLUMNS = "at, seat, action, user, expires_at, id, show, reason"
# Before schema 4 every change belonged to the one event there was.
_OLD_EVENT_COLUMNS = (
    "at, seat, action, user, expires_at, id,"
    " CASE WHEN action = 'add' THEN NULL ELSE 'default' END, NULL"
)
_TOKEN_COLUMNS = "id, user, created_at, expires_at, last_used_at, hash"
_CHUNK = 500  # well under SQLite's limit on bound parameters


class SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection, version: int) -> None:
        self._conn = conn
        self._version = version
        self._now: Instant | None = None
        self._settings: Settings | None = None
        # The seat columns this schema has (schema 5 adds each state's hold start).
        self._seat_columns = _SEAT_COLUMNS + (_HELD_SINCE if version >= 5 else "")

    def now(self) -> Instant:
        if self._now is None:
            self._now = clock.now()
        return self._now

    def default_ttl(self) -> int:
        return self.settings().ttl

    def set_default_ttl(self, ttl: int) -> None:
        self._set_meta("default_ttl", str(ttl))
        self._settings = None

    def settings(self) -> Settings:
        if self._settings is None:
            stored = dict(
                self._conn.execute(
                    "SELECT key, value FROM meta WHERE key IN (?, ?, ?)",
                    ("default_ttl", MAX_HOLD_KEY, MAX_SEATS_KEY),
                ).fetchall()
            )
            self._settings = records.settings(stored, DEFAULT_TTL)
        return self._settings

    def set_caps(self, max_hold: int, max_seats_per_user: int) -> None:
        self._set_meta(MAX_HOLD_KEY, str(max_hold))
        self._set_meta(MAX_SEATS_KEY, str(max_seats_per_user))
        self._settings = None

    def serialise_user(self, show: str, user: str) -> None:
        pass  # BEGIN IMMEDIATE already serialises every writer

    def live_lock_count(self, show: str, user: str, now: Instant) -> int:
        query = LIVE_LOCK_COUNT.replace("%s", "?")
        return int(self._conn.execute(query, (show, user, now)).fetchone()[0])

    def seats(self, labels: list[str], show: str = DEFAULT_SHOW) -> dict[str, Seat]:
        found: dict[str, Seat] = {}
        for start in range(0, len(labels), _CHUNK):
            chunk = labels[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            if self._version < 4:
                rows = self._conn.execute(
                    f"SELECT {_OLD_SEAT_COLUMNS} FROM seats WHERE label IN ({marks})", chunk
                )
            else:
                rows = self._conn.execute(
                    f"SELECT {self._seat_columns} FROM {_SEAT_SOURCE} WHERE s.label IN ({marks})",
                    [show, *chunk],
                )
            found.update((row[0], records.seat(row)) for row in rows)
        return found

    def seat_count(self) -> int:
        count: int = self._conn.execute("SELECT count(*) FROM seats").fetchone()[0]
        return count

    def all_seats(self, show: str = DEFAULT_SHOW) -> Iterator[Seat]:
        return map(records.seat, self._seat_rows(show))

    def _seat_rows(self, show: str = DEFAULT_SHOW) -> Iterator[tuple[Any, ...]]:
        if self._version < 4:
            return self._conn.execute(
                f"SELECT {_OLD_SEAT_COLUMNS} FROM seats ORDER BY sort_key, label"
            )
        return self._conn.execute(
            f"SELECT {self._seat_columns} FROM {_SEAT_SOURCE} ORDER BY s.sort_key, s.label",
            (show,),
        )

    def serialise_show(self, show: str) -> None:
        pass  # BEGIN IMMEDIATE already serialises every writer

    def seat_spots(self, show: str, now: Instant) -> Iterator[SpotRow]:
        if self._version < 4:
            return (
                (label, None, None, None, None, status == "available", n)
                for label, _, _, _, _, status, n in self.placed_states(show, now)
            )
        return iter(self._conn.execute(_SEAT_SPOTS.replace("%s", "?"), (now, show)))

    def map_row_firsts(self) -> Iterator[RowFirstsRow]:
        if self._version < 4:  # before the map: one row of seats without a place
            return iter([(None, None, None, 1)])
        return iter(self._conn.execute(MAP_ROW_FIRSTS))

    def row_spots(self, show: str, now: Instant, rows: list[RowKey]) -> Iterator[SpotRow]:
        if self._version < 4:
            return self.seat_spots(show, now)  # its only row
        query, params = row_spots_query(rows)
        return iter(self._conn.execute(query.replace("%s", "?"), (now, show, *params)))

    def placed_states(self, show: str, now: Instant) -> Iterator[PlacedState]:
        if self._version < 4:  # before the map: one row of seats in label order
            return (
                (seat.label, None, None, None, None, seat.status(now).value, n)
                for n, seat in enumerate(self.all_seats(), 1)
            )
        return iter(self._conn.execute(_PLACED_STATES.replace("%s", "?"), (now, show)))

    def seat_states(self) -> Iterator[tuple[str, Seat]]:
        """Every stored state row (event, seat record without its place), for `check`."""
        if self._version < 4:
            return ((DEFAULT_SHOW, seat) for seat in self.all_seats())
        rows = self._conn.execute(
            "SELECT show, seat, locked_by, lock_expires, booked_by, booked_at, blocked_at,"
            f" block_reason, NULL, NULL, NULL, NULL{self._held_since()} FROM seat_states"
            " ORDER BY show, seat"
        )
        return ((row[0], records.seat(row[1:])) for row in rows)

    def _held_since(self) -> str:
        """The hold-start column of a state row, if this schema has it."""
        return ", held_since" if self._version >= 5 else ""

    def save(self, seats: list[Seat], show: str = DEFAULT_SHOW) -> None:
        self._conn.executemany(
            "INSERT INTO seat_states (show, seat, locked_by, lock_expires, booked_by, booked_at,"
            " blocked_at, block_reason, held_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (show, seat) DO UPDATE SET locked_by = excluded.locked_by,"
            " lock_expires = excluded.lock_expires, booked_by = excluded.booked_by,"
            " booked_at = excluded.booked_at, blocked_at = excluded.blocked_at,"
            " block_reason = excluded.block_reason, held_since = excluded.held_since",
            [
                (
                    show,
                    s.label,
                    s.locked_by,
                    s.lock_expires,
                    s.booked_by,
                    s.booked_at,
                    s.blocked_at,
                    s.block_reason,
                    s.held_since,
                )
                for s in seats
            ],
        )

    def add_seats(self, labels: list[str], places: dict[str, Place] | None = None) -> list[str]:
        # Under BEGIN IMMEDIATE nobody else can add seats meanwhile: all of `labels` that are
        # missing now are created by this insert.
        existing = self.seats(labels)
        new = [label for label in labels if label not in existing]
        first = self._conn.execute("SELECT coalesce(max(map_order), 0) FROM seats").fetchone()[0]
        places = places or {}
        placed = [places.get(label, NO_PLACE) for label in new]
        columns = zip(*placed, strict=True) if placed else ((), (), (), ())
        # sqlite3 directly: sqlite-utils' insert_all costs more Python per row than the rest
        # of a 100,000-seat `init --map` together.
        self._conn.executemany(
            "INSERT INTO seats (label, sort_key, section, seat_row, seat_number, category,"
            " map_order) VALUES (?, ?, ?, ?, ?, ?, ?)",
            # Rows put together by zip at C speed: label, sort key, the place's four fields, order.
            zip(new, map(natural_key, new), *columns, itertools.count(first + 1)),
        )
        return new

    def places(self) -> dict[str, tuple[Place, int]]:
        """Every seat's place in the map and its map order (for `init --map`'s conflicts)."""
        if self._version < 4:
            return {}
        rows = self._conn.execute(
            "SELECT label, section, seat_row, seat_number, category, map_order FROM seats"
        )
        return {row[0]: (Place(*row[1:5]), row[5]) for row in rows}

    def show(self, name: str) -> Show | None:
        if self._version < 4:
            return Show(DEFAULT_SHOW) if name == DEFAULT_SHOW else None
        row = self._conn.execute(
            "SELECT name, title, starts_at FROM shows WHERE name = ?", (name,)
        ).fetchone()
        return Show(*row) if row else None

    def add_show(self, show: Show) -> bool:
        """Add the event; False if there is one of that name already."""
        cursor = self._conn.execute(
            "INSERT INTO shows (name, title, starts_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING",
            show,
        )
        return cursor.rowcount > 0

    def show_counts(self, now: Instant) -> list[tuple[Show, StatusCounts]]:
        """Every event, in the order they were added, with its seats counted by status."""
        total = self.seat_count()
        if self._version < 4:
            counts = count_statuses(seat.status(now) for seat in self.all_seats())
            return [(Show(DEFAULT_SHOW), counts)]
        rows = self._conn.execute(SHOW_COUNTS.replace("%s", "?"), (now,))
        return [(Show(*row[:3]), status_counts(total, *row[3:])) for row in rows]

    def append_adds(self, labels: list[str], at: Instant) -> None:
        # Rows zipped at C speed, the action a constant: a 100,000-seat `init --map` pays no
        # Python per event.
        self._conn.executemany(
            "INSERT INTO events (at, seat, action) VALUES (?, ?, 'add')",
            zip(itertools.repeat(at), labels),
        )

    def append_events(self, events: list[Event]) -> None:
        self._conn.executemany(
            "INSERT INTO events (at, seat, action, user, expires_at, show, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            # An Action is a str: bound as its text, without a Python call per event for .value.
            [
                (at, seat, action, user, expires_at, show, reason)
                for at, seat, action, user, expires_at, _, show, reason in events
            ],
        )

    def events(self, show: str | None = None) -> list[Event]:
        """The history in commit order: all of it, or that of one event (with the seats' adds)."""
        if self._version < 2:  # read before the first write upgraded it: what it would seed
            from seatctl.history import seed_events

            return seed_events(self.all_seats(), self.now())
        return [records.event(row) for row in self._event_rows(show)]

    def _event_rows(self, show: str | None = None) -> Iterator[tuple[Any, ...]]:
        columns = _EVENT_COLUMNS if self._version >= 4 else _OLD_EVENT_COLUMNS
        if show is None or self._version < 4:
            return self._conn.execute(f"SELECT {columns} FROM events ORDER BY id")
        return self._conn.execute(
            f"SELECT {columns} FROM events WHERE show = ? OR show IS NULL ORDER BY id", (show,)
        )

    def events_after(self, show: str, after: int, limit: int) -> list[Event]:
        if self._version < 2:  # no history yet: nothing to tell
            return []
        if self._version < 4:
            rows = self._conn.execute(
                f"SELECT {_OLD_EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            )
        else:
            rows = self._conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE id > ? AND (show = ? OR show IS NULL)"
                " ORDER BY id LIMIT ?",
                (after, show, limit),
            )
        return [records.event(row) for row in rows]

    def newest_event_id(self) -> int:
        if self._version < 2:
            return 0
        return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    def event_at_through(self, show: str, event_id: int) -> Instant | None:
        if self._version < 2:
            return None
        condition = " AND (show = ? OR show IS NULL)" if self._version >= 4 else ""
        row = self._conn.execute(
            f"SELECT at, seat FROM events WHERE id <= ?{condition} ORDER BY id DESC LIMIT 1",
            (event_id, show) if condition else (event_id,),
        ).fetchone()
        return records.newest_instant(row[1], row[0]) if row is not None else None

    def hold_starts(self, labels: list[str], show: str, through: int) -> dict[str, Instant]:
        if self._version < 2:
            return {}
        condition = " AND show = ?" if self._version >= 4 else ""
        starts: dict[str, Instant] = {}
        for label in labels:  # one seat at a time, through the (seat, at) index
            at = self._conn.execute(
                f"SELECT max(at) FROM events WHERE seat = ? AND action = 'lock' AND id <= ?"
                f"{condition}",
                (label, through, show) if condition else (label, through),
            ).fetchone()[0]
            if at is not None:
                starts[label] = records.newest_instant(label, at)
        return starts

    def latest_event_at(self, labels: list[str], show: str = DEFAULT_SHOW) -> dict[str, Instant]:
        if self._version < 2:  # no history yet: a write upgrades the schema before asking
            return {}
        latest: dict[str, Instant] = {}
        condition = " AND (show = ? OR show IS NULL)" if self._version >= 4 else ""
        for label in labels:
            # One seat at a time, read through the (seat, at) index; an event's changes are
            # its own, and a seat's `add` (no event) belongs to every event.
            at = self._conn.execute(
                f"SELECT max(at) FROM events WHERE seat = ?{condition}",
                (label, show) if condition else (label,),
            ).fetchone()[0]
            if at is not None:
                latest[label] = records.newest_instant(label, at)
        return latest

    def seeded_through(self) -> int:
        if self._version < 2:
            return len(self.events())
        return records.seeded_through(self._meta("seeded_through"))

    def damaged_records(self) -> list[str]:
        events = self._event_rows() if self._version >= 2 else ()
        settings = {key: self._meta(key) for key in ("default_ttl", MAX_HOLD_KEY, MAX_SEATS_KEY)}
        if self._version >= 2:
            settings["seeded"] = self._meta("seeded_through")
        if self._version < 4:
            return records.problems(self._seat_rows(), events, settings)
        held = ", NULL" if self._version >= 5 else ""
        map_rows = self._conn.execute(
            "SELECT label, NULL, NULL, NULL, NULL, NULL, NULL, section, seat_row, seat_number,"
            f" category{held} FROM seats ORDER BY sort_key, label"
        )
        state_rows = self._conn.execute(
            "SELECT seat, locked_by, lock_expires, booked_by, booked_at, blocked_at,"
            f" block_reason, NULL, NULL, NULL, NULL{self._held_since()} FROM seat_states"
            " ORDER BY show, seat"
        )
        return records.problems(itertools.chain(map_rows, state_rows), events, settings)

    def add_token(self, token_hash: str, user: str, expires_at: Instant | None) -> int:
        # Ids are never reused, although a revoked token's row is deleted: a script that
        # revokes an id it stored must not revoke someone else's newer token. The highest id
        # given out is kept in meta (PostgreSQL's identity column never goes back itself).
        given = self._meta(LAST_TOKEN_KEY) or ""
        newest = int(self._conn.execute("SELECT coalesce(max(id), 0) FROM tokens").fetchone()[0])
        token_id = max(int(given) if given.isdigit() else 0, newest) + 1
        self._conn.execute(
            "INSERT INTO tokens (id, hash, user, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (token_id, token_hash, user, self.now(), expires_at),
        )
        self._set_meta(LAST_TOKEN_KEY, str(token_id))
        return token_id

    def token(self, token_hash: str) -> Token | None:
        if self._version < 3:  # read before the first write upgraded it: no tokens yet
            return None
        row = self._conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE hash = ?", (token_hash,)
        ).fetchone()
        return Token(*row) if row else None

    def tokens(self) -> list[Token]:
        if self._version < 3:
            return []
        rows = self._conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY id")
        return [Token(*row) for row in rows]

    def touch_token(self, token_id: int) -> None:
        self._conn.execute(
            "UPDATE tokens SET last_used_at = ? WHERE id = ?", (self.now(), token_id)
        )

    def delete_token(self, token_id: int) -> bool:
        return self._conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount > 0

    def upgrade(self) -> None:
        """Bring an older database to the current version, inside the caller's write
        transaction: 1 -> 2 seeds the history from the seats, 2 -> 3 adds the tokens table,
        3 -> 4 moves the seats' states to the event `default` and adds the seat map, 4 -> 5
        adds each state's hold start (from the history), after the seeds it may need."""
        seeds: list[Event] = []
        if self._version < 2:
            from seatctl.history import seed_events

            _create_events_table(self._conn, with_shows=False)
            seeds = seed_events(self.all_seats(), self.now())
            self._set_meta("seeded_through", str(len(seeds)))
        _create_events_seat_at_index(self._conn)
        _create_tokens_table(self._conn)
        if self._version < 4:
            _upgrade_to_4(self._conn)
        _add_held_since(self._conn)
        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._version = SCHEMA_VERSION
        self.append_events(seeds)
        self._conn.execute(HELD_SINCE_FROM_HISTORY)

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class SqliteStore:
    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn = conn
        self.location = location
        self.created = False
        self._may_create = False
        self._closed = False
        self._group_version: int | None = None  # set while `group()` holds a transaction open
        self._busy = False  # a transaction is open on this connection
        self._spare: SqliteStore | None = None
        # The file `init` is about to fill, which holds no database yet: (device, inode) to
        # undo it by if `init` never commits, and whether this store created it.
        self._unfilled: tuple[tuple[int, int], bool] | None = None
        # New tables get their indexes once the transaction that made them has filled them:
        # `init --map` of 100,000 seats sorts each index once instead of updating it per row.
        self._unindexed = False
        self.read_only: str | None = None  # why this user may only read it
        self._usable = False  # opened as a seatctl database this version can use
        self._indexed = False  # this connection has made sure of the (seat, at) index
        self._data_version: int | None = None  # as `wait_for_change` last read it

    @classmethod
    def open(cls, path: str, create: bool = False) -> SqliteStore:
        if os.path.isdir(path):
            raise database_error(Reason.BAD_DATABASE, f"{path} is a directory, not a database")
        new_file = not os.path.exists(path)
        empty_file = not new_file and create and os.path.getsize(path) == 0
        if new_file:
            if not create:
                raise database_error(
                    Reason.NO_DATABASE, f"no database at {path}: run 'seatctl init' first"
                )
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise database_error(
                    Reason.BAD_DATABASE, f"cannot create {path}: no directory {folder}"
                )
            _create_owner_only(path)
        read_only = _read_only_reason(path, create) if os.path.exists(path) else None
        with translated_errors(path):
            conn = _connect_read_only(path) if read_only else _connect(path, create)
            store = cls(conn, path)
            store.read_only = read_only
            try:
                if new_file or empty_file:
                    store._unfilled = (_identity(path), new_file)
                store._check_schema(create)
                if not read_only:  # a reader cannot switch it; it reads it in any mode
                    store._switch_to_wal()
            except BaseException:
                store.close()
                raise
        store._usable = True
        return store

    def _version(self) -> int:
        version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    def _check_schema(self, create: bool) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise database_error(
                Reason.NEWER_SCHEMA,
                f"{self.location} was written by a newer seatctl (schema {version});"
                " upgrade seatctl to use it",
            )
        if version > 0:
            return
        has_tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        if has_tables:
            raise database_error(
                Reason.BAD_DATABASE, f"{self.location} is a SQLite database, but not seatctl's"
            )
        if not create:
            raise database_error(
                Reason.NO_DATABASE,
                f"{self.location} is not initialised: run 'seatctl init' first",
            )
        # The tables are made by the first write transaction, together with what it adds, so
        # a failed `init` leaves a file without any table, as uninitialised as it was.
        self._may_create = True

    def _switch_to_wal(self) -> None:
        """Put the database in WAL mode, where readers never block the one writer.

        A new database is switched before the transaction that creates it, so that `init`
        cannot commit and then fail; one found in another mode (switched by another tool, or
        left so by an older seatctl) is switched before any command uses it. The switch needs
        the file to itself: while others still read it after the busy timeout, say so.
        """
        if self._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if _error_code(exc) not in (_BUSY, _LOCKED):
                raise
            raise database_error(
                Reason.BUSY,
                f"cannot switch {self.location} to WAL mode: another process is still using it"
                " after waiting; try again",
            ) from exc
        if mode != "wal":
            raise database_error(
                Reason.BAD_DATABASE,
                f"cannot switch {self.location} to WAL mode: SQLite left it in {mode} mode",
            )

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[SqliteTransaction]:
        if self._group_version is not None:
            with self._savepoint(self._group_version) as tx:
                yield tx
            return
        if write and self.read_only:
            raise _read_only(self.location, self.read_only)
        if self._busy:  # a listing (Venue.iter_seats) is still reading on this connection
            with self._beside().transaction(write) as tx:
                yield tx
            return
        self._busy = True
        try:
            with self._transaction(write) as tx:
                yield tx
        finally:
            self._busy = False

    def _beside(self) -> SqliteStore:
        """Another connection to the database, kept for transactions that start while one is
        still open on this connection: in WAL mode they neither wait for nor disturb it."""
        if self._spare is None:
            self._spare = SqliteStore.open(self.location)
        return self._spare

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[SqliteTransaction]:
        with translated_errors(self.location):
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                tx = SqliteTransaction(self._conn, self._prepared_version(write))
                yield tx
                if self._unindexed:
                    _create_indexes(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed: SQLite then keeps the transaction (and the
                # write lock) open, and every later transaction here would fail to begin.
                self._roll_back()
                raise
            finally:
                self._unindexed = False  # made and committed, or rolled back with the tables
            if self.created:
                self._unfilled = None  # the database exists now: the file is here to stay

    def _roll_back(self) -> None:
        # A listing abandoned midway (`seatctl seats | head`) may be finalised after the store
        # was closed, which already ended its transaction; SQLite itself ends some on error.
        if not self._closed and self._conn.in_transaction:
            # If even ROLLBACK fails, the error that got us here is the one to report.
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """One write transaction for several operations (group commit): each `transaction()`
        inside it is a savepoint, all or nothing on its own, and all of them become durable
        with one COMMIT when the group ends. Callers report success only after that."""
        with self.transaction(write=True) as tx:
            self._group_version = tx._version
            try:
                yield
            finally:
                self._group_version = None

    @contextlib.contextmanager
    def _savepoint(self, version: int) -> Iterator[SqliteTransaction]:
        with translated_errors(self.location):
            self._conn.execute("SAVEPOINT seatctl_operation")
            try:
                yield SqliteTransaction(self._conn, version)
            except BaseException:
                self._conn.execute("ROLLBACK TO seatctl_operation")
                self._conn.execute("RELEASE seatctl_operation")
                raise
            self._conn.execute("RELEASE seatctl_operation")

    def _prepared_version(self, write: bool) -> int:
        """The schema version, after creating or upgrading it inside a write transaction."""
        version = self._version()
        if write and version == 0 and self._may_create:  # else another init won the race
            _create_tables(self._conn)
            self._unindexed = True  # until this transaction, which fills them, commits
            self.created = True
        elif write and version < SCHEMA_VERSION:
            SqliteTransaction(self._conn, version).upgrade()
        else:
            if write and not self._indexed and version >= 2:
                _create_lookup_indexes(self._conn, version)  # a no-op once they exist
                self._indexed = True
            return version
        self._indexed = True  # created with the events table, or already there
        return SCHEMA_VERSION

    def wait_for_change(self, timeout: float) -> bool:
        # data_version moves when another connection commits; reading it is not a query of
        # any table, so a change stream may poll it often. The first call cannot compare.
        deadline = time.monotonic() + timeout
        with translated_errors(self.location):
            while True:
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                if version != self._data_version:
                    self._data_version = version
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                time.sleep(min(CHANGE_POLL_SECONDS, left))

    def integrity_problems(self) -> list[str]:
        with translated_errors(self.location):
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return [] if rows == [("ok",)] else [f"integrity_check: {row[0]}" for row in rows]

    def backup(self, dest: str, force: bool = False) -> None:
        from seatctl.storage.sqlite_backup import backup

        backup(self._conn, self.location, dest, force)

    def close(self) -> None:
        self._closed = True
        if self._spare is not None:
            self._spare.close()
        try:
            if self._unfilled is not None:
                self._undo_unfinished_file(*self._unfilled)
        finally:
            self._conn.close()
        if self._usable and not self.read_only:  # never a file it refused, or one it undid
            access.keep_side_files(self.location)  # for readers who may not make them

    def _undo_unfinished_file(self, identity: tuple[int, int], created: bool) -> None:
        """Put the file back as `init` found it if no database was ever committed into it (an
        `init` that failed or was interrupted): remove the file this store created, so that
        commands go on saying "no database", or empty again the empty file it was given.

        Under the write lock no other `init` can be filling it; if another one already did,
        the file is kept. One that opened the file but has not written yet cannot write into
        a removed file (SQLite refuses), so its failure is loud, never a lost database.
        """
        self._unfilled = None
        with contextlib.suppress(sqlite3.Error, OSError):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if _identity(self.location) == identity and self._holds_nothing():
                    for suffix in access.SIDE_FILES:  # switching to WAL mode made these
                        with contextlib.suppress(FileNotFoundError):
                            os.remove(self.location + suffix)
                    if created:
                        os.remove(self.location)
                    else:
                        os.truncate(self.location, 0)
            finally:
                self._conn.execute("ROLLBACK")

    def _holds_nothing(self) -> bool:
        count = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        return self._version() == 0 and count == 0


def _create_tables(conn: sqlite3.Connection) -> None:
    db = _toolkit(conn)
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["seats"].create(
        {
            "label": str,
            "sort_key": str,
            "section": str,
            "seat_row": str,
            "seat_number": int,
            "category": str,
            "map_order": int,
        },
        pk="label",
        not_null={"sort_key"},
        if_not_exists=True,
    )
    _create_events_table(conn, with_shows=True, indexed=False)
    _create_tokens_table(conn)
    _create_show_tables(conn)
    _add_held_since(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _create_indexes(conn: sqlite3.Connection) -> None:
    """The indexes of the tables `_create_tables` made."""
    _toolkit(conn)["seats"].create_index(["sort_key", "label"], if_not_exists=True)
    _create_events_indexes(conn)
    conn.execute(CREATE_SEATS_PLACE_INDEX)


def _create_events_table(conn: sqlite3.Connection, with_shows: bool, indexed: bool = True) -> None:
    db = _toolkit(conn)
    columns: dict[str, type] = {
        "id": int,
        "at": int,
        "seat": str,
        "action": str,
        "user": str,
        "expires_at": int,
    }
    if with_shows:
        columns |= {"show": str, "reason": str}
    db["events"].create(columns, pk="id", not_null={"at", "seat", "action"}, if_not_exists=True)
    if indexed:
        _create_events_indexes(conn)


def _create_events_indexes(conn: sqlite3.Connection) -> None:
    _toolkit(conn)["events"].create_index(["seat", "id"], if_not_exists=True)
    _create_events_seat_at_index(conn)


def _create_events_seat_at_index(conn: sqlite3.Connection) -> None:
    """The index a write's clock check reads each seat's newest instant from. Not part of
    the data model (older seatctl versions use such a database unchanged), so it carries no
    schema version: a database from before it gets it with the first write of a connection."""
    conn.execute("CREATE INDEX IF NOT EXISTS events_seat_at ON events (seat, at)")


def _create_lookup_indexes(conn: sqlite3.Connection, version: int) -> None:
    """The indexes outside the data model that a database from before them lacks: the
    clock check's, and from schema 4 (the map) `lock --best`'s seats_place."""
    _create_events_seat_at_index(conn)
    if version >= 4:
        conn.execute(CREATE_SEATS_PLACE_INDEX)


# `shows` holds the events (shows): the name `events` is the history's, since schema 2. A seat
# without a row in `seat_states` for an event is available in it, so adding an event is one row.
_CREATE_SHOW_TABLES = """
CREATE TABLE IF NOT EXISTS shows (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, title TEXT, starts_at INTEGER
);
CREATE TABLE IF NOT EXISTS seat_states (
    show TEXT NOT NULL, seat TEXT NOT NULL, locked_by TEXT, lock_expires INTEGER,
    booked_by TEXT, booked_at INTEGER, blocked_at INTEGER, block_reason TEXT,
    PRIMARY KEY (show, seat)
);
INSERT INTO shows (name) VALUES ('default') ON CONFLICT (name) DO NOTHING;
"""


def _create_show_tables(conn: sqlite3.Connection) -> None:
    for statement in _CREATE_SHOW_TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)


def _upgrade_to_4(conn: sqlite3.Connection) -> None:
    """Schema 3 -> 4, losslessly: the seats' states become those of the event `default`, and
    so does every change in the history (a seat's `add` belongs to the map, every event)."""
    _create_show_tables(conn)
    conn.execute(
        "INSERT INTO seat_states (show, seat, locked_by, lock_expires, booked_by, booked_at)"
        " SELECT 'default', label, locked_by, lock_expires, booked_by, booked_at FROM seats"
        " WHERE locked_by IS NOT NULL OR lock_expires IS NOT NULL OR booked_by IS NOT NULL"
        " OR booked_at IS NOT NULL"
    )
    for column in ("locked_by", "lock_expires", "booked_by", "booked_at"):
        conn.execute(f"ALTER TABLE seats DROP COLUMN {column}")
    for column, kind in _MAP_COLUMNS:
        conn.execute(f"ALTER TABLE seats ADD COLUMN {column} {kind}")
    conn.execute(MAP_ORDER_BY_LABEL)
    conn.execute("ALTER TABLE events ADD COLUMN show TEXT")
    conn.execute("ALTER TABLE events ADD COLUMN reason TEXT")
    conn.execute("UPDATE events SET show = 'default' WHERE action != 'add'")
    conn.execute(CREATE_SEATS_PLACE_INDEX)


def _add_held_since(conn: sqlite3.Connection) -> None:
    """Schema 4 -> 5's tables: each state's hold start, and the index a user's locks are
    counted off (filled by HELD_SINCE_FROM_HISTORY once the history is complete)."""
    conn.execute("ALTER TABLE seat_states ADD COLUMN held_since INTEGER")
    conn.execute(HOLDER_INDEX)


_MAP_COLUMNS = (
    ("section", "TEXT"),
    ("seat_row", "TEXT"),
    ("seat_number", "INTEGER"),
    ("category", "TEXT"),
    ("map_order", "INTEGER"),
)


def _create_tokens_table(conn: sqlite3.Connection) -> None:
    # Only a hash of each token is stored; `hash` is unique, so a token is found by its hash.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tokens (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
        " user TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER,"
        " last_used_at INTEGER)"
    )


def _create_owner_only(path: str) -> None:
    """Make the new database file readable by its owner only (0600), whatever the umask: it
    holds every user's name, the history and the token hashes. SQLite gives its -wal and -shm
    files the database's mode. Who wants a group to read it says so with chmod afterwards:
    an existing file's mode is never changed."""
    with contextlib.suppress(OSError):  # made meanwhile, or not allowed: SQLite says which
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


def _connect(path: str, create: bool) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        # As bytes: a file name need not be valid UTF-8 (undecodable bytes are surrogates here).
        f"file:{quote(os.fsencode(os.path.abspath(path)))}?mode={mode}",
        uri=True,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
    )
    # A booking that was reported must survive a power cut, not just a crash.
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _identity(path: str) -> tuple[int, int]:
    """Which file `path` names now: the same name may be given to a new file."""
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _read_only_reason(path: str, create: bool) -> str | None:
    """Why this user may only read the existing file at `path`; raises if it may not even
    read it the safe way (or wants to change it with `init`)."""
    if not os.access(path, os.R_OK):
        raise database_error(Reason.READ_ONLY, f"{path} cannot be read by this user")
    why = access.why_read_only(path)
    if why and create:
        raise _read_only(path, why)
    if why and _reader_would_create_side_files(path):
        raise database_error(
            Reason.READ_ONLY,
            f"{path} is read-only here ({why}) and has no -wal and -shm files, which a"
            " reader needs and may not create: run any seatctl command on it once as a"
            " user who can write it (seatctl then keeps them)",
        )
    return why


def _reader_would_create_side_files(path: str) -> bool:
    """Whether SQLite would make -wal and -shm files to read `path`: they would belong to this
    user, with the database's mode, and refuse the owner's later writes. On a read-only
    filesystem it makes nothing (see _connect_read_only)."""
    return (
        access.in_wal_mode(path)
        and not access.has_side_files(path)
        and not access.on_read_only_filesystem(path)
    )


def _connect_read_only(path: str) -> sqlite3.Connection:
    # On a read-only filesystem nothing can change the file while it is read, so SQLite may
    # skip locking and the missing -wal and -shm files (`immutable`).
    immutable = not access.has_side_files(path) and access.on_read_only_filesystem(path)
    name = quote(os.fsencode(os.path.abspath(path)))  # as in _connect: any bytes a name may hold
    return sqlite3.connect(
        f"file:{name}?mode=ro{'&immutable=1' if immutable else ''}",
        uri=True,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
    )


def _read_only(location: str, why: str | None = None) -> SeatctlError:
    because = f" ({why})" if why else ""
    return database_error(
        Reason.READ_ONLY,
        f"{location} is read-only here{because}: changing it needs write access to it, its"
        " folder and its -wal and -shm files",
    )


def _toolkit(conn: sqlite3.Connection) -> Any:  # sqlite_utils.Database, imported only when used
    import sqlite_utils

    return sqlite_utils.Database(conn, execute_plugins=False, recursive_triggers=False)


# SQLite's primary result codes (https://sqlite.org/rescode.html) that a user can cause.
_BUSY, _LOCKED, _READONLY, _CANTOPEN, _CORRUPT, _NOTADB = 5, 6, 8, 14, 11, 26


@contextlib.contextmanager
def translated_errors(location: str) -> Iterator[None]:
    """Turn sqlite3's exceptions into seatctl's exit-6 errors with a clear message."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _database_error(exc, location) from exc
    except UnicodeDecodeError as exc:  # SQLite quoting bytes of a damaged file back at us
        raise database_error(
            Reason.BAD_DATABASE, f"{location} is not a usable SQLite database (damaged text)"
        ) from exc


def _error_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code behind `exc`."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def _database_error(exc: sqlite3.Error, location: str) -> SeatctlError:
    code = _error_code(exc)
    if code in (_BUSY, _LOCKED):
        return database_error(Reason.BUSY, f"{location} is still busy after waiting; try again")
    if code == _READONLY:
        return _read_only(location)
    if code in (_NOTADB, _CORRUPT):
        return database_error(
            Reason.BAD_DATABASE, f"{location} is not a usable SQLite database ({exc})"
        )
    if code == _CANTOPEN:
        return database_error(Reason.BAD_DATABASE, f"cannot open {location} ({exc})")
    return database_error(Reason.BAD_DATABASE, f"database error on {location}: {exc}")

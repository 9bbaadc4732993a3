"""The PostgreSQL backend: one server shared by many hosts, row locks instead of one write lock.

Chosen by a `postgresql://` (or `postgres://`) URL. Every command is one transaction. A write
transaction runs at READ COMMITTED and locks the rows of the seats it names (`FOR UPDATE`, in
label order) before deciding, so its checks hold until it commits and commands on different
seats never wait for each other. "Now" is the server's clock, so hosts with skewed clocks agree.

psycopg is imported here and nowhere else: the SQLite path never pays for it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote

from seatctl.core import clock
from seatctl.core.clock import Instant
from seatctl.core.errors import (
    Reason,
    SeatctlError,
    SeatctlWarning,
    busy_error,
    database_error,
    usage_error,
)
from seatctl.core.model import (
    DEFAULT_SHOW,
    NO_PLACE,
    Action,
    HistoryEntry,
    Place,
    Seat,
    Settings,
    Show,
    StatusCounts,
    Token,
    count_statuses,
    status_counts,
)
from seatctl.core.validate import natural_key
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
    records,
    row_spots_query,
)

try:
    import psycopg
except ImportError:  # the optional extra is not installed; `PostgresStore.open` says how to fix it
    psycopg = None  # type: ignore[assignment]

# psycopg logs a warning when a failed pipeline cannot be ended cleanly; with no logging set
# up, Python would print it on stderr beside seatctl's one error line, which already says what
# went wrong. A program that configures logging still receives it.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    Connection = psycopg.Connection[tuple[Any, ...]]

# The same number as SQLite's SCHEMA_VERSION: it numbers the data model (2: seats, meta and the
# events history; 3: the tokens of `seatctl serve`; 4: the seat map, events (shows) and their
# seat states; 5: each seat state's hold start, the fairness caps, `settings` events), which
# both backends share. PostgreSQL databases started at 2; an older one is upgraded in its
# first write.
SCHEMA_VERSION = 5
BUSY_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 10
INSTALL_HINT = "pip install 'seatctl[postgres]'"

_OLD_SEAT_COLUMNS = "label, locked_by, lock_expires, booked_by, booked_at"
# A seat of one event: the map's row, and the event's state row if it has one (else available).
_SEAT_COLUMNS = (
    "s.label, st.locked_by, st.lock_expires, st.booked_by, st.booked_at, st.blocked_at,"
    " st.block_reason, s.section, s.seat_row, s.seat_number, s.category"
)
_HELD_SINCE = ", st.held_since"  # schema 5's last seat column
_SEAT_SOURCE = "seats AS s LEFT JOIN seat_states AS st ON st.show = %s AND st.seat = s.label"
_EVENT_COLUMNS = 'at, seat, action, "user", expires_at, id, show, reason'  # `user` is reserved
_OLD_EVENT_COLUMNS = (
    'at, seat, action, "user", expires_at, id,'
    " CASE WHEN action = 'add' THEN NULL ELSE 'default' END, NULL"
)
_TOKEN_COLUMNS = 'id, "user", created_at, expires_at, last_used_at, hash'
_TABLES = ("meta", "seats", "events", "tokens", "shows", "seat_states")
# The server's clock when first asked in a transaction (after the command has locked its seats,
# so a command that queued behind another acts at the time it got them), truncated to the
# second like the local clock. The transaction caches it: one "now" per transaction.
# Writers NOTIFY on it (with their schema) when they add to the history; change streams LISTEN.
CHANGES_CHANNEL = "seatctl_changes"
_SERVER_NOW = "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint"

# Labels are ASCII and must sort exactly as in SQLite (byte order), whatever the database's
# default collation, hence COLLATE "C" (linguistic collations ignore punctuation, fold case).
_CREATE_TABLES = """
CREATE TABLE meta (key text PRIMARY KEY, value text);
CREATE TABLE seats (
    label text COLLATE "C" PRIMARY KEY,
    sort_key text COLLATE "C" NOT NULL,
    section text,
    seat_row text,
    seat_number bigint,
    category text,
    map_order bigint
);
CREATE INDEX seats_sort_key_label ON seats (sort_key, label);
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at bigint NOT NULL,
    seat text COLLATE "C" NOT NULL,
    action text NOT NULL,
    "user" text,
    expires_at bigint,
    show text COLLATE "C",
    reason text
);
CREATE INDEX events_seat_id ON events (seat, id);
CREATE INDEX events_seat_at ON events (seat, at);
"""
# `shows` holds the events (shows): `events` is the history's name since schema 2. A seat without
# a row in `seat_states` for an event is available in it, so adding an event is one row.
_CREATE_SHOW_TABLES = """
CREATE TABLE IF NOT EXISTS shows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text COLLATE "C" NOT NULL UNIQUE,
    title text,
    starts_at bigint
);
CREATE TABLE IF NOT EXISTS seat_states (
    show text COLLATE "C" NOT NULL,
    seat text COLLATE "C" NOT NULL,
    locked_by text,
    lock_expires bigint,
    booked_by text,
    booked_at bigint,
    blocked_at bigint,
    block_reason text,
    PRIMARY KEY (show, seat)
);
INSERT INTO shows (name) VALUES ('default') ON CONFLICT (name) DO NOTHING;
"""
# Schema 4 -> 5 (and a new schema): each state's hold start, filled from the history.
_ADD_HELD_SINCE = f"""
ALTER TABLE seat_states ADD COLUMN IF NOT EXISTS held_since bigint;
{HOLDER_INDEX};
"""
# Schema 2 or 3 -> 4, losslessly: the seats' states become those of the event `default`, and so
# does every change in the history (a seat's `add` belongs to the map, so to every event).
_UPGRADE_TO_4 = """
INSERT INTO seat_states (show, seat, locked_by, lock_expires, booked_by, booked_at)
    SELECT 'default', label, locked_by, lock_expires, booked_by, booked_at FROM seats
    WHERE locked_by IS NOT NULL OR lock_expires IS NOT NULL OR booked_by IS NOT NULL
        OR booked_at IS NOT NULL;
ALTER TABLE seats DROP COLUMN locked_by, DROP COLUMN lock_expires, DROP COLUMN booked_by,
    DROP COLUMN booked_at, ADD COLUMN section text, ADD COLUMN seat_row text,
    ADD COLUMN seat_number bigint, ADD COLUMN category text, ADD COLUMN map_order bigint;
ALTER TABLE events ADD COLUMN show text COLLATE "C", ADD COLUMN reason text;
UPDATE events SET show = 'default' WHERE action != 'add';
"""
# The index a write's clock check reads each seat's newest instant from. Not part of the data
# model (older seatctl versions use such a schema unchanged), so it carries no schema version:
# a schema from before it gets it with the first write of a connection.
_CREATE_SEAT_AT_INDEX = "CREATE INDEX IF NOT EXISTS events_seat_at ON events (seat, at)"
# The same for `lock --best`'s index of the map's places (storage.CREATE_SEATS_PLACE_INDEX).
_HAS_LOOKUP_INDEXES = (
    "SELECT to_regclass(quote_ident(current_schema()) || '.events_seat_at') IS NOT NULL"
    " AND to_regclass(quote_ident(current_schema()) || '.seats_place') IS NOT NULL"
)
# Only a hash of each token is stored; a token is found by its (unique) hash.
_CREATE_TOKENS = """
CREATE TABLE IF NOT EXISTS tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash text NOT NULL UNIQUE,
    "user" text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    last_used_at bigint
);
"""

# Creating the tables and adding seats are serialised per schema, so concurrent `init`s neither
# collide on CREATE TABLE nor deadlock inserting overlapping labels in different orders. The
# lock is transaction-scoped: a crashed init cannot leave it held.
_SEATCTL_LOCK_CLASS = 0x5EA7
_SCHEMA_LOCK = f"SELECT pg_advisory_xact_lock({_SEATCTL_LOCK_CLASS}, hashtext(current_schema()))"

# The map's rows are locked (a state row may not exist yet): one event's writers on a seat queue,
# as do those of different events on it, which is rare and brief. The states are read by a
# second statement, after the wait: at READ COMMITTED it sees what the writers it waited for
# committed (a locking join would recheck only the locked rows, not a state row inserted since).
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
_SHOW_LOCK = (
    f"SELECT pg_advisory_xact_lock({_SEATCTL_LOCK_CLASS + 1},"
    " hashtext(current_schema() || '/' || %s))"
)
# One user's locks in one event queue here, so each counts the user's live locks with every
# earlier one committed (max-seats-per-user). A hash collision only makes two users queue.
_USER_LOCK = (
    f"SELECT pg_advisory_xact_lock({_SEATCTL_LOCK_CLASS + 2},"
    " hashtext(current_schema() || '/' || %s || '/' || %s))"
)
_LOCK_SEATS = "SELECT label FROM seats WHERE label = ANY(%s) ORDER BY label FOR UPDATE"
_READ_SEATS = f"SELECT {_SEAT_COLUMNS} FROM {_SEAT_SOURCE} WHERE s.label = ANY(%s)"
_READ_SEATS_5 = f"SELECT {_SEAT_COLUMNS}{_HELD_SINCE} FROM {_SEAT_SOURCE} WHERE s.label = ANY(%s)"
_LOCK_OLD_SEATS = (
    f"SELECT {_OLD_SEAT_COLUMNS} FROM seats WHERE label = ANY(%s) ORDER BY label FOR UPDATE"
)
# Which of the seats other transactions hold locked right now (a look, not a wait).
_HELD_SEATS = """
SELECT label FROM seats WHERE label = ANY(%(labels)s) EXCEPT
SELECT label FROM (
    SELECT label FROM seats WHERE label = ANY(%(labels)s) FOR UPDATE SKIP LOCKED
) AS free
"""

_FIND_TABLES = """
SELECT current_schema(), ARRAY(
    SELECT relname::text FROM pg_class
    WHERE relnamespace = to_regnamespace(current_schema()) AND relname = ANY(%s)
)
"""


class PostgresTransaction:
    def __init__(
        self, conn: Connection, write: bool, version: int = SCHEMA_VERSION, location: str = ""
    ) -> None:
        self._conn = conn
        self._write = write
        self._location = location
        self._now: Instant | None = None
        self._version = version
        self._settings: Settings | None = None
        # The seat columns this schema has (schema 5 adds each state's hold start).
        self._seat_columns = _SEAT_COLUMNS + (_HELD_SINCE if version >= 5 else "")
        self.overridden = False  # this write acted at SEATCTL_NOW instead of the server's time
        # The command's whole budget for waiting on other writers (not a booking instant, so
        # not seatctl.core.clock's time).
        self._deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS

    def now(self) -> Instant:
        if self._now is None:
            override = clock.clock_override()
            # The server's clock, the same for every host; read once per transaction.
            self._now = override if override is not None else self._server_now()
            self.overridden = override is not None and self._write
        return self._now

    def _server_now(self) -> Instant:
        now: Instant = self._value(_SERVER_NOW)
        return now

    def default_ttl(self) -> int:
        return self.settings().ttl

    def set_default_ttl(self, ttl: int) -> None:
        # Like adding seats, under the schema lock: an init then waits once, for that lock.
        self._conn.execute(_SCHEMA_LOCK)
        self._set_meta("default_ttl", str(ttl))
        self._settings = None

    def settings(self) -> Settings:
        if self._settings is None:
            rows = self._conn.execute(
                "SELECT key, value FROM meta WHERE key = ANY(%s)",
                (["default_ttl", MAX_HOLD_KEY, MAX_SEATS_KEY],),
            ).fetchall()
            self._settings = records.settings(dict(rows), DEFAULT_TTL)
        return self._settings

    def set_caps(self, max_hold: int, max_seats_per_user: int) -> None:
        self._conn.execute(_SCHEMA_LOCK)
        self._set_meta(MAX_HOLD_KEY, str(max_hold))
        self._set_meta(MAX_SEATS_KEY, str(max_seats_per_user))
        self._settings = None

    def serialise_user(self, show: str, user: str) -> None:
        # Bounded by lock_timeout like the event's lock; the seats' budget starts after it.
        self._conn.execute(_USER_LOCK, (show, user))
        self._deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS

    def live_lock_count(self, show: str, user: str, now: Instant) -> int:
        row = self._conn.execute(LIVE_LOCK_COUNT, (show, user, now)).fetchone()
        assert row is not None  # count(*) always returns one row
        return int(row[0])

    def seats(self, labels: list[str], show: str = DEFAULT_SHOW) -> dict[str, Seat]:
        if not labels:
            return {}
        if self._write:
            rows = self._locked(labels, show)
        elif self._version < 4:
            rows = self._conn.execute(
                f"SELECT {_OLD_SEAT_COLUMNS} FROM seats WHERE label = ANY(%s)", (labels,)
            ).fetchall()
        else:
            rows = self._conn.execute(
                f"SELECT {self._seat_columns} FROM {_SEAT_SOURCE} WHERE s.label = ANY(%s)",
                (show, labels),
            ).fetchall()
        return {row[0]: records.seat(row) for row in rows}

    def _locked(self, labels: list[str], show: str = DEFAULT_SHOW) -> list[tuple[Any, ...]]:
        """The rows of `labels`, locked until commit, in one order for everyone (so overlapping
        multi-seat commands queue instead of deadlocking), waiting at most what is left of the
        command's busy budget in all: lock_timeout bounds the wait for each row, not their
        sum, so the statement as a whole gets the time left as its statement_timeout."""
        left_ms = max(1, round((self._deadline - time.monotonic()) * 1000))
        conn = self._conn
        try:
            with conn.pipeline() if psycopg.Pipeline.is_supported() else _one_by_one():
                conn.execute("SAVEPOINT seatctl_seats")  # to look around after a timeout
                conn.execute(f"SET LOCAL statement_timeout = {left_ms}")
                if self._version < 4:
                    rows = conn.execute(_LOCK_OLD_SEATS, (labels,))
                else:
                    conn.execute(_LOCK_SEATS, (labels,))
                    read = _READ_SEATS_5 if self._version >= 5 else _READ_SEATS
                    rows = conn.execute(read, (show, labels))
                conn.execute("SET LOCAL statement_timeout = DEFAULT")
            return rows.fetchall()
        except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
            conn.execute("ROLLBACK TO SAVEPOINT seatctl_seats")
            held = {row[0] for row in conn.execute(_HELD_SEATS, {"labels": labels})}
            raise busy_error(self._location, [label for label in labels if label in held]) from None

    def seat_count(self) -> int:
        return int(self._value("SELECT count(*) FROM seats"))

    def all_seats(self, show: str = DEFAULT_SHOW) -> Iterator[Seat]:
        return map(records.seat, self._seat_rows(show))

    def _seat_rows(self, show: str = DEFAULT_SHOW) -> Iterator[tuple[Any, ...]]:
        if self._version < 4:
            return iter(
                self._conn.execute(
                    f"SELECT {_OLD_SEAT_COLUMNS} FROM seats ORDER BY sort_key, label"
                )
            )
        return iter(
            self._conn.execute(
                f"SELECT {self._seat_columns} FROM {_SEAT_SOURCE} ORDER BY s.sort_key, s.label",
                (show,),
            )
        )

    def serialise_show(self, show: str) -> None:
        # Writers that read a whole event before locking seats (lock --best) queue on one
        # transaction-scoped lock per event and schema, bounded by lock_timeout. The wait is a
        # queue, not contention on the seats: the seats' own budget starts once it is over.
        self._conn.execute(_SHOW_LOCK, (show,))
        self._deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS

    def seat_spots(self, show: str, now: Instant) -> Iterator[SpotRow]:
        if self._version < 4:
            return (
                (label, None, None, None, None, status == "available", n)
                for label, _, _, _, _, status, n in self.placed_states(show, now)
            )
        return iter(self._conn.execute(_SEAT_SPOTS, (now, show)))

    def map_row_firsts(self) -> Iterator[RowFirstsRow]:
        if self._version < 4:  # before the map: one row of seats without a place
            return iter([(None, None, None, 1)])
        return iter(self._conn.execute(MAP_ROW_FIRSTS))

    def row_spots(self, show: str, now: Instant, rows: list[RowKey]) -> Iterator[SpotRow]:
        if self._version < 4:
            return self.seat_spots(show, now)  # its only row
        query, params = row_spots_query(rows)
        return iter(self._conn.execute(query, (now, show, *params)))

    def placed_states(self, show: str, now: Instant) -> Iterator[PlacedState]:
        if self._version < 4:  # before the map: one row of seats in label order
            return (
                (seat.label, None, None, None, None, seat.status(now).value, n)
                for n, seat in enumerate(self.all_seats(), 1)
            )
        return iter(self._conn.execute(_PLACED_STATES, (now, show)))

    def seat_states(self) -> Iterator[tuple[str, Seat]]:
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
        if not seats:
            return
        # One statement for any number of seats: a round trip per seat adds up across hosts.
        self._conn.execute(
            "INSERT INTO seat_states AS st (show, seat, locked_by, lock_expires, booked_by,"
            " booked_at, blocked_at, block_reason, held_since)"
            " SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[],"
            " %s::bigint[], %s::bigint[], %s::text[], %s::bigint[])"
            " ON CONFLICT (show, seat) DO UPDATE SET locked_by = excluded.locked_by,"
            " lock_expires = excluded.lock_expires, booked_by = excluded.booked_by,"
            " booked_at = excluded.booked_at, blocked_at = excluded.blocked_at,"
            " block_reason = excluded.block_reason, held_since = excluded.held_since",
            [
                show,
                *_columns(
                    [
                        (
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
                    8,
                ),
            ],
        )

    def add_seats(self, labels: list[str], places: dict[str, Place] | None = None) -> list[str]:
        if not labels:
            return []
        self._conn.execute(_SCHEMA_LOCK)
        places = places or {}
        given = [places.get(label, NO_PLACE) for label in labels]
        # Another writer may add some of these seats meanwhile (one that started before the
        # advisory lock existed, or a future command): ON CONFLICT skips them, and RETURNING
        # names only the rows this insert really created. The map order goes on from the
        # last seat's (under the schema lock, no other adder runs meanwhile).
        rows = self._conn.execute(
            "INSERT INTO seats (label, sort_key, section, seat_row, seat_number, category,"
            " map_order) SELECT label, sort_key, section, seat_row, seat_number, category,"
            " (SELECT coalesce(max(map_order), 0) FROM seats) + position FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[])"
            " WITH ORDINALITY AS v(label, sort_key, section, seat_row, seat_number, category,"
            " position) ORDER BY position"
            " ON CONFLICT (label) DO NOTHING RETURNING label",
            (
                labels,
                [natural_key(label) for label in labels],
                [p.section for p in given],
                [p.row for p in given],
                [p.number for p in given],
                [p.category for p in given],
            ),
        )
        created = {row[0] for row in rows}
        return [label for label in labels if label in created]

    def places(self) -> dict[str, tuple[Place, int]]:
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
            "SELECT name, title, starts_at FROM shows WHERE name = %s", (name,)
        ).fetchone()
        return Show(*row) if row else None

    def add_show(self, show: Show) -> bool:
        cursor = self._conn.execute(
            "INSERT INTO shows (name, title, starts_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (name) DO NOTHING",
            tuple(show),
        )
        return cursor.rowcount > 0

    def show_counts(self, now: Instant) -> list[tuple[Show, StatusCounts]]:
        total = self.seat_count()
        if self._version < 4:
            counts = count_statuses(seat.status(now) for seat in self.all_seats())
            return [(Show(DEFAULT_SHOW), counts)]
        rows = self._conn.execute(SHOW_COUNTS, (now,)).fetchall()
        return [(Show(*row[:3]), status_counts(total, *row[3:])) for row in rows]

    def append_adds(self, labels: list[str], at: Instant) -> None:
        self.append_history([HistoryEntry(at, label, Action.ADD) for label in labels])

    def append_history(self, events: list[HistoryEntry]) -> None:
        if not events:
            return
        # Ids are drawn in insertion order; ORDER BY the array position keeps the caller's order.
        # The same statement tells change streams (`wait_for_change`) that the history grew:
        # PostgreSQL delivers the NOTIFY at COMMIT, once per transaction, and never if it rolls
        # back.
        self._conn.execute(
            "WITH added AS ("
            'INSERT INTO events (at, seat, action, "user", expires_at, show, reason)'
            " SELECT at, seat, action, usr, expires_at, show, reason FROM unnest("
            "%s::bigint[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[],"
            " %s::text[]) WITH ORDINALITY"
            " AS e(at, seat, action, usr, expires_at, show, reason, position) ORDER BY position"
            f" RETURNING 1) SELECT pg_notify('{CHANGES_CHANNEL}', current_schema())"
            " FROM (SELECT 1 FROM added LIMIT 1) AS one",
            _columns(
                [
                    (e.at, e.seat, e.action.value, e.user, e.expires_at, e.show, e.reason)
                    for e in events
                ],
                7,
            ),
        )

    def history(self, show: str | None = None) -> list[HistoryEntry]:
        return [records.event(row) for row in self._event_rows(show)]

    def _event_rows(self, show: str | None = None) -> Iterator[tuple[Any, ...]]:
        if self._version < 4:
            return iter(self._conn.execute(f"SELECT {_OLD_EVENT_COLUMNS} FROM events ORDER BY id"))
        if show is None:
            return iter(self._conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY id"))
        return iter(
            self._conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE show = %s OR show IS NULL ORDER BY id",
                (show,),
            )
        )

    def history_after(self, show: str, after: int, limit: int) -> list[HistoryEntry]:
        if self._version < 4:
            query = f"SELECT {_OLD_EVENT_COLUMNS} FROM events WHERE id > %s ORDER BY id LIMIT %s"
            params: tuple[Any, ...] = (after, limit)
        else:
            query = (
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE id > %s"
                " AND (show = %s OR show IS NULL) ORDER BY id LIMIT %s"
            )
            params = (after, show, limit)
        return [records.event(row) for row in self._conn.execute(query, params)]

    def newest_history_id(self) -> int:
        return int(self._value("SELECT coalesce(max(id), 0) FROM events"))

    def history_at_through(self, show: str, event_id: int) -> Instant | None:
        condition = " AND (show = %s OR show IS NULL)" if self._version >= 4 else ""
        row = self._conn.execute(
            f"SELECT at, seat FROM events WHERE id <= %s{condition} ORDER BY id DESC LIMIT 1",
            (event_id, show) if condition else (event_id,),
        ).fetchone()
        return records.newest_instant(row[1], row[0]) if row is not None else None

    def hold_starts(self, labels: list[str], show: str, through: int) -> dict[str, Instant]:
        if not labels:
            return {}
        condition, params = (
            (" AND show = %s", (through, show, labels))
            if self._version >= 4
            else ("", (through, labels))
        )
        rows = self._conn.execute(
            'SELECT label, (SELECT max(at) FROM events WHERE seat = label COLLATE "C"'
            f" AND action = 'lock' AND id <= %s{condition}) FROM unnest(%s::text[]) AS label",
            params,
        )
        return {seat: records.newest_instant(seat, at) for seat, at in rows if at is not None}

    def latest_history_at(self, labels: list[str], show: str = DEFAULT_SHOW) -> dict[str, Instant]:
        if not labels:
            return {}
        params: tuple[Any, ...]
        if self._version < 4:
            condition, params = "", (labels,)
        else:
            condition, params = " AND (show = %s OR show IS NULL)", (show, labels)
        # A max(at) per seat: with the (seat, at) index each is read off the index's end,
        # where `GROUP BY seat` would read every event of the seat (a cost that grew with
        # each write). Still the greatest stored value.
        rows = self._conn.execute(
            'SELECT label, (SELECT max(at) FROM events WHERE seat = label COLLATE "C"'
            f"{condition}) FROM unnest(%s::text[]) AS label",
            params,
        )
        return {seat: records.newest_instant(seat, at) for seat, at in rows if at is not None}

    def seeded_through(self) -> int:
        # Always 0 unless a future upgrade seeds events: PostgreSQL databases start at schema 2.
        return records.seeded_through(self._meta("seeded_through"))

    def damaged_records(self) -> list[str]:
        settings = {key: self._meta(key) for key in ("default_ttl", MAX_HOLD_KEY, MAX_SEATS_KEY)}
        settings["seeded"] = self._meta("seeded_through")
        events = self._event_rows()
        if self._version < 4:
            return records.problems(self._seat_rows(), events, settings)
        held = ", NULL::bigint" if self._version >= 5 else ""
        map_rows = self._conn.execute(
            "SELECT label, NULL, NULL::bigint, NULL, NULL::bigint, NULL::bigint, NULL, section,"
            f" seat_row, seat_number, category{held} FROM seats ORDER BY sort_key, label"
        ).fetchall()
        state_rows = self._conn.execute(
            "SELECT seat, locked_by, lock_expires, booked_by, booked_at, blocked_at,"
            f" block_reason, NULL, NULL, NULL::bigint, NULL{self._held_since()} FROM seat_states"
            " ORDER BY show, seat"
        ).fetchall()
        return records.problems(map_rows + state_rows, events, settings)

    def add_token(self, token_hash: str, user: str, expires_at: Instant | None) -> int:
        return int(
            self._conn.execute(
                'INSERT INTO tokens (hash, "user", created_at, expires_at)'
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (token_hash, user, self.now(), expires_at),
            ).fetchone()[0]  # type: ignore[index]
        )

    def token(self, token_hash: str) -> Token | None:
        if self._version < 3:  # read before the first write upgraded it: no tokens yet
            return None
        row = self._conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE hash = %s", (token_hash,)
        ).fetchone()
        return Token(*row) if row else None

    def tokens(self) -> list[Token]:
        if self._version < 3:
            return []
        rows = self._conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY id")
        return [Token(*row) for row in rows]

    def touch_token(self, token_id: int) -> None:
        self._conn.execute(
            "UPDATE tokens SET last_used_at = %s WHERE id = %s", (self.now(), token_id)
        )

    def delete_token(self, token_id: int) -> bool:
        return self._conn.execute("DELETE FROM tokens WHERE id = %s", (token_id,)).rowcount > 0

    def _value(self, query: str) -> Any:
        row = self._conn.execute(query).fetchone()
        assert row is not None  # aggregates and now() always return one row
        return row[0]

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


@contextlib.contextmanager
def _one_by_one() -> Iterator[None]:
    """Stands in for a pipeline where libpq has none (before PostgreSQL 14's libpq)."""
    yield


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows turned into one list per column, to bind as arrays for unnest()."""
    return [[row[i] for row in rows] for i in range(width)]


class PostgresStore:
    def __init__(self, conn: Connection, url: str) -> None:
        self._conn = conn
        self._url = url
        self.location = redacted(url)  # shown in messages: never the password
        self.created = False
        self.version = SCHEMA_VERSION
        self._grouped = False
        self._busy = False  # a transaction is open on this connection
        self._spare: PostgresStore | None = None
        self._may_create = False  # an init found no tables: its write transaction makes them
        self._indexed = False  # this connection has made sure of the (seat, at) index
        self._schema: str | None = None  # listening for this schema's changes (wait_for_change)

    @classmethod
    def open(cls, url: str, create: bool = False) -> PostgresStore:
        # Schemes are case-insensitive (RFC 3986), and seatctl chose this backend ignoring
        # case; libpq only knows them in lower case.
        scheme, sep, rest = url.partition("://")
        url = scheme.lower() + sep + rest
        if psycopg is None:
            raise database_error(
                Reason.BAD_DATABASE,
                f"{redacted(url)} is a PostgreSQL URL, but PostgreSQL support is not installed:"
                f" {INSTALL_HINT}",
            )
        given = _parsed(url)  # a malformed URL is the caller's mistake: refused before connecting
        with translated_errors(url, stage=CONNECTING):
            conn = _connect(url, given)
        store = cls(conn, url)
        try:
            store._check_schema(create)
        except BaseException:
            conn.close()
            raise
        return store

    def _check_schema(self, create: bool) -> None:
        with self._begun(write=False) as conn:
            schema, tables, version = _schema_state(conn)
        if tables or not create:
            self._require_usable(schema, tables, version)
            return
        # The tables are made by the first write transaction, together with the seats and
        # settings it adds: an init that fails or loses its connection leaves nothing behind.
        self._may_create = True

    def _create_tables(self, conn: Connection) -> None:
        """Create seatctl's tables, inside the caller's write transaction, unless another init
        has meanwhile."""
        conn.execute(_SCHEMA_LOCK)  # concurrent inits queue here
        schema, tables, version = _schema_state(conn)  # another init may have won the race
        if tables:
            self._require_usable(schema, tables, version)
            return
        if schema is None:
            raise database_error(
                Reason.BAD_DATABASE,
                f"cannot initialise {self.location}: no schema in its search_path exists"
                " (create it with CREATE SCHEMA first)",
            )
        conn.execute(_CREATE_TABLES)
        conn.execute(_CREATE_TOKENS)
        conn.execute(_CREATE_SHOW_TABLES)
        conn.execute(_ADD_HELD_SINCE)
        conn.execute(CREATE_SEATS_PLACE_INDEX)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),)
        )
        self.created = True

    def _require_usable(self, schema: str | None, tables: list[str], version: int | None) -> None:
        """Refuse, with the right reason, anything but tables of a schema version we know."""
        if not tables:
            raise database_error(
                Reason.NO_DATABASE, f"{self.location} is not initialised: run 'seatctl init' first"
            )
        if version is None:
            names = ", ".join(sorted(tables))
            raise database_error(
                Reason.BAD_DATABASE,
                f"{self.location} has tables named {names} in schema {schema}, but not seatctl's",
            )
        if version > SCHEMA_VERSION:
            raise database_error(
                Reason.NEWER_SCHEMA,
                f"{self.location} was written by a newer seatctl (schema {version});"
                " upgrade seatctl to use it",
            )
        if version < 2:
            raise database_error(
                Reason.BAD_DATABASE, f"{self.location} has an unknown seatctl schema {version}"
            )
        self.version = version  # 2 is upgraded by the first write transaction

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[PostgresTransaction]:
        if self._grouped:
            with self._savepoint(write) as tx:
                yield tx
            return
        if self._busy:  # a listing (Venue.iter_seats) is still reading on this connection
            # A BEGIN here would only be warned about, and this transaction's end would end
            # the listing's too: use a connection of its own.
            with self._beside().transaction(write) as tx:
                yield tx
            return
        self._busy = True
        try:
            with self._upgrade_undone_on_failure(), self._begun(write) as conn:
                if write and self._may_create:
                    self._create_tables(conn)
                elif write and self.version < SCHEMA_VERSION:
                    self._upgrade(conn)
                if write and not self._may_create:
                    self._make_sure_of_the_index(conn)
                tx = PostgresTransaction(conn, write, self.version, self.location)
                yield tx
        finally:
            self._busy = False
        self._may_create = False  # committed: the tables exist now
        if tx.overridden:
            self._warn_clock_overridden()

    def _warn_clock_overridden(self) -> None:
        # Unlike a SQLite file, the server is shared: other hosts now see locks and bookings
        # made at this host's made-up time (and lapse or keep theirs by it).
        value = os.environ.get(clock.NOW_ENV, "").strip()
        warnings.warn(
            f"{clock.NOW_ENV}={value} overrides the server clock for everyone sharing"
            f" {self.location}",
            SeatctlWarning,
            stacklevel=4,
        )

    def _beside(self) -> PostgresStore:
        """Another connection, kept for transactions that start while one is still open on
        this connection."""
        if self._spare is None:
            self._spare = PostgresStore.open(self._url)
        return self._spare

    @contextlib.contextmanager
    def _upgrade_undone_on_failure(self) -> Iterator[None]:
        """A transaction that fails rolls its upgrade back: remember the version it found."""
        version = self.version
        try:
            yield
        except BaseException:
            self.version = version
            raise

    def _upgrade(self, conn: Connection) -> None:
        """Versions 2 to 4 -> 5 inside the caller's write transaction: add the tokens table,
        move the seats' states to the event `default` and add the seat map (to 4), then add
        each state's hold start, from the history (to 5)."""
        conn.execute(_SCHEMA_LOCK)  # another host may be upgrading the same schema
        _, _, version = _schema_state(conn)
        if version is not None and version >= SCHEMA_VERSION:  # another host just did
            self.version = version
            return
        if version is None or version < 4:
            conn.execute(_CREATE_TOKENS)
            conn.execute(_CREATE_SHOW_TABLES)
            conn.execute(_UPGRADE_TO_4)
            conn.execute(MAP_ORDER_BY_LABEL)
        conn.execute(_ADD_HELD_SINCE)
        conn.execute(HELD_SINCE_FROM_HISTORY)
        conn.execute(CREATE_SEATS_PLACE_INDEX)
        conn.execute(
            "UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
        )
        self.version = SCHEMA_VERSION

    def _make_sure_of_the_index(self, conn: Connection) -> None:
        """Create the (seat, at) and seats_place indexes if this schema lacks them; once per
        connection."""
        if self._indexed:
            return
        if not conn.execute(_HAS_LOOKUP_INDEXES).fetchone()[0]:  # type: ignore[index]
            conn.execute("SAVEPOINT seatctl_index")
            try:
                conn.execute(_SCHEMA_LOCK)  # another host may be creating them too
                conn.execute(_CREATE_SEAT_AT_INDEX)
                if self.version >= 4:
                    conn.execute(CREATE_SEATS_PLACE_INDEX)
            except psycopg.errors.InsufficientPrivilege:
                # Only the table's owner may index it. A writer who is not the owner still
                # writes: its clock check reads every event of a seat, as before the index.
                conn.execute("ROLLBACK TO SAVEPOINT seatctl_index")
            conn.execute("RELEASE SAVEPOINT seatctl_index")
        self._indexed = True

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """One write transaction for several operations (group commit): each `transaction()`
        inside it is a savepoint, all or nothing on its own, and all of them become durable
        with one COMMIT when the group ends. Callers report success only after that."""
        with self._upgrade_undone_on_failure(), self._begun(write=True) as conn:
            if self.version < SCHEMA_VERSION:
                self._upgrade(conn)
            self._make_sure_of_the_index(conn)
            self._grouped = True
            try:
                yield
            finally:
                self._grouped = False

    @contextlib.contextmanager
    def _savepoint(self, write: bool) -> Iterator[PostgresTransaction]:
        with translated_errors(self._url, write):
            self._conn.execute("SAVEPOINT seatctl_operation")
            try:
                yield PostgresTransaction(self._conn, True, self.version, self.location)
            except BaseException:
                self._conn.execute("ROLLBACK TO SAVEPOINT seatctl_operation")
                self._conn.execute("RELEASE SAVEPOINT seatctl_operation")
                raise
            self._conn.execute("RELEASE SAVEPOINT seatctl_operation")

    @contextlib.contextmanager
    def _begun(self, write: bool) -> Iterator[Connection]:
        """One transaction on the connection (which is otherwise in autocommit mode)."""
        try:
            with translated_errors(self._url, write):
                self._conn.execute(_begin(write))
                yield self._conn
            with translated_errors(self._url, write, COMMITTING if write else WORKING):
                self._conn.execute("COMMIT")
        except BaseException:
            # Whatever ended it, even a failed or interrupted COMMIT: a transaction left open
            # would swallow the next one (PostgreSQL only warns about a nested BEGIN), which
            # would then commit this one's changes too.
            self._roll_back()
            raise

    def _roll_back(self) -> None:
        if self._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            return  # the server already ended it (a failed COMMIT does)
        # On a lost connection ROLLBACK fails too; the error that got us here is the news.
        with contextlib.suppress(psycopg.Error):
            self._conn.execute("ROLLBACK")

    def wait_for_change(self, timeout: float) -> bool:
        # Writers NOTIFY with their schema as the payload (see `append_history`): one channel
        # for the whole database, each stream picks its own schema's. The first call starts
        # listening and cannot know what happened before: it says "maybe".
        with translated_errors(self._url, write=False):
            if self._schema is None:
                self._schema = str(self._value_outside("SELECT current_schema()"))
                self._conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                return True
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                # Whole lists: a generator left suspended would keep the connection's lock.
                notes = list(self._conn.notifies(timeout=left, stop_after=1))
                if any(note.payload == self._schema for note in notes):
                    # The ones already here too: one change is news enough for all of them.
                    list(self._conn.notifies(timeout=0))
                    return True
            return False

    def _value_outside(self, query: str) -> Any:
        row = self._conn.execute(query).fetchone()
        return row[0] if row else None

    def integrity_problems(self) -> list[str]:
        # The server has no counterpart of SQLite's integrity_check; `check` still runs the
        # booking invariants and the history replay.
        return []

    def backup(self, dest: str, force: bool = False) -> None:
        itself = f"{redacted(dest)} is the database itself; " if self._is_me(dest) else ""
        raise usage_error(
            f"{itself}backup copies SQLite files; to back up {self.location} use"
            " pg_dump (for example: pg_dump --schema=SCHEMA DBNAME > venue.sql)"
        )

    def _is_me(self, url: str) -> bool:
        """Whether `url` names this database, however its parameters are spelt or ordered."""
        parse = psycopg.conninfo.conninfo_to_dict
        try:
            return parse(url) == parse(self._url)
        except psycopg.Error:  # not a connection string at all: a file name
            return False

    def close(self) -> None:
        if self._spare is not None:
            self._spare.close()
        self._conn.close()


def _begin(write: bool) -> str:
    # Writers: READ COMMITTED whatever the server's default, so that FOR UPDATE waits for a
    # row and then reads its latest version instead of failing to serialise. Readers: one
    # snapshot for the whole command. lock_timeout is the busy timeout for a single lock (the
    # schema lock, a meta row); the seats' rows are bounded together (see `_locked`). SET LOCAL
    # ends with the transaction, which also suits transaction-pooling proxies such as PgBouncer.
    isolation = "READ COMMITTED" if write else "REPEATABLE READ, READ ONLY"
    timeout_ms = max(1, round(BUSY_TIMEOUT_SECONDS * 1000))  # 0 would mean "wait forever"
    return f"BEGIN ISOLATION LEVEL {isolation}; SET LOCAL lock_timeout = '{timeout_ms}ms'"


def _schema_state(conn: Connection) -> tuple[str | None, list[str], int | None]:
    """The schema new tables go to, which of seatctl's table names it already holds, and the
    schema version recorded in `meta` (None if there is none, or `meta` is not seatctl's)."""
    row = conn.execute(_FIND_TABLES, (list(_TABLES),)).fetchone()
    assert row is not None
    schema, tables = row[0], list(row[1])
    if "meta" not in tables:
        return schema, tables, None
    # Read through to_jsonb so that another program's `meta`, of whatever shape, gives NULL
    # rather than an error.
    found = conn.execute(
        "SELECT to_jsonb(m) ->> 'value' FROM meta AS m"
        " WHERE to_jsonb(m) ->> 'key' = 'schema_version'"
    ).fetchone()
    value = found[0] if found else None
    return schema, tables, int(value) if value and value.isdigit() else None


def _parsed(url: str) -> dict[str, Any]:
    """The connection parameters in `url`, read by libpq itself; a usage error if it cannot,
    or if it reads part of the user name or password as a host or port."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        # libpq's reason ends by quoting the whole URL, which the error already shows.
        reason = _one_line(str(exc).strip().removesuffix(f': "{url}"'), url)
        raise usage_error(f"invalid PostgreSQL URL {redacted(url)}: {reason}") from None
    # libpq ends the user part at the first "@" (or at a "/"), so a password with "@" or "/"
    # in it spills into the host or port, and the driver would quote those pieces of it.
    hosts = str(given.get("host", "")).split(",")
    ports = str(given.get("port", "")).split(",")
    if any("@" in host for host in hosts) or not all(p.isdigit() for p in ports if p):
        raise usage_error(
            f'invalid PostgreSQL URL {redacted(url)}: it has a host with an "@" or a port that'
            " is not a number; percent-encode @ : / ? in a user name or password (%40 %3A %2F %3F)"
        )
    return given


def _connect(url: str, given: dict[str, Any]) -> Connection:
    defaults = {
        # Without it an unreachable host can hang for minutes.
        "connect_timeout": (CONNECT_TIMEOUT_SECONDS, "PGCONNECT_TIMEOUT"),
        "application_name": ("seatctl", "PGAPPNAME"),
    }
    extra: dict[str, Any] = {
        name: value
        for name, (value, env) in defaults.items()
        if name not in given and env not in os.environ
    }
    # A command runs a handful of statements once: server-side prepared statements would not
    # pay off, and they break behind transaction-pooling proxies.
    return psycopg.connect(url, autocommit=True, prepare_threshold=None, **extra)


# libpq's connection parameters that carry secrets: those PQconndefaults marks as passwords
# (dispchar "*"), and the SCRAM keys, which log in as well as the password does. Names are
# compared case-insensitively and after percent-decoding, as libpq decodes them.
_SECRET_PARAMETERS = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
)


@functools.cache
def _secret_parameters() -> frozenset[str]:
    """_SECRET_PARAMETERS and any other the installed libpq marks as a password."""
    if psycopg is None:
        return _SECRET_PARAMETERS
    marked = psycopg.pq.Conninfo.get_defaults()
    return _SECRET_PARAMETERS | {o.keyword.decode().lower() for o in marked if o.dispchar == b"*"}


class _UrlParts(NamedTuple):
    """A PostgreSQL URL cut where libpq cuts it, reading it generously where a password may
    hide: the user part runs to the last `@` before the query (libpq stops at the first `@`,
    so an unencoded `@` in a password would otherwise show the rest of it), and a `:` starts
    the password. Never fails, so malformed URLs can be shown too."""

    scheme: str  # "postgresql://"
    user: str | None  # None without an `@`
    passwords: list[str]  # the password in the user part, as each reading finds it
    place: str  # hosts, ports and the database name
    parameters: list[str]  # the query's `key=value` items, as written


def _url_parts(url: str) -> _UrlParts:
    scheme, sep, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    userinfo, at, place = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    passwords = [password] if colon else []
    # libpq's own reading: the user part ends at the first `@` unless a `/` comes first.
    strict = url[len(scheme + sep) :]
    first_at = strict.find("@")
    if first_at >= 0 and "/" not in strict[:first_at] and ":" in strict[:first_at]:
        passwords.append(strict[:first_at].partition(":")[2])
    return _UrlParts(scheme + sep, user if at else None, passwords, place, query.split("&"))


def _parameter_name(item: str) -> str:
    return unquote(item.partition("=")[0]).strip().lower()


def redacted(url: str) -> str:
    """`url` as seatctl shows it: without any password or other secret it carries, in the
    user part or in a query parameter; the rest as written."""
    parts = _url_parts(url)
    hidden = _secret_parameters()
    kept = [p for p in parts.parameters if p and _parameter_name(p) not in hidden]
    user = f"{parts.user}@" if parts.user is not None else ""
    shown = user + parts.place + ("?" + "&".join(kept) if kept else "")
    # Whatever a strange URL slipped past the cuts above (or a user named like the password)
    # is scrubbed as well; the scheme is kept, so the message still says what this is.
    return parts.scheme + _scrubbed(shown, url)


def _secrets(url: str) -> list[str]:
    """Every secret in `url`, as written and percent-decoded, longest first: what must be
    scrubbed from anything shown, such as the driver's messages, which may quote them."""
    parts = _url_parts(url)
    hidden = _secret_parameters()
    found = list(parts.passwords)
    found += [p.partition("=")[2] for p in parts.parameters if _parameter_name(p) in hidden]
    return sorted({s for raw in found if raw for s in (raw, unquote(raw))}, key=len, reverse=True)


def _scrubbed(text: str, url: str) -> str:
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


# --- errors -----------------------------------------------------------------------------------

_BUSY_STATES = {
    "55P03",  # lock_not_available: waited longer than lock_timeout
    "40P01",  # deadlock_detected: rows are locked in label order, but stay safe if it happens
    "40001",  # serialization_failure: not expected at the levels used, likewise
}
_READ_ONLY_STATES = {
    "42501",  # insufficient_privilege
    "25006",  # read_only_sql_transaction: a standby, or a role that defaults to read-only
}
_UNKNOWN_DATABASE = re.compile(r'database "[^"]*" does not exist')


# What was going on when the driver failed: it changes what a connection failure means.
CONNECTING, WORKING, COMMITTING = "connecting", "working", "committing"


@contextlib.contextmanager
def translated_errors(url: str, write: bool = True, stage: str = WORKING) -> Iterator[None]:
    """Turn psycopg's exceptions into seatctl's exit-6 errors with a clear one-line message."""
    try:
        yield
    except psycopg.Error as exc:
        raise _database_error(exc, url, write, stage) from None


def _database_error(exc: psycopg.Error, url: str, write: bool, stage: str) -> SeatctlError:
    where = redacted(url)
    detail = _one_line(str(exc), url)
    if stage == CONNECTING:
        if _UNKNOWN_DATABASE.search(detail):
            return database_error(
                Reason.NO_DATABASE, f"cannot connect to {where}: {detail} (create it with createdb)"
            )
        return database_error(Reason.BAD_DATABASE, f"cannot connect to {where}: {detail}")
    if exc.sqlstate in _BUSY_STATES:
        return busy_error(where, [])
    if exc.sqlstate in _READ_ONLY_STATES and write:
        return database_error(
            Reason.READ_ONLY,
            f"{where} is read-only here: seatctl needs to write its tables ({detail})",
        )
    if _connection_lost(exc):
        if stage == COMMITTING:
            return database_error(
                Reason.BAD_DATABASE,
                f"lost the connection to {where} while committing: the change may or may not"
                f" have been made; look with 'seatctl seats' ({detail})",
            )
        return database_error(Reason.BAD_DATABASE, f"lost the connection to {where}: {detail}")
    return database_error(Reason.BAD_DATABASE, f"database error on {where}: {detail}")


def _connection_lost(exc: psycopg.Error) -> bool:
    """The server went away (psycopg gives no SQLSTATE then) or ended the session itself
    (class 08 connection exception, class 57P: shut down, restarted, or terminated)."""
    if exc.sqlstate is None:
        return isinstance(exc, psycopg.OperationalError)
    return exc.sqlstate.startswith(("08", "57P"))


def _one_line(text: str, url: str) -> str:
    """The driver's message on one line, without any secret it might quote (libpq quotes the
    whole URL when it cannot parse it: that is shown redacted)."""
    text = _scrubbed(text.replace(url, redacted(url)), url)
    return " ".join(text.split())

"""The SQL both backends share: one query catalogue and one transaction class.

Every query that is the same in SQLite and PostgreSQL is written here once, with its
placeholders written as `{p}`: a `Queries` made for a dialect's placeholder ("?" or "%s") holds
them ready to run. `SqlTransaction` implements every `Transaction` method whose SQL is the same
in both; each backend's subclass adds what really differs (locking, bulk inserts, "now").
Everything here reads and writes the current schema: a write transaction upgrades an older one
before it starts, and reads of an older one go through `seatctl.storage.old_schemas`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from seatctl.core import model
from seatctl.core.clock import Instant
from seatctl.core.model import DEFAULT_SHOW, Seat, Show
from seatctl.storage import (
    DEFAULT_TTL,
    MAX_HOLD_KEY,
    MAX_SEATS_KEY,
    ChangeMarker,
    FreeFromRow,
    PlacedState,
    RowFirstsRow,
    RowKey,
    SpotRow,
    records,
)

# The data model's version, the same number in both backends. 1: seats and meta (0.1.0, SQLite
# only); 2: adds the events history (PostgreSQL databases start here); 3: adds the tokens of
# `seatctl serve`; 4: the seat map (section, row, number, category, map order), events (shows)
# and their own seat states (`seat_states`, blocks included), the history names each change's
# event; 5: each seat state's `held_since` (when its hold began), the fairness caps in `meta`,
# and `settings` events in the history; 6: each seat's position in the hall (`x`, `y`, any
# unit; the stage is the `stage` key of `meta`), each token's `role` (buyer or staff), each
# history event's `acted_by` (who made a change for its user: `by`); 7: each history event's
# `token_id` (the id of the API token a token event is about: never the token nor its hash).
SCHEMA_VERSION = 7
SETTINGS_KEYS = ("default_ttl", MAX_HOLD_KEY, MAX_SEATS_KEY)  # the meta rows of `Settings`

# A seat of one event: the map's row, and the event's state row if it has one (else available).
SEAT_COLUMNS = (
    "s.label, st.locked_by, st.lock_expires, st.booked_by, st.booked_at, st.blocked_at,"
    " st.block_reason, s.section, s.seat_row, s.seat_number, s.category, st.held_since,"
    " s.x, s.y"
)
# The position columns as every query reads them: a read of a schema before 6 (see
# `seatctl.storage.legacy`) reads NULL, NULL in their place.
POSITION = "s.x, s.y"
# Schema 6's columns, as (table, column, type): added only where missing, so that the step
# may run again, or after other steps of schema 6 that add columns of their own.
POSITION_COLUMNS = (("seats", "x", "DOUBLE PRECISION"), ("seats", "y", "DOUBLE PRECISION"))
STAGE_KEY = "stage"  # meta: the stage, "x,y,width,height" in the map's unit
# `user` is reserved; the JSON's `by` is stored as `acted_by` (BY is reserved too).
EVENT_COLUMNS = 'at, seat, action, "user", expires_at, id, show, reason, acted_by, token_id'
TOKEN_COLUMNS = 'id, "user", created_at, expires_at, last_used_at, hash, role'
# Whether a seat is available (as `Seat.status` decides) from its state row. Without a state
# row every column is NULL: available.
_AVAILABLE_AT = (
    "(st.booked_by IS NULL AND st.blocked_at IS NULL AND coalesce(st.lock_expires, 0) <= {p})"
)
# The status of a seat, as `Seat.status` decides it, from its event's state row.
_STATUS_AT = """CASE WHEN st.booked_by IS NOT NULL THEN 'booked'
    WHEN st.blocked_at IS NOT NULL THEN 'blocked'
    WHEN st.lock_expires > {p} THEN 'locked' ELSE 'available' END"""
_MAP_AND_STATES = (
    "FROM seats AS s LEFT JOIN seat_states AS st ON st.show = {p} AND st.seat = s.label"
)
# What an upsert of a seat's state row sets (the state columns a write may change).
STATE_UPSERT = (
    " ON CONFLICT (show, seat) DO UPDATE SET locked_by = excluded.locked_by,"
    " lock_expires = excluded.lock_expires, booked_by = excluded.booked_by,"
    " booked_at = excluded.booked_at, blocked_at = excluded.blocked_at,"
    " block_reason = excluded.block_reason, held_since = excluded.held_since"
)
STATE_COLUMNS = (
    "show, seat, locked_by, lock_expires, booked_by, booked_at, blocked_at, block_reason,"
    " held_since"
)


def state_rows(seats: list[Seat], show: str) -> list[tuple[Any, ...]]:
    """The state rows of `seats` in event `show`, in the order of STATE_COLUMNS."""
    return [
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
    ]


# --- schema, the same in both backends ------------------------------------------------------

# `lock --best`'s index of the map's places. Like events_seat_at it is not part of the data
# model: a database from before it gets it with its first write.
CREATE_SEATS_PLACE_INDEX = (
    "CREATE INDEX IF NOT EXISTS seats_place ON seats (section, seat_row, seat_number, map_order)"
)
# The index a write's clock check reads each seat's newest instant from. Not part of the data
# model either (older seatctl versions use such a database unchanged), so it carries no schema
# version: a database from before it gets it with the first write of a connection.
CREATE_SEAT_AT_INDEX = "CREATE INDEX IF NOT EXISTS events_seat_at ON events (seat, at)"
# Schema 5: one user's locks in one event are counted off this index.
HOLDER_INDEX = "CREATE INDEX IF NOT EXISTS seat_states_holder ON seat_states (show, locked_by)"
# Schema 6: the columns it adds, as (table, column, type and default); an existing token is a
# buyer's (what every token could do before roles), an existing event names no `by`.
ROLE_COLUMNS = (
    ("tokens", "role", "TEXT NOT NULL DEFAULT 'buyer'"),
    ("events", "acted_by", "TEXT"),
)
# Schema 7: the column it adds, in the same form; an existing event names no token.
TOKEN_ID_COLUMNS = (("events", "token_id", "BIGINT"),)
# Schema 3 -> 4, losslessly: the seats' states become those of the event `default`, and so
# does every change in the history (a seat's `add` belongs to the map, so to every event).
STATES_TO_DEFAULT = """
INSERT INTO seat_states (show, seat, locked_by, lock_expires, booked_by, booked_at)
    SELECT 'default', label, locked_by, lock_expires, booked_by, booked_at FROM seats
    WHERE locked_by IS NOT NULL OR lock_expires IS NOT NULL OR booked_by IS NOT NULL
        OR booked_at IS NOT NULL
"""
HISTORY_TO_DEFAULT = "UPDATE events SET show = 'default' WHERE action != 'add'"
# Schema 4's upgrade: the seats of an older database are in the map in natural label order.
MAP_ORDER_BY_LABEL = """
UPDATE seats SET map_order = ordered.n FROM (
    SELECT label, row_number() OVER (ORDER BY sort_key, label) AS n FROM seats
) AS ordered WHERE ordered.label = seats.label
"""
# Schema 5's upgrade: a stored lock's hold began with the newest `lock` of its seat in its event
# (a relock by the holder is an `extend`), which is what a replay of the history gives too.
HELD_SINCE_FROM_HISTORY = """
UPDATE seat_states SET held_since = (
    SELECT max(e.at) FROM events AS e
    WHERE e.seat = seat_states.seat AND e.show = seat_states.show AND e.action = 'lock'
) WHERE locked_by IS NOT NULL
"""


class Queries:
    """The shared queries with a dialect's placeholder `p` filled in (one instance a backend)."""

    def __init__(self, p: str, returning_id: str = "") -> None:
        self.mark = p
        # The map joined with one event's state rows (a seat without one is available).
        self.map_and_states = source = _MAP_AND_STATES.format(p=p)
        self.seat_count = "SELECT count(*) FROM seats"
        self.all_seats = f"SELECT {SEAT_COLUMNS} {source} ORDER BY s.sort_key, s.label"
        self.seats_in = f"SELECT {SEAT_COLUMNS} {source} WHERE s.label IN "  # + the marks
        self.settings = f"SELECT key, value FROM meta WHERE key IN ({p}, {p}, {p})"
        self.meta = f"SELECT value FROM meta WHERE key = {p}"
        self.set_meta = (
            f"INSERT INTO meta (key, value) VALUES ({p}, {p})"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        # How many live locks a user has in one event at an instant.
        self.live_lock_count = (
            f"SELECT count(*) FROM seat_states WHERE show = {p} AND locked_by = {p}"
            f" AND booked_by IS NULL AND blocked_at IS NULL AND lock_expires > {p}"
        )
        # Every seat of the map with its place and whether it is available in one event at an
        # instant. No ORDER BY: the selection sorts by map order itself, which costs less.
        spots = "SELECT s.label, s.section, s.seat_row, s.seat_number, s.category,"
        self.seat_spots = f"{spots} {_AVAILABLE_AT.format(p=p)}, s.map_order {source}"
        # Every seat of the map with its place and, in one event, the instant from which it is
        # available (0: now; a lock's deadline; NULL: booked or blocked): what the pick index
        # of `seatctl.service.picking` keeps. No ORDER BY: the index groups by row itself.
        self.free_from = (
            f"{spots} s.map_order, CASE WHEN st.booked_by IS NOT NULL OR st.blocked_at IS NOT"
            f" NULL THEN NULL ELSE coalesce(st.lock_expires, 0) END {source}"
        )
        # Every seat of the map with its place and its status in one event, in map order.
        self.placed_states = (
            f"{spots} {_STATUS_AT.format(p=p)}, s.map_order {source} ORDER BY s.map_order"
        )
        # `RowFirstsRow`s, read from the seats_place index alone where it exists.
        self.map_row_firsts = (
            "SELECT section, seat_row, min(map_order) FILTER (WHERE seat_number IS NOT NULL),"
            " min(map_order) FILTER (WHERE seat_number IS NULL) FROM seats"
            " GROUP BY section, seat_row"
        )
        self.map_categories = "SELECT DISTINCT category FROM seats WHERE category IS NOT NULL"
        self.seat_states = (
            "SELECT show, seat, locked_by, lock_expires, booked_by, booked_at, blocked_at,"
            " block_reason, NULL, NULL, NULL, NULL, held_since, NULL, NULL FROM seat_states"
            " ORDER BY show, seat"
        )
        self.places = (
            "SELECT label, section, seat_row, seat_number, category, map_order,"
            f" {POSITION} FROM seats AS s"
        )
        self.show = f"SELECT name, title, starts_at FROM shows WHERE name = {p}"
        self.add_show = (
            f"INSERT INTO shows (name, title, starts_at) VALUES ({p}, {p}, {p})"
            " ON CONFLICT (name) DO NOTHING"
        )
        # Every event, as added, with the counts of its state rows by status (a seat without
        # a state row is available).
        self.show_counts = f"""
SELECT sh.name, sh.title, sh.starts_at,
    count(st.seat) FILTER (WHERE st.booked_by IS NOT NULL),
    count(st.seat) FILTER (WHERE st.booked_by IS NULL AND st.blocked_at IS NOT NULL),
    count(st.seat) FILTER (
        WHERE st.booked_by IS NULL AND st.blocked_at IS NULL AND st.lock_expires > {p}
    )
FROM shows AS sh LEFT JOIN seat_states AS st ON st.show = sh.name
GROUP BY sh.id, sh.name, sh.title, sh.starts_at ORDER BY sh.id
"""
        self.history = f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id"
        # An event's changes are its own; a seat's `add` (no event) belongs to every event.
        self.history_of = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE show = {p} OR show IS NULL ORDER BY id"
        )
        self.history_after = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id > {p} AND (show = {p} OR show IS NULL)"
            f" ORDER BY id LIMIT {p}"
        )
        self.newest_history_id = "SELECT coalesce(max(id), 0) FROM events"
        self.history_at_through = (
            f"SELECT at, seat FROM events WHERE id <= {p} AND (show = {p} OR show IS NULL)"
            " ORDER BY id DESC LIMIT 1"
        )
        # `check`: the map's rows and the state rows, as seat rows (`records.seat`).
        self.map_rows = (
            "SELECT label, NULL, NULL, NULL, NULL, NULL, NULL, section, seat_row, seat_number,"
            f" category, NULL, {POSITION} FROM seats AS s ORDER BY sort_key, label"
        )
        self.state_rows = (
            "SELECT seat, locked_by, lock_expires, booked_by, booked_at, blocked_at,"
            " block_reason, NULL, NULL, NULL, NULL, held_since, NULL, NULL FROM seat_states"
            " ORDER BY show, seat"
        )
        self.add_token = (
            'INSERT INTO tokens (hash, "user", created_at, expires_at, role)'
            f" VALUES ({p}, {p}, {p}, {p}, {p})" + returning_id
        )
        self.token = f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = {p}"
        self.tokens = f"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"
        self.touch_token = f"UPDATE tokens SET last_used_at = {p} WHERE id = {p}"
        # The first presentation of a token after its deadline (none since it, or only uses
        # before it): marked used now, so that only this one is recorded. Conditional, so
        # that of two writers racing to record it one changes no row.
        self.expired_token_presented = (
            f"UPDATE tokens SET last_used_at = {p} WHERE id = {p} AND expires_at <= {p}"
            " AND (last_used_at IS NULL OR last_used_at < expires_at)"
        )
        self.token_user = f'SELECT "user" FROM tokens WHERE id = {p}'
        self.delete_token = f"DELETE FROM tokens WHERE id = {p}"
        self._row_spots = f"{self.seat_spots} WHERE "

    def marks(self, count: int) -> str:
        """`count` placeholders, for an IN list."""
        return ", ".join([self.mark] * count)

    def row_spots(self, rows: list[RowKey]) -> tuple[str, list[str | None]]:
        """The query that reads the seats of `rows` as `seat_spots` does, and its parameters
        after the instant and the event. A row's seats are found through the seats_place
        index; a NULL place is matched with IS NULL."""
        terms: list[str] = []
        params: list[str | None] = []
        for section, row, positioned in rows:
            parts = [self._equal("s.section", section, params)]
            if positioned:
                parts += [self._equal("s.seat_row", row, params), "s.seat_number IS NOT NULL"]
            else:  # a section's seats without a number, whatever row they name
                parts.append("s.seat_number IS NULL")
            terms.append("(" + " AND ".join(parts) + ")")
        return self._row_spots + " OR ".join(terms), params

    def _equal(self, column: str, value: str | None, params: list[str | None]) -> str:
        if value is None:
            return f"{column} IS NULL"
        params.append(value)
        return f"{column} = {self.mark}"


class SqlTransaction:
    """The `Transaction` methods whose SQL both backends share, on the current schema."""

    sql: ClassVar[Queries]

    def __init__(self, conn: Any, memo: dict[Any, Any] | None = None) -> None:
        self._conn = conn
        self._now: Instant | None = None
        self._settings: model.Settings | None = None
        # Shared by the operations of one SQLite group transaction: the settings and events
        # they read, which no other writer can change while the group holds the write lock.
        # Forgotten when an operation changes them or is rolled back.
        self._memo = memo

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; its cursor."""
        return self._conn.execute(query, params)

    def _value(self, query: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(query, params).fetchone()
        assert row is not None  # aggregates and now() always return one row
        return row[0]

    def now(self) -> Instant:
        raise NotImplementedError

    def save(self, seats: list[Seat], show: str = DEFAULT_SHOW) -> None:
        raise NotImplementedError

    def append_history(self, events: list[model.HistoryEntry]) -> None:
        raise NotImplementedError

    def record(self, seats: list[Seat], show: str, events: list[model.HistoryEntry]) -> None:
        self.save(seats, show)
        self.append_history(events)

    def _serialise_settings(self) -> None:
        """Before a change of the settings: queue behind other writers of the schema where
        writers are not serialised anyway."""

    def default_ttl(self) -> int:
        return self.settings().ttl

    def set_default_ttl(self, ttl: int) -> None:
        self._serialise_settings()
        self._set_meta("default_ttl", str(ttl))
        self._settings = None

    def settings(self) -> model.Settings:
        if self._settings is None:
            memo = self._memo if self._memo is not None else {}
            if "settings" not in memo:
                read = self.execute(self.sql.settings, SETTINGS_KEYS)
                memo["settings"] = self._settings_from(read)
            self._settings = memo["settings"]
        return self._settings

    @staticmethod
    def _settings_from(stored: Any) -> model.Settings:
        return records.settings(dict(stored.fetchall()), DEFAULT_TTL)

    def set_caps(self, max_hold: int, max_seats_per_user: int) -> None:
        self._serialise_settings()
        self._set_meta(MAX_HOLD_KEY, str(max_hold))
        self._set_meta(MAX_SEATS_KEY, str(max_seats_per_user))
        self._settings = None

    def live_lock_count(self, show: str, user: str, now: Instant) -> int:
        return int(self._value(self.sql.live_lock_count, (show, user, now)))

    def seat_count(self) -> int:
        return int(self._value(self.sql.seat_count))

    def all_seats(self, show: str = DEFAULT_SHOW) -> Iterator[Seat]:
        return map(records.seat, self._seat_rows(show))

    def _seat_rows(self, show: str = DEFAULT_SHOW) -> Iterator[tuple[Any, ...]]:
        return iter(self.execute(self.sql.all_seats, (show,)))

    def seat_spots(self, show: str, now: Instant) -> Iterator[SpotRow]:
        return iter(self.execute(self.sql.seat_spots, (now, show)))

    def free_from(self, show: str) -> Iterator[FreeFromRow]:
        return iter(self.execute(self.sql.free_from, (show,)))

    def change_marker(self) -> ChangeMarker | None:
        """A value that changes whenever another connection commits (None: not known)."""
        return None

    def map_row_firsts(self) -> Iterator[RowFirstsRow]:
        return iter(self.execute(self.sql.map_row_firsts))

    def map_categories(self) -> list[str]:
        return [row[0] for row in self.execute(self.sql.map_categories)]

    def row_spots(self, show: str, now: Instant, rows: list[RowKey]) -> Iterator[SpotRow]:
        query, params = self.sql.row_spots(rows)
        return iter(self.execute(query, (now, show, *params)))

    def placed_states(self, show: str, now: Instant) -> Iterator[PlacedState]:
        return iter(self.execute(self.sql.placed_states, (now, show)))

    def seat_states(self) -> Iterator[tuple[str, Seat]]:
        rows = self.execute(self.sql.seat_states)
        return ((row[0], records.seat(row[1:])) for row in rows)

    def places(self) -> dict[str, tuple[model.Place, int]]:
        rows = self.execute(self.sql.places)
        return {row[0]: (model.Place(*row[1:5], *row[6:8]), row[5]) for row in rows}

    def stage(self) -> model.Stage | None:
        return records.stage(self._meta(STAGE_KEY))

    def set_stage(self, stage: model.Stage) -> None:
        self._set_meta(STAGE_KEY, ",".join(f"{part:g}" for part in stage))

    def show(self, name: str) -> Show | None:
        memo = self._memo if self._memo is not None else {}
        key = ("show", name)
        if key not in memo:
            row = self.execute(self.sql.show, (name,)).fetchone()
            memo[key] = Show(*row) if row else None
        found: Show | None = memo[key]
        return found

    def add_show(self, show: Show) -> bool:
        self._forget()
        return int(self.execute(self.sql.add_show, tuple(show)).rowcount) > 0

    def _forget(self) -> None:
        """Before a change of the settings or the events: what the group read of them."""
        if self._memo is not None:
            self._memo.clear()

    def show_counts(self, now: Instant) -> list[tuple[Show, model.StatusCounts]]:
        total = self.seat_count()
        rows = self.execute(self.sql.show_counts, (now,)).fetchall()
        return [(Show(*row[:3]), model.status_counts(total, *row[3:])) for row in rows]

    def history(self, show: str | None = None) -> list[model.HistoryEntry]:
        return [records.event(row) for row in self._event_rows(show)]

    def _event_rows(self, show: str | None = None) -> Iterator[tuple[Any, ...]]:
        if show is None:
            return iter(self.execute(self.sql.history))
        return iter(self.execute(self.sql.history_of, (show,)))

    def history_after(self, show: str, after: int, limit: int) -> list[model.HistoryEntry]:
        rows = self.execute(self.sql.history_after, (after, show, limit))
        return [records.event(row) for row in rows]

    def newest_history_id(self) -> int:
        return int(self._value(self.sql.newest_history_id))

    def history_at_through(self, show: str, event_id: int) -> Instant | None:
        row = self.execute(self.sql.history_at_through, (event_id, show)).fetchone()
        return records.newest_instant(row[1], row[0]) if row is not None else None

    def seeded_through(self) -> int:
        return records.seeded_through(self._meta("seeded_through"))

    def damaged_records(self) -> list[str]:
        settings = {key: self._meta(key) for key in ("default_ttl", MAX_HOLD_KEY, MAX_SEATS_KEY)}
        settings["seeded"] = self._meta("seeded_through")
        events = self._event_rows()
        seat_rows = itertools.chain(
            self.execute(self.sql.map_rows), self.execute(self.sql.state_rows)
        )
        return records.problems(seat_rows, events, settings)

    def add_token(
        self,
        token_hash: str,
        user: str,
        expires_at: Instant | None,
        role: model.Role = model.Role.BUYER,
    ) -> int:
        cursor = self.execute(
            self.sql.add_token, (token_hash, user, self.now(), expires_at, role.value)
        )
        return self._new_id(cursor)

    def _new_id(self, cursor: Any) -> int:
        """The id of the row the INSERT behind `cursor` added."""
        raise NotImplementedError

    def token(self, token_hash: str) -> model.Token | None:
        row = self.execute(self.sql.token, (token_hash,)).fetchone()
        return records.token(row) if row else None

    def tokens(self) -> list[model.Token]:
        return [records.token(row) for row in self.execute(self.sql.tokens)]

    def touch_token(self, token_id: int) -> None:
        self.execute(self.sql.touch_token, (self.now(), token_id))

    def expired_token_presented(self, token_id: int) -> bool:
        now = self.now()
        cursor = self.execute(self.sql.expired_token_presented, (now, token_id, now))
        return int(cursor.rowcount) > 0

    def delete_token(self, token_id: int) -> str | None:
        row = self.execute(self.sql.token_user, (token_id,)).fetchone()
        if row is None or int(self.execute(self.sql.delete_token, (token_id,)).rowcount) == 0:
            return None
        return str(row[0])

    def _meta(self, key: str) -> str | None:
        row = self.execute(self.sql.meta, (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._forget()
        self.execute(self.sql.set_meta, (key, value))

"""SQLite's tables: creating them, upgrading an older schema inside a write transaction, and
reading one without changing it (`OldSqliteReads`).

The schema version is SQLite's `user_version`. sqlite-utils (slow to import) is used only here,
where a database is created or upgraded.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from seatctl.core.model import HistoryEntry
from seatctl.storage import sql
from seatctl.storage.legacy import OldSchemaReads
from seatctl.storage.sqlite.transaction import SqliteTransaction


class OldSqliteReads(OldSchemaReads, SqliteTransaction):
    """A read transaction on an older schema (see `seatctl.storage.legacy`)."""

    def __init__(self, conn: sqlite3.Connection, version: int) -> None:
        super().__init__(conn)
        self.version = version


def create_tables(conn: sqlite3.Connection) -> None:
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
    add_positions(conn)
    add_roles(conn)
    add_token_ids(conn)
    conn.execute(f"PRAGMA user_version = {sql.SCHEMA_VERSION}")


def create_indexes(conn: sqlite3.Connection) -> None:
    """The indexes of the tables `create_tables` made (once they are filled)."""
    _toolkit(conn)["seats"].create_index(["sort_key", "label"], if_not_exists=True)
    _create_events_indexes(conn)
    conn.execute(sql.CREATE_SEATS_PLACE_INDEX)


def upgrade(conn: sqlite3.Connection, found: int, now: int) -> None:
    """Bring a database of schema `found` to the current one, inside the caller's write
    transaction, losslessly: 1 -> 2 seeds the history from the seats (at `now`), 2 -> 3 adds
    the tokens table, 3 -> 4 moves the seats' states to the event `default` and adds the seat
    map, 4 -> 5 adds each state's hold start (from the history), after the seeds it may need,
    5 -> 6 adds the seats' positions (`add_positions`), the tokens' roles and the history's
    `by` (`add_roles`), 6 -> 7 the history's token ids (`add_token_ids`)."""
    seeds: list[HistoryEntry] = []
    if found < 2:
        from seatctl.core.history import seed_events

        _create_events_table(conn, with_shows=False)
        seeds = seed_events(OldSqliteReads(conn, found).all_seats(), now)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('seeded_through', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(len(seeds)),),
        )
    conn.execute(sql.CREATE_SEAT_AT_INDEX)
    _create_tokens_table(conn)
    if found < 4:
        _upgrade_to_4(conn)
    if found < 5:
        _add_held_since(conn)
    add_positions(conn)
    add_roles(conn)
    add_token_ids(conn)
    conn.execute(f"PRAGMA user_version = {sql.SCHEMA_VERSION}")
    SqliteTransaction(conn).append_history(seeds)
    if found < 5:
        conn.execute(sql.HELD_SINCE_FROM_HISTORY)


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
    conn.execute(sql.CREATE_SEAT_AT_INDEX)


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
    conn.execute(sql.STATES_TO_DEFAULT)
    for column in ("locked_by", "lock_expires", "booked_by", "booked_at"):
        conn.execute(f"ALTER TABLE seats DROP COLUMN {column}")
    for column, kind in _MAP_COLUMNS:
        conn.execute(f"ALTER TABLE seats ADD COLUMN {column} {kind}")
    conn.execute(sql.MAP_ORDER_BY_LABEL)
    conn.execute("ALTER TABLE events ADD COLUMN show TEXT")
    conn.execute("ALTER TABLE events ADD COLUMN reason TEXT")
    conn.execute(sql.HISTORY_TO_DEFAULT)
    conn.execute(sql.CREATE_SEATS_PLACE_INDEX)


def _add_held_since(conn: sqlite3.Connection) -> None:
    """Schema 4 -> 5's tables: each state's hold start, and the index a user's locks are
    counted off (filled by sql.HELD_SINCE_FROM_HISTORY once the history is complete)."""
    conn.execute("ALTER TABLE seat_states ADD COLUMN held_since INTEGER")
    conn.execute(sql.HOLDER_INDEX)


def add_positions(conn: sqlite3.Connection) -> None:
    """Schema 5 -> 6 (and a new schema): each seat's position on the hall's plan (`x`, `y`;
    an existing seat has none)."""
    _add_missing(conn, sql.POSITION_COLUMNS)


def add_roles(conn: sqlite3.Connection) -> None:
    """Schema 5 -> 6 (and a new schema): each token's role (an existing one is a buyer's) and
    each history event's `acted_by` (an existing one names nobody)."""
    _add_missing(conn, sql.ROLE_COLUMNS)


def add_token_ids(conn: sqlite3.Connection) -> None:
    """Schema 6 -> 7 (and a new schema): the id of the token each history event is about (an
    existing one, `token_add` included, names none)."""
    _add_missing(conn, sql.TOKEN_ID_COLUMNS)


def _add_missing(conn: sqlite3.Connection, columns: tuple[tuple[str, str, str], ...]) -> None:
    """Only the columns missing are added, so a step may run again, or after the other steps
    of its schema that add columns of their own."""
    for table, column, kind in columns:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


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


def _toolkit(conn: sqlite3.Connection) -> Any:  # sqlite_utils.Database, imported only when used
    import sqlite_utils

    return sqlite_utils.Database(conn, execute_plugins=False, recursive_triggers=False)

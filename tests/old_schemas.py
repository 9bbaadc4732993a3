"""Databases as earlier seatctl versions left them, on both backends.

`tests/fixtures/v3-venue.db` was written by seatctl 0.2.0.dev0 (schema 3, the code on main
before the venue work) with real commands: seats 1-6, A1, B2; seat 1 booked by alice, seat 2
locked and released, seat 3 locked by bob, lapsed, locked and booked by dave, seats 4 and A1
locked by carol until 2026-01-02T12:05:00Z, one token for eve. Its PostgreSQL twin is made
from the same rows in the tables schema 3 had there.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

FIXTURE_V3 = Path(__file__).parent / "fixtures" / "v3-venue.db"

# seatctl 0.2's PostgreSQL tables (schema 3), as its postgres.py created them.
_PG_V3_TABLES = """
CREATE TABLE meta (key text PRIMARY KEY, value text);
CREATE TABLE seats (
    label text COLLATE "C" PRIMARY KEY,
    sort_key text COLLATE "C" NOT NULL,
    locked_by text,
    lock_expires bigint,
    booked_by text,
    booked_at bigint
);
CREATE INDEX seats_sort_key_label ON seats (sort_key, label);
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at bigint NOT NULL,
    seat text COLLATE "C" NOT NULL,
    action text NOT NULL,
    "user" text,
    expires_at bigint
);
CREATE INDEX events_seat_id ON events (seat, id);
CREATE TABLE tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash text NOT NULL UNIQUE,
    "user" text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    last_used_at bigint
);
"""


def sqlite_v3(path: str) -> str:
    shutil.copy(FIXTURE_V3, path)
    return path


def sqlite_v2(path: str) -> str:
    """The fixture as schema 2 had it: no tokens table."""
    sqlite_v3(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE tokens")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    return path


def _fixture_rows(query: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{FIXTURE_V3}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def postgres_v3(url: str, version: int = 3) -> str:
    """The fixture's rows in schema 3's PostgreSQL tables (2: without the tokens table)."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(_PG_V3_TABLES)
        for key, value in _fixture_rows("SELECT key, value FROM meta"):
            conn.execute("INSERT INTO meta VALUES (%s, %s)", (key, value))
        conn.execute("INSERT INTO meta VALUES ('schema_version', %s)", (str(version),))
        for row in _fixture_rows(
            "SELECT label, sort_key, locked_by, lock_expires, booked_by, booked_at FROM seats"
        ):
            conn.execute("INSERT INTO seats VALUES (%s, %s, %s, %s, %s, %s)", row)
        for row in _fixture_rows(
            "SELECT at, seat, action, user, expires_at FROM events ORDER BY id"
        ):
            conn.execute(
                'INSERT INTO events (at, seat, action, "user", expires_at)'
                " VALUES (%s, %s, %s, %s, %s)",
                row,
            )
        for row in _fixture_rows(
            "SELECT hash, user, created_at, expires_at, last_used_at FROM tokens ORDER BY id"
        ):
            conn.execute(
                'INSERT INTO tokens (hash, "user", created_at, expires_at, last_used_at)'
                " VALUES (%s, %s, %s, %s, %s)",
                row,
            )
        if version < 3:
            conn.execute("DROP TABLE tokens")
    return url


def old_database(db_path: str, version: int = 3) -> str:
    """The fixture at `db_path` (a SQLite path or a PostgreSQL URL) at schema 2 or 3."""
    if db_path.startswith(("postgresql://", "postgres://")):
        return postgres_v3(db_path, version)
    return sqlite_v3(db_path) if version == 3 else sqlite_v2(db_path)


def schema_5(db_path: str) -> str:
    """A database of the current schema taken back to schema 5, as seatctl 0.3 left it:
    tokens without a role, history events without `acted_by`, no token events."""
    return _taken_back(
        db_path,
        5,
        [
            "DELETE FROM events WHERE action IN ('token_add', 'token_revoke', 'token_expired')",
            "ALTER TABLE events DROP COLUMN token_id",
            "ALTER TABLE events DROP COLUMN acted_by",
            "ALTER TABLE tokens DROP COLUMN role",
        ],
    )


def schema_6(db_path: str) -> str:
    """A database of the current schema taken back to schema 6, as seatctl left it before the
    token history: `token_add` events without their token's id, no other token events."""
    return _taken_back(
        db_path,
        6,
        [
            "DELETE FROM events WHERE action IN ('token_revoke', 'token_expired')",
            "ALTER TABLE events DROP COLUMN token_id",
        ],
    )


def _taken_back(db_path: str, version: int, statements: list[str]) -> str:
    if db_path.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(db_path) as conn:
            for statement in statements:
                conn.execute(statement)
            conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(version),))
        return db_path
    conn = sqlite3.connect(db_path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
    finally:
        conn.close()
    return db_path


def columns_after_step_twice(
    db: str,
    postgres_step: str,
    sqlite_step: Callable[[sqlite3.Connection], None],
    tables: tuple[str, ...],
) -> dict[str, list[str]]:
    """Each table's columns after an upgrade step ran twice on `db` (a step merged from
    elsewhere may have run it already): the step must add only what is missing."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            conn.execute(postgres_step)
            conn.execute(postgres_step)
            return {
                table: [
                    row[0]
                    for row in conn.execute(
                        "SELECT column_name FROM information_schema.columns"
                        " WHERE table_schema = current_schema() AND table_name = %s",
                        (table,),
                    )
                ]
                for table in tables
            }
    conn = sqlite3.connect(db)
    try:
        sqlite_step(conn)
        sqlite_step(conn)
        return {
            table: [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            for table in tables
        }
    finally:
        conn.close()


def schema_version(db_path: str) -> int:
    """The schema version the database says it is at (either backend)."""
    if db_path.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db_path) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])  # type: ignore[index]
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()

"""The SQLite backend: one file, WAL mode, one `BEGIN IMMEDIATE` transaction per change.

The hot path talks to `sqlite3` directly; sqlite-utils (slow to import) is used only where
a database is created or seats are added.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

from seatctl import clock
from seatctl.clock import Instant
from seatctl.errors import Reason, SeatctlError, database_error
from seatctl.model import Seat
from seatctl.storage import DEFAULT_TTL
from seatctl.validate import natural_key

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 10.0
_SEAT_COLUMNS = "label, locked_by, lock_expires, booked_by, booked_at"
_CHUNK = 500  # well under SQLite's limit on bound parameters


class SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._now: Instant | None = None

    def now(self) -> Instant:
        if self._now is None:
            self._now = clock.now()
        return self._now

    def default_ttl(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'default_ttl'").fetchone()
        return int(row[0]) if row else DEFAULT_TTL

    def set_default_ttl(self, ttl: int) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES ('default_ttl', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(ttl),),
        )

    def seats(self, labels: list[str]) -> dict[str, Seat]:
        found: dict[str, Seat] = {}
        for start in range(0, len(labels), _CHUNK):
            chunk = labels[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {_SEAT_COLUMNS} FROM seats WHERE label IN ({marks})", chunk
            )
            found.update((row[0], Seat(*row)) for row in rows)
        return found

    def seat_count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM seats").fetchone()[0]

    def all_seats(self) -> Iterator[Seat]:
        rows = self._conn.execute(f"SELECT {_SEAT_COLUMNS} FROM seats ORDER BY sort_key, label")
        return (Seat(*row) for row in rows)

    def save(self, seats: list[Seat]) -> None:
        self._conn.executemany(
            "UPDATE seats SET locked_by = ?, lock_expires = ?, booked_by = ?, booked_at = ?"
            " WHERE label = ?",
            [(s.locked_by, s.lock_expires, s.booked_by, s.booked_at, s.label) for s in seats],
        )

    def add_seats(self, labels: Iterable[str]) -> int:
        before = self._conn.total_changes
        rows = ({"label": label, "sort_key": natural_key(label)} for label in labels)
        _toolkit(self._conn)["seats"].insert_all(rows, ignore=True, batch_size=1000)
        return self._conn.total_changes - before


class SqliteStore:
    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn = conn
        self.location = location
        self.created = False

    @classmethod
    def open(cls, path: str, create: bool = False) -> SqliteStore:
        if os.path.isdir(path):
            raise database_error(Reason.BAD_DATABASE, f"{path} is a directory, not a database")
        if not os.path.exists(path):
            if not create:
                raise database_error(
                    Reason.NO_DATABASE, f"no database at {path}: run 'seatctl init' first"
                )
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise database_error(
                    Reason.BAD_DATABASE, f"cannot create {path}: no directory {folder}"
                )
        with translated_errors(path):
            conn = _connect(path, create)
            store = cls(conn, path)
            try:
                store._check_schema(create)
            except BaseException:
                conn.close()
                raise
        return store

    def _check_schema(self, create: bool) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise database_error(
                Reason.NEWER_SCHEMA,
                f"{self.location} was written by a newer seatctl (schema {version});"
                " upgrade seatctl to use it",
            )
        if version == SCHEMA_VERSION:
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
        self._create_schema()

    def _create_schema(self) -> None:
        # WAL lets readers run beside the one writer; it can only be switched outside a transaction.
        self._conn.execute("PRAGMA journal_mode = WAL")
        with self.transaction():
            db = _toolkit(self._conn)
            db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            db["seats"].create(
                {
                    "label": str,
                    "sort_key": str,
                    "locked_by": str,
                    "lock_expires": int,
                    "booked_by": str,
                    "booked_at": int,
                },
                pk="label",
                not_null={"sort_key"},
                if_not_exists=True,
            )
            db["seats"].create_index(["sort_key", "label"], if_not_exists=True)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.created = True

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[SqliteTransaction]:
        with translated_errors(self.location):
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield SqliteTransaction(self._conn)
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


def _connect(path: str, create: bool) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        f"file:{quote(os.path.abspath(path))}?mode={mode}",
        uri=True,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
    )
    # A booking that was reported must survive a power cut, not just a crash.
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _toolkit(conn: sqlite3.Connection):  # -> sqlite_utils.Database, imported only when used
    import sqlite_utils

    return sqlite_utils.Database(conn, execute_plugins=False, recursive_triggers=False)


# SQLite's primary result codes (https://sqlite.org/rescode.html) that a user can cause.
_BUSY, _LOCKED, _READONLY, _CANTOPEN, _CORRUPT, _NOTADB = 5, 6, 8, 14, 11, 26


@contextmanager
def translated_errors(location: str) -> Iterator[None]:
    """Turn sqlite3's exceptions into seatctl's exit-6 errors with a clear message."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _database_error(exc, location) from exc


def _database_error(exc: sqlite3.Error, location: str) -> SeatctlError:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_BUSY, _LOCKED):
        return database_error(Reason.BUSY, f"{location} is still busy after waiting; try again")
    if code == _READONLY:
        return database_error(
            Reason.READ_ONLY,
            f"{location} is read-only here: seatctl needs write access to it and its directory",
        )
    if code in (_NOTADB, _CORRUPT):
        return database_error(
            Reason.BAD_DATABASE, f"{location} is not a usable SQLite database ({exc})"
        )
    if code == _CANTOPEN:
        return database_error(Reason.BAD_DATABASE, f"cannot open {location} ({exc})")
    return database_error(Reason.BAD_DATABASE, f"database error on {location}: {exc}")

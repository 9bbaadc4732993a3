"""The SQLite backend: one file, WAL mode, one `BEGIN IMMEDIATE` transaction per change.

The hot path talks to `sqlite3` directly; sqlite-utils (slow to import) is used only where
a database is created or seats are added.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from urllib.parse import quote

from seatctl import clock
from seatctl.clock import Instant
from seatctl.errors import Reason, SeatctlError, database_error
from seatctl.model import Action, Event, Seat
from seatctl.storage import DEFAULT_TTL
from seatctl.validate import natural_key

SCHEMA_VERSION = 2  # 1: seats and meta (0.1.0); 2: adds the events history
BUSY_TIMEOUT_SECONDS = 10.0
_SEAT_COLUMNS = "label, locked_by, lock_expires, booked_by, booked_at"
_EVENT_COLUMNS = "at, seat, action, user, expires_at, id"
_CHUNK = 500  # well under SQLite's limit on bound parameters


class SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection, version: int) -> None:
        self._conn = conn
        self._version = version
        self._now: Instant | None = None

    def now(self) -> Instant:
        if self._now is None:
            self._now = clock.now()
        return self._now

    def default_ttl(self) -> int:
        return int(self._meta("default_ttl") or DEFAULT_TTL)

    def set_default_ttl(self, ttl: int) -> None:
        self._set_meta("default_ttl", str(ttl))

    def seats(self, labels: list[str]) -> dict[str, Seat]:
        found: dict[str, Seat] = {}
        for start in range(0, len(labels), _CHUNK):
            chunk = labels[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {_SEAT_COLUMNS} FROM seats WHERE label IN ({marks})", chunk
            )
            found.update((row[0], self._seat(row)) for row in rows)
        return found

    def seat_count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM seats").fetchone()[0]

    def all_seats(self) -> Iterator[Seat]:
        rows = self._conn.execute(f"SELECT {_SEAT_COLUMNS} FROM seats ORDER BY sort_key, label")
        return (self._seat(row) for row in rows)

    def _seat(self, row: tuple) -> Seat:
        if type(row[0]) is not str:  # only a damaged file stores anything else
            raise database_error(Reason.BAD_DATABASE, f"damaged seat record {row!r}")
        return Seat(*row)

    def save(self, seats: list[Seat]) -> None:
        self._conn.executemany(
            "UPDATE seats SET locked_by = ?, lock_expires = ?, booked_by = ?, booked_at = ?"
            " WHERE label = ?",
            [(s.locked_by, s.lock_expires, s.booked_by, s.booked_at, s.label) for s in seats],
        )

    def add_seats(self, labels: list[str]) -> list[str]:
        # Under BEGIN IMMEDIATE nobody else can add seats meanwhile: all of `labels` that are
        # missing now are created by this insert.
        existing = self.seats(labels)
        new = [label for label in labels if label not in existing]
        rows = ({"label": label, "sort_key": natural_key(label)} for label in new)
        _toolkit(self._conn)["seats"].insert_all(rows, batch_size=1000)
        return new

    def append_events(self, events: list[Event]) -> None:
        self._conn.executemany(
            "INSERT INTO events (at, seat, action, user, expires_at) VALUES (?, ?, ?, ?, ?)",
            [(e.at, e.seat, e.action.value, e.user, e.expires_at) for e in events],
        )

    def events(self) -> list[Event]:
        if self._version < 2:  # read before the first write upgraded it: what it would seed
            from seatctl.history import seed_events

            return seed_events(self.all_seats(), self.now())
        rows = self._conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY id")
        return [
            Event(at, seat, _action(action), user, exp, id_)
            for at, seat, action, user, exp, id_ in rows
        ]

    def seeded_through(self) -> int:
        if self._version < 2:
            return len(self.events())
        return int(self._meta("seeded_through") or 0)

    def upgrade(self) -> None:
        """Bring a version-1 database to version 2, inside the caller's write transaction."""
        from seatctl.history import seed_events

        _create_events_table(self._conn)
        seeds = seed_events(self.all_seats(), self.now())
        self.append_events(seeds)
        self._set_meta("seeded_through", str(len(seeds)))
        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._version = SCHEMA_VERSION

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise database_error(Reason.BAD_DATABASE, f"damaged history: action {name!r}") from None


class SqliteStore:
    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn = conn
        self.location = location
        self.created = False
        self._may_create = False
        self._needs_wal = False
        self._closed = False

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
        elif not os.access(path, os.R_OK | os.W_OK):
            # Even a read would leave -wal and -shm files behind that are as read-only as the
            # database, and would keep refusing this user after the file is made writable.
            raise _read_only(path)
        with translated_errors(path):
            conn = _connect(path, create)
            store = cls(conn, path)
            try:
                store._check_schema(create)
            except BaseException:
                conn.close()
                raise
        return store

    def _version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

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
        # a failed `init` leaves an empty file exactly as empty as it was.
        self._may_create = True

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[SqliteTransaction]:
        with translated_errors(self.location):
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                tx = SqliteTransaction(self._conn, self._prepared_version(write))
                yield tx
            except BaseException:
                # A listing abandoned midway (`seatctl seats | head`) may be finalised after
                # the store was closed, which already ended its transaction.
                if not self._closed and self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            if self._needs_wal:
                # WAL lets readers run beside the one writer; it is switched outside a
                # transaction, once the new database exists.
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._needs_wal = False

    def _prepared_version(self, write: bool) -> int:
        """The schema version, after creating or upgrading it inside a write transaction."""
        version = self._version()
        if write and version == 0 and self._may_create:  # else another init won the race
            _create_tables(self._conn)
            self.created = self._needs_wal = True
        elif write and version < SCHEMA_VERSION:
            SqliteTransaction(self._conn, version).upgrade()
        else:
            return version
        return SCHEMA_VERSION

    def integrity_problems(self) -> list[str]:
        with translated_errors(self.location):
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return [] if rows == [("ok",)] else [f"integrity_check: {row[0]}" for row in rows]

    def backup(self, dest: str, force: bool = False) -> None:
        _backup(self._conn, self.location, dest, force)

    def close(self) -> None:
        self._closed = True
        self._conn.close()


def _create_tables(conn: sqlite3.Connection) -> None:
    db = _toolkit(conn)
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
    _create_events_table(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _create_events_table(conn: sqlite3.Connection) -> None:
    db = _toolkit(conn)
    db["events"].create(
        {
            "id": int,
            "at": int,
            "seat": str,
            "action": str,
            "user": str,
            "expires_at": int,
        },
        pk="id",
        not_null={"at", "seat", "action"},
        if_not_exists=True,
    )
    db["events"].create_index(["seat", "id"], if_not_exists=True)


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


def _read_only(location: str) -> SeatctlError:
    return database_error(
        Reason.READ_ONLY,
        f"{location} is read-only here: seatctl needs write access to it and its directory",
    )


def _backup(conn: sqlite3.Connection, location: str, dest: str, force: bool) -> None:
    """Copy through SQLite's online backup API into a temporary file beside `dest`, then
    rename it into place: `dest` is either the whole consistent copy or untouched."""
    if os.path.exists(dest) and not force:
        raise database_error(Reason.BACKUP_FAILED, f"{dest} exists: use --force to overwrite it")
    if os.path.isdir(dest):
        raise database_error(Reason.BACKUP_FAILED, f"{dest} is a directory")
    import tempfile

    folder = os.path.dirname(os.path.abspath(dest))
    try:
        fd, temporary = tempfile.mkstemp(prefix=".seatctl-backup-", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise database_error(
            Reason.BACKUP_FAILED, f"cannot write a backup to {dest}: {exc.strerror}"
        ) from exc
    try:
        target = sqlite3.connect(temporary, isolation_level=None)
        try:
            conn.backup(target)  # all pages in one step: one consistent snapshot
        finally:
            target.close()
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, dest)
        _fsync_folder(folder)
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise database_error(
            Reason.BACKUP_FAILED, f"backup of {location} to {dest} failed: {reason}"
        ) from exc
    finally:
        for leftover in (temporary, temporary + "-wal", temporary + "-shm", temporary + "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _toolkit(conn: sqlite3.Connection):  # -> sqlite_utils.Database, imported only when used
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


def _database_error(exc: sqlite3.Error, location: str) -> SeatctlError:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
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

"""The SQLite backend: one file, WAL mode, one `BEGIN IMMEDIATE` transaction per change.

The hot path talks to `sqlite3` directly; sqlite-utils (slow to import) is used only where
a database is created or upgraded (`schema`). This module opens the file (read-write, or
read-only without leaving a trace: `access`) and runs the transactions.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from seatctl.core import clock
from seatctl.core.errors import Reason, database_error
from seatctl.storage.sql import CREATE_SEAT_AT_INDEX, CREATE_SEATS_PLACE_INDEX, SCHEMA_VERSION
from seatctl.storage.sqlite import access
from seatctl.storage.sqlite.errors import (
    BUSY,
    LOCKED,
    error_code,
    read_only_error,
    translated_errors,
)
from seatctl.storage.sqlite.transaction import SqliteTransaction
from seatctl.storage.store import SqlStore, savepoint

__all__ = ["SCHEMA_VERSION", "SqliteStore", "SqliteTransaction", "translated_errors"]

BUSY_TIMEOUT_SECONDS = 10.0
_writer_queue: int | None = None  # see `queue_writers`


def queue_writers(path: str) -> None:
    """Make this process's write transactions queue on an exclusive `flock` of the database
    file before `BEGIN IMMEDIATE`: for the processes of `serve --workers N`, which would
    otherwise meet at SQLite's write lock and wait in its busy handler's growing sleeps (up to
    100 ms each, and the p99 of a write with them); a flock hands the lock over at once.
    Only processes that call this queue (the CLI does not; it still meets the busy handler),
    and a process that dies releases its flock. Call it after fork: the flock belongs to the
    file description opened here. (On Linux flock and SQLite's fcntl locks do not interact.)"""
    global _writer_queue
    _writer_queue = os.open(path, os.O_RDONLY | os.O_CLOEXEC)


@contextlib.contextmanager
def _writers_queued(write: bool) -> Iterator[None]:
    if not write or _writer_queue is None:
        yield
        return
    import fcntl

    fcntl.flock(_writer_queue, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(_writer_queue, fcntl.LOCK_UN)


# How often a change stream reads `PRAGMA data_version`: far within its 0.5 s promise, and
# the read costs microseconds.
CHANGE_POLL_SECONDS = 0.02


class SqliteStore(SqlStore[SqliteTransaction]):
    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn = conn
        self.location = location
        self.created = False
        self._may_create = False
        self._closed = False
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
        self._memo: dict[Any, Any] = {}

    @classmethod
    def open(cls, path: str, create: bool = False, any_thread: bool = False) -> SqliteStore:
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
        # From here on a Ctrl-C may land on any line: a file made here that holds no database
        # yet is removed again, even if the store does not know of it yet.
        store: SqliteStore | None = None
        try:
            if new_file:
                _create_owner_only(path)
            read_only = _read_only_reason(path, create) if os.path.exists(path) else None
            with translated_errors(path):
                if read_only:
                    conn = _connect_read_only(path, any_thread)
                else:
                    conn = _connect(path, create, any_thread)
                store = cls(conn, path)
                store.read_only = read_only
                if new_file or empty_file:
                    store._unfilled = (_identity(path), new_file)
                store._check_schema(create)
                if not read_only:  # a reader cannot switch it; it reads it in any mode
                    store._switch_to_wal()
            store._usable = True
            return store
        except BaseException:
            if store is not None:
                if store._unfilled is None and (new_file or empty_file):
                    with contextlib.suppress(OSError):
                        store._unfilled = (_identity(path), new_file)
                store.close()
            elif new_file:
                _remove_if_empty(path)
            raise

    def _check_schema(self, create: bool) -> None:
        version = _version(self._conn)
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
            if error_code(exc) not in (BUSY, LOCKED):
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
    def _operation(self, write: bool) -> Iterator[SqliteTransaction]:
        try:
            with translated_errors(self.location), savepoint(self._conn):
                yield SqliteTransaction(self._conn, self._memo)  # inside a write: the schema
        except BaseException:  # undone: so is what it changed of what the group had read
            self._memo.clear()
            raise

    def _refuse(self, write: bool) -> None:
        if write and self.read_only:
            raise read_only_error(self.location, self.read_only)

    def _beside(self) -> SqliteStore:
        """Another connection to the database, kept for transactions that start while one is
        still open on this connection: in WAL mode they neither wait for nor disturb it."""
        if self._spare is None:
            self._spare = SqliteStore.open(self.location)
        return self._spare

    @contextlib.contextmanager
    def _own_transaction(self, write: bool) -> Iterator[SqliteTransaction]:
        with _writers_queued(write), translated_errors(self.location):
            if self.deadline is not None:  # a server's request: wait only for what it has left
                budget = self._budget(BUSY_TIMEOUT_SECONDS)
                if budget <= 0:
                    raise database_error(Reason.BUSY, f"{self.location} is still busy; try again")
                self._conn.execute(f"PRAGMA busy_timeout = {max(1, round(budget * 1000))}")
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            self._memo = {}  # what this transaction's operations read (SqlTransaction)
            try:
                tx = _transaction(self._conn, self._prepared_version(write))
                yield tx
                if self._unindexed:
                    from seatctl.storage.sqlite import schema

                    schema.create_indexes(self._conn)
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

    def _prepared_version(self, write: bool) -> int:
        """The schema version the transaction works on: in a write transaction, the current
        one, after creating or upgrading the tables (part of the write: a write that fails
        or is refused leaves an old schema as it was); in a read, the one found, which
        `_transaction` reads through `seatctl.storage.legacy` if it is older."""
        version = _version(self._conn)
        if not write:
            return version
        if version >= SCHEMA_VERSION:
            if not self._indexed:
                # The indexes outside the data model, which a database from before them lacks
                # (a no-op once they exist).
                self._conn.execute(CREATE_SEAT_AT_INDEX)
                self._conn.execute(CREATE_SEATS_PLACE_INDEX)
                self._indexed = True
            return version
        from seatctl.storage.sqlite import schema  # sqlite-utils: only to create or upgrade

        if version == 0 and self._may_create:  # else another init won the race
            schema.create_tables(self._conn)
            self._unindexed = True  # until this transaction, which fills them, commits
            self.created = True
        else:
            schema.upgrade(self._conn, version, clock.now())
        self._indexed = True  # created with the events table
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
        from seatctl.storage.sqlite.backup import backup

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

    def __del__(self) -> None:
        # Dropped without `close()`: a Ctrl-C landed between `open` returning and the `with`
        # that would close it. A file made for an `init` that never committed goes all the same.
        if getattr(self, "_unfilled", None) is not None and not self._closed:
            with contextlib.suppress(Exception):
                self.close()

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
            if self._conn.in_transaction:  # interrupted before its own rollback could run
                self._conn.execute("ROLLBACK")
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
        return _version(self._conn) == 0 and count == 0


def _version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def _transaction(conn: sqlite3.Connection, version: int) -> SqliteTransaction:
    """A transaction on `conn`, whose schema is `version` (a write's is always the current)."""
    if version >= SCHEMA_VERSION:
        return SqliteTransaction(conn)
    from seatctl.storage.sqlite.schema import OldSqliteReads  # for older schemas only

    return OldSqliteReads(conn, version)


def _remove_if_empty(path: str) -> None:
    """Remove the file `open` made, if nothing was written into it: it was interrupted before
    it could connect (another `init` that made it meanwhile would be writing into it)."""
    with contextlib.suppress(OSError):
        if os.path.getsize(path) == 0:
            os.remove(path)


def _create_owner_only(path: str) -> None:
    """Make the new database file readable by its owner only (0600), whatever the umask: it
    holds every user's name, the history and the token hashes. SQLite gives its -wal and -shm
    files the database's mode. Who wants a group to read it says so with chmod afterwards:
    an existing file's mode is never changed."""
    with contextlib.suppress(OSError):  # made meanwhile, or not allowed: SQLite says which
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


def _connect(path: str, create: bool, any_thread: bool = False) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        # As bytes: a file name need not be valid UTF-8 (undecodable bytes are surrogates here).
        f"file:{quote(os.fsencode(os.path.abspath(path)))}?mode={mode}",
        uri=True,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        check_same_thread=not any_thread,
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
        raise read_only_error(path, why)
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


def _connect_read_only(path: str, any_thread: bool = False) -> sqlite3.Connection:
    # On a read-only filesystem nothing can change the file while it is read, so SQLite may
    # skip locking and the missing -wal and -shm files (`immutable`).
    immutable = not access.has_side_files(path) and access.on_read_only_filesystem(path)
    name = quote(os.fsencode(os.path.abspath(path)))  # as in _connect: any bytes a name may hold
    return sqlite3.connect(
        f"file:{name}?mode=ro{'&immutable=1' if immutable else ''}",
        uri=True,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=not any_thread,
    )

"""The PostgreSQL backend: one server shared by many hosts, row locks instead of one write lock.

Chosen by a `postgresql://` (or `postgres://`) URL. Every command is one transaction (see
`transaction` for how writers lock and queue); this module connects, begins and ends them,
and creates or upgrades the tables (`schema`) in the first write that needs it. psycopg is
imported by `driver` and nowhere else: the SQLite path never pays for it.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from seatctl.core import clock
from seatctl.core.errors import (
    Reason,
    SeatctlWarning,
    busy_error,
    database_error,
    usage_error,
)
from seatctl.core.model import HistoryEntry
from seatctl.storage.postgres import schema
from seatctl.storage.postgres.driver import INSTALL_HINT, psycopg
from seatctl.storage.postgres.errors import (
    COMMITTING,
    CONNECTING,
    WORKING,
    translated_errors,
)
from seatctl.storage.postgres.transaction import (
    CHANGES_CHANNEL,
    PostgresTransaction,
    milliseconds,
    pipeline,
    transaction,
)
from seatctl.storage.postgres.url import parsed, redacted
from seatctl.storage.sql import SCHEMA_VERSION
from seatctl.storage.store import SqlStore, savepoint

if TYPE_CHECKING:
    from seatctl.storage.postgres.driver import Connection

__all__ = ["SCHEMA_VERSION", "PostgresStore", "PostgresTransaction", "redacted"]

BUSY_TIMEOUT_SECONDS = 10.0
QUEUE_RESERVE_SECONDS = 1.0  # of a group's time, not spent queueing for an event's lock
CONNECT_TIMEOUT_SECONDS = 10


class PostgresStore(SqlStore[PostgresTransaction]):
    def __init__(self, conn: Connection, url: str) -> None:
        self._conn = conn
        self._url = url
        self.location = redacted(url)  # shown in messages: never the password
        self.created = False
        self.version = SCHEMA_VERSION
        self._spare: PostgresStore | None = None
        self._may_create = False  # an init found no tables: its write transaction makes them
        self._deferred: list[HistoryEntry] | None = None  # a group's history, written last
        self._first = False  # the next operation is its group's first
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
        given = parsed(url)  # a malformed URL is the caller's mistake: refused before connecting
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
            found, tables, version = schema.state(conn)
        if tables or not create:
            # An older version is upgraded by the first write transaction.
            self.version = schema.usable_version(self.location, found, tables, version)
            return
        # The tables are made by the first write transaction, together with the seats and
        # settings it adds: an init that fails or loses its connection leaves nothing behind.
        self._may_create = True

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        # The history's commit-order lock (HISTORY_LOCK) is held from a transaction's first
        # history row to its COMMIT. Taken by a group's first operation, it made every other
        # writer's history wait for the whole group, and a pick waited for it while holding
        # its event's lock: a quarter of the time that lock was held, in the on-sale case. So
        # a group's operations keep their history rows, and the group writes them last.
        # Its first write holds no lock yet: if that is a pick, it may queue for its event's
        # lock with most of its time (`queue_wait`), where leaving the group after a grouped
        # write's short lock wait would only put it back in the same queue, alone.
        with super().group():
            self._deferred = []
            self._first = True
            try:
                yield
                self._write_deferred()
            finally:
                self._deferred = None

    @contextlib.contextmanager
    def _operation(self, write: bool) -> Iterator[PostgresTransaction]:
        # Each RELEASE would be a round trip to the server, and while `lock --best` holds its
        # event's lock, the event's other picks wait on every one.
        with translated_errors(self._url, write), savepoint(self._conn, release=False):
            budget = self._budget(BUSY_TIMEOUT_SECONDS)
            tx = PostgresTransaction(self._conn, True, self.location, budget, self.deadline)
            assert self._deferred is not None  # operations run only in a group
            tx.deferred, tx.group_history = [], self._deferred
            if write and self._first:
                # The group's first write (a server's reads of the caller's token come first,
                # holding no lock): queue for an event's lock with its time, keeping some for
                # the rest of the group, its history and its COMMIT.
                self._first = False
                budget = self._budget(BUSY_TIMEOUT_SECONDS, one_lock=False)
                tx.queue_wait = budget - min(QUEUE_RESERVE_SECONDS, budget / 2)
            yield tx
        self._deferred += tx.deferred  # it succeeded: its history goes with the group's

    def _write_deferred(self) -> None:
        """A group's history rows, under the history's lock, just before its COMMIT. The
        lock is held only that long by anyone, so the wait for it may take the group's
        whole budget (not a grouped write's short lock wait): failing here fails them all."""
        entries = self._deferred
        if not entries:
            return
        budget = self._budget(BUSY_TIMEOUT_SECONDS, one_lock=False)
        tx = PostgresTransaction(self._conn, True, self.location, budget, self.deadline)
        with translated_errors(self._url, True), pipeline(self._conn):
            tx.set_lock_timeout(budget)
            tx.append_history(entries)

    @contextlib.contextmanager
    def _own_transaction(self, write: bool) -> Iterator[PostgresTransaction]:
        with self._begun_at_the_current_schema(write) as conn:
            budget = self._budget(BUSY_TIMEOUT_SECONDS)
            yield transaction(conn, write, self.version, self.location, budget, self.deadline)

    def _committed(self, tx: PostgresTransaction) -> None:
        self._may_create = False  # the tables exist now
        if tx.overridden:
            # Unlike a SQLite file, the server is shared: other hosts now see locks and
            # bookings made at this host's made-up time (and lapse or keep theirs by it).
            value = os.environ.get(clock.NOW_ENV, "").strip()
            warnings.warn(
                f"{clock.NOW_ENV}={value} overrides the server clock for everyone sharing"
                f" {self.location}",
                SeatctlWarning,
                stacklevel=4,  # the caller of `transaction()`
            )

    @contextlib.contextmanager
    def _begun_at_the_current_schema(self, write: bool) -> Iterator[Connection]:
        """A transaction; a write one first creates the tables (for `init`) or upgrades an
        older schema, as part of the write: one that fails leaves them as they were."""
        version = self.version
        try:
            with self._begun(write) as conn:
                if write and self._may_create:
                    made = schema.create_tables(conn, self.location)
                    self.created = made is None
                    self.version = SCHEMA_VERSION if made is None else made
                if write and self.version < SCHEMA_VERSION:
                    self.version = schema.upgrade(conn)
                if write and not self._may_create and not self._indexed:
                    schema.make_sure_of_the_indexes(conn)  # once per connection
                    self._indexed = True
                yield conn
        except BaseException:
            self.version = version  # rolled back with the transaction
            raise

    def _beside(self) -> PostgresStore:
        """Another connection, kept for transactions that start while one is still open on
        this connection."""
        if self._spare is None:
            self._spare = PostgresStore.open(self._url)
        return self._spare

    def _group_transaction(self) -> contextlib.AbstractContextManager[Connection]:
        return self._begun_at_the_current_schema(write=True)

    @contextlib.contextmanager
    def _begun(self, write: bool) -> Iterator[Connection]:
        """One transaction on the connection (which is otherwise in autocommit mode)."""
        try:
            with translated_errors(self._url, write):
                budget = self._budget(BUSY_TIMEOUT_SECONDS)
                if budget <= 0:  # the request's time is up before it began: nothing done
                    raise busy_error(self.location, [])
                self._conn.execute(_begin(write, budget, self.deadline))
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

    def link_lost(self) -> bool:
        # What the socket already holds, without a round trip (a few microseconds): a backend
        # that was terminated or shut down sent its goodbye and closed. The first read may take
        # the goodbye, the second meets the end.
        try:
            for _ in range(2):
                self._conn.pgconn.consume_input()
        except psycopg.OperationalError:
            return True
        return bool(self._conn.pgconn.status != psycopg.pq.ConnStatus.OK)

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


def _begin(write: bool, budget: float, deadline: float | None) -> str:
    # Writers: READ COMMITTED whatever the server's default, so that FOR UPDATE waits for a
    # row and then reads its latest version instead of failing to serialise. Readers: one
    # snapshot for the whole command. lock_timeout is the busy timeout for a single lock (the
    # schema lock, a meta row); the seats' rows are bounded together (see `_locked`). SET LOCAL
    # ends with the transaction, which also suits transaction-pooling proxies such as PgBouncer.
    # A server's request (`deadline`) also bounds every statement by the time it has left, so
    # that a slow or stuck database answers within it too.
    isolation = "READ COMMITTED" if write else "REPEATABLE READ, READ ONLY"
    timeout_ms = milliseconds(budget)
    begin = f"BEGIN ISOLATION LEVEL {isolation}; SET LOCAL lock_timeout = '{timeout_ms}ms'"
    if deadline is not None:
        left_ms = milliseconds(deadline - time.monotonic())
        begin += f"; SET LOCAL statement_timeout = '{left_ms}ms'"
    return begin


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

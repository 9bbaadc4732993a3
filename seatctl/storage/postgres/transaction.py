"""PostgreSQL's side of a transaction: what its SQL does differently from SQLite's.

A write transaction runs at READ COMMITTED and locks the rows of the seats it names (`FOR
UPDATE`, in label order) before deciding, so its checks hold until it commits and commands on
different seats never wait for each other; writers that must see a whole event or a user's
locks queue on advisory locks. Many rows are bound as arrays (`unnest`), one round trip for
any number. "Now" is the server's clock, so hosts with skewed clocks agree.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from seatctl.core import clock
from seatctl.core.clock import Instant
from seatctl.core.errors import busy_error
from seatctl.core.model import (
    DEFAULT_SHOW,
    NO_PLACE,
    Action,
    HistoryEntry,
    Place,
    Seat,
    Settings,
    Show,
)
from seatctl.core.validate import natural_key
from seatctl.storage import ChangeMarker, records
from seatctl.storage.legacy import OldSchemaReads
from seatctl.storage.postgres.driver import psycopg
from seatctl.storage.sql import (
    SCHEMA_VERSION,
    SEAT_COLUMNS,
    SETTINGS_KEYS,
    STATE_COLUMNS,
    STATE_UPSERT,
    Queries,
    SqlTransaction,
    state_rows,
)

if TYPE_CHECKING:
    from seatctl.storage.postgres.driver import Connection

# Writers NOTIFY on it (with their schema) when they add to the history; change streams LISTEN.
CHANGES_CHANNEL = "seatctl_changes"
# The server's clock when first asked in a transaction (after the command has locked its seats,
# so a command that queued behind another acts at the time it got them), truncated to the
# second like the local clock. The transaction caches it: one "now" per transaction.
_ANALYZE_AFTER = 100  # seats added at once: a map worth the planner's statistics
_SERVER_NOW = "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint"
# Creating the tables and adding seats are serialised per schema, so concurrent `init`s neither
# collide on CREATE TABLE nor deadlock inserting overlapping labels in different orders. The
# lock is transaction-scoped: a crashed init cannot leave it held.
_SEATCTL_LOCK_CLASS = 0x5EA7
SCHEMA_LOCK = f"SELECT pg_advisory_xact_lock({_SEATCTL_LOCK_CLASS}, hashtext(current_schema()))"
# Taken by every writer right before its first history insert and held to COMMIT, so that
# history ids (drawn from a sequence at INSERT time) are drawn in commit order: a writer draws
# ids only once every writer that drew before it has committed or rolled back. A change
# stream that reads `id > last read` then never skips a change that commits late; a rolled
# back writer leaves a gap nobody will fill, which readers pass harmlessly.
HISTORY_LOCK = (
    f"SELECT pg_advisory_xact_lock({_SEATCTL_LOCK_CLASS + 3}, hashtext(current_schema()))"
)
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
# The map's rows are locked (a state row may not exist yet): one event's writers on a seat queue,
# as do those of different events on it, which is rare and brief. The states are read by a
# second statement, after the wait: at READ COMMITTED it sees what the writers it waited for
# committed (a locking join would recheck only the locked rows, not a state row inserted since).
_LOCK_SEATS = "SELECT label FROM seats WHERE label = ANY(%s) ORDER BY label FOR UPDATE"
_READ_SEATS = (
    f"SELECT {SEAT_COLUMNS} FROM seats AS s LEFT JOIN seat_states AS st"
    " ON st.show = %s AND st.seat = s.label WHERE s.label = ANY(%s)"
)
# Which of the seats other transactions hold locked right now (a look, not a wait).
_HELD_SEATS = """
SELECT label FROM seats WHERE label = ANY(%(labels)s) EXCEPT
SELECT label FROM (
    SELECT label FROM seats WHERE label = ANY(%(labels)s) FOR UPDATE SKIP LOCKED
) AS free
"""
# The newest instant of each seat's events that meet a condition, one max(at) per seat: with
# the (seat, at) index each is read off the index's end, where `GROUP BY seat` would read
# every event of the seat (a cost that grew with each write). Still the greatest stored value.
_NEWEST_PER_SEAT = (
    'SELECT label, (SELECT max(at) FROM events WHERE seat = label COLLATE "C"{condition})'
    " FROM unnest(%s::text[]) AS label"
)
# An event's changes are its own, and a seat's `add` (no event) belongs to every event.
_OF_THE_EVENT = " AND (show = %s OR show IS NULL)"
_LATEST_OF_THE_EVENT = _NEWEST_PER_SEAT.format(condition=_OF_THE_EVENT)


class PostgresTransaction(SqlTransaction):
    sql = Queries("%s", returning_id=" RETURNING id")
    _conn: Connection

    def __init__(
        self,
        conn: Connection,
        write: bool,
        location: str = "",
        busy_timeout: float = 10.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__(conn)
        self._write = write
        self._location = location
        self._busy_timeout = busy_timeout
        self.overridden = False  # this write acted at SEATCTL_NOW instead of the server's time
        self._hard_deadline = deadline  # a server request's: no wait goes past it
        self._history_locked = False
        # In a commit group: this operation's history, which the group writes as its last
        # statements (`PostgresStore.group`); None: written as it comes.
        self.deferred: list[HistoryEntry] | None = None
        # The history of the group's operations before this one, also still to be written.
        self.group_history: list[HistoryEntry] | None = None
        # Seconds the event's lock (`serialise_show`) may be waited for, where that is not
        # the transaction's lock_timeout: a commit group's first write, holding nothing.
        self.queue_wait: float | None = None
        self._server_clock: Instant | None = None  # the server's clock, read ahead of `now()`
        self._newest_at_lock: int | None = None  # the change marker's id, read with the lock
        self._settings_read: Any = None  # the settings' rows, read ahead of `settings()`
        # The event, the seats and their newest history instants, read with the seats' locks
        # ahead of `latest_history_at`, which a write asks next.
        self._latest_read: tuple[str, set[str], list[tuple[Any, Any]]] | None = None
        self._show_read: tuple[str, Any] | None = None  # an event's row, read with its lock
        # The command's whole budget for waiting on other writers (not a booking instant, so
        # not seatctl.core.clock's time).
        self._deadline = self._capped(time.monotonic() + busy_timeout)

    def _capped(self, deadline: float) -> float:
        return deadline if self._hard_deadline is None else min(deadline, self._hard_deadline)

    def now(self) -> Instant:
        if self._now is None:
            override = clock.clock_override()
            # The server's clock, the same for every host; read once per transaction.
            self._now = override if override is not None else self._server_now()
            self.overridden = override is not None and self._write
        return self._now

    def _server_now(self) -> Instant:
        if self._server_clock is not None:
            return self._server_clock
        now: Instant = self._value(_SERVER_NOW)
        return now

    def _new_id(self, cursor: Any) -> int:
        return int(cursor.fetchone()[0])

    def _serialise_settings(self) -> None:
        # Like adding seats, under the schema lock: an init then waits once, for that lock.
        self.execute(SCHEMA_LOCK)

    def serialise_user(self, show: str, user: str) -> None:
        # Bounded by lock_timeout like the event's lock; the seats' budget starts after it.
        self.execute(_USER_LOCK, (show, user))
        self._deadline = self._capped(time.monotonic() + self._busy_timeout)

    def change_marker(self) -> ChangeMarker | None:
        # History ids are drawn in commit order (HISTORY_LOCK), so the newest one moves with
        # every change committed since, this connection's own included (the pick index then
        # takes those in again, harmlessly). The connection tells indexes apart.
        newest, self._newest_at_lock = self._newest_at_lock, None
        if newest is None:
            newest = self.newest_history_id()
        return ChangeMarker(id(self._conn), newest, newest_history_id=newest)

    def serialise_show(self, show: str) -> None:
        # Writers that read a whole event before locking seats (lock --best) queue on one
        # transaction-scoped lock per event and schema, bounded by lock_timeout. The wait is a
        # queue, not contention on the seats: the seats' own budget starts once it is over.
        # The change marker, the clock and the settings, which the pick reads next, go in the
        # same round trip and are read as the lock is granted: every round trip made while
        # holding the lock keeps the event's other picks waiting.
        with pipeline(self._conn):
            if self.queue_wait is not None:
                self.set_lock_timeout(self.queue_wait)
            self.execute(_SHOW_LOCK, (show,))
            if self.queue_wait is not None:
                self.set_lock_timeout(self._busy_timeout)
            show_read = self.execute(self.sql.show, (show,))
            newest_read = self.execute(self.sql.newest_history_id)
            clock_read = self.execute(_SERVER_NOW) if self._now is None else None
            settings_read = None
            if self._settings is None:
                settings_read = self.execute(self.sql.settings, SETTINGS_KEYS)
        self._deadline = self._capped(time.monotonic() + self._busy_timeout)
        self._show_read = (show, show_read.fetchone())
        self._newest_at_lock = int(newest_read.fetchone()[0])
        if clock_read is not None:
            self._server_clock = int(clock_read.fetchone()[0])
        if settings_read is not None:
            self._settings_read = settings_read

    def set_lock_timeout(self, seconds: float) -> None:
        """How long each lock may be waited for from now on, in this transaction."""
        self.execute(f"SET LOCAL lock_timeout = '{milliseconds(seconds)}ms'")

    def show(self, name: str) -> Show | None:
        read, self._show_read = self._show_read, None
        if read is not None and read[0] == name:  # read as its lock was granted
            return Show(*read[1]) if read[1] else None
        return super().show(name)

    def settings(self) -> Settings:
        if self._settings is None and self._settings_read is not None:
            read, self._settings_read = self._settings_read, None
            self._settings = self._settings_from(read)  # a damaged value is told only now
        return super().settings()

    def seats(
        self, labels: list[str], show: str = DEFAULT_SHOW, lock: bool = True
    ) -> dict[str, Seat]:
        if not labels:
            return {}
        if self._write and lock:
            rows = self._locked(labels, show)
        else:
            rows = self.execute(_READ_SEATS, (show, labels)).fetchall()
        return {row[0]: records.seat(row) for row in rows}

    def _locked(self, labels: list[str], show: str = DEFAULT_SHOW) -> list[tuple[Any, ...]]:
        """The rows of `labels`, locked until commit, in one order for everyone (so overlapping
        multi-seat commands queue instead of deadlocking), waiting at most what is left of the
        command's busy budget in all: lock_timeout bounds the wait for each row, not their
        sum, so the statement as a whole gets the time left as its statement_timeout."""
        left_ms = milliseconds(self._deadline - time.monotonic())
        conn = self._conn
        try:
            with pipeline(conn):
                conn.execute("SAVEPOINT seatctl_seats")  # to look around after a timeout
                conn.execute(f"SET LOCAL statement_timeout = {left_ms}")
                conn.execute(_LOCK_SEATS, (labels,))
                rows = conn.execute(_READ_SEATS, (show, labels))
                conn.execute(f"SET LOCAL statement_timeout = {self._statement_timeout()}")
                latest = conn.execute(_LATEST_OF_THE_EVENT, (show, labels))
            self._latest_read = (show, set(labels), latest.fetchall())
            return rows.fetchall()
        except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
            conn.execute("ROLLBACK TO SAVEPOINT seatctl_seats")
            held = {row[0] for row in conn.execute(_HELD_SEATS, {"labels": labels})}
            raise busy_error(self._location, [label for label in labels if label in held]) from None

    def _statement_timeout(self) -> str:
        """What bounds the statements after the seats' wait: a request's time left, if any."""
        if self._hard_deadline is None:
            return "DEFAULT"
        return str(milliseconds(self._hard_deadline - time.monotonic()))

    def save(self, seats: list[Seat], show: str = DEFAULT_SHOW) -> None:
        if not seats:
            return
        # One statement for any number of seats: a round trip per seat adds up across hosts.
        self.execute(
            f"INSERT INTO seat_states AS st ({STATE_COLUMNS})"
            " SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[],"
            f" %s::bigint[], %s::bigint[], %s::text[], %s::bigint[]){STATE_UPSERT}",
            # The event once, the seats' columns as arrays.
            [show, *_columns(state_rows(seats, show), 9)[1:]],
        )

    def record(self, seats: list[Seat], show: str, events: list[HistoryEntry]) -> None:
        # The states, the history's commit-order lock and the history in one round trip:
        # while `lock --best` holds its event's lock, the event's other picks wait on each one.
        with pipeline(self._conn):
            super().record(seats, show, events)

    def add_seats(self, labels: list[str], places: dict[str, Place] | None = None) -> list[str]:
        if not labels:
            return []
        self.execute(SCHEMA_LOCK)
        places = places or {}
        given = [places.get(label, NO_PLACE) for label in labels]
        # Another writer may add some of these seats meanwhile (one that started before the
        # advisory lock existed, or a future command): ON CONFLICT skips them, and RETURNING
        # names only the rows this insert really created. The map order goes on from the
        # last seat's (under the schema lock, no other adder runs meanwhile).
        rows = self.execute(
            "INSERT INTO seats (label, sort_key, section, seat_row, seat_number, category,"
            " x, y, map_order) SELECT label, sort_key, section, seat_row, seat_number, category,"
            " x, y, (SELECT coalesce(max(map_order), 0) FROM seats) + position FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[],"
            " %s::float8[], %s::float8[])"
            " WITH ORDINALITY AS v(label, sort_key, section, seat_row, seat_number, category,"
            " x, y, position) ORDER BY position"
            " ON CONFLICT (label) DO NOTHING RETURNING label",
            (
                labels,
                [natural_key(label) for label in labels],
                [p.section for p in given],
                [p.row for p in given],
                [p.number for p in given],
                [p.category for p in given],
                [p.x for p in given],
                [p.y for p in given],
            ),
        )
        created = {row[0] for row in rows}
        if len(created) >= _ANALYZE_AFTER:
            # Without statistics the planner takes a new map for a few rows and joins a row's
            # seats to the event's states by scanning all of them for each seat: `lock --best`
            # slowed as a hall filled (9 picks/s in a 420-seat on-sale). Autovacuum would
            # analyse the table only later; this transaction's rows count already.
            self._conn.execute("ANALYZE seats")
        return [label for label in labels if label in created]

    def append_adds(self, labels: list[str], at: Instant) -> None:
        self.append_history([HistoryEntry(at, label, Action.ADD) for label in labels])
        if len(labels) >= _ANALYZE_AFTER:
            # As for the seats (`add_seats`): without statistics the planner reads the whole
            # history for "the entries after id N", which a pick asks each time others have
            # committed (1.2 ms at 11,000 entries, and growing) until autovacuum's first look.
            self._conn.execute("ANALYZE events")

    def append_history(self, events: list[HistoryEntry]) -> None:
        self._latest_read = None  # the seats' newest instants may be these now
        if not events:
            return
        if self.deferred is not None:
            self.deferred.extend(events)
            return
        if not self._history_locked:
            self._conn.execute(HISTORY_LOCK)
            self._history_locked = True
        # Ids are drawn in insertion order; ORDER BY the array position keeps the caller's order.
        # The same statement tells change streams (`wait_for_change`) that the history grew:
        # PostgreSQL delivers the NOTIFY at COMMIT, once per transaction, and never if it rolls
        # back.
        self.execute(
            "WITH added AS ("
            'INSERT INTO events (at, seat, action, "user", expires_at, show, reason, acted_by,'
            " token_id) SELECT at, seat, action, usr, expires_at, show, reason, acted_by,"
            " token_id FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[],"
            " %s::bigint[], %s::text[], %s::text[], %s::text[], %s::bigint[]) WITH ORDINALITY"
            " AS e(at, seat, action, usr, expires_at, show, reason, acted_by, token_id, position)"
            f" ORDER BY position RETURNING 1) SELECT pg_notify('{CHANGES_CHANNEL}',"
            " current_schema()) FROM (SELECT 1 FROM added LIMIT 1) AS one",
            _columns(
                [
                    (
                        e.at,
                        e.seat,
                        e.action.value,
                        e.user,
                        e.expires_at,
                        e.show,
                        e.reason,
                        e.by,
                        e.token,
                    )
                    for e in events
                ],
                9,
            ),
        )

    def hold_starts(self, labels: list[str], show: str, through: int) -> dict[str, Instant]:
        condition = " AND action = 'lock' AND id <= %s AND show = %s"
        return self._newest_per_seat(labels, condition, (through, show))

    def latest_history_at(self, labels: list[str], show: str = DEFAULT_SHOW) -> dict[str, Instant]:
        read, self._latest_read = self._latest_read, None
        wanted = set(labels)
        if read is not None and read[0] == show and read[1].issuperset(wanted):
            # Read as the seats were locked: no writer of theirs has committed since.
            latest = {
                seat: records.newest_instant(seat, at)
                for seat, at in read[2]
                if at is not None and seat in wanted
            }
        else:
            latest = self._newest_per_seat(labels, _OF_THE_EVENT, (show,))
        # A commit group's history is written at its end: what its operations did is not in
        # the table yet, and the clock rule must weigh it too.
        for entry in [*(self.group_history or ()), *(self.deferred or ())]:
            if entry.seat in wanted and entry.show in (show, None):
                latest[entry.seat] = max(entry.at, latest.get(entry.seat, entry.at))
        return latest

    def _newest_per_seat(
        self, labels: list[str], condition: str, params: tuple[Any, ...]
    ) -> dict[str, Instant]:
        if not labels:
            return {}
        query = _NEWEST_PER_SEAT.format(condition=condition)
        rows = self.execute(query, (*params, labels))
        return {seat: records.newest_instant(seat, at) for seat, at in rows if at is not None}


class OldPostgresReads(OldSchemaReads, PostgresTransaction):
    """A read transaction on an older schema (see `seatctl.storage.legacy`)."""


def transaction(
    conn: Connection,
    write: bool,
    version: int,
    location: str,
    busy_timeout: float,
    deadline: float | None = None,
) -> PostgresTransaction:
    """A transaction on `conn`, whose schema is `version` (a write's is always the current)."""
    if version >= SCHEMA_VERSION:
        return PostgresTransaction(conn, write, location, busy_timeout, deadline)
    old = OldPostgresReads(conn, write, location, busy_timeout, deadline)
    old.version = version
    return old


def milliseconds(seconds: float) -> int:
    """A timeout for PostgreSQL, which takes milliseconds: at least 1 (0 waits forever)."""
    return max(1, round(seconds * 1000))


def pipeline(conn: Connection) -> contextlib.AbstractContextManager[object]:
    """The statements sent in the block go to the server together (one round trip), where
    libpq has pipelines (PostgreSQL 14's libpq and later); one by one where it has not."""
    return conn.pipeline() if psycopg.Pipeline.is_supported() else contextlib.nullcontext()


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows turned into one list per column, to bind as arrays for unnest()."""
    return [[row[i] for row in rows] for i in range(width)]

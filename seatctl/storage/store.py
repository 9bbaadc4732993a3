"""How both backends' stores hand out transactions: one at a time on a connection (another
connection for one that starts while a listing still reads), and group commit, where each
operation is a savepoint of one write transaction."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from seatctl.storage.sql import SqlTransaction

T = TypeVar("T", bound=SqlTransaction)


class SqlStore(Generic[T]):
    """`Store.transaction()` and `Store.group()`; a backend supplies its transactions."""

    _grouped = False  # `group()` holds a write transaction open
    # Set by a server for each request (`Venue.within`): the `time.monotonic()` instant by which
    # its transactions give up waiting (busy), however many things they wait for; and the
    # longest any one lock may be waited for (short inside a group, so that a request stuck
    # behind another's row lock holds up nobody else's). None: the usual budget per command.
    deadline: float | None = None
    lock_wait: float | None = None

    def _budget(self, usual: float, one_lock: bool = True) -> float:
        """The seconds a transaction beginning now may wait in all (at most `usual`); with
        `one_lock`, also at most `lock_wait` (a wait for one lock, not a whole group's time)."""
        budget = usual if self.lock_wait is None or not one_lock else min(usual, self.lock_wait)
        if self.deadline is not None:
            budget = min(budget, self.deadline - time.monotonic())
        return budget

    _busy = False  # a transaction is open on this connection

    def link_lost(self) -> bool:
        """Whether the connection is known to be gone (the server ended it while it was idle)."""
        return False

    def _operation(self, write: bool) -> AbstractContextManager[T]:
        """One operation of a group: a savepoint of the group's write transaction."""
        raise NotImplementedError

    def _refuse(self, write: bool) -> None:
        """Raise if this store may not begin such a transaction."""

    def _beside(self) -> SqlStore[T]:
        """Another connection to the database, for transactions that start while one is still
        open on this connection (a listing, `Venue.iter_seats`, still reading)."""
        raise NotImplementedError

    def _own_transaction(self, write: bool) -> AbstractContextManager[T]:
        raise NotImplementedError

    def _committed(self, tx: T) -> None:
        """After `tx` committed."""

    def transaction(self, write: bool = True) -> AbstractContextManager[T]:
        if self._grouped:  # the server's every request: no generator around the savepoint
            return self._operation(write)
        return self._transaction(write)

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[T]:
        self._refuse(write)
        if self._busy:
            with self._beside().transaction(write) as tx:
                yield tx
            return
        self._busy = True
        try:
            with self._own_transaction(write) as tx:
                yield tx
        finally:
            self._busy = False
        self._committed(tx)

    def _group_transaction(self) -> AbstractContextManager[Any]:
        """The write transaction a group runs in."""
        return self.transaction(write=True)

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """One write transaction for several operations (group commit): each `transaction()`
        inside it is a savepoint, all or nothing on its own, and all of them become durable
        with one COMMIT when the group ends. Callers report success only after that."""
        with self._group_transaction():
            self._grouped = True
            try:
                yield
            finally:
                self._grouped = False


class savepoint:  # lower case: used as a function, `with savepoint(conn):`
    """One operation of a group on `conn`: undone on its own if it fails. Without `release`,
    the savepoint of an operation that succeeded stays until the group's COMMIT, which
    releases it anyway: the next operation's savepoint, of the same name, nests in it, and a
    rollback goes back to the newest one of that name. (A class: it wraps every request of
    the server, and costs less than a generator.)"""

    __slots__ = ("_conn", "_release")

    def __init__(self, conn: Any, release: bool = True) -> None:
        self._conn, self._release = conn, release

    def __enter__(self) -> None:
        self._conn.execute("SAVEPOINT seatctl_operation")

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if error is not None:
            self._conn.execute("ROLLBACK TO SAVEPOINT seatctl_operation")
            self._conn.execute("RELEASE SAVEPOINT seatctl_operation")
        elif self._release:
            self._conn.execute("RELEASE SAVEPOINT seatctl_operation")

"""psycopg's exceptions as seatctl's exit-6 errors, each with one clear line (never a password)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from seatctl.core.errors import Reason, SeatctlError, busy_error, database_error
from seatctl.storage.postgres.driver import psycopg
from seatctl.storage.postgres.url import one_line, redacted

_BUSY_STATES = {
    "55P03",  # lock_not_available: waited longer than lock_timeout
    "40P01",  # deadlock_detected: rows are locked in label order, but stay safe if it happens
    "40001",  # serialization_failure: not expected at the levels used, likewise
    "57014",  # query_canceled: a statement outlived the time left (statement_timeout)
}
_READ_ONLY_STATES = {
    "42501",  # insufficient_privilege
    "25006",  # read_only_sql_transaction: a standby, or a role that defaults to read-only
}
_UNKNOWN_DATABASE = re.compile(r'database "[^"]*" does not exist')
# Connection failures that are the configuration's, not an outage's (libpq gives them no
# SQLSTATE): a wrong password, role or pg_hba.conf, or a malformed option.
_MISCONFIGURED = re.compile(
    r'authentication failed|password|role "[^"]*" does not exist|pg_hba\.conf|invalid'
    r" (connection option|integer value|sslmode)|SSL (is )?not (supported|enabled)",
    re.IGNORECASE,
)


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
    detail = one_line(str(exc), url)
    if stage == CONNECTING:
        if _UNKNOWN_DATABASE.search(detail):
            return database_error(
                Reason.NO_DATABASE, f"cannot connect to {where}: {detail} (create it with createdb)"
            )
        if _MISCONFIGURED.search(detail):  # retrying will not help: the operator must act
            return database_error(Reason.BAD_DATABASE, f"cannot connect to {where}: {detail}")
        return database_error(Reason.UNAVAILABLE, f"cannot connect to {where}: {detail}")
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
                Reason.COMMIT_UNKNOWN,
                f"lost the connection to {where} while committing: the change may or may not"
                f" have been made; look with 'seatctl seats' ({detail})",
            )
        return database_error(Reason.UNAVAILABLE, f"lost the connection to {where}: {detail}")
    return database_error(Reason.BAD_DATABASE, f"database error on {where}: {detail}")


def _connection_lost(exc: psycopg.Error) -> bool:
    """The server went away (psycopg gives no SQLSTATE then) or ended the session itself
    (class 08 connection exception, class 57P: shut down, restarted, or terminated)."""
    if exc.sqlstate is None:
        return isinstance(exc, psycopg.OperationalError)
    return exc.sqlstate.startswith(("08", "57P"))

"""sqlite3's exceptions as seatctl's exit-6 errors, each with one clear line."""

from __future__ import annotations

import sqlite3

from seatctl.core.errors import Reason, SeatctlError, database_error

# SQLite's primary result codes (https://sqlite.org/rescode.html) that a user can cause.
BUSY, LOCKED, READONLY, CANTOPEN, CORRUPT, NOTADB = 5, 6, 8, 14, 11, 26


class translated_errors:  # lower case: used as a function, `with translated_errors(path):`
    """Turn sqlite3's exceptions into seatctl's exit-6 errors with a clear message. (A class:
    it wraps every request of the server, and costs less than a generator.)"""

    __slots__ = ("_location",)

    def __init__(self, location: str) -> None:
        self._location = location

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if isinstance(error, sqlite3.Error):
            raise _database_error(error, self._location) from error
        if isinstance(error, UnicodeDecodeError):  # SQLite quoting a damaged file's bytes
            raise database_error(
                Reason.BAD_DATABASE,
                f"{self._location} is not a usable SQLite database (damaged text)",
            ) from error


def error_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code behind `exc`."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def read_only_error(location: str, why: str | None = None) -> SeatctlError:
    because = f" ({why})" if why else ""
    return database_error(
        Reason.READ_ONLY,
        f"{location} is read-only here{because}: changing it needs write access to it, its"
        " folder and its -wal and -shm files",
    )


def _database_error(exc: sqlite3.Error, location: str) -> SeatctlError:
    code = error_code(exc)
    if code in (BUSY, LOCKED):
        return database_error(Reason.BUSY, f"{location} is still busy after waiting; try again")
    if code == READONLY:
        return read_only_error(location)
    if code in (NOTADB, CORRUPT):
        return database_error(
            Reason.BAD_DATABASE, f"{location} is not a usable SQLite database ({exc})"
        )
    if code == CANTOPEN:
        return database_error(Reason.BAD_DATABASE, f"cannot open {location} ({exc})")
    return database_error(Reason.BAD_DATABASE, f"database error on {location}: {exc}")

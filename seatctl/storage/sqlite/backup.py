"""`seatctl backup` for SQLite: a consistent copy, never a half-written or misplaced file.

The copy is written through SQLite's online backup API into a temporary file beside DEST,
synced, given the database's permission bits, and only then moved to DEST's name: DEST is
either the whole copy or untouched. DEST may only be a new name or (with --force) a regular
file: never the database or its side files, a device, a FIFO, a socket, a folder or a link.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat

from seatctl.core.errors import Reason, SeatctlError, database_error, usage_error
from seatctl.core.validate import is_postgres_url

SIDE_FILES = ("-wal", "-shm", "-journal")  # what SQLite keeps beside a database
_KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symbolic link",
    stat.S_IFCHR: "device",
    stat.S_IFBLK: "device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}
# Errors of link() meaning "this filesystem has no hard links", not "DEST is unwritable".
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


def backup(conn: sqlite3.Connection, location: str, dest: str, force: bool) -> None:
    if is_postgres_url(dest):
        raise usage_error("backup writes a SQLite file; DEST may not be a PostgreSQL URL")
    _check_destination(location, dest, force)
    folder = os.path.dirname(os.path.abspath(dest))
    temporary = _temporary_file(dest, folder)
    try:
        _copy(conn, temporary)
        # mkstemp made it 0600; the copy holds the same data as the database, so the same
        # people may read it: no more, no less.
        os.chmod(temporary, stat.S_IMODE(os.stat(location).st_mode) & 0o777)
        _move_into_place(temporary, location, dest, force)
        _fsync_folder(folder)
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise database_error(
            Reason.BACKUP_FAILED, f"backup of {location} to {dest} failed: {reason}"
        ) from exc
    finally:
        for leftover in (temporary, *(temporary + suffix for suffix in SIDE_FILES)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def _check_destination(location: str, dest: str, force: bool) -> None:
    """Refuse any DEST but a new name or, with `force`, a regular file that is not the
    database's own: a rename over anything else would destroy it (as root, even a device)."""
    own = _own_file(location, dest)
    if own:
        raise database_error(
            Reason.BACKUP_FAILED, f"cannot back up {location} onto itself: {dest} is {own}"
        )
    try:
        info = os.lstat(dest)
    except (FileNotFoundError, NotADirectoryError):
        return  # a new name: the link in _move_into_place still refuses one made meanwhile
    kind = _KINDS.get(stat.S_IFMT(info.st_mode))
    if kind:
        raise database_error(
            Reason.BACKUP_FAILED,
            f"cannot back up to {dest}: it is a {kind}; backup only writes regular files",
        )
    if not force:
        raise _exists(dest)


def _own_file(location: str, dest: str) -> str | None:
    """What `dest` is to the database, if it is the database or one of its side files: by
    name (after resolving links and spelling) or by device and inode (a hard link)."""
    database = os.path.realpath(location)
    try:
        dest_id = _file_id(os.stat(dest))
    except OSError:
        dest_id = None
    for suffix in ("", *SIDE_FILES):
        name = database + suffix
        same_name = os.path.realpath(dest) == name
        with contextlib.suppress(OSError):
            same_name = same_name or dest_id == _file_id(os.stat(name))
        if same_name:
            return f"the database's {suffix} file" if suffix else "the database"
    return None


def _file_id(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _temporary_file(dest: str, folder: str) -> str:
    import tempfile

    try:
        fd, temporary = tempfile.mkstemp(prefix=".seatctl-backup-", dir=folder)
    except OSError as exc:
        raise database_error(
            Reason.BACKUP_FAILED, f"cannot write a backup to {dest}: {exc.strerror}"
        ) from exc
    os.close(fd)
    return temporary


def _copy(conn: sqlite3.Connection, temporary: str) -> None:
    target = sqlite3.connect(temporary, isolation_level=None)
    try:
        conn.backup(target)  # all pages in one step: one consistent snapshot
    finally:
        target.close()
    fd = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_into_place(temporary: str, location: str, dest: str, force: bool) -> None:
    """Give the copy DEST's name. Without `force`, link() creates the name only if nothing
    has it (a file made at DEST since the check is kept); with `force`, DEST is checked again
    just before the rename, which replaces at most a regular file."""
    if force:
        _check_destination(location, dest, force)
        os.replace(temporary, dest)
        return
    try:
        os.link(temporary, dest)
    except FileExistsError:
        raise _exists(dest) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        raise database_error(
            Reason.BACKUP_FAILED,
            f"cannot create {dest} safely: its filesystem has no hard links, which backup uses"
            " to never overwrite a file created meanwhile (--force replaces any regular file)",
        ) from exc


def _exists(dest: str) -> SeatctlError:
    return database_error(Reason.BACKUP_FAILED, f"{dest} exists: use --force to overwrite it")


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

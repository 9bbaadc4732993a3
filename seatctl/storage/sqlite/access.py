"""Who may do what with a SQLite file: read-write, or read-only without leaving a trace.

In WAL mode a database lives in three files: the database, its `-wal` log and its `-shm`
index. A reader who may not write the database can still open it (SQLite >= 3.22), but only
when the `-wal` and `-shm` files already exist, or when SQLite may create them; files it
creates would belong to the reader with the database's mode, and would refuse the owner's
later writes. So a read-only reader never lets SQLite create them: it reads only when they are
there (or on a read-only filesystem, where nothing can change the file under it), and every
writer leaves them in place when it is done, as SQLite's persistent-WAL option does
(https://sqlite.org/walformat.html): then auditors and monitoring jobs can always read.
"""

from __future__ import annotations

import contextlib
import os

SIDE_FILES = ("-wal", "-shm")
_HEADER = b"SQLite format 3\x00"


def why_read_only(path: str) -> str | None:
    """Why this user can only read the database at `path` (None when it may write it)."""
    if not os.access(path, os.W_OK):  # also false on a read-only filesystem
        return "this user cannot write it"
    for suffix in SIDE_FILES:
        if _refuses_writes(path + suffix):
            return f"this user cannot write its {suffix} file"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK) and not has_side_files(path):
        return "this user cannot write its folder, where SQLite keeps its -wal and -shm files"
    return None


def _refuses_writes(side: str) -> bool:
    """Whether the side file exists and this user may not write it. Another process may delete
    it meanwhile (SQLite does as its last connection closes) and make it again at once (see
    `keep_side_files`): a file that was missing when asked and is there when looked at is
    asked again, so that neither counts as refusing."""
    return all(not os.access(side, os.W_OK) and os.path.exists(side) for _ in range(2))


def has_side_files(path: str) -> bool:
    return all(os.path.exists(path + suffix) for suffix in SIDE_FILES)


def in_wal_mode(path: str) -> bool:
    """Whether the database file's header says WAL mode (read and write versions 2)."""
    try:
        with open(path, "rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return header[:16] == _HEADER and header[18:20] == b"\x02\x02"


def on_read_only_filesystem(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def keep_side_files(path: str) -> None:
    """Make empty `-wal` and `-shm` files beside a WAL database that lacks them.

    SQLite deletes them when the last connection closes, and Python's sqlite3 cannot ask it
    not to (SQLITE_FCNTL_PERSIST_WAL), so they are made again here: exclusively, so that ones
    another connection made meanwhile are never touched, and, as SQLite makes its own, with
    the database's permission bits and group, and its owner when running as root. Empty
    files are what SQLite itself expects of a database nobody has open.
    """
    try:
        info = os.stat(path)
    except OSError:
        return
    if info.st_size == 0 or not in_wal_mode(path):
        return
    for suffix in SIDE_FILES:
        try:
            fd = os.open(path + suffix, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue  # there already (in use, or kept), or the folder is not writable
        try:
            with contextlib.suppress(OSError):  # only root may give it away; a group member
                os.fchown(fd, info.st_uid if os.geteuid() == 0 else -1, info.st_gid)
            os.fchmod(fd, info.st_mode & 0o777)
        finally:
            os.close(fd)

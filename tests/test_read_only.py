"""Reading a database this user may not write: an auditor, a monitoring job, a read-only mount.

`seats`, `history`, `check` and `backup` work; changes are exit 6 `read_only`; and the reader
never leaves a file behind (SQLite would create `-wal` and `-shm` files owned by the reader,
which would refuse the owner's later writes). Permissions do not bind root, so the readers
run as `nobody` (and owners as `daemon`), in folders outside pytest's private tmp folder.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator

import pytest

from helpers import START, assert_one_line_error, dump, run_as, run_process
from seatctl import Venue
from seatctl.core.clock import format_instant, parse_instant

pytestmark = pytest.mark.sqlite_only

NOBODY, DAEMON = 65534, 1
LATER = format_instant(parse_instant(START) + 60)
READS = [["seats", "--json"], ["history", "--json"], ["check"]]
WRITES = [
    ["lock", "3", "--user", "carol"],
    ["confirm", "2", "--user", "bob"],
    ["release", "2", "--user", "bob"],
    ["init", "--seats", "9"],
]


def folder_state(folder: str) -> dict[str, tuple[int, int, int]]:
    """Every file in `folder` with its owner, mode and size."""
    entries = {}
    for name in sorted(os.listdir(folder)):
        info = os.lstat(os.path.join(folder, name))
        entries[name] = (info.st_uid, info.st_mode, info.st_size)
    return entries


@pytest.fixture(autouse=True)
def _same_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEATCTL_NOW", LATER)  # readers and owners look at the same moment


@pytest.fixture
def owned_by_daemon(venue_db: str) -> Iterator[str]:
    """The venue (seat 1 booked by alice, seat 2 locked by bob) in a folder of its own, both
    owned by `daemon` and readable by everyone, as daemon's last command left it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as other users")
    folder = tempfile.mkdtemp(prefix="seatctl-ro-")
    db = shutil.copy(venue_db, os.path.join(folder, "venue.db"))
    os.chown(folder, DAEMON, DAEMON)
    os.chown(db, DAEMON, DAEMON)
    os.chmod(folder, 0o755)
    os.chmod(db, 0o644)
    for args in (["lock", "1", "--user", "alice"], ["confirm", "1", "--user", "alice"]):
        assert run_as(DAEMON, db, *args).code == 0
    assert run_as(DAEMON, db, "lock", "2", "--user", "bob", "--ttl", "86400").code == 0
    yield db
    shutil.rmtree(folder)


@pytest.mark.parametrize("args", READS, ids=lambda args: args[0])
def test_a_reader_who_cannot_write_the_database_gets_what_its_owner_gets(owned_by_daemon, args):
    owner = run_as(DAEMON, owned_by_daemon, *args)
    reader = run_as(NOBODY, owned_by_daemon, *args)
    assert (reader.code, reader.err) == (0, "")
    assert reader.out == owner.out


def test_a_reader_who_cannot_write_the_database_can_back_it_up(owned_by_daemon):
    backups = tempfile.mkdtemp(prefix="seatctl-ro-backups-")
    try:
        os.chmod(backups, 0o777)
        dest = os.path.join(backups, "copy.db")
        run = run_as(NOBODY, owned_by_daemon, "backup", dest)
        assert (run.code, run.err) == (0, "")
        assert dump(dest) == dump(owned_by_daemon)
        assert run_process("--db", dest, "check").out == "ok\n"
    finally:
        shutil.rmtree(backups)


def test_a_reader_reads_a_database_whose_name_is_not_utf8(owned_by_daemon):
    db = owned_by_daemon.replace("venue.db", "v\udcff.db")  # the file name b"v\xff.db"
    for suffix in ("", "-wal", "-shm"):
        os.rename(owned_by_daemon + suffix, db + suffix)
    owner = run_as(DAEMON, db, "seats", "--json")
    reader = run_as(NOBODY, db, "seats", "--json")
    assert (reader.code, reader.err) == (0, "")
    assert reader.out == owner.out


@pytest.mark.parametrize("args", WRITES, ids=lambda args: args[0])
def test_a_reader_who_cannot_write_the_database_still_cannot_change_it(owned_by_daemon, args):
    before = dump(owned_by_daemon)
    run = run_as(NOBODY, owned_by_daemon, *args)
    assert_one_line_error(run, 6)
    assert "is read-only here (this user cannot write it)" in run.err
    if args[0] != "init":  # the one command without --json
        assert run_as(NOBODY, owned_by_daemon, *args, "--json").error()["error"] == "read_only"
    assert dump(owned_by_daemon) == before


def test_a_read_only_reader_leaves_the_folder_exactly_as_it_found_it(owned_by_daemon, tmp_path):
    folder = os.path.dirname(owned_by_daemon)
    os.chmod(folder, 0o777)  # even where it could create files
    before = folder_state(folder)
    for args in [*READS, ["backup", str(tmp_path / "unwritable" / "copy.db")]]:
        run_as(NOBODY, owned_by_daemon, *args)
    assert folder_state(folder) == before


def test_the_owner_still_writes_after_a_read_only_reader(owned_by_daemon):
    os.chmod(os.path.dirname(owned_by_daemon), 0o777)
    for args in READS:
        assert run_as(NOBODY, owned_by_daemon, *args).code == 0
    run = run_as(DAEMON, owned_by_daemon, "lock", "3", "--user", "carol")
    assert (run.code, run.err) == (0, "")


def drop_side_files(db: str) -> None:
    for suffix in ("-wal", "-shm"):
        os.remove(db + suffix)


@pytest.mark.parametrize("folder_mode", [0o755, 0o777], ids=["own folder", "shared folder"])
def test_a_reader_that_would_have_to_create_the_side_files_is_told_why_and_creates_none(
    owned_by_daemon, folder_mode
):
    drop_side_files(owned_by_daemon)  # e.g. copied there, or last opened by another program
    folder = os.path.dirname(owned_by_daemon)
    os.chmod(folder, folder_mode)
    run = run_as(NOBODY, owned_by_daemon, "seats")
    assert_one_line_error(run, 6)
    assert "has no -wal and -shm files" in run.err
    assert "run any seatctl command on it once as a user who can write it" in run.err
    assert os.listdir(folder) == ["venue.db"]


def test_any_command_of_the_owner_makes_the_side_files_readers_need(owned_by_daemon):
    drop_side_files(owned_by_daemon)
    assert run_as(DAEMON, owned_by_daemon, "seats").code == 0
    assert run_as(NOBODY, owned_by_daemon, "seats").code == 0


def test_the_side_files_kept_for_readers_have_the_database_s_owner_and_mode(owned_by_daemon):
    drop_side_files(owned_by_daemon)
    os.chmod(owned_by_daemon, 0o640)
    Venue.open(owned_by_daemon).close()  # as root, as SQLite itself does: the file's owner
    db = os.stat(owned_by_daemon)
    for suffix in ("-wal", "-shm"):
        side = os.stat(owned_by_daemon + suffix)
        assert (side.st_uid, side.st_gid, side.st_mode) == (db.st_uid, db.st_gid, db.st_mode)
        assert side.st_size == 0


def test_on_a_read_only_filesystem_a_reader_needs_no_side_files(owned_by_daemon, monkeypatch):
    from seatctl.storage.sqlite import access as sqlite_access

    drop_side_files(owned_by_daemon)
    # Mounting one needs privileges a test should not use; the check itself is statvfs().
    monkeypatch.setattr(sqlite_access, "on_read_only_filesystem", lambda path: True)
    run = run_as(NOBODY, owned_by_daemon, "seats", "--json")
    assert (run.code, run.err) == (0, "")
    assert [seat["status"] for seat in run.json()][:2] == ["booked", "locked"]
    assert os.listdir(os.path.dirname(owned_by_daemon)) == ["venue.db"]


def test_a_reader_reads_a_database_in_rollback_mode_as_it_is(owned_by_daemon):
    conn = sqlite3.connect(owned_by_daemon)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    before = folder_state(os.path.dirname(owned_by_daemon))
    assert run_as(NOBODY, owned_by_daemon, "check").out == "ok\n"
    assert folder_state(os.path.dirname(owned_by_daemon)) == before

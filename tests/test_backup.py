"""`seatctl backup DEST`: a consistent copy, never a half-written file under DEST's name."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import START, assert_one_line_error, dump, frozen, run_as_other_user, run_process
from seatctl import Venue

pytestmark = [pytest.mark.usefixtures("venue_db"), pytest.mark.sqlite_only]


@frozen(START)
def test_backup_writes_a_copy_with_the_same_content(cli, db_path, tmp_path):
    cli("lock", "1", "--user", "alice")
    cli("confirm", "1", "--user", "alice")
    dest = str(tmp_path / "copy.db")
    run = cli("backup", dest)
    assert run.code == 0
    assert run.out == f"backed up {db_path} to {dest}\n"
    assert dump(dest) == dump(db_path)
    assert run_process("--db", dest, "check").code == 0


def test_backup_refuses_to_overwrite_without_force(cli, tmp_path):
    dest = tmp_path / "copy.db"
    dest.write_text("precious")
    run = cli("backup", str(dest))
    assert run.code == 6
    assert run.err == f"error: {dest} exists: use --force to overwrite it\n"
    assert dest.read_text() == "precious"


def test_backup_with_force_replaces_dest(cli, db_path, tmp_path):
    dest = tmp_path / "copy.db"
    dest.write_text("old")
    assert cli("backup", str(dest), "--force").code == 0
    assert dump(str(dest)) == dump(db_path)


def test_backup_to_a_missing_folder_fails_cleanly(cli, tmp_path):
    run = cli("backup", str(tmp_path / "nowhere" / "copy.db"))
    assert run.code == 6
    assert run.err.startswith("error: cannot write a backup to")


def test_backup_to_an_unwritable_folder_fails_and_leaves_nothing(venue_db):
    shared = tempfile.mkdtemp(prefix="seatctl-backup-")
    try:
        os.chmod(shared, 0o777)  # the other user may use the database here...
        db = shutil.copy(venue_db, shared)
        os.chmod(db, 0o666)
        dest_folder = os.path.join(shared, "backups")
        os.mkdir(dest_folder)
        os.chmod(dest_folder, 0o555)  # ...but not write into this folder
        run = run_as_other_user(db, "backup", os.path.join(dest_folder, "copy.db"))
        assert run.code == 6, run.err
        assert run.err.startswith("error: cannot write a backup to")
        assert os.listdir(dest_folder) == []
    finally:
        shutil.rmtree(shared)


WRITER = """
import sys
from seatctl.cli import main
db, name = sys.argv[1], sys.argv[2]
for n in range(1, 301):
    main(["--db", db, "lock", str(n), "--user", name])
    main(["--db", db, "confirm", str(n), "--user", name])
"""


def test_backup_taken_while_others_write_is_consistent(cli, db_path, tmp_path):
    cli("init", "--seats", "300")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, db_path, "writer"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    copies = []
    try:
        for n in range(5):
            dest = str(tmp_path / f"copy{n}.db")
            assert cli("backup", dest).code == 0
            copies.append(dest)
    finally:
        writer.wait(timeout=120)
    for dest in copies:
        run = run_process("--db", dest, "check")
        assert (run.code, run.out) == (0, "ok\n"), run.out


@pytest.mark.parametrize("dest", ["", "  ", "copy\x00.db"])
def test_an_empty_or_impossible_destination_is_a_usage_error(cli, dest):
    run = cli("backup", dest)
    assert run.code == 2
    assert run.err.startswith("error: invalid backup destination")


# DEST must be a new or (with --force) an existing regular file: nothing else is ever replaced.


def make_device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own


def make_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))


def make_symlink_to_a_file(path: Path) -> None:
    (path.parent / "target.txt").write_text("precious")
    path.symlink_to(path.parent / "target.txt")


UNSAFE_DESTINATIONS = {
    "device": make_device,
    "FIFO": os.mkfifo,
    "socket": make_socket,
    "directory": os.mkdir,
    "symbolic link": make_symlink_to_a_file,
    "dangling symbolic link": lambda path: path.symlink_to(path.parent / "nowhere"),
}


def snapshot(folder: Path) -> dict[str, tuple]:
    """Each entry of `folder` with its type, inode, link target and content where it has one."""
    entries = {}
    for entry in sorted(folder.iterdir()):
        info = entry.lstat()
        link = os.readlink(entry) if entry.is_symlink() else None
        body = entry.read_bytes() if stat.S_ISREG(info.st_mode) else None
        entries[entry.name] = (stat.S_IFMT(info.st_mode), info.st_ino, link, body)
    return entries


@pytest.fixture
def short_tmp():
    """A folder with a short path: a socket's path may be at most ~100 bytes."""
    folder = tempfile.mkdtemp(prefix="seatctl-")
    yield Path(folder)
    shutil.rmtree(folder)


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
@pytest.mark.parametrize("kind", UNSAFE_DESTINATIONS)
def test_backup_refuses_a_destination_that_is_not_a_regular_file(cli, short_tmp, kind, force):
    dest = short_tmp / "dest"
    UNSAFE_DESTINATIONS[kind](dest)
    before = snapshot(short_tmp)
    run = cli("backup", str(dest), *force)
    assert_one_line_error(run, 6)
    described = "symbolic link" if kind.endswith("symbolic link") else kind
    assert run.err == (
        f"error: cannot back up to {dest}: it is a {described}; backup only writes regular files\n"
    )
    assert snapshot(short_tmp) == before


def same_file_names(db: str, tmp_path: Path) -> dict[str, str]:
    os.link(db, tmp_path / "hard-link.db")
    return {
        "its own path": db,
        "another spelling": os.path.join(os.path.dirname(db), ".", os.path.basename(db)),
        "a hard link": str(tmp_path / "hard-link.db"),
    }


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
@pytest.mark.parametrize("name", ["its own path", "another spelling", "a hard link"])
def test_backup_refuses_the_database_itself(cli, db_path, tmp_path, name, force):
    dest = same_file_names(db_path, tmp_path)[name]
    before = dump(db_path)
    inode = os.stat(db_path).st_ino
    run = cli("backup", dest, *force)
    assert_one_line_error(run, 6)
    assert run.err == f"error: cannot back up {db_path} onto itself: {dest} is the database\n"
    assert os.stat(db_path).st_ino == inode
    assert dump(db_path) == before


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_backup_refuses_the_database_s_own_side_files(cli, db_path, suffix):
    with Venue.open(db_path):  # while open, the database has its -wal and -shm files
        run = cli("backup", db_path + suffix, "--force")
    assert_one_line_error(run, 6)
    assert run.err == (
        f"error: cannot back up {db_path} onto itself:"
        f" {db_path}{suffix} is the database's {suffix} file\n"
    )
    assert run_process("--db", db_path, "check").code == 0


def test_backup_does_not_overwrite_a_file_that_appears_while_it_copies(
    cli, db_path, tmp_path, monkeypatch
):
    dest = tmp_path / "copy.db"
    connect = sqlite3.connect

    def someone_writes_dest_meanwhile(target, *args, **kwargs):
        if ".seatctl-backup-" in str(target):
            dest.write_text("precious")
        return connect(target, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", someone_writes_dest_meanwhile)
    run = cli("backup", str(dest))
    assert_one_line_error(run, 6)
    assert run.err == f"error: {dest} exists: use --force to overwrite it\n"
    assert dest.read_text() == "precious"
    assert [name for name in os.listdir(tmp_path) if name.startswith(".seatctl-backup-")] == []


# The copy is as private as the database: its permission bits, whatever the umask.


@pytest.mark.parametrize("mode", [0o604, 0o640, 0o644, 0o664])
def test_backup_has_the_database_permission_bits(cli, db_path, tmp_path, mode):
    os.chmod(db_path, mode)
    dest = tmp_path / "copy.db"
    old_umask = os.umask(0o077)
    try:
        assert cli("backup", str(dest)).code == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(dest).st_mode) == mode


def test_backup_with_force_gives_the_copy_the_database_mode_not_the_old_file_s(
    cli, db_path, tmp_path
):
    os.chmod(db_path, 0o640)
    dest = tmp_path / "copy.db"
    dest.write_text("old")
    os.chmod(dest, 0o666)
    assert cli("backup", str(dest), "--force").code == 0
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640

"""`seatctl backup DEST`: a consistent copy, never a half-written file under DEST's name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from freezegun import freeze_time

from conftest import START, dump, run_process
from test_bad_input import run_as_other_user

pytestmark = [pytest.mark.usefixtures("venue_db"), pytest.mark.sqlite_only]


@freeze_time(START)
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

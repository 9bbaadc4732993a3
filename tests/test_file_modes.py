"""Files seatctl creates are its owner's only (issue 19): the database, its -wal and -shm
files, the default directory and backups, under the usual umask 022 too; a file that exists
keeps its mode; `check` warns when a database holding tokens is readable by others."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

from helpers import run_process
from seatctl import Venue

pytestmark = pytest.mark.sqlite_only  # file modes: SQLite files only


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_and_its_side_files_are_owner_only(db_path):
    Venue.init(db_path)
    with Venue.open(db_path) as venue:
        venue.lock(["1"], "alice")
        wal, shm = db_path + "-wal", db_path + "-shm"
        assert (mode(db_path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)


def test_init_by_the_command_makes_an_owner_only_database(db_path):
    assert run_process("--db", db_path, "init").code == 0
    assert mode(db_path) == 0o600


def test_the_default_directory_is_owner_only(tmp_path):
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    assert run_process("init", env=env).code == 0
    folder = home / ".config" / "seatctl"
    assert mode(str(folder)) == 0o700
    assert mode(str(folder / "seatctl.db")) == 0o600


def test_a_backup_is_owner_only(db_path, tmp_path):
    Venue.init(db_path)
    copy = str(tmp_path / "copy.db")
    with Venue.open(db_path) as venue:
        venue.backup(copy)
    assert mode(copy) == 0o600


def test_an_existing_databases_mode_is_left_alone(db_path):
    Venue.init(db_path)
    os.chmod(db_path, 0o640)  # the operator lets a group read it
    with Venue.open(db_path) as venue:
        venue.lock(["1"], "alice")
    assert mode(db_path) == 0o640
    assert run_process("--db", db_path, "init").code == 0
    assert mode(db_path) == 0o640


def test_check_warns_when_others_may_read_a_database_holding_tokens(db_path):
    Venue.init(db_path)
    with Venue.open(db_path) as venue:
        venue.add_token("alice")
    os.chmod(db_path, 0o644)
    done = run_process("--db", db_path, "check")
    assert done.code == 0
    assert "warning:" in done.err and "chmod 600" in done.err


def test_check_says_nothing_of_an_owner_only_database_or_one_without_tokens(db_path):
    Venue.init(db_path)
    assert "warning" not in run_process("--db", db_path, "check").err
    os.chmod(db_path, 0o644)
    assert "warning" not in run_process("--db", db_path, "check").err

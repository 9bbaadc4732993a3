"""`seatctl init`: creates the database and adds seats, and never destroys anything."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from helpers import START, dump, frozen

# The backend's part: `init` creates each backend's schema.
pytestmark = pytest.mark.backend


def labels(cli) -> list[str]:
    return [s["seat"] for s in cli("seats", "--json").json()]


def test_init_on_a_new_database_creates_seats_1_to_5(cli):
    run = cli("init")
    assert run.code == 0
    assert "added 5 seats" in run.out
    assert labels(cli) == ["1", "2", "3", "4", "5"]


def test_init_seats_n_adds_labels_1_to_n(cli):
    cli("init", "--seats", "12")
    assert labels(cli) == [str(n) for n in range(1, 13)]


def test_init_adds_named_labels_beside_numbered_ones(cli):
    cli("init", "--seats", "2", "A1", "A2", "B1")
    assert labels(cli) == ["1", "2", "A1", "A2", "B1"]


def test_init_with_zero_seats_creates_an_empty_venue(cli):
    assert cli("init", "--seats", "0").code == 0
    assert labels(cli) == []
    cli("init")
    assert labels(cli) == [], "a bare init on an existing venue adds nothing"


@frozen(START)
def test_init_again_only_adds_missing_seats_and_keeps_locks_and_bookings(cli, db_path):
    cli("init", "--seats", "3")
    cli("lock", "1", "--user", "alice")
    cli("lock", "2", "--user", "bob")
    cli("confirm", "2", "--user", "bob")
    before = cli("seats", "--json").json()
    run = cli("init", "--seats", "5", "1", "C1")
    assert run.code == 0
    assert "added 3 seats (6 in all)" in run.out
    assert cli("seats", "--json").json()[:3] == before


def test_init_twice_with_the_same_seats_changes_nothing(cli, db_path):
    cli("init", "--seats", "4")
    before = dump(db_path)
    assert cli("init", "--seats", "4").code == 0
    assert dump(db_path) == before


@frozen(START)
def test_init_ttl_sets_the_default_lock_duration(cli):
    cli("init", "--ttl", "90")
    run = cli("lock", "1", "--user", "alice")
    assert run.out == "locked seat 1 for alice until 2026-01-01T12:01:30Z\n"


@frozen(START)
def test_init_ttl_given_again_updates_the_default(cli):
    cli("init", "--ttl", "90")
    cli("init", "--ttl", "15")
    assert cli("lock", "1", "--user", "a", "--json").json()["seats"][0]["expires_at"] == (
        "2026-01-01T12:00:15Z"
    )


@pytest.mark.sqlite_only
def test_init_refuses_an_sqlite_file_that_is_not_seatctls_and_leaves_it(cli, db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.execute("INSERT INTO invoices (amount) VALUES (9.5)")
    conn.commit()
    conn.close()
    before = Path(db_path).read_bytes()
    run = cli("init")
    assert run.code == 6
    assert run.err == f"error: {db_path} is a SQLite database, but not seatctl's\n"
    assert Path(db_path).read_bytes() == before


@pytest.mark.sqlite_only
def test_init_accepts_an_empty_file_such_as_mktemp_makes(cli, db_path):
    open(db_path, "wb").close()
    assert cli("init").code == 0
    assert labels(cli) == ["1", "2", "3", "4", "5"]


@pytest.mark.sqlite_only
def test_init_uses_wal_mode(cli, db_path):
    cli("init")
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def journal_mode(path: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting for a lock that the test itself holds only needs to prove that it waits."""
    from seatctl.storage import sqlite as backend

    monkeypatch.setattr(backend, "BUSY_TIMEOUT_SECONDS", 0.2)


@pytest.fixture
def reader_at_the_switch_to_wal(db_path: str, monkeypatch: pytest.MonkeyPatch):
    """Another process starts reading the file the moment seatctl switches it to WAL mode
    (which needs the file to itself), and keeps reading until the test ends."""
    from seatctl.storage import sqlite as backend

    reader = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    connect = backend._connect

    def start_reading(sql: str) -> None:
        if "journal_mode" in sql.lower() and "wal" in sql.lower() and not reader.in_transaction:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def connect_with_a_reader(path: str, create: bool, any_thread: bool) -> sqlite3.Connection:
        conn = connect(path, create, any_thread)
        conn.set_trace_callback(start_reading)
        return conn

    monkeypatch.setattr(backend, "_connect", connect_with_a_reader)
    yield reader
    reader.close()


@pytest.mark.sqlite_only
@pytest.mark.usefixtures("short_busy_timeout")
def test_init_that_cannot_switch_to_wal_mode_fails_without_adding_seats(
    cli, db_path, reader_at_the_switch_to_wal
):
    run = cli("init", "--seats", "3")
    assert reader_at_the_switch_to_wal.in_transaction  # the switch did meet the reader
    assert run.code == 6
    assert run.err == (
        f"error: cannot switch {db_path} to WAL mode: another process is still using it after"
        " waiting; try again\n"
    )
    reader_at_the_switch_to_wal.execute("ROLLBACK")
    assert cli("seats").code == 6  # still not initialised: nothing was committed


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "args",
    [
        ["seats"],
        ["history"],
        ["check"],
        ["lock", "1", "--user", "alice"],
        ["init", "--seats", "7"],
        ["backup", "COPY"],
    ],
)
def test_every_command_switches_a_database_in_rollback_mode_to_wal(cli, venue_db, tmp_path, args):
    conn = sqlite3.connect(venue_db)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    assert journal_mode(venue_db) == "delete"
    args = [str(tmp_path / "copy.db") if arg == "COPY" else arg for arg in args]
    assert cli(*args).code == 0
    assert journal_mode(venue_db) == "wal"


@pytest.mark.sqlite_only
@pytest.mark.usefixtures("short_busy_timeout")
def test_a_database_that_cannot_be_switched_to_wal_mode_is_exit_6_busy_and_unchanged(cli, venue_db):
    conn = sqlite3.connect(venue_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM seats").fetchone()  # another process is reading
    before = dump(venue_db)
    run = cli("seats", "--json")
    conn.execute("ROLLBACK")
    conn.close()
    assert run.code == 6
    assert run.error()["error"] == "busy"
    assert run.error()["message"] == (
        f"cannot switch {venue_db} to WAL mode: another process is still using it after"
        " waiting; try again"
    )
    assert dump(venue_db) == before
    assert journal_mode(venue_db) == "delete"


@pytest.mark.sqlite_only
def test_commands_other_than_init_never_create_a_database(cli, db_path, tmp_path):
    for args in (["seats"], ["lock", "1", "--user", "a"], ["confirm", "1", "--user", "a"]):
        run = cli(*args, "--json")
        assert (run.code, run.error()["error"]) == (6, "no_database")
    assert list(tmp_path.iterdir()) == []


def test_database_path_comes_from_seatctl_db(cli, monkeypatch, tmp_path, capsys):
    from seatctl.cli import main

    monkeypatch.setenv("SEATCTL_DB", str(tmp_path / "env.db"))
    assert main(["init"]) == 0
    assert (tmp_path / "env.db").exists()


def test_default_database_lives_in_the_app_dir(monkeypatch, tmp_path, capsys):
    from seatctl.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["init"]) == 0
    assert (tmp_path / "config" / "seatctl" / "seatctl.db").exists()

"""The life of a transaction: however one ends, the connection is left ready for the next.

A `Venue` (and a `batch`, which keeps one open) runs many transactions on one connection. A
COMMIT that fails, an error or Ctrl-C in the middle, a BEGIN that cannot start, a listing still
being read while something else runs: each leaves the database as the last commit left it and
the same `Venue` working. An `init` interrupted before it committed leaves no file behind.
"""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from helpers import START, dump, refuse_seat_3_at_commit_on_sqlite, run_process, sigint_at_default
from seatctl import SeatctlError, Status, Venue
from seatctl.core.errors import Reason
from seatctl.core.validate import is_postgres_url
from seatctl.storage import sqlite as sqlite_backend

# The backend's part: how a transaction ends is the backend's.
pytestmark = pytest.mark.backend


def holders(venue: Venue) -> dict[str, str | None]:
    return {view.seat: view.locked_by or view.booked_by for view in venue.seats()}


# --- 8. A failed COMMIT, or any other failure, leaves the connection usable -----------------


@pytest.fixture
def commit_fails_for_seat_3(venue_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The venue, where the database itself refuses, at COMMIT and not before, any transaction
    that changed seat 3 (a deferred constraint, checked only when the transaction commits)."""
    if is_postgres_url(venue_db):
        _refuse_seat_3_at_commit_on_postgres(venue_db)
    else:
        refuse_seat_3_at_commit_on_sqlite(venue_db, monkeypatch)
    return venue_db


def _refuse_seat_3_at_commit_on_postgres(url: str, sqlstate: str = "P0001") -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE FUNCTION refuse_seat_3() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.seat = '3' THEN
                    RAISE EXCEPTION 'seat 3 refused at commit' USING ERRCODE = '{sqlstate}';
                END IF;
                RETURN NULL;
            END $$;
            CREATE CONSTRAINT TRIGGER fail_commit_of_seat_3 AFTER INSERT OR UPDATE ON seat_states
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_seat_3();
            """
        )


def test_a_failed_commit_is_a_database_error(commit_fails_for_seat_3):
    with Venue.open(commit_fails_for_seat_3) as venue, pytest.raises(SeatctlError) as raised:
        venue.lock(["3"], user="alice")
    assert raised.value.reason is Reason.BAD_DATABASE


def test_a_failed_commit_changes_nothing(commit_fails_for_seat_3):
    before = dump(commit_fails_for_seat_3)
    with Venue.open(commit_fails_for_seat_3) as venue, pytest.raises(SeatctlError):
        venue.lock(["2", "3"], user="alice")
    assert dump(commit_fails_for_seat_3) == before


def test_after_a_failed_commit_the_same_venue_carries_on(commit_fails_for_seat_3):
    with Venue.open(commit_fails_for_seat_3) as venue:
        with pytest.raises(SeatctlError):
            venue.lock(["3"], user="alice")
        assert [v.seat for v in venue.lock(["1"], user="alice")] == ["1"]
        assert holders(venue) == {"1": "alice", "2": None, "3": None, "4": None, "5": None}


def test_after_a_failed_commit_other_connections_can_write(commit_fails_for_seat_3):
    # The failed transaction must not keep holding the write lock (SQLite) or row locks.
    with Venue.open(commit_fails_for_seat_3) as venue:
        with pytest.raises(SeatctlError):
            venue.lock(["3", "4"], user="alice")
        with Venue.open(commit_fails_for_seat_3) as other:
            assert [v.seat for v in other.lock(["4"], user="bob")] == ["4"]


def run_batch(db: str, script: str, monkeypatch: pytest.MonkeyPatch, capsys) -> list[dict]:
    """`seatctl batch` in this process (so the test's fault injection applies to it)."""
    from seatctl.cli import main

    monkeypatch.setenv("SEATCTL_NOW", START)
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    capsys.readouterr()
    main(["--db", db, "batch"])
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture
def commit_busy_for_seat_3(venue_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The venue, where a COMMIT of a transaction that changed seat 3 fails as "busy": the
    failure that `batch` reports and then carries on after."""
    if is_postgres_url(venue_db):
        _refuse_seat_3_at_commit_on_postgres(venue_db, sqlstate="40001")  # serialization failure
        return venue_db
    # A rollback-journal COMMIT waits for readers to leave and gives up with SQLITE_BUSY,
    # leaving the transaction open for a retry. A reader cannot block a WAL COMMIT, so this
    # connection class plays that part: it fails COMMIT as SQLite would, without running it.
    conn = sqlite3.connect(venue_db)
    conn.executescript(
        """
        CREATE TABLE commit_guard (seat TEXT);
        CREATE TRIGGER mark_seat_3 AFTER INSERT ON seat_states WHEN NEW.seat = '3'
        BEGIN INSERT INTO commit_guard VALUES (NEW.seat); END;
        CREATE TRIGGER mark_seat_3_again AFTER UPDATE ON seat_states WHEN NEW.seat = '3'
        BEGIN INSERT INTO commit_guard VALUES (NEW.seat); END;
        """
    )
    conn.close()
    monkeypatch.setattr(sqlite3, "connect", functools.partial(sqlite3.connect, factory=BusyCommit))
    return venue_db


class BusyCommit(sqlite3.Connection):
    """A connection whose COMMIT fails with SQLITE_BUSY when this transaction changed seat 3."""

    def execute(self, sql: str, *args) -> sqlite3.Cursor:
        if sql == "COMMIT" and self._changed_seat_3():
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode, busy.sqlite_errorname = 5, "SQLITE_BUSY"
            raise busy
        return super().execute(sql, *args)

    def _changed_seat_3(self) -> bool:
        try:
            return super().execute("SELECT count(*) FROM commit_guard").fetchone()[0] > 0
        except sqlite3.OperationalError:  # not the venue's database
            return False


def test_a_commit_that_fails_busy_is_reported_busy(commit_busy_for_seat_3):
    with Venue.open(commit_busy_for_seat_3) as venue, pytest.raises(SeatctlError) as raised:
        venue.lock(["3"], user="alice")
    assert raised.value.reason is Reason.BUSY


def test_after_a_failed_commit_the_next_batch_line_runs(
    commit_busy_for_seat_3, monkeypatch, capsys
):
    results = run_batch(
        commit_busy_for_seat_3,
        "lock 3 --user alice\nlock 1 --user alice\nseats --status locked\n",
        monkeypatch,
        capsys,
    )
    assert [(r["line"], r["exit"], r.get("error")) for r in results] == [
        (1, 6, "busy"),
        (2, 0, None),
        (3, 0, None),
    ]
    assert [s["seat"] for s in results[2]["seats"]] == ["1"]


def test_after_ctrl_c_inside_a_transaction_the_same_venue_carries_on(venue, venue_db, monkeypatch):
    from seatctl.core import rules

    lock = rules.lock

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rules, "lock", interrupted)
    before = dump(venue_db)
    with pytest.raises(KeyboardInterrupt):
        venue.lock(["2"], user="alice")
    assert dump(venue_db) == before
    monkeypatch.setattr(rules, "lock", lock)
    assert [v.seat for v in venue.lock(["2"], user="alice")] == ["2"]


def test_after_an_unexpected_error_inside_a_transaction_the_same_venue_carries_on(
    venue, venue_db, monkeypatch
):
    from seatctl.core import rules

    lock = rules.lock
    monkeypatch.setattr(rules, "lock", lambda *args, **kwargs: 1 / 0)
    before = dump(venue_db)
    with pytest.raises(ZeroDivisionError):
        venue.lock(["2"], user="alice")
    assert dump(venue_db) == before
    monkeypatch.setattr(rules, "lock", lock)
    assert [v.seat for v in venue.lock(["2"], user="alice")] == ["2"]


def starting_fails_for(db: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make every write transaction on `db` fail while it is being started, until the function
    returned is called: SQLite cannot get the write lock that another connection holds; on
    PostgreSQL the statement that begins the transaction fails after its BEGIN."""
    if is_postgres_url(db):
        from seatctl.storage import postgres

        begin = postgres._begin
        monkeypatch.setattr(postgres, "_begin", lambda *args: begin(*args) + "; SELECT 1 / 0")
        return lambda: monkeypatch.setattr(postgres, "_begin", begin)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker.close


def test_after_a_transaction_fails_to_start_the_same_venue_carries_on(venue_db, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "BUSY_TIMEOUT_SECONDS", 0.05)
    with Venue.open(venue_db) as venue:
        release = starting_fails_for(venue_db, monkeypatch)
        with pytest.raises(SeatctlError):
            venue.lock(["2"], user="alice")
        release()
        assert [v.seat for v in venue.lock(["2"], user="alice")] == ["2"]


@pytest.fixture
def interrupt_next_commit(venue_db: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """A function that makes Ctrl-C arrive just as the next COMMIT on `venue_db` is about to
    run (SQLite and psycopg check for signals between statements, so this is the moment)."""
    armed: list[bool] = []

    def interrupting(execute):
        def run(conn, query, *args, **kwargs):
            if query == "COMMIT" and armed:
                armed.clear()
                raise KeyboardInterrupt
            return execute(conn, query, *args, **kwargs)

        return run

    if is_postgres_url(venue_db):
        import psycopg

        monkeypatch.setattr(psycopg.Connection, "execute", interrupting(psycopg.Connection.execute))
    else:
        connection = type(
            "InterruptedCommit",
            (sqlite3.Connection,),
            {"execute": interrupting(sqlite3.Connection.execute)},
        )
        monkeypatch.setattr(
            sqlite3, "connect", functools.partial(sqlite3.connect, factory=connection)
        )
    return lambda: armed.append(True)


def test_a_change_interrupted_at_commit_is_not_committed_by_the_next_call(
    venue_db, interrupt_next_commit
):
    with Venue.open(venue_db) as venue:
        interrupt_next_commit()
        with pytest.raises(KeyboardInterrupt):
            venue.lock(["2"], user="alice")
        venue.lock(["1"], user="bob")
        assert holders(venue) == {"1": "bob", "2": None, "3": None, "4": None, "5": None}


# --- 10. A listing still being read and other calls on the same Venue ------------------------


def test_a_change_while_a_listing_is_open_on_the_same_venue_succeeds(venue):
    listing = venue.iter_seats()
    assert next(listing).seat == "1"
    assert [v.seat for v in venue.lock(["3"], user="alice")] == ["3"]
    assert venue.seats(status=Status.LOCKED)[0].seat == "3"


def test_a_listing_shows_the_seats_as_they_were_when_it_began(venue):
    listing = venue.iter_seats()
    first = next(listing)
    venue.lock(["1", "4"], user="alice")
    assert [(v.seat, v.locked_by) for v in [first, *listing]] == [
        ("1", None),
        ("2", None),
        ("3", None),
        ("4", None),
        ("5", None),
    ]


def test_a_refused_change_during_a_listing_leaves_the_listing_reading(venue):
    venue.lock(["5"], user="bob")
    listing = venue.iter_seats()
    next(listing)
    with pytest.raises(SeatctlError) as refused:
        venue.lock(["5"], user="alice")
    assert refused.value.reason is Reason.LOCKED
    assert [v.seat for v in listing] == ["2", "3", "4", "5"]


def test_reads_while_a_listing_is_open_on_the_same_venue_succeed(venue):
    listing = venue.iter_seats()
    next(listing)
    assert len(venue.seats()) == 5
    assert venue.history(["1"])[0].action.value == "add"
    assert venue.check() == []
    assert [v.seat for v in listing] == ["2", "3", "4", "5"]


# --- 9. An interrupted `init` on a new file leaves no file -----------------------------------


@pytest.fixture
def interrupt_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C arrives inside `init`'s transaction, after its seats were inserted."""

    def interrupted(self, labels, at):
        raise KeyboardInterrupt

    # The seats' `add` events are written right after the seats themselves.
    monkeypatch.setattr(sqlite_backend.SqliteTransaction, "append_adds", interrupted)


@pytest.mark.usefixtures("interrupt_init")
def test_an_init_interrupted_before_it_commits_leaves_no_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        Venue.init(str(tmp_path / "venue.db"), seats=100)
    assert os.listdir(tmp_path) == []


@pytest.mark.usefixtures("interrupt_init")
def test_after_an_interrupted_init_commands_say_there_is_no_database(tmp_path):
    path = str(tmp_path / "venue.db")
    with pytest.raises(KeyboardInterrupt):
        Venue.init(path)
    with pytest.raises(SeatctlError) as raised:
        Venue.open(path)
    assert raised.value.message == f"no database at {path}: run 'seatctl init' first"


@pytest.mark.usefixtures("interrupt_init")
def test_an_interrupted_init_leaves_a_file_that_existed_before_as_it_was(tmp_path):
    path = tmp_path / "venue.db"
    path.touch()  # as `mktemp` makes it
    with pytest.raises(KeyboardInterrupt):
        Venue.init(str(path))
    assert os.listdir(tmp_path) == ["venue.db"]
    assert path.stat().st_size == 0


def test_an_init_that_gave_up_keeps_the_file_another_init_completed_meanwhile(tmp_path):
    path = str(tmp_path / "venue.db")
    first = sqlite_backend.SqliteStore.open(path, create=True)  # made the file, wrote nothing
    Venue.init(path, seats=3)  # a second init, in another connection, fills it
    first.close()
    with Venue.open(path) as venue:
        assert [v.seat for v in venue.seats()] == ["1", "2", "3"]


def interrupted_at_line(n: int, call: Callable[[], object]) -> bool:
    """Run `call` with a Ctrl-C raised at the `n`th line seatctl's code runs (each function
    start counts as one); whether it was raised (else `call` ran to its end first)."""
    seen = 0
    raised = False

    def trace(frame, event, arg):
        nonlocal seen, raised
        if event in ("call", "line") and "seatctl" in frame.f_code.co_filename and not raised:
            seen += 1
            if seen == n:
                raised = True
                raise KeyboardInterrupt
        return trace

    before = sys.gettrace()  # coverage's, when it measures
    sys.settrace(trace)
    try:
        call()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(before)
    return raised


# A Ctrl-C that lands in a finaliser cannot be raised there (the console script raises it at
# its next call instead); here the init then runs on, and the outcome must hold just the same.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_init_interrupted_at_any_line_leaves_no_file_or_a_whole_database(tmp_path):
    """Ctrl-C raises KeyboardInterrupt between any two lines of Python, not only while a
    statement runs: before the store knows of the file it made, between `open` and the
    `with` that closes the store, between BEGIN and the `try` that would roll it back."""
    Venue.init(str(tmp_path / "warm.db"), seats=3)  # the modules a first init imports
    n = 0
    while True:
        n += 1
        folder = tmp_path / str(n)
        folder.mkdir()
        path = str(folder / "venue.db")
        raised = interrupted_at_line(n, lambda: Venue.init(path, seats=3))  # noqa: B023
        if os.listdir(folder):
            with Venue.open(path) as venue:
                assert [view.seat for view in venue.seats()] == ["1", "2", "3"], n
                assert venue.check() == [], n
        if not raised:
            break
    assert n > 100  # every line of an init was a place to stop at


SIGINT_SEATS = 20_000


def test_init_interrupted_by_sigint_at_any_moment_leaves_no_file_or_a_whole_database(tmp_path):
    # Whatever moment the signal lands at (before the file exists, while the seats are being
    # inserted, after the commit), only two outcomes are right. Waiting for the file to appear
    # makes most signals land inside the transaction; the assertion holds either way. 20,000
    # seats take about a fifth of a second to insert on a quiet machine: the delays span it.
    for attempt, delay in enumerate([0.0, 0.01, 0.06, 0.2, 0.6]):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        path = folder / "venue.db"
        init = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "seatctl",
                "--db",
                str(path),
                "init",
                "--seats",
                str(SIGINT_SEATS),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=sigint_at_default,
        )
        deadline = time.monotonic() + 60
        while delay and not path.exists() and init.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        init.send_signal(signal.SIGINT)
        init.wait(timeout=120)
        if os.listdir(folder):
            check = run_process("--db", str(path), "check")
            assert (check.code, check.out) == (0, "ok\n"), (delay, os.listdir(folder), check.err)
            assert len(run_process("--db", str(path), "seats", "--json").json()) == SIGINT_SEATS


# --- a group's operations share what they read of the settings and events ----------------


def test_an_operation_in_a_group_finds_an_event_an_earlier_one_added(venue_db):
    with Venue.open(venue_db) as venue, venue.grouped():
        with pytest.raises(SeatctlError) as before:
            venue.lock(["1"], "alice", event="gala")
        venue.add_event("gala")
        views = venue.lock(["1"], "alice", event="gala")
    assert before.value.reason == Reason.NOT_FOUND
    assert views[0].locked_by == "alice"


def test_an_event_added_by_an_operation_that_was_undone_is_not_found_later_in_its_group(
    venue_db,
):
    from seatctl.core.model import Show

    with Venue.open(venue_db) as venue, venue.grouped():
        with pytest.raises(RuntimeError), venue._store.transaction() as tx:
            tx.add_show(Show("gala", None, None))
            assert tx.show("gala") is not None  # read while it existed
            raise RuntimeError("undone")
        with pytest.raises(SeatctlError) as later:
            venue.lock(["1"], "alice", event="gala")
    assert later.value.reason == Reason.NOT_FOUND

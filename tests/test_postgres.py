"""The PostgreSQL backend: the same contract as SQLite, for several hosts sharing one server.

Tests that need a server use the `pg_url` fixture and are skipped unless $SEATCTL_TEST_PG names
one (postgresql://postgres@127.0.0.1:5432/test); each gets a fresh schema of its own.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from freezegun import freeze_time

from helpers import (
    RACERS,
    WAITING,
    Run,
    dump_pg,
    free_port,
    named,
    race,
    run_process,
    sql,
    with_search_path,
    with_user,
)
from seatctl import Venue
from seatctl.cli import main
from seatctl.core.clock import parse_instant
from seatctl.storage import open_store

# The backend's part: all of it (a test taking `db_path` runs on both backends).
pytestmark = pytest.mark.backend

SECRET = "Sup3r-s3cret-pw"


def server_epoch(url: str) -> int:
    return sql(url, "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint")[0][0]


def seat_labels(run: Run) -> list[str]:
    return [seat["seat"] for seat in run.json()]


# --- the commands ---


def test_every_command_works_through_the_cli(pg):
    assert pg("init", "--seats", "3").code == 0
    assert pg("lock", "1", "2", "--user", "alice").code == 0
    assert pg("lock", "2", "--user", "bob").code == 4
    assert pg("confirm", "1", "--user", "alice").code == 0
    assert pg("release", "2", "--user", "alice").code == 0
    assert pg("release", "2", "--user", "alice", "--json").error()["error"] == "not_holder"
    seats = {s["seat"]: s for s in pg("seats", "--json").json()}
    assert [seats[n]["status"] for n in "123"] == ["booked", "available", "available"]
    assert seats["1"]["booked_by"] == "alice"
    assert pg("seats", "--user", "alice", "--json").json() == [seats["1"]]
    history = pg("history", "--json").json()
    assert [(e["seat"], e["action"], e["user"]) for e in history] == [
        ("1", "add", None),
        ("2", "add", None),
        ("3", "add", None),
        ("1", "lock", "alice"),
        ("2", "lock", "alice"),
        ("1", "confirm", "alice"),
        ("2", "release", "alice"),
    ]
    assert [e["action"] for e in pg("history", "2", "--json").json()] == ["add", "lock", "release"]
    assert pg("check").out == "ok\n"


def test_an_expired_lock_is_available_and_its_history_shows_the_expiry(pg, monkeypatch):
    pg("init", "--seats", "1")
    monkeypatch.setenv("SEATCTL_NOW", "2030-01-01T12:00:00Z")
    pg("lock", "1", "--user", "alice", "--ttl", "10")
    monkeypatch.setenv("SEATCTL_NOW", "2030-01-01T12:00:10Z")
    assert pg("confirm", "1", "--user", "alice", "--json").error()["error"] == "expired"
    assert pg("lock", "1", "--user", "bob").code == 0
    actions = [(e["action"], e["user"]) for e in pg("history", "--json").json()]
    assert actions[1:] == [("lock", "alice"), ("expire", "alice"), ("lock", "bob")]
    assert pg("check").code == 0


def test_init_again_keeps_every_lock_booking_and_setting(pg, pg_url, monkeypatch):
    monkeypatch.setenv("SEATCTL_NOW", "2030-01-01T12:00:00Z")
    pg("init", "--seats", "3", "--ttl", "90")
    pg("lock", "1", "--user", "alice")
    pg("lock", "2", "--user", "bob")
    pg("confirm", "2", "--user", "bob")
    before = dump_pg(pg_url)
    assert pg("init").code == 0
    assert pg("init", "--seats", "3").code == 0
    assert dump_pg(pg_url) == before
    seats = pg("seats", "--json").json()
    run = pg("init", "--seats", "5", "1", "C1")
    assert "added 3 seats (6 in all); default lock duration 90 s" in run.out
    assert pg("seats", "--json").json()[:3] == seats
    assert pg("check").code == 0


@pytest.mark.sqlite_only  # db_path is the SQLite side of the comparison
def test_seats_sort_exactly_as_with_sqlite(pg, db_path):
    labels = ["10", "9", "A10", "A2", "a1", "A-1", "A.1", "A_1", "B", "b", "0", "00", "007", "Z9z"]
    pg("init", "--seats", "0", *labels)
    assert main(["--db", db_path, "init", "--seats", "0", *labels]) == 0
    in_sqlite = Venue.open(db_path)
    try:
        expected = [view.seat for view in in_sqlite.seats()]
    finally:
        in_sqlite.close()
    assert seat_labels(pg("seats", "--json")) == expected


def test_check_finds_a_record_its_history_does_not_explain(pg, pg_url):
    pg("init", "--seats", "2")
    sql(
        pg_url,
        "INSERT INTO seat_states (show, seat, booked_by, booked_at)"
        " VALUES ('default', '2', 'mallory', 1)",
    )
    run = pg("check")
    assert run.code == 6
    assert "seat 2: stored" in run.out


def test_backup_is_a_usage_error_that_points_to_pg_dump(pg):
    pg("init")
    run = pg("backup", "copy.db")
    assert run.code == 2
    assert "pg_dump" in run.err


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_backup_onto_the_database_s_own_url_is_refused_as_the_database_itself(pg, pg_url, force):
    pg("init")
    before = dump_pg(pg_url)
    run = pg("backup", pg_url, *force)
    assert run.code == 2
    assert run.err.count("\n") == 1
    assert "is the database itself" in run.err
    assert "pg_dump" in run.err
    assert dump_pg(pg_url) == before


@pytest.mark.sqlite_only
def test_backup_of_a_sqlite_file_into_a_postgresql_url_is_a_usage_error(cli, venue_db, pg_url):
    run = cli("backup", pg_url)
    assert run.code == 2
    assert run.err == "error: backup writes a SQLite file; DEST may not be a PostgreSQL URL\n"


# --- the database ---


def test_commands_other_than_init_need_an_initialised_schema_and_create_nothing(pg, pg_url):
    for args in (["seats"], ["lock", "1", "--user", "a"], ["history"], ["check"]):
        run = pg(*args, "--json")
        assert (run.code, run.error()["error"]) == (6, "no_database"), args
        assert "not initialised" in run.error()["message"]
    assert sql(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()") == [
        (0,)
    ]


def test_the_schema_version_is_recorded_and_a_newer_one_refused_untouched(pg, pg_url):
    pg("init")
    assert sql(pg_url, "SELECT value FROM meta WHERE key = 'schema_version'") == [("7",)]
    sql(pg_url, "UPDATE meta SET value = '8' WHERE key = 'schema_version'")
    before = dump_pg(pg_url)
    for args in (["seats"], ["lock", "1", "--user", "a"]):
        run = pg(*args, "--json")
        assert (run.code, run.error()["error"]) == (6, "newer_schema")
    run = pg("init")
    assert run.code == 6
    assert "written by a newer seatctl (schema 8)" in run.err
    assert dump_pg(pg_url) == before


def test_the_schema_version_is_the_same_number_as_sqlites():
    from seatctl.storage import postgres, sqlite

    assert postgres.SCHEMA_VERSION == sqlite.SCHEMA_VERSION


@pytest.mark.parametrize(
    "table", ["CREATE TABLE seats (id int)", "CREATE TABLE meta (k int, v int)"]
)
def test_tables_of_another_program_are_refused_and_left(pg, pg_url, table):
    sql(pg_url, table)
    sql(pg_url, f"INSERT INTO {table.split()[2]} VALUES (7)")
    assert pg("init").code == 6
    run = pg("seats", "--json")
    assert (run.code, run.error()["error"]) == (6, "bad_database")
    assert "not seatctl's" in run.error()["message"]
    assert sql(pg_url, f"SELECT * FROM {table.split()[2]}")[0][0] == 7


def test_a_search_path_naming_no_schema_is_explained(pg_server, capsys):
    url = with_search_path(pg_server, f"seatctl_test_missing_{secrets.token_hex(4)}")
    assert main(["--db", url, "init"]) == 6
    assert "CREATE SCHEMA" in capsys.readouterr().err
    assert main(["--db", url, "seats"]) == 6
    assert "not initialised" in capsys.readouterr().err


def test_a_role_that_may_only_read_gets_read_only(pg, pg_url):
    pg("init")
    role = f"seatctl_test_reader_{secrets.token_hex(4)}"
    schema = sql(pg_url, "SELECT current_schema()")[0][0]
    sql(pg_url, f"CREATE ROLE {role} LOGIN")
    try:
        sql(pg_url, f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        sql(pg_url, f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
        reader = with_user(pg_url, role)
        assert run_process("--db", reader, "seats").code == 0
        run = run_process("--db", reader, "lock", "1", "--user", "alice", "--json")
        assert (run.code, run.error()["error"]) == (6, "read_only")
    finally:
        sql(pg_url, f"DROP OWNED BY {role}")
        sql(pg_url, f"DROP ROLE {role}")


def _has_seat_at_index(url: str) -> bool:
    found = "SELECT to_regclass(quote_ident(current_schema()) || '.events_seat_at')"
    return sql(url, found)[0][0] is not None


def test_a_schema_without_the_seat_instant_index_gets_it_with_its_next_write(pg, pg_url):
    pg("init", "--seats", "3")
    assert _has_seat_at_index(pg_url)
    sql(pg_url, "DROP INDEX events_seat_at")  # a schema from before the index existed
    assert pg("seats").code == 0
    assert not _has_seat_at_index(pg_url)  # a read changes nothing
    assert pg("lock", "1", "--user", "alice").code == 0
    assert _has_seat_at_index(pg_url)
    assert pg("check").out == "ok\n"


def test_a_writer_that_may_not_index_the_table_still_writes(pg, pg_url):
    # Only the owner may create the index; another role with the rights to write writes on.
    pg("init", "--seats", "3")
    sql(pg_url, "DROP INDEX events_seat_at")
    role = f"seatctl_test_writer_{secrets.token_hex(4)}"
    schema = sql(pg_url, "SELECT current_schema()")[0][0]
    sql(pg_url, f"CREATE ROLE {role} LOGIN")
    try:
        sql(pg_url, f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        sql(pg_url, f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {schema} TO {role}")
        writer = with_user(pg_url, role)
        run = run_process("--db", writer, "lock", "1", "--user", "alice")
        assert run.code == 0, run.err
        assert not _has_seat_at_index(pg_url)
        assert run_process("--db", writer, "lock", "1", "--user", "alice").code == 0
    finally:
        sql(pg_url, f"DROP OWNED BY {role}")
        sql(pg_url, f"DROP ROLE {role}")


# --- the clock ---


def test_now_is_the_servers_clock_whatever_this_hosts_says(pg, pg_url):
    pg("init")
    before = server_epoch(pg_url)
    # This host's clock is 25 years off; psycopg keeps the real one for its own timeouts.
    with freeze_time("2001-01-01T00:00:00Z", ignore=["psycopg"]):
        run = pg("lock", "1", "--user", "alice", "--ttl", "60", "--json")
    after = server_epoch(pg_url)
    expires = parse_instant(run.json()["seats"][0]["expires_at"])
    assert before + 60 <= expires <= after + 60


def test_seatctl_now_overrides_the_servers_clock(pg, monkeypatch):
    pg("init")
    monkeypatch.setenv("SEATCTL_NOW", "2030-01-01T12:00:00Z")
    run = pg("lock", "1", "--user", "alice", "--json")
    assert run.json()["seats"][0]["expires_at"] == "2030-01-01T12:01:00Z"
    assert pg("history", "1", "--json").json()[-1]["at"] == "2030-01-01T12:00:00Z"


def test_now_is_the_server_clock_read_once_per_transaction(pg, pg_url):
    pg("init")
    store = open_store(pg_url)
    try:
        before = server_epoch(pg_url)
        with store.transaction() as tx:
            now = tx.now()
            assert tx.now() == now
        after = server_epoch(pg_url)
    finally:
        store.close()
    assert before <= now <= after


# --- concurrency ---


def test_sixteen_hosts_locking_one_seat_produce_exactly_one_winner(pg_url):
    Venue.init(pg_url, seats=1)
    runs = race([["--db", pg_url, "lock", "1", "--user", f"u{n}"] for n in range(RACERS)])
    assert sorted(run.code for run in runs) == [0] + [4] * (RACERS - 1)
    winner = next(n for n, run in enumerate(runs) if run.code == 0)
    with Venue.open(pg_url) as venue:
        assert venue.seats()[0].locked_by == f"u{winner}"
        assert venue.check() == []


def test_overlapping_multi_seat_locks_in_opposite_orders_never_deadlock(pg_url):
    Venue.init(pg_url, seats=8)
    # Windows of three seats sliding over 1..8, every other one named backwards.
    wanted = [[str(s) for s in range(1 + n % 6, 4 + n % 6)] for n in range(RACERS)]
    wanted = [seats[::-1] if n % 2 else seats for n, seats in enumerate(wanted)]
    runs = race(
        [["--db", pg_url, "lock", *seats, "--user", f"u{n}"] for n, seats in enumerate(wanted)]
    )
    assert all(run.code in (0, 4) for run in runs), [run.err for run in runs]
    winners = [n for n, run in enumerate(runs) if run.code == 0]
    assert winners
    with Venue.open(pg_url) as venue:
        holders = {view.seat: view.locked_by for view in venue.seats() if view.locked_by}
        assert venue.check() == []
    expected = {seat: f"u{n}" for n in winners for seat in wanted[n]}
    assert holders == expected  # all or nothing: every winner holds all its seats, nobody else


def test_concurrent_inits_create_the_schema_once_and_each_seat_once(pg_url):
    # Overlapping seats named in opposite orders: 1 to 6, and 6 down to 1 then X.
    commands = [
        ["--db", pg_url, "init", "--seats", "6"] if n % 2 else ["--db", pg_url, "init", *"654321X"]
        for n in range(RACERS)
    ]
    runs = race(commands)
    assert [run.code for run in runs] == [0] * RACERS, [run.err for run in runs]
    added = sum(int(re.search(r"added (\d+) seat", run.out).group(1)) for run in runs)
    with Venue.open(pg_url) as venue:
        assert [view.seat for view in venue.seats()] == ["1", "2", "3", "4", "5", "6", "X"]
        assert venue.check() == []
    assert added == 7


def wait_for_a_lock_wait(url: str, name: str, process: subprocess.Popen) -> None:
    """Until connection `name` waits for a lock, or `process` ends (it did not wait)."""
    deadline = time.monotonic() + 30
    while process.poll() is None and not sql(url, WAITING, name):
        assert time.monotonic() < deadline, "the rival neither waited nor finished"
        time.sleep(0.02)


def test_a_writer_keeps_the_seats_it_read_until_it_commits(pg_url):
    Venue.init(pg_url, seats=1)
    store = open_store(pg_url)
    try:
        with store.transaction() as tx:
            seat = tx.seats(["1"])["1"]
            rival_url, rival_name = named(pg_url)
            rival = subprocess.Popen(
                [sys.executable, "-m", "seatctl", "--db", rival_url, "lock", "1", "--user", "bob"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            wait_for_a_lock_wait(pg_url, rival_name, rival)
            assert rival.poll() is None, "the rival went ahead on a seat being decided"
            tx.save([seat.locked("alice", tx.now() + 60)])
    finally:
        store.close()
    _, err = rival.communicate(timeout=30)
    assert rival.returncode == 4
    assert err.startswith("error: seat 1 is locked by alice until ")


@pytest.fixture
def row_locked(pg, pg_url):
    """Seat 1 of a new venue, row-locked by another connection for the length of the test."""
    import psycopg

    pg("init")
    blocker = psycopg.connect(pg_url)
    blocker.execute("SELECT * FROM seats WHERE label = '1' FOR UPDATE")
    yield
    blocker.rollback()
    blocker.close()


def test_a_writer_still_blocked_after_the_busy_timeout_gets_exit_6_busy(
    pg, pg_url, row_locked, monkeypatch
):
    monkeypatch.setattr("seatctl.storage.postgres.BUSY_TIMEOUT_SECONDS", 0.2)
    before = dump_pg(pg_url)
    run = pg("lock", "2", "1", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (6, "busy")
    assert dump_pg(pg_url) == before
    assert pg("lock", "2", "--user", "alice").code == 0, "other seats are not held up"


def test_a_connection_lost_while_waiting_is_exit_6_on_one_line(pg_url, row_locked, capsys):
    url, name = named(pg_url)

    def terminate_the_waiter() -> None:
        for _ in range(500):
            waiting = sql(pg_url, WAITING, name)
            if waiting:
                sql(pg_url, "SELECT pg_terminate_backend(%s)", waiting[0][0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=terminate_the_waiter)
    killer.start()
    code = main(["--db", url, "lock", "1", "--user", "alice"])
    killer.join()
    err = capsys.readouterr().err
    assert code == 6
    assert err.startswith("error: lost the connection to postgresql://")
    assert err.count("\n") == 1


# --- connecting ---


def test_an_unreachable_server_is_exit_6_on_one_line_without_the_password():
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:{free_port()}/test?password={SECRET}x"
    run = run_process("--db", url, "seats")
    assert run.code == 6
    assert run.err.startswith("error: cannot connect to postgresql://postgres@127.0.0.1:")
    assert "Connection refused" in run.err
    assert run.err.count("\n") == 1
    assert SECRET not in run.err


def test_an_unknown_database_is_no_database(pg_server, capsys):
    parts = urlsplit(pg_server)
    url = urlunsplit(parts._replace(path=f"/seatctl_no_such_db_{secrets.token_hex(4)}"))
    assert main(["--db", url, "seats", "--json"]) == 6
    error = capsys.readouterr().err
    assert '"error": "no_database"' in error
    assert "does not exist" in error


def test_an_unknown_role_is_exit_6(pg_server, capsys):
    url = with_user(pg_server, f"seatctl_no_such_role_{secrets.token_hex(4)}")
    assert main(["--db", url, "seats"]) == 6
    assert "does not exist" in capsys.readouterr().err


def test_a_password_in_the_url_is_never_printed(pg, pg_url, capsys):
    with_password = with_user(pg_url, f"postgres:{SECRET}")  # trust auth lets it in
    outputs = []
    for args in (["init"], ["backup", "x.db"], ["lock", "1", "--user", "a", "--json"]):
        main(["--db", with_password, *args])
        outputs.append(capsys.readouterr())
    assert outputs[0].out.startswith("initialised postgresql://postgres@127.0.0.1")
    # libpq quotes a malformed token of the URL in its message: that token is the password.
    main(["--db", with_user(pg_url, f"postgres:bad%zz{SECRET}"), "seats"])
    outputs.append(capsys.readouterr())
    assert "percent-encoded" in outputs[-1].err
    assert all(SECRET not in o.out + o.err for o in outputs)


def test_postgres_urls_need_the_extra_and_say_how_to_install_it():
    blocked = "import sys; sys.modules['psycopg'] = None; from seatctl.__main__ import run; run()"
    for scheme in ("postgresql", "postgres"):
        done = subprocess.run(
            [sys.executable, "-c", blocked, "--db", f"{scheme}://u:{SECRET}@h/db", "seats"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 6
        assert "pip install 'seatctl[postgres]'" in done.stderr
        assert SECRET not in done.stderr


@pytest.mark.sqlite_only
def test_the_sqlite_path_never_imports_psycopg(db_path):
    probe = """
import sys
from seatctl.cli import main
assert main(["--db", sys.argv[1], "init"]) == 0
assert main(["--db", sys.argv[1], "lock", "1", "--user", "alice"]) == 0
print(sorted(m for m in sys.modules if m.startswith(("psycopg", "seatctl.storage.postgres"))))
"""
    done = subprocess.run([sys.executable, "-c", probe, db_path], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_commit_group_lets_other_writers_commit_history_until_its_end(pg_url):
    # A group used to take the history's commit-order lock with its first operation and hold
    # it to COMMIT, so every other writer (and a pick holding its event's lock) waited for the
    # whole group. Its history is now written last; ids still follow commit order.
    Venue.init(pg_url)
    with Venue.open(pg_url) as grouping, Venue.open(pg_url) as other:
        with grouping.grouped():
            grouping.lock(["1"], "alice")
            other.within(time.monotonic() + 5, lock_wait=1.0)  # busy after 1 s, not 10
            other.lock(["2"], "bob")  # committed while the group is still open
            grouping.lock(["3"], "alice")
        history = [(entry.seat, entry.user) for entry in other.history()]
    locks = [entry for entry in history if entry[1] in ("alice", "bob")]
    assert locks == [("2", "bob"), ("1", "alice"), ("3", "alice")]


def test_a_groups_first_pick_waits_for_its_events_lock_instead_of_leaving_the_group(pg_url):
    # A grouped write waits at most a few milliseconds for any lock, then leaves its group to
    # be retried alone. A group's first pick holds nothing yet, and its event's lock is a queue
    # that every pick of the event joins: leaving would only requeue it, one commit per pick.
    import psycopg

    Venue.init(pg_url)
    picked: dict[str, object] = {}

    def pick_in_a_group() -> None:
        with Venue.open(pg_url) as waiting:
            waiting.within(time.monotonic() + 10, lock_wait=0.02)  # as a server's writer
            try:
                with waiting.grouped():
                    waiting.seats()  # as a server reads the caller's token first: no lock
                    picked["bob"] = [view.seat for view in waiting.lock_best(1, "bob")]
            except Exception as error:  # the answer the test checks
                picked["bob"] = error

    with Venue.open(pg_url) as holding, psycopg.connect(pg_url, autocommit=True) as admin:
        with holding.grouped():
            picked["alice"] = [view.seat for view in holding.lock_best(1, "alice")]
            thread = threading.Thread(target=pick_in_a_group)
            thread.start()
            deadline = time.monotonic() + 10
            while "bob" not in picked and time.monotonic() < deadline:
                waiting_for_the_event = admin.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                if waiting_for_the_event and waiting_for_the_event[0]:
                    # Bob's pick is queued on alice's group: keep it waiting well past a
                    # grouped write's lock wait (20 ms) before letting the group commit.
                    thread.join(timeout=0.2)
                    break
                time.sleep(0.01)
        thread.join()
    assert isinstance(picked["bob"], list), picked["bob"]
    assert picked["bob"] != picked["alice"]


def test_an_init_of_many_seats_leaves_the_planner_statistics_for_the_history(pg_url):
    # Without them PostgreSQL reads the whole history for "the entries after id N", which a
    # pick asks each time others have committed, until autovacuum's first look a minute later.
    import psycopg

    Venue.init(pg_url, seats=200)
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass"
        ).fetchone()
    assert row is not None and row[0] == 200  # -1: never analysed

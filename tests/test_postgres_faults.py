"""PostgreSQL under faults: malformed URLs, secrets in URLs, interrupted inits, rows held by
other connections, and SEATCTL_NOW on a shared server.

The URL tests need only psycopg (they fail before connecting, or connect to a closed port);
the rest need a server ($SEATCTL_TEST_PG, see tests/test_postgres.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import SOAK, WAITING, Run, dump_pg, free_port, named, run_process, sql, with_user
from seatctl import Venue
from seatctl.cli import main
from seatctl.core.errors import ExitCode, Reason, SeatctlError

psycopg = pytest.importorskip("psycopg")
# The backend's part: all of it (a test taking `db_path` runs on both backends).
pytestmark = pytest.mark.backend


# Every parameter libpq treats as a secret: dispchar "*" in PQconndefaults (password,
# sslpassword, oauth_client_secret), and the SCRAM keys, which stand in for the password.
SECRET_PARAMETERS = ["password", "sslpassword", "oauth_client_secret"]
SECRET_PARAMETERS += ["scram_client_key", "scram_server_key"]


def run_main(*args: str, capsys: pytest.CaptureFixture[str]) -> Run:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Run(int(code), captured.out, captured.err)


@contextlib.contextmanager
def captured() -> Iterator[list[io.StringIO]]:
    """stdout and stderr of an in-process run (a hypothesis example cannot use capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield [out, err]


def assert_never_shown(run: Run, secret: str) -> None:
    shown = run.out + run.err
    for form in {secret, quote(secret, safe="")}:
        assert form not in shown, f"{form!r} leaked: {shown!r}"


# --- item 13: malformed URLs are usage errors; no secret is ever printed ---


@pytest.mark.parametrize("url", ["postgresql://u:secret@[::1/test", "postgres://[bad"])
def test_a_malformed_url_is_a_one_line_usage_error_without_the_password(url):
    for json_flag in ([], ["--json"]):
        run = run_process("--db", url, "seats", *json_flag)
        assert run.code == 2, run.err
        assert run.out == ""
        assert run.err.count("\n") == 1
        assert "Traceback" not in run.err
        assert "secret" not in run.err
    assert json.loads(run.err)["error"] == "usage"


def test_a_malformed_url_says_what_is_wrong_with_it(capsys):
    run = run_main("--db", "postgresql://u:secret@[::1/test", "seats", capsys=capsys)
    assert run.err.startswith("error: invalid PostgreSQL URL postgresql://u@[::1/test: ")
    assert 'looking for matching "]"' in run.err


@pytest.mark.parametrize("parameter", SECRET_PARAMETERS)
def test_no_secret_parameter_is_shown_when_the_server_is_unreachable(parameter, capsys):
    secret = "Sup3r-s3cret-pw"
    url = f"postgresql://alice@127.0.0.1:{free_port()}/test?{parameter}={secret}"
    run = run_main("--db", url, "seats", capsys=capsys)
    assert run.code == 6
    assert run.err.startswith("error: cannot connect to postgresql://alice@127.0.0.1:")
    assert_never_shown(run, secret)


@pytest.mark.parametrize("password", ["Pa55@w0rd", "Pa55/w0rd"])
def test_a_password_libpq_would_read_as_a_host_or_port_is_a_usage_error(password, capsys):
    # libpq ends the user part at the first "@" and, before that, at a "/": it would try host
    # "w0rd@127.0.0.1" or port "w0rd", and quote it when that fails.
    url = f"postgresql://alice:{password}@127.0.0.1:{free_port()}/test"
    run = run_main("--db", url, "seats", capsys=capsys)
    assert run.code == 2
    assert "percent-encode" in run.err
    assert "Pa55" not in run.err
    assert "w0rd" not in run.err


# A secret always holds a few distinctive characters, so that finding it in a message can only
# mean it leaked; the rest may be anything a password holds, percent-encoded in the URL.
secrets = st.builds(
    lambda a, b: f"Zq{a}{b}",
    st.text(st.sampled_from("abcXYZ019"), min_size=4, max_size=6),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),  # libpq: no NUL
)


@st.composite
def urls_with_secrets(draw: st.DrawFn, malformed: bool) -> tuple[str, list[str]]:
    """A PostgreSQL URL carrying secrets in its user part and in secret parameters (some
    percent-encoded keys), with one defect seatctl must refuse it for if `malformed`: one libpq
    cannot parse, or a password libpq would read partly as a host or port."""
    scheme = draw(st.sampled_from(["postgresql", "postgres", "POSTGRESQL"]))
    password = draw(st.none() | secrets)
    user = "alice" + (f":{quote(password, safe='')}" if password is not None else "")
    host = f"127.0.0.1:{free_port()}"
    dbname = "test"
    params = []
    shown = [password] if password is not None else []
    for parameter in draw(st.lists(st.sampled_from(SECRET_PARAMETERS), max_size=3, unique=True)):
        value = draw(secrets)
        shown.append(value)
        # libpq decodes keys too: "%70assword" is "password".
        key = draw(st.sampled_from([parameter, f"%{ord(parameter[0]):02X}{parameter[1:]}"]))
        params.append(f"{key}={quote(value, safe='')}")
    params.append("application_name=seatctl-test")
    params = draw(st.permutations(params))
    if malformed:
        defect = draw(
            st.sampled_from(
                [
                    "unclosed-ipv6",
                    "bad-escape-in-dbname",
                    "nul-in-value",
                    "no-equals",
                    "two-equals",
                    "unknown-parameter",
                    "space-in-host",
                    "junk-after-host",
                    "bad-escape-in-password",
                    "unencoded-at-in-password",
                    "unencoded-slash-in-password",
                ]
            )
        )
        if defect == "unclosed-ipv6":
            host = "[::1"
        elif defect == "bad-escape-in-dbname":
            dbname = "te%zzst"
        elif defect == "nul-in-value":
            params = [*params, "application_name=a%00b"]
        elif defect == "no-equals":
            params = [*params, "junk"]
        elif defect == "two-equals":
            params = [*params, "application_name=a=b"]
        elif defect == "unknown-parameter":
            params = [*params, "nosuchparameter=1"]
        elif defect == "space-in-host":
            host = "127.0.0.1 x"
        elif defect == "junk-after-host":
            host = "[::1]x"
        elif defect == "bad-escape-in-password":
            if password is None:
                password = draw(secrets)
                shown.append(password)
            user = f"alice:%zz{quote(password, safe='')}"
        elif defect.startswith("unencoded-"):
            if password is None:
                password = draw(secrets)
                shown.append(password)
            raw = "@" if defect == "unencoded-at-in-password" else "/"
            user = f"alice:{quote(password, safe='')}{raw}{quote(password, safe='')}"
    url = f"{scheme}://{user}@{host}/{dbname}?{'&'.join(params)}"
    return url, shown


COMMANDS = [["seats"], ["init"], ["lock", "1", "--user", "a"], ["history"], ["check"]]
WITH_JSON = [[*command, "--json"] for command in COMMANDS if command != ["init"]]


@settings(max_examples=60 * SOAK, deadline=None)
@given(
    drawn=urls_with_secrets(malformed=True),
    command=st.sampled_from(COMMANDS + WITH_JSON),
)
def test_every_malformed_url_is_exit_2_on_one_line_without_any_secret(drawn, command):
    url, shown = drawn
    as_json = "--json" in command
    with captured() as capture:
        code = main(["--db", url, *command])
    run = Run(int(code), capture[0].getvalue(), capture[1].getvalue())
    assert run.code == 2, run.err
    assert run.out == ""
    assert run.err.count("\n") == 1
    assert "Traceback" not in run.err
    if as_json:
        assert json.loads(run.err)["error"] == "usage"
    else:
        assert run.err.startswith("error: invalid PostgreSQL URL ")
    for secret in shown:
        assert_never_shown(run, secret)


@settings(max_examples=25 * SOAK, deadline=None)
@given(drawn=urls_with_secrets(malformed=False), as_json=st.booleans())
def test_no_secret_is_shown_when_a_well_formed_url_cannot_connect(drawn, as_json):
    url, shown = drawn
    with captured() as capture:
        code = main(["--db", url, "seats", *(["--json"] if as_json else [])])
    run = Run(int(code), capture[0].getvalue(), capture[1].getvalue())
    assert run.code == 6, run.err
    assert run.err.count("\n") == 1
    for secret in shown:
        assert_never_shown(run, secret)


# --- item 23: an interrupted init leaves nothing half-made ---


def tables_in(url: str) -> list[str]:
    rows = sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return sorted(row[0] for row in rows)


@pytest.fixture
def terminated_init(pg_url: str, capsys: pytest.CaptureFixture[str]) -> Run:
    """`init --ttl 90` on a new schema, its connection terminated by an administrator just
    before it adds the seats: after it has made (but not committed) whatever comes first."""
    from seatctl.storage.postgres import PostgresTransaction

    adding = PostgresTransaction.add_seats

    def terminated_first(self: PostgresTransaction, labels: list[str], *rest: object) -> list[str]:
        # The timeout makes pg_terminate_backend wait until the session is really gone, so
        # the next statement meets a closed connection.
        sql(pg_url, "SELECT pg_terminate_backend(%s, 10000)", self._conn.info.backend_pid)
        return adding(self, labels, *rest)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresTransaction, "add_seats", terminated_first)
        return run_main("--db", pg_url, "init", "--ttl", "90", capsys=capsys)


def test_an_init_whose_connection_is_terminated_is_exit_6_lost_connection(terminated_init):
    assert terminated_init.code == 6
    assert terminated_init.err.startswith("error: lost the connection to postgresql://")


def test_an_init_whose_connection_is_terminated_creates_no_tables(terminated_init, pg_url):
    assert tables_in(pg_url) == []


def test_a_plain_init_after_a_terminated_one_makes_the_default_venue(
    terminated_init, pg_url, capsys
):
    run = run_main("--db", pg_url, "init", capsys=capsys)
    assert run.code == 0
    assert "added 5 seats (5 in all); default lock duration 60 s" in run.out


def test_an_init_that_fails_after_starting_leaves_no_database_to_half_use(db_path, capsys):
    # On every backend: a failure inside init's one transaction (here, in adding the seats)
    # undoes the tables too, so the next init starts afresh.
    from seatctl.storage import postgres, sqlite

    def failing(self, labels: list[str], *rest: object) -> list[str]:
        raise SeatctlError(Reason.BAD_DATABASE, "injected failure", ExitCode.DATABASE)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite.SqliteTransaction, "add_seats", failing)
        patch.setattr(postgres.PostgresTransaction, "add_seats", failing)
        assert run_main("--db", db_path, "init", "--ttl", "90", capsys=capsys).code == 6
    run = run_main("--db", db_path, "init", capsys=capsys)
    assert "added 5 seats (5 in all); default lock duration 60 s" in run.out


# --- item 24: one busy budget per command, and the busy error names the seats ---


@pytest.fixture
def held_by_others(pg_url: str) -> Iterator[Callable[..., None]]:
    """Hold seats' rows locked, each from a connection of its own (another host mid-command),
    until the test ends."""
    holders: list[psycopg.Connection] = []

    def hold(*labels: str) -> None:
        for label in labels:
            holder = psycopg.connect(pg_url)
            holder.execute("SELECT * FROM seats WHERE label = %s FOR UPDATE", (label,))
            holders.append(holder)

    yield hold
    for holder in holders:
        holder.rollback()
        holder.close()


def test_a_command_waits_for_its_seats_at_most_the_busy_timeout_in_all(
    pg, pg_url, held_by_others, monkeypatch
):
    # Seat 1 is given up late in the wait, seat 2 never: waiting the timeout for each row in
    # turn (as lock_timeout does) would take nearly twice the timeout.
    monkeypatch.setattr("seatctl.storage.postgres.BUSY_TIMEOUT_SECONDS", 2.0)
    pg("init")
    held_by_others("2")
    late = psycopg.connect(pg_url)
    late.execute("SELECT * FROM seats WHERE label = '1' FOR UPDATE")
    url, name = named(pg_url)

    def give_up_seat_1_late() -> None:
        deadline = time.monotonic() + 30
        while not sql(pg_url, WAITING, name) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.8)  # the scenario itself: a holder that commits after a long while
        late.rollback()

    releaser = threading.Thread(target=give_up_seat_1_late)
    releaser.start()
    started = time.monotonic()
    code = main(["--db", url, "lock", "1", "2", "--user", "alice"])
    waited = time.monotonic() - started
    releaser.join()
    late.close()
    assert code == 6
    assert waited < 3.4, "waited for each seat in turn"


def test_the_busy_error_names_the_seats_held_by_others(pg, pg_url, held_by_others, monkeypatch):
    monkeypatch.setattr("seatctl.storage.postgres.BUSY_TIMEOUT_SECONDS", 0.2)
    pg("init")
    held_by_others("2", "4")
    before = dump_pg(pg_url)
    run = pg("lock", "1", "2", "3", "4", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (6, "busy")
    assert run.error()["seats"] == [
        {"seat": "2", "reason": "busy"},
        {"seat": "4", "reason": "busy"},
    ]
    assert "seats 2, 4" in run.error()["message"]
    assert dump_pg(pg_url) == before


def test_the_busy_error_in_text_names_the_seats_on_one_line(pg, held_by_others, monkeypatch):
    monkeypatch.setattr("seatctl.storage.postgres.BUSY_TIMEOUT_SECONDS", 0.2)
    pg("init")
    held_by_others("3")
    run = pg("release", "3", "1", "--user", "alice")
    assert run.code == 6
    assert run.err.startswith("error: ")
    assert "seat 3 " in run.err
    assert run.err.count("\n") == 1


def test_waiting_for_seats_uses_only_what_is_left_of_the_commands_budget(
    pg_url, held_by_others, monkeypatch
):
    from seatctl.storage import postgres

    Venue.init(pg_url, seats=1)
    held_by_others("1")
    monkeypatch.setattr(postgres, "BUSY_TIMEOUT_SECONDS", 60.0)
    store = postgres.PostgresStore.open(pg_url)
    started = time.monotonic()
    try:
        with pytest.raises(SeatctlError) as raised, store.transaction() as tx:
            tx._deadline = time.monotonic() + 0.5  # as if the command had waited all but 0.5 s
            tx.seats(["1"])
    finally:
        store.close()
    assert raised.value.reason is Reason.BUSY
    assert time.monotonic() - started < 30, "waited a whole budget again"


@pytest.mark.sqlite_only
def test_the_busy_error_names_the_commands_seats_on_sqlite(db_path, capsys, monkeypatch):
    # SQLite locks the whole database: every seat the command names is one it could not get.
    monkeypatch.setattr("seatctl.storage.sqlite.BUSY_TIMEOUT_SECONDS", 0.2)
    Venue.init(db_path)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        run = run_main("--db", db_path, "lock", "2", "1", "--user", "a", "--json", capsys=capsys)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (run.code, run.error()["error"]) == (6, "busy")
    assert run.error()["seats"] == [
        {"seat": "2", "reason": "busy"},
        {"seat": "1", "reason": "busy"},
    ]
    assert "seats 2, 1" in run.error()["message"]


# --- item 25: SEATCTL_NOW on a shared server is announced ---

FAR_FUTURE = "2999-01-01T00:00:00Z"


def test_a_write_with_seatctl_now_on_postgresql_warns_on_one_stderr_line(pg, monkeypatch):
    pg("init")
    monkeypatch.setenv("SEATCTL_NOW", FAR_FUTURE)
    run = pg("lock", "1", "--user", "alice")
    assert run.code == 0
    assert run.err.startswith(f"warning: SEATCTL_NOW={FAR_FUTURE} overrides the server clock")
    assert "for everyone sharing postgresql://" in run.err
    assert run.err.count("\n") == 1
    assert "warning" not in run.out


def test_the_warning_never_reaches_json_stdout(pg, monkeypatch):
    pg("init")
    monkeypatch.setenv("SEATCTL_NOW", FAR_FUTURE)
    run = pg("lock", "1", "--user", "alice", "--json")
    assert run.json()["seats"][0]["expires_at"] == "2999-01-01T00:01:00Z"
    assert run.err.startswith("warning: SEATCTL_NOW=")


def test_init_with_seatctl_now_on_postgresql_warns(pg, monkeypatch):
    monkeypatch.setenv("SEATCTL_NOW", FAR_FUTURE)
    run = pg("init")
    assert run.code == 0
    assert run.err.startswith("warning: SEATCTL_NOW=")


def test_reading_with_seatctl_now_on_postgresql_does_not_warn(pg, monkeypatch):
    pg("init")
    monkeypatch.setenv("SEATCTL_NOW", FAR_FUTURE)
    for command in (["seats"], ["history"], ["check"]):
        assert pg(*command).err == "", command


def test_a_refused_write_with_seatctl_now_changes_nothing_and_does_not_warn(pg, monkeypatch):
    pg("init")
    monkeypatch.setenv("SEATCTL_NOW", FAR_FUTURE)
    run = pg("confirm", "1", "--user", "alice", "--json")
    assert run.code == 5
    assert run.error()["error"] == "not_holder"
    assert "warning" not in run.err


def test_the_warning_never_shows_the_password(pg_url, monkeypatch, capsys):
    with_password = with_user(pg_url, "postgres:Sup3r-s3cret-pw")
    Venue.init(pg_url)
    monkeypatch.setenv("SEATCTL_NOW", FAR_FUTURE)
    run = run_main("--db", with_password, "lock", "1", "--user", "alice", capsys=capsys)
    assert run.err.startswith("warning: SEATCTL_NOW=")
    assert "Sup3r-s3cret-pw" not in run.err


@pytest.mark.sqlite_only
def test_seatctl_now_on_sqlite_does_not_warn(db_path, monkeypatch, capsys):
    Venue.init(db_path)
    monkeypatch.setenv("SEATCTL_NOW", FAR_FUTURE)
    run = run_main("--db", db_path, "lock", "1", "--user", "alice", capsys=capsys)
    assert (run.code, run.err) == (0, "")


def test_the_warning_is_a_python_warning_for_api_callers(pg_url, monkeypatch):
    from seatctl.core.errors import SeatctlWarning

    Venue.init(pg_url)
    monkeypatch.setenv("SEATCTL_NOW", FAR_FUTURE)
    with pytest.warns(SeatctlWarning, match="overrides the server clock"), Venue.open(pg_url) as v:
        v.lock(["1"], user="alice")

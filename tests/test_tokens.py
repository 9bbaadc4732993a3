"""`seatctl token add/list/revoke`: tokens printed once, stored only as hashes, on both backends;
and the schema-3 upgrade that brought the tokens table."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from helpers import START, dump, frozen
from seatctl import Venue

# The backend's part: tokens are stored, found and revoked by each backend's queries.
pytestmark = pytest.mark.backend

TOKEN_SHAPE = r"stk_[A-Za-z0-9_-]{43}"


def stored_rows(db: str) -> list[tuple]:
    if db.startswith("postgres"):
        import psycopg

        with psycopg.connect(db) as conn:
            return conn.execute("SELECT * FROM tokens ORDER BY id").fetchall()
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT * FROM tokens ORDER BY id").fetchall()
    finally:
        conn.close()


def test_token_add_prints_a_prefixed_token_alone(cli, venue_db):
    run = cli("token", "add", "alice")
    assert run.code == 0
    assert run.out.endswith("\n")
    token = run.out.strip()
    assert __import__("re").fullmatch(TOKEN_SHAPE, token)


def test_each_token_is_new(cli, venue_db):
    assert cli("token", "add", "alice").out != cli("token", "add", "alice").out


def test_only_a_hash_of_the_token_is_stored(cli, venue_db):
    token = cli("token", "add", "alice").out.strip()
    rows = stored_rows(venue_db)
    assert len(rows) == 1
    assert token not in repr(rows)
    assert hashlib.sha256(token.encode()).hexdigest() in repr(rows)


def test_token_add_json_gives_the_token_and_its_record(cli, venue_db):
    with frozen(START):
        added = cli("token", "add", "alice", "--expires-in", "3600", "--json").json()
    assert added["id"] == 1
    assert added["user"] == "alice"
    assert added["created"] == "2026-01-01T12:00:00Z"
    assert added["expires"] == "2026-01-01T13:00:00Z"
    assert added["last_used"] is None
    assert added["token"].startswith("stk_")


def test_token_list_never_shows_the_token(cli, venue_db):
    token = cli("token", "add", "alice").out.strip()
    cli("token", "add", "bob", "--expires-in", "60")
    listed = cli("token", "list", "--json")
    assert listed.code == 0
    assert [(t["id"], t["user"]) for t in listed.json()] == [(1, "alice"), (2, "bob")]
    assert set(listed.json()[0]) == {"id", "user", "created", "expires", "last_used", "role"}
    text = cli("token", "list")
    heading = ["ID", "USER", "ROLE", "CREATED", "EXPIRES", "LAST", "USED"]
    assert text.out.splitlines()[0].split() == heading
    assert token not in listed.out + text.out
    assert token[4:20] not in listed.out + text.out


def test_token_revoke_removes_it(cli, venue_db):
    cli("token", "add", "alice")
    cli("token", "add", "bob")
    run = cli("token", "revoke", "1")
    assert (run.code, run.out) == (0, "revoked token 1\n")
    assert [t["user"] for t in cli("token", "list", "--json").json()] == ["bob"]


def test_revoking_an_unknown_token_is_exit_3_and_changes_nothing(cli, venue_db):
    cli("token", "add", "alice")
    before = dump(venue_db)
    run = cli("token", "revoke", "7", "--json")
    assert (run.code, run.error()["error"]) == (3, "not_found")
    assert dump(venue_db) == before


@pytest.mark.parametrize(
    "args",
    [
        ["token", "add", ""],
        ["token", "add", "a" * 65],
        ["token", "add", "alice", "--expires-in", "0"],
        ["token", "add", "alice", "--expires-in", "-5"],
        ["token", "add", "alice", "--expires-in", "soon"],
        ["token", "revoke", "one"],
        ["token", "add"],
        ["token", "frobnicate"],
    ],
)
def test_bad_token_commands_are_usage_errors_that_change_nothing(cli, venue_db, args):
    before = dump(venue_db)
    run = cli(*args)
    assert run.code == 2, run
    assert run.err.startswith("error: ") and len(run.err.splitlines()) == 1
    assert dump(venue_db) == before


def test_token_commands_need_an_initialised_database(cli, db_path):
    run = cli("token", "add", "alice", "--json")
    assert (run.code, run.error()["error"]) == (6, "no_database")


def test_authenticate_names_the_tokens_user(venue_db):
    with Venue.open(venue_db) as venue:
        token, _ = venue.add_token("alice")
        assert venue.authenticate(token) == "alice"


def test_a_token_expires_by_the_seatctl_clock(venue_db, monkeypatch):
    from seatctl.core.errors import SeatctlError

    monkeypatch.setenv("SEATCTL_NOW", START)
    with Venue.open(venue_db) as venue:
        token, _ = venue.add_token("alice", expires_in=10)
        monkeypatch.setenv("SEATCTL_NOW", "2026-01-01T12:00:10Z")
        with pytest.raises(SeatctlError) as refused:
            venue.authenticate(token)
    assert refused.value.reason == "unauthorized"


def test_check_passes_with_tokens(cli, venue_db):
    cli("token", "add", "alice")
    assert cli("check").out == "ok\n"


def test_token_is_run_lazily_like_other_commands():
    from seatctl.cli.app import parsers

    group = parsers.command_for("token")
    assert set(group.commands) == {"token"}
    assert set(group.commands["token"].commands) == {"add", "list", "revoke"}


# --- the schema-3 upgrade -----------------------------------------------------------------

FIXTURE = Path(__file__).parent / "fixtures" / "v1-venue.db"


def schema_2_sqlite(path: str) -> str:
    """A version-2 database, as seatctl 0.2 made it: no tokens table."""
    from old_schemas import sqlite_v2

    return sqlite_v2(path)


@pytest.mark.sqlite_only
def test_a_schema_2_sqlite_database_gains_tokens_in_its_first_write(cli, db_path):
    schema_2_sqlite(db_path)
    before = dump(db_path)
    assert cli("token", "list", "--json").json() == []
    assert dump(db_path) == before  # reading does not upgrade
    assert cli("token", "add", "alice").code == 0
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    conn.close()
    assert cli("check").out == "ok\n"


@pytest.mark.sqlite_only
def test_a_schema_1_database_upgrades_to_3_with_its_history(cli, db_path, monkeypatch):
    shutil.copy(FIXTURE, db_path)
    monkeypatch.setenv("SEATCTL_NOW", "2026-01-01T12:30:00Z")
    assert cli("token", "add", "alice").code == 0
    assert cli("history", "--json").json()  # the seeded history is there
    assert cli("check").out == "ok\n"


def test_a_schema_2_postgres_database_gains_tokens_in_its_first_write(pg_url, cli_pg):
    import psycopg

    from old_schemas import postgres_v3

    postgres_v3(pg_url, version=2)
    assert cli_pg("token", "list", "--json").json() == []
    assert cli_pg("lock", "5", "--user", "bob").code == 0
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == ("7",)
    assert cli_pg("token", "add", "alice").code == 0
    assert cli_pg("check").out == "ok\n"


@pytest.fixture
def cli_pg(capsys, pg_url):
    from helpers import Run
    from seatctl.cli import main

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main(["--db", pg_url, *args])
        captured = capsys.readouterr()
        return Run(int(code), captured.out, captured.err)

    return run


# --- the token history ----------------------------------------------------------------------


def token_entries(cli, *args: str) -> list[dict]:
    return [e for e in cli("history", *args, "--json").json() if e["action"].startswith("token_")]


def test_a_token_add_entry_names_the_tokens_id(cli, venue_db):
    cli("token", "add", "alice")
    cli("token", "add", "bob", "--role", "staff")
    ids = [t["id"] for t in cli("token", "list", "--json").json()]
    entries = [(e["action"], e["user"], e["reason"], e["token"]) for e in token_entries(cli)]
    assert entries == [
        ("token_add", "alice", "buyer", ids[0]),
        ("token_add", "bob", "staff", ids[1]),
    ]


def test_every_other_history_entry_names_no_token(cli, venue_db):
    cli("lock", "1", "--user", "alice")
    assert {e["token"] for e in cli("history", "--json").json()} == {None}


def test_history_shows_a_token_column_only_when_an_entry_names_a_token(cli, venue_db):
    assert "TOKEN" not in cli("history").out.splitlines()[0].split()
    cli("token", "add", "alice")
    heading, *rows = cli("history").out.splitlines()
    assert heading.split() == ["AT", "SEAT", "ACTION", "USER", "TOKEN", "EXPIRES", "REASON"]
    assert rows[-1].split()[1:] == ["token_add", "alice", "1", "buyer"]


def test_revoking_a_token_records_its_user_and_id(cli, venue_db):
    cli("token", "add", "alice")
    cli("token", "add", "bob")
    with frozen(START):
        cli("token", "revoke", "2")
    revoked = token_entries(cli)[-1]
    assert revoked == {
        "at": START,
        "seat": None,
        "action": "token_revoke",
        "user": "bob",
        "expires_at": None,
        "event": "default",
        "reason": None,
        "by": None,
        "token": 2,
    }


def test_revoking_an_unknown_token_records_nothing(cli, venue_db):
    cli("token", "add", "alice")
    history = cli("history", "--json").json()
    assert cli("token", "revoke", "7").code == 3
    assert cli("history", "--json").json() == history


def test_a_users_token_entries_are_in_their_history_in_every_event(cli, venue_db):
    cli("event", "add", "gala")
    cli("token", "add", "alice")
    cli("token", "add", "bob")
    cli("token", "revoke", "1")
    for event in ("default", "gala"):
        mine = token_entries(cli, "--user", "alice", "--event", event)
        assert [(e["action"], e["token"]) for e in mine] == [("token_add", 1), ("token_revoke", 1)]


def test_check_passes_after_a_revoke(cli, venue_db):
    cli("token", "add", "alice")
    cli("token", "revoke", "1")
    assert cli("check").out == "ok\n"


EXPIRY = "2026-01-01T12:01:00Z"  # a token added at START with --expires-in 60 expires here


def expired_token(db: str) -> str:
    """alice's token, added at START to expire a minute later."""
    with frozen(START), Venue.open(db) as venue:
        return venue.add_token("alice", expires_in=60)[0]


def presented(db: str, token: str, at: str) -> str:
    """Present `token` at `at`: the refusal's message (it is expired)."""
    from seatctl.core.errors import SeatctlError

    with frozen(at), Venue.open(db) as venue, pytest.raises(SeatctlError) as refused:
        venue.principal(token)
    assert refused.value.reason == "unauthorized"
    return refused.value.message


def test_an_expired_token_presented_is_recorded_with_its_user_and_id(cli, venue_db):
    token = expired_token(venue_db)
    presented(venue_db, token, "2026-01-01T12:05:00Z")
    assert token_entries(cli)[-1] == {
        "at": "2026-01-01T12:05:00Z",  # when it was presented, not its deadline
        "seat": None,
        "action": "token_expired",
        "user": "alice",
        "expires_at": None,
        "event": "default",
        "reason": None,
        "by": None,
        "token": 1,
    }


def test_an_expired_token_presented_twice_is_recorded_once_and_the_second_writes_nothing(
    cli, venue_db
):
    token = expired_token(venue_db)
    first = presented(venue_db, token, EXPIRY)
    before = dump(venue_db)
    again = presented(venue_db, token, "2026-01-02T00:00:00Z")
    assert dump(venue_db) == before
    assert first == again == "the token has expired"
    assert [e["action"] for e in token_entries(cli)] == ["token_add", "token_expired"]


def test_a_token_used_before_its_deadline_is_recorded_when_presented_after_it(cli, venue_db):
    token = expired_token(venue_db)
    with frozen("2026-01-01T12:00:59Z"), Venue.open(venue_db) as venue:
        assert venue.authenticate(token) == "alice"  # its use is marked
    presented(venue_db, token, EXPIRY)
    assert [e["action"] for e in token_entries(cli)] == ["token_add", "token_expired"]


def test_a_live_token_presented_records_nothing(cli, venue_db):
    with frozen(START), Venue.open(venue_db) as venue:
        token, _ = venue.add_token("alice", expires_in=60)
        venue.authenticate(token)
    assert [e["action"] for e in token_entries(cli)] == ["token_add"]


def test_an_unknown_or_revoked_token_presented_writes_nothing(cli, venue_db):
    token = expired_token(venue_db)
    cli("token", "revoke", "1")
    before = dump(venue_db)
    assert presented(venue_db, token, EXPIRY) == "unknown or revoked token"
    assert presented(venue_db, "stk_" + "x" * 43, EXPIRY) == "unknown or revoked token"
    assert dump(venue_db) == before


def test_only_the_first_of_two_writers_records_an_expired_token(venue_db):
    expired_token(venue_db)
    # Both found the token unrecorded before either wrote: the store marks it only once.
    with frozen(EXPIRY), Venue.open(venue_db) as one, Venue.open(venue_db) as two:
        with one._store.transaction() as tx:
            first = tx.expired_token_presented(1)
        with two._store.transaction() as tx:
            second = tx.expired_token_presented(1)
    assert (first, second) == (True, False)


def test_check_passes_with_every_kind_of_token_entry(cli, venue_db):
    token = expired_token(venue_db)
    presented(venue_db, token, EXPIRY)
    with frozen(EXPIRY):
        cli("token", "revoke", "1")
    assert cli("check").out == "ok\n"


def test_no_history_output_holds_a_token_or_its_hash(cli, venue_db):
    token = expired_token(venue_db)
    digest = hashlib.sha256(token.encode()).hexdigest()
    presented(venue_db, token, EXPIRY)
    with frozen(EXPIRY):
        cli("token", "revoke", "1")
    shown = cli("history").out + cli("history", "--json").out
    assert {"token_add", "token_expired", "token_revoke"} <= set(shown.split())
    assert token not in shown and token[4:20] not in shown
    assert digest not in shown and digest[:16] not in shown

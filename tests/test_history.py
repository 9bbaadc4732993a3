"""The audit history: one event per seat per change, written in the same transaction."""

from __future__ import annotations

import pytest

from helpers import START, dump, frozen

# The backend's part: the history is written and filtered by each backend's queries.
pytestmark = [pytest.mark.backend, pytest.mark.usefixtures("venue_db")]


def actions(cli, *args: str) -> list[tuple[str, str, str | None]]:
    return [(e["seat"], e["action"], e["user"]) for e in cli("history", *args, "--json").json()]


def after_init(cli, *args: str) -> list[tuple[str, str, str | None]]:
    return [event for event in actions(cli, *args) if event[1] != "add"]


def test_init_records_an_add_event_per_new_seat(cli):
    assert actions(cli) == [(str(n), "add", None) for n in range(1, 6)]
    cli("init", "--seats", "6")
    assert actions(cli)[-1] == ("6", "add", None)
    assert len(actions(cli)) == 6


@frozen(START)
def test_every_change_appends_its_event(cli):
    cli("lock", "1", "--user", "alice")
    cli("lock", "1", "--user", "alice")
    cli("confirm", "1", "--user", "alice")
    cli("lock", "2", "--user", "bob")
    cli("release", "2", "--user", "bob")
    assert after_init(cli) == [
        ("1", "lock", "alice"),
        ("1", "extend", "alice"),
        ("1", "confirm", "alice"),
        ("2", "lock", "bob"),
        ("2", "release", "bob"),
    ]


@frozen(START)
def test_history_json_shape(cli):
    cli("lock", "3", "--user", "alice", "--ttl", "30")
    assert cli("history", "3", "--json").json() == [
        {
            "at": "2026-01-01T12:00:00Z",
            "seat": "3",
            "action": "add",
            "user": None,
            "expires_at": None,
            "event": "default",
            "reason": None,
            "by": None,
            "token": None,
        },
        {
            "at": "2026-01-01T12:00:00Z",
            "seat": "3",
            "action": "lock",
            "user": "alice",
            "expires_at": "2026-01-01T12:00:30Z",
            "event": "default",
            "reason": None,
            "by": None,
            "token": None,
        },
    ]


@frozen(START)
def test_history_human_output_is_an_aligned_table(cli):
    cli("lock", "3", "--user", "alice", "--ttl", "30")
    assert cli("history", "3").out.splitlines() == [
        "AT                    SEAT  ACTION  USER   EXPIRES",
        "2026-01-01T12:00:00Z  3     add",
        "2026-01-01T12:00:00Z  3     lock    alice  2026-01-01T12:00:30Z",
    ]


def test_a_multi_seat_command_writes_one_event_per_seat_at_the_same_instant(cli):
    with frozen(START) as clock:
        clock.tick(7)
        cli("lock", "1", "2", "3", "--user", "alice")
    events = [e for e in cli("history", "--json").json() if e["action"] == "lock"]
    assert [e["seat"] for e in events] == ["1", "2", "3"]
    assert {e["at"] for e in events} == {"2026-01-01T12:00:07Z"}


@frozen(START)
def test_a_refused_command_writes_nothing(cli, db_path):
    cli("lock", "2", "--user", "bob")
    before = dump(db_path)
    assert cli("lock", "1", "2", "--user", "alice").code == 4
    assert cli("confirm", "1", "--user", "alice").code == 5
    assert dump(db_path) == before


@frozen(START)
def test_an_idempotent_reconfirm_writes_no_event(cli):
    cli("lock", "1", "--user", "alice")
    cli("confirm", "1", "--user", "alice")
    cli("confirm", "1", "--user", "alice")
    assert after_init(cli) == [("1", "lock", "alice"), ("1", "confirm", "alice")]


def test_replacing_a_lapsed_lock_records_its_expiry_at_the_deadline(cli):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice", "--ttl", "10")
        clock.tick(25)
        cli("lock", "1", "--user", "bob")
        events = cli("history", "1", "--json").json()[1:]
    assert [(e["at"], e["action"], e["user"]) for e in events] == [
        ("2026-01-01T12:00:00Z", "lock", "alice"),
        ("2026-01-01T12:00:10Z", "expire", "alice"),
        ("2026-01-01T12:00:25Z", "lock", "bob"),
    ]


def test_a_holder_relocking_a_lapsed_lock_is_expire_then_lock_not_extend(cli):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice", "--ttl", "10")
        clock.tick(10)
        cli("lock", "1", "--user", "alice")
        assert after_init(cli) == [
            ("1", "lock", "alice"),
            ("1", "expire", "alice"),
            ("1", "lock", "alice"),
        ]


def test_an_untouched_lapsed_lock_shows_as_expire_after_the_lock_it_ends(cli, db_path):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice", "--ttl", "10")
        clock.tick(5)
        cli("lock", "2", "--user", "bob", "--ttl", "60")
        clock.tick(20)
        cli("lock", "3", "--user", "carol")
        before = dump(db_path)
        events = cli("history", "--json").json()[5:]
        assert dump(db_path) == before, "history only reads"
    assert [(e["at"], e["seat"], e["action"], e["user"]) for e in events] == [
        ("2026-01-01T12:00:00Z", "1", "lock", "alice"),
        ("2026-01-01T12:00:05Z", "2", "lock", "bob"),
        ("2026-01-01T12:00:10Z", "1", "expire", "alice"),
        ("2026-01-01T12:00:25Z", "3", "lock", "carol"),
    ]


def test_a_live_lock_shows_no_expiry_yet(cli):
    with frozen(START):
        cli("lock", "1", "--user", "alice", "--ttl", "10")
    with frozen("2026-01-01T12:00:09Z"):
        assert after_init(cli) == [("1", "lock", "alice")]


@frozen(START)
def test_history_filters_by_seat_and_user(cli):
    cli("lock", "1", "2", "--user", "alice")
    cli("lock", "3", "--user", "bob")
    assert actions(cli, "2", "3") == [
        ("2", "add", None),
        ("3", "add", None),
        ("2", "lock", "alice"),
        ("3", "lock", "bob"),
    ]
    assert actions(cli, "--user", "bob") == [("3", "lock", "bob")]


def test_history_since_is_inclusive(cli):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice")
        clock.tick(10)
        cli("lock", "2", "--user", "alice")
        clock.tick(10)
        cli("lock", "3", "--user", "alice")
        assert actions(cli, "--since", "2026-01-01T12:00:10Z") == [
            ("2", "lock", "alice"),
            ("3", "lock", "alice"),
        ]
        assert actions(cli, "--since", "@1767268820") == [("3", "lock", "alice")]


def test_history_since_a_date_starts_at_that_midnight_utc(cli):
    with frozen("2026-01-01T23:59:59Z") as clock:
        cli("lock", "1", "--user", "alice")
        clock.tick(1)  # 2026-01-02T00:00:00Z
        cli("lock", "2", "--user", "alice")
        assert actions(cli, "--since", "2026-01-02") == [("2", "lock", "alice")]
        assert actions(cli, "--since", "2026-01-02t00:00:00z") == [("2", "lock", "alice")]


def test_relocking_with_a_shorter_ttl_is_recorded_as_shorten_and_check_accepts_it(cli):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice", "--ttl", "300")
        clock.tick(5)
        cli("lock", "1", "--user", "alice", "--ttl", "60")
        clock.tick(5)
        cli("lock", "1", "--user", "alice", "--ttl", "300")
        events = cli("history", "1", "--json").json()[1:]
        assert [(e["action"], e["expires_at"]) for e in events] == [
            ("lock", "2026-01-01T12:05:00Z"),
            ("shorten", "2026-01-01T12:01:05Z"),
            ("extend", "2026-01-01T12:05:10Z"),
        ]
        assert cli("check").out == "ok\n"


@frozen(START)
def test_history_limit_keeps_the_last_matching_events(cli):
    cli("lock", "1", "2", "3", "--user", "alice")
    assert actions(cli, "--limit", "2") == [("2", "lock", "alice"), ("3", "lock", "alice")]
    assert actions(cli, "--user", "alice", "--limit", "1") == [("3", "lock", "alice")]
    assert actions(cli, "--limit", "0") == []


def test_history_of_an_unknown_seat_is_exit_3(cli):
    run = cli("history", "1", "99", "--json")
    assert (run.code, run.error()["error"]) == (3, "not_found")


@pytest.mark.parametrize("args", [["--since", "yesterday"], ["--limit", "-1"], ["bad label"]])
def test_bad_history_filters_are_usage_errors(cli, args):
    run = cli("history", *args)
    assert run.code == 2
    assert run.err.startswith("error: ")

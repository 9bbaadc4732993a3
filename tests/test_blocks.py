"""Blocked seats: off sale in one event, refused by lock, replayed by check."""

from __future__ import annotations

import pytest

from helpers import START, dump, frozen

pytestmark = pytest.mark.usefixtures("venue_db")


def seat(cli, label: str, *args: str) -> dict:
    return next(s for s in cli("seats", "--json", *args).json() if s["seat"] == label)


@frozen(START)
def test_block_makes_a_seat_blocked(cli):
    run = cli("block", "3", "--json")
    assert run.code == 0
    assert run.json()["seats"][0]["status"] == "blocked"
    assert seat(cli, "3")["status"] == "blocked"


@frozen(START)
def test_block_prints_one_line_per_seat(cli):
    assert cli("block", "3", "4").out == "blocked seat 3\nblocked seat 4\n"


@frozen(START)
def test_lock_refuses_a_blocked_seat_with_exit_4_blocked(cli, db_path):
    cli("block", "3", "--reason", "camera")
    before = dump(db_path)
    run = cli("lock", "3", "--user", "alice", "--json")
    assert run.code == 4
    assert run.error()["error"] == "blocked"
    assert run.error()["seats"] == [{"seat": "3", "reason": "blocked"}]
    assert "camera" in run.error()["message"]
    assert dump(db_path) == before


@frozen(START)
def test_blocking_a_live_locked_seat_is_refused_with_reason_locked(cli, db_path):
    cli("lock", "3", "--user", "alice")
    before = dump(db_path)
    run = cli("block", "3", "--json")
    assert (run.code, run.error()["error"]) == (4, "locked")
    assert dump(db_path) == before


@frozen(START)
def test_blocking_a_booked_seat_is_refused_with_reason_booked(cli):
    cli("lock", "3", "--user", "alice")
    cli("confirm", "3", "--user", "alice")
    run = cli("block", "3", "--json")
    assert (run.code, run.error()["error"]) == (4, "booked")


@frozen(START)
def test_block_is_all_or_nothing(cli, db_path):
    cli("lock", "4", "--user", "alice")
    before = dump(db_path)
    assert cli("block", "3", "4").code == 4
    assert dump(db_path) == before
    assert seat(cli, "3")["status"] == "available"


def test_a_lapsed_lock_does_not_stop_a_block(cli):
    with frozen(START) as clock:
        cli("lock", "3", "--user", "alice", "--ttl", "5")
        clock.tick(5)
        assert cli("block", "3").code == 0
        actions = [e["action"] for e in cli("history", "3", "--json").json()]
        assert actions == ["add", "lock", "expire", "block"]
        assert cli("check").out == "ok\n"


@frozen(START)
def test_blocking_a_blocked_seat_again_changes_nothing(cli, db_path):
    cli("block", "3", "--reason", "camera")
    before = dump(db_path)
    assert cli("block", "3", "--reason", "other").code == 0
    assert dump(db_path) == before


@frozen(START)
def test_unblock_puts_the_seat_back_on_sale(cli):
    cli("block", "3")
    run = cli("unblock", "3")
    assert (run.code, run.out) == (0, "unblocked seat 3\n")
    assert cli("lock", "3", "--user", "alice").code == 0


@frozen(START)
def test_unblocking_a_seat_that_is_not_blocked_changes_nothing(cli, db_path):
    before = dump(db_path)
    assert cli("unblock", "3").code == 0
    assert dump(db_path) == before


@frozen(START)
def test_unblock_of_a_seat_that_is_not_blocked_says_so(cli):
    cli("block", "4")
    run = cli("unblock", "3", "4")
    assert (run.code, run.out) == (0, "seat 3 was not blocked\nunblocked seat 4\n")


@frozen(START)
def test_unblock_of_a_locked_seat_says_it_was_not_blocked_and_keeps_the_lock(cli):
    cli("lock", "3", "--user", "alice")
    assert cli("unblock", "3").out == "seat 3 was not blocked\n"
    assert seat(cli, "3")["locked_by"] == "alice"


@frozen(START)
def test_unblock_of_an_unknown_seat_is_exit_3_and_changes_nothing(cli, db_path):
    cli("block", "3")
    before = dump(db_path)
    assert cli("unblock", "3", "Z9").code == 3
    assert dump(db_path) == before


@frozen(START)
def test_blocks_are_per_event(cli):
    cli("event", "add", "gala")
    cli("block", "3", "--event", "gala")
    assert seat(cli, "3", "--event", "gala")["status"] == "blocked"
    assert seat(cli, "3")["status"] == "available"


@frozen(START)
def test_seats_status_blocked_lists_only_blocked_seats(cli):
    cli("block", "2", "4")
    cli("lock", "1", "--user", "alice")
    assert [s["seat"] for s in cli("seats", "--status", "blocked", "--json").json()] == ["2", "4"]


@frozen(START)
def test_history_records_block_and_unblock_with_the_reason(cli):
    cli("block", "3", "--reason", "camera position")
    cli("unblock", "3")
    events = cli("history", "3", "--json").json()
    assert [(e["action"], e["reason"]) for e in events] == [
        ("add", None),
        ("block", "camera position"),
        ("unblock", None),
    ]
    assert "camera position" in cli("history", "3").out


@frozen(START)
def test_confirm_of_a_blocked_seat_is_refused_with_reason_blocked(cli):
    cli("block", "3")
    run = cli("confirm", "3", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (5, "blocked")


@frozen(START)
def test_check_passes_after_blocks_and_unblocks(cli):
    cli("block", "1", "2", "--reason", "press")
    cli("unblock", "1")
    cli("lock", "1", "--user", "alice")
    assert cli("check").out == "ok\n"


@pytest.mark.sqlite_only
@frozen(START)
def test_check_reports_a_lock_recorded_over_a_block(cli, db_path):
    import sqlite3

    cli("block", "3")
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO events (at, seat, action, user, expires_at, show)"
        " VALUES (1767268800, '3', 'lock', 'eve', 1767268860, 'default')"
    )
    conn.commit()
    conn.close()
    problems = cli("check", "--json").json()["problems"]
    assert any("locked by eve while blocked" in p for p in problems)


def test_a_reason_with_control_characters_is_a_usage_error(cli):
    run = cli("block", "3", "--reason", "a\nb")
    assert run.code == 2
    assert run.err.startswith("error: invalid --reason")


@frozen(START)
def test_seats_table_colours_blocked_seats_too(venue_db):
    from seatctl import Venue
    from seatctl.cli.output import seats_table

    with Venue.open(venue_db) as venue:
        venue.block(["3"])
        table = seats_table(venue.seats(), colour=True)
    assert "blocked" in table

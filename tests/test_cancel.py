"""The box office on the command line (issue 21), on both backends: `cancel` a booking,
`--by` (and $SEATCTL_BY) on every command that changes a seat, batch included, `history
--by`, `token add --role`; `check`, `summary` and `event list` after cancellations."""

from __future__ import annotations

import io
import sys

import pytest

from helpers import START, dump, frozen

# `cancel` and `by` are written to and read from each backend's history.
pytestmark = pytest.mark.backend


@pytest.fixture
def booked(cli, venue_db):
    """Seat 3 booked by alice (sold by clerk1 at the counter)."""
    with frozen(START):
        cli("lock", "3", "--user", "alice", "--by", "clerk1")
        cli("confirm", "3", "--user", "alice", "--by", "clerk1")
    return venue_db


def last_event(cli, seat: str) -> dict:
    return cli("history", seat, "--json").json()[-1]


@frozen(START)
def test_cancel_makes_a_booked_seat_available(cli, booked):
    done = cli("cancel", "3", "--json")
    assert done.code == 0
    assert done.json()["seats"][0]["status"] == "available"
    assert cli("seats", "--status", "available", "--json").json()[2]["seat"] == "3"


@frozen(START)
def test_cancel_records_the_customer_the_reason_and_by(cli, booked):
    cli("cancel", "3", "--reason", "refund 1234", "--by", "clerk2")
    entry = last_event(cli, "3")
    assert (entry["action"], entry["user"], entry["reason"], entry["by"]) == (
        "cancel",
        "alice",
        "refund 1234",
        "clerk2",
    )


@frozen(START)
def test_cancel_prints_what_it_did(cli, booked):
    assert cli("cancel", "3").out == "cancelled seat 3\n"


@frozen(START)
def test_cancelling_a_seat_that_is_not_booked_exits_5_and_changes_nothing(cli, booked):
    before = dump(booked)
    refused = cli("cancel", "3", "2", "--json")
    assert refused.code == 5
    assert refused.error()["error"] == "not_booked"
    assert refused.error()["seats"] == [{"seat": "2", "reason": "not_booked"}]
    assert dump(booked) == before


@frozen(START)
def test_cancelling_an_unknown_seat_exits_3(cli, booked):
    refused = cli("cancel", "99")
    assert (refused.code, refused.err) == (3, "error: seat 99 does not exist\n")


@frozen(START)
def test_cancelling_leaves_another_seats_lock_alone(cli, booked):
    cli("lock", "4", "--user", "alice")
    cli("cancel", "3")
    assert [s["seat"] for s in cli("seats", "--user", "alice", "--json").json()] == ["4"]


@frozen(START)
def test_cancel_takes_an_event(cli, booked):
    cli("event", "add", "gala")
    cli("lock", "3", "--user", "bob", "--event", "gala")
    cli("confirm", "3", "--user", "bob", "--event", "gala")
    assert cli("cancel", "3", "--event", "gala").code == 0
    assert cli("seats", "--status", "booked", "--json").json()[0]["booked_by"] == "alice"


@frozen(START)
def test_check_replays_cancellations(cli, booked):
    cli("cancel", "3", "--reason", "refund")
    cli("lock", "3", "--user", "bob")
    cli("confirm", "3", "--user", "bob")
    cli("cancel", "3")
    assert cli("check").out == "ok\n"


@frozen(START)
def test_summary_and_event_list_count_a_cancelled_seat_available(cli, booked):
    cli("cancel", "3")
    assert cli("summary", "--json").json()["available"] == 5
    listed = cli("event", "list", "--json").json()[0]
    assert (listed["available"], listed["booked"]) == (5, 0)


@frozen(START)
def test_by_comes_from_seatctl_by(cli, venue_db, monkeypatch):
    monkeypatch.setenv("SEATCTL_BY", "clerk3")
    cli("block", "5", "--reason", "camera")
    assert last_event(cli, "5")["by"] == "clerk3"


@frozen(START)
def test_without_by_nobody_is_recorded(cli, venue_db):
    cli("lock", "2", "--user", "alice")
    assert last_event(cli, "2")["by"] is None


@frozen(START)
def test_an_operator_acting_as_the_user_records_no_by(cli, venue_db):
    cli("lock", "2", "--user", "alice", "--by", "alice")
    assert last_event(cli, "2")["by"] is None


@frozen(START)
def test_an_invalid_by_exits_2(cli, venue_db):
    refused = cli("lock", "2", "--user", "alice", "--by", " ")
    assert refused.code == 2


@frozen(START)
def test_history_by_shows_only_what_that_operator_did(cli, booked):
    cli("lock", "4", "--user", "bob")
    cli("unblock", "5", "--by", "clerk2")  # changes nothing: not recorded
    assert [
        (e["seat"], e["action"]) for e in cli("history", "--by", "clerk1", "--json").json()
    ] == [("3", "lock"), ("3", "confirm")]


@frozen(START)
def test_history_shows_a_by_column_when_someone_acted_for_another(cli, booked):
    heading = cli("history", "3").out.splitlines()[0].split()
    assert heading == ["AT", "SEAT", "ACTION", "USER", "BY", "EXPIRES"]


@frozen(START)
def test_batch_lines_take_by(cli, venue_db, monkeypatch):
    lines = "lock 1 --user carol --by clerk4\nconfirm 1 --user carol --by clerk4\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    assert cli("batch").code == 0
    assert [e["by"] for e in cli("history", "1", "--json").json()[1:]] == ["clerk4", "clerk4"]


# --- token roles ----------------------------------------------------------------------------


def test_token_add_makes_a_buyer_token_by_default(cli, venue_db):
    cli("token", "add", "alice")
    assert cli("token", "list", "--json").json()[0]["role"] == "buyer"


def test_token_add_role_staff_is_listed_as_staff(cli, venue_db):
    cli("token", "add", "clerk1", "--role", "staff")
    assert cli("token", "list").out.splitlines()[1].split()[:3] == ["1", "clerk1", "staff"]


def test_adding_a_token_is_recorded_in_every_events_history(cli, venue_db):
    cli("event", "add", "gala")
    cli("token", "add", "clerk1", "--role", "staff")
    for event in ("default", "gala"):
        entry = cli("history", "--event", event, "--json").json()[-1]
        assert (entry["action"], entry["seat"], entry["user"], entry["reason"]) == (
            "token_add",
            None,
            "clerk1",
            "staff",
        )


def test_an_unknown_role_exits_2_and_adds_no_token(cli, venue_db):
    refused = cli("token", "add", "alice", "--role", "admin")
    assert (refused.code, refused.err) == (2, "error: invalid --role 'admin': use buyer or staff\n")
    assert cli("token", "list", "--json").json() == []


def test_check_passes_with_token_entries_in_the_history(cli, venue_db):
    cli("token", "add", "clerk1", "--role", "staff")
    assert cli("check").out == "ok\n"

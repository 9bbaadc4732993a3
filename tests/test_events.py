"""Events (shows): each has its own seat states and history over the one seat map."""

from __future__ import annotations

import pytest

from helpers import START, dump, frozen
from seatctl import Venue

# The backend's part: each event's seat states are each backend's tables and queries.
pytestmark = [pytest.mark.backend, pytest.mark.usefixtures("venue_db")]


def statuses(cli, *args: str) -> dict[str, str]:
    return {s["seat"]: s["status"] for s in cli("seats", "--json", *args).json()}


@frozen(START)
def test_event_add_makes_every_seat_available_in_the_new_event(cli):
    cli("lock", "1", "--user", "alice")
    assert cli("event", "add", "gala").code == 0
    assert set(statuses(cli, "--event", "gala").values()) == {"available"}


@frozen(START)
def test_event_add_json_reports_name_title_and_start(cli):
    run = cli(
        "event",
        "add",
        "gala",
        "--title",
        "Gala night",
        "--starts",
        "2026-02-01T19:00:00Z",
        "--json",
    )
    assert run.code == 0
    fields = run.json()
    assert (fields["event"], fields["title"], fields["starts_at"]) == (
        "gala",
        "Gala night",
        "2026-02-01T19:00:00Z",
    )


@frozen(START)
def test_a_lock_in_one_event_leaves_the_seat_available_in_another(cli):
    cli("event", "add", "gala")
    assert cli("lock", "1", "--user", "alice", "--event", "gala").code == 0
    assert statuses(cli, "--event", "gala")["1"] == "locked"
    assert statuses(cli)["1"] == "available"
    assert cli("lock", "1", "--user", "bob").code == 0


@frozen(START)
def test_seatctl_event_environment_variable_selects_the_event(cli, monkeypatch):
    cli("event", "add", "gala")
    monkeypatch.setenv("SEATCTL_EVENT", "gala")
    cli("lock", "2", "--user", "alice")
    monkeypatch.delenv("SEATCTL_EVENT")
    assert statuses(cli, "--event", "gala")["2"] == "locked"
    assert statuses(cli)["2"] == "available"


@pytest.mark.parametrize(
    "args",
    [
        ["seats"],
        ["lock", "1", "--user", "a"],
        ["confirm", "1", "--user", "a"],
        ["release", "1", "--user", "a"],
        ["block", "1"],
        ["unblock", "1"],
        ["history"],
        ["summary"],
        ["lock", "--best", "2", "--user", "a"],
    ],
)
def test_an_unknown_event_is_exit_3_not_found_naming_it(cli, db_path, args):
    before = dump(db_path)
    run = cli(*args, "--event", "nope", "--json")
    assert run.code == 3
    assert run.error()["error"] == "not_found"
    assert "event nope" in run.error()["message"]
    assert dump(db_path) == before


def test_the_map_of_an_unknown_event_is_exit_3_naming_it(cli, db_path):
    run = cli("map", "--event", "nope")
    assert run.code == 3
    assert run.err == "error: event nope does not exist (see 'seatctl event list')\n"


def test_an_invalid_event_name_is_a_usage_error(cli):
    run = cli("event", "add", "no spaces")
    assert run.code == 2
    assert run.err.startswith("error: invalid event name")


def test_adding_an_event_twice_is_a_usage_error_and_changes_nothing(cli, db_path):
    cli("event", "add", "gala", "--title", "first")
    before = dump(db_path)
    run = cli("event", "add", "gala", "--title", "second")
    assert (run.code, run.err) == (2, "error: event gala already exists\n")
    assert dump(db_path) == before


def test_event_add_refuses_a_bad_start_instant(cli):
    run = cli("event", "add", "gala", "--starts", "tomorrow")
    assert run.code == 2
    assert run.err.startswith("error: invalid --starts 'tomorrow': not an ISO 8601 instant")


@frozen(START)
def test_event_list_counts_each_events_seats_by_status(cli):
    cli("event", "add", "gala", "--title", "Gala")
    cli("lock", "1", "2", "--user", "alice", "--event", "gala")
    cli("confirm", "1", "--user", "alice", "--event", "gala")
    cli("block", "5", "--event", "gala")
    listed = cli("event", "list", "--json").json()
    assert listed == [
        {
            "event": "default",
            "title": None,
            "starts_at": None,
            "available": 5,
            "locked": 0,
            "booked": 0,
            "blocked": 0,
            "total": 5,
            "occupancy": 0.0,
            "stage": None,
        },
        {
            "event": "gala",
            "title": "Gala",
            "starts_at": None,
            "available": 2,
            "locked": 1,
            "booked": 1,
            "blocked": 1,
            "total": 5,
            "occupancy": 20.0,
            "stage": None,
        },
    ]


def test_event_list_counts_a_lapsed_lock_as_available(cli):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice", "--ttl", "5")
        clock.tick(5)
        default = cli("event", "list", "--json").json()[0]
    assert (default["available"], default["locked"]) == (5, 0)


@frozen(START)
def test_event_list_as_text_is_a_table(cli):
    cli("event", "add", "gala", "--title", "Gala night")
    lines = cli("event", "list").out.splitlines()
    assert lines[0].split() == [
        "EVENT",
        "STARTS",
        "AVAILABLE",
        "LOCKED",
        "BOOKED",
        "BLOCKED",
        "TOTAL",
        "TITLE",
    ]
    assert lines[2].split() == ["gala", "5", "0", "0", "0", "5", "Gala", "night"]


@frozen(START)
def test_history_shows_only_the_selected_events_changes_and_the_seats_adds(cli):
    cli("event", "add", "gala")
    cli("lock", "1", "--user", "alice", "--event", "gala")
    cli("lock", "2", "--user", "bob")
    gala = cli("history", "--event", "gala", "--json").json()
    assert [(e["seat"], e["action"]) for e in gala if e["action"] != "add"] == [("1", "lock")]
    assert {e["event"] for e in gala} == {"gala"}
    assert len([e for e in gala if e["action"] == "add"]) == 5
    default = cli("history", "--json").json()
    assert [(e["seat"], e["action"]) for e in default if e["action"] != "add"] == [("2", "lock")]


@frozen(START)
def test_seats_added_later_are_available_in_every_event(cli):
    cli("event", "add", "gala")
    cli("init", "X1")
    assert statuses(cli, "--event", "gala")["X1"] == "available"
    assert cli("lock", "X1", "--user", "alice", "--event", "gala").code == 0


@frozen(START)
def test_batch_lines_take_the_event_option(cli, monkeypatch):
    import io

    cli("event", "add", "gala")
    monkeypatch.setattr(
        "sys.stdin", io.TextIOWrapper(io.BytesIO(b"lock 3 --user a --event gala\n"))
    )
    run = cli("batch")
    assert '"exit": 0' in run.out
    assert statuses(cli, "--event", "gala")["3"] == "locked"
    assert statuses(cli)["3"] == "available"


@frozen(START)
def test_check_replays_each_event_on_its_own(cli):
    cli("event", "add", "gala")
    cli("lock", "1", "--user", "alice", "--event", "gala")
    cli("lock", "1", "--user", "bob")
    cli("confirm", "1", "--user", "bob")
    cli("block", "2", "--event", "gala", "--reason", "camera")
    assert cli("check").out == "ok\n"


def test_the_python_api_takes_an_event_and_defaults_to_default(venue_db):
    with frozen(START), Venue.open(venue_db) as venue:
        venue.add_event("gala")
        venue.lock(["1"], user="alice", event="gala")
        venue.lock(["2"], user="bob")
        gala = {v.seat: v.status.value for v in venue.seats(event="gala")}
        default = {v.seat: v.status.value for v in venue.seats()}
    assert (gala["1"], gala["2"]) == ("locked", "available")
    assert (default["1"], default["2"]) == ("available", "locked")

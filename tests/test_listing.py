"""`seatctl seats`: states, filters, natural order, table and JSON."""

from __future__ import annotations

import pytest

from helpers import START, frozen, seat_object
from seatctl.core.validate import natural_key

# The backend's part: the listing's filters and order are each backend's queries.
pytestmark = pytest.mark.backend


@pytest.fixture
def busy_venue(cli, venue_db):
    """Seat 1 locked by alice, 2 booked by alice, 3 locked by bob, 4 and 5 free."""
    with frozen(START):
        cli("lock", "1", "2", "--user", "alice")
        cli("confirm", "2", "--user", "alice")
        cli("lock", "3", "--user", "bob", "--ttl", "30")


@frozen(START)
def test_seats_json_lists_every_seat_object_in_label_order(cli, busy_venue):
    assert cli("seats", "--json").json() == [
        seat_object(
            "1",
            "locked",
            locked_by="alice",
            expires_at="2026-01-01T12:01:00Z",
            held_since="2026-01-01T12:00:00Z",
        ),
        seat_object("2", "booked", booked_by="alice", booked_at="2026-01-01T12:00:00Z"),
        seat_object(
            "3",
            "locked",
            locked_by="bob",
            expires_at="2026-01-01T12:00:30Z",
            held_since="2026-01-01T12:00:00Z",
        ),
        *(seat_object(n) for n in ("4", "5")),
    ]


@frozen(START)
def test_seats_prints_an_aligned_table_without_colour_when_piped(cli, busy_venue):
    assert cli("seats").out.splitlines() == [
        "SEAT  STATUS     HOLDER  UNTIL",
        "1     locked     alice   2026-01-01T12:01:00Z",
        "2     booked     alice",
        "3     locked     bob     2026-01-01T12:00:30Z",
        "4     available",
        "5     available",
    ]


@frozen(START)
def test_seats_status_filter_shows_only_that_state(cli, busy_venue):
    seats = {
        status: [s["seat"] for s in cli("seats", "--status", status, "--json").json()]
        for status in ("available", "locked", "booked")
    }
    assert seats == {"available": ["4", "5"], "locked": ["1", "3"], "booked": ["2"]}


@frozen(START)
def test_seats_user_shows_the_users_live_locks_and_bookings(cli, busy_venue):
    assert [s["seat"] for s in cli("seats", "--user", "alice", "--json").json()] == ["1", "2"]


def test_seats_user_leaves_out_lapsed_locks(cli, busy_venue):
    with frozen("2026-01-01T12:01:00Z"):
        assert [s["seat"] for s in cli("seats", "--user", "alice", "--json").json()] == ["2"]


@frozen(START)
def test_seats_user_filter_does_not_read_seatctl_user(cli, busy_venue, monkeypatch):
    monkeypatch.setenv("SEATCTL_USER", "bob")
    assert len(cli("seats", "--json").json()) == 5


def test_labels_sort_naturally():
    labels = ["A10", "10", "b", "A2", "2", "A", "B1", "1.10", "1.9", "a1"]
    assert sorted(labels, key=natural_key) == [
        "1.9",
        "1.10",
        "2",
        "10",
        "A",
        "A2",
        "A10",
        "B1",
        "a1",
        "b",
    ]


def test_listings_use_natural_order(cli, db_path):
    cli("init", "--seats", "0", "B10", "A10", "A2", "10", "2", "B1")
    seats = [s["seat"] for s in cli("seats", "--json").json()]
    assert seats == ["2", "10", "A2", "A10", "B1", "B10"]


def test_labels_are_case_sensitive(cli, db_path):
    cli("init", "--seats", "0", "a1", "A1")
    assert [s["seat"] for s in cli("seats", "--json").json()] == ["A1", "a1"]
    assert cli("lock", "a1", "--user", "x").code == 0
    assert cli("lock", "A1", "--user", "y").code == 0


def test_the_status_column_is_coloured_only_when_asked(busy_venue, venue_db):
    from seatctl import Venue
    from seatctl.cli import output as render

    with frozen(START), Venue.open(venue_db) as venue:
        views = venue.seats()
    assert "\x1b[" in render.seats_table(views, colour=True)
    assert "\x1b[" not in render.seats_table(views, colour=False)


def test_no_color_turns_colour_off_even_on_a_terminal(monkeypatch):
    from seatctl.cli import app as cli

    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert cli._colour()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli._colour()


@frozen(START)
def test_seats_csv_has_a_header_and_one_row_per_seat(cli, busy_venue):
    lines = cli("seats", "--csv").out.splitlines()
    assert lines[0] == (
        "seat,status,locked_by,expires_at,booked_by,booked_at,section,row,number,category,"
        "held_since"
    )
    assert lines[1] == "1,locked,alice,2026-01-01T12:01:00Z,,,,,,,2026-01-01T12:00:00Z"
    assert lines[2] == "2,booked,,,alice,2026-01-01T12:00:00Z,,,,,"
    assert len(lines) == 6


@frozen(START)
def test_seats_nl_prints_one_seat_object_per_line(cli, busy_venue):
    import json

    run = cli("seats", "--nl", "--status", "locked")
    assert [json.loads(line) for line in run.out.splitlines()] == cli(
        "seats", "--json", "--status", "locked"
    ).json()


@frozen(START)
def test_seats_output_formats_are_exclusive(cli, busy_venue):
    run = cli("seats", "--csv", "--nl")
    assert run.code == 2
    assert run.err == "error: choose one of --json, --csv and --nl\n"


def test_seats_json_streams_large_venues_exactly_like_a_json_array(cli, db_path):
    import json

    cli("init", "--seats", "2500")
    seats = cli("seats", "--json").json()
    assert len(seats) == 2500
    assert cli("seats", "--json").out == json.dumps(seats) + "\n"


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("alice", 5),
        ("山田", 4),  # East Asian wide: two columns each
        ("🎭x", 3),  # an emoji is wide too
        ("q\u0303", 1),  # q with a combining tilde (no precomposed form): one column
        ("e\u0301\u0301", 1),
        ("👩\u200d💻", 4),  # the zero-width joiner takes none
    ],
)
def test_display_width_counts_terminal_columns(text, columns):
    from seatctl.cli.output import display_width

    assert display_width(text) == columns


@frozen(START)
def test_tables_stay_aligned_with_wide_and_combining_characters(cli, venue_db):
    from seatctl.cli.output import display_width

    for label, user in zip("1234", ["山田太郎", "🎭 fan", "q\u0303uinn", "bob"], strict=True):
        cli("lock", label, "--user", user)
    for table, heading in ((cli("seats").out, "UNTIL"), (cli("history").out, "EXPIRES")):
        header, *rows = table.splitlines()
        column = display_width(header[: header.index(heading)])
        deadlines = [row[: row.rindex("2026")] for row in rows if "12:01:00Z" in row]
        assert len(deadlines) == 4
        assert {display_width(before) for before in deadlines} == {column}, table


def test_the_python_api_filters_on_a_status_given_by_its_name(busy_venue, venue_db):
    from seatctl import Status, Venue

    with frozen(START), Venue.open(venue_db) as venue:
        by_name = [view.seat for view in venue.seats(status="locked")]
        by_member = [view.seat for view in venue.seats(status=Status.LOCKED)]
    assert by_name == by_member != []


def test_the_python_api_refuses_an_unknown_status_by_name(busy_venue, venue_db):
    from seatctl import FieldError, Venue

    with Venue.open(venue_db) as venue, pytest.raises(FieldError) as refused:
        venue.seats(status="sold")
    assert (refused.value.field, refused.value.exit_code) == ("status", 2)
    assert str(refused.value) == (
        "invalid status 'sold': use one of available, locked, booked, blocked"
    )

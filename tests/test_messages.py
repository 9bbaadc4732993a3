"""Messages in one voice: the option parser's complaints, global options where people put
them, values from the environment named by their variable, and --json on every command."""

from __future__ import annotations

import json

import pytest

from helpers import LEAVES, START, dump, frozen, options_of, run_cli, run_process
from seatctl import Venue
from seatctl.cli import main

# --- The option parser, in seatctl's words --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["lock", "3", "--user", "alice", "--ttl", "abc"],
            "invalid --ttl 'abc': use whole seconds from 1 to 86400 (see 'seatctl lock --help')",
        ),
        (
            ["seats", "--status", "gone"],
            "invalid --status 'gone': use available, locked, booked or blocked"
            " (see 'seatctl seats --help')",
        ),
        (
            ["init", "--seats", "many"],
            "invalid --seats 'many': use a number from 0 to 100000 (see 'seatctl init --help')",
        ),
        (
            ["init", "--max-hold", "1h"],
            "invalid --max-hold '1h': use 0 (no cap) or whole seconds from 1 to 86400"
            " (see 'seatctl init --help')",
        ),
        (
            ["token", "revoke", "first"],
            "invalid ID 'first': use a token id, as 'seatctl token list' shows"
            " (see 'seatctl token revoke --help')",
        ),
    ],
)
def test_a_bad_value_says_what_a_good_one_is_and_points_at_the_commands_help(
    venue_db, args, message
):
    before = dump(venue_db)
    run = run_cli("--db", venue_db, *args)
    assert (run.code, run.out, run.err) == (2, "", f"error: {message}\n")
    assert dump(venue_db) == before


def test_an_option_without_its_value_names_the_value_it_wants():
    run = run_cli("lock", "3", "--user")
    assert run.err == "error: --user needs a value (USER) (see 'seatctl lock --help')\n"


def test_a_missing_argument_is_named_by_its_metavar():
    run = run_cli("confirm", "--user", "alice")
    assert run.err == "error: 'seatctl confirm' needs SEAT... (see 'seatctl confirm --help')\n"


def test_a_near_miss_of_an_option_suggests_the_option():
    run = run_cli("seats", "--stauts", "booked")
    assert run.err == (
        "error: 'seatctl seats' has no option --stauts; did you mean --status?"
        " (see 'seatctl seats --help')\n"
    )


def test_an_option_of_another_command_suggests_nothing_that_does_not_apply():
    # click would offer --ttl for --status: a lock has no status to filter on.
    run = run_cli("lock", "3", "--user", "alice", "--status", "booked")
    assert run.err == "error: 'seatctl lock' has no option --status (see 'seatctl lock --help')\n"


def test_a_mistyped_command_suggests_the_command():
    run = run_cli("lok", "3")
    assert (run.code, run.err) == (
        2,
        "error: no command 'lok' in 'seatctl'; did you mean lock? (see 'seatctl --help')\n",
    )


def test_extra_arguments_are_named():
    run = run_cli("check", "now", "please")
    assert run.err == "error: unexpected arguments now please (see 'seatctl check --help')\n"


def test_a_flag_given_a_value_says_it_takes_none():
    run = run_cli("seats", "--json=yes")
    assert run.err == "error: --json takes no value (see 'seatctl seats --help')\n"


def test_a_batch_line_gets_the_same_words_without_the_pointer(venue_db):
    run = run_cli("--db", venue_db, "batch", input="lock 1 --user a --ttl abc\n")
    line = json.loads(run.out)
    assert line["message"] == "invalid --ttl 'abc': use whole seconds from 1 to 86400"


# --- Global options after the command -------------------------------------------------------


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_db_after_the_command_is_the_db_before_it(venue_db, capsys):
    after = run_main(capsys, "seats", "--db", venue_db, "--json")
    before = run_main(capsys, "--db", venue_db, "seats", "--json")
    assert after == before
    assert after[0] == 0


@frozen(START)
def test_db_after_a_change_command_changes_that_database(venue_db, capsys):
    code, out, _ = run_main(capsys, "lock", "1", "--user", "alice", "--db", venue_db)
    assert (code, out) == (0, "locked seat 1 for alice until 2026-01-01T12:01:00Z\n")


@pytest.mark.sqlite_only
def test_db_equals_form_and_the_last_db_given_wins(venue_db, tmp_path, capsys):
    other = str(tmp_path / "other.db")
    Venue.init(other, seats=1)
    code, out, _ = run_main(capsys, "--db", venue_db, "seats", f"--db={other}", "--json")
    assert (code, [s["seat"] for s in json.loads(out)]) == (0, ["1"])


@pytest.mark.sqlite_only
def test_an_options_value_that_reads_db_stays_that_options_value(venue_db, capsys):
    code, _, _ = run_main(capsys, "block", "2", "--reason", "--db", "--db", venue_db)
    assert code == 0
    with Venue.open(venue_db) as venue:
        assert venue.history(["2"])[-1].reason == "--db"


def test_db_after_the_command_without_its_value_says_so():
    run = run_cli("seats", "--db")
    assert (run.code, run.err) == (2, "error: --db needs a value (PATH) (see 'seatctl --help')\n")


def test_a_subcommand_of_a_group_takes_db_after_it_too(venue_db, capsys):
    code, out, _ = run_main(capsys, "event", "list", "--db", venue_db, "--json")
    assert (code, [e["event"] for e in json.loads(out)]) == (0, ["default"])


# --- Values from the environment ------------------------------------------------------------


def test_an_empty_seatctl_user_is_named_as_such(venue_db):
    run = run_cli("--db", venue_db, "lock", "1", env={"SEATCTL_USER": ""})
    assert (run.code, run.err) == (
        2,
        "error: SEATCTL_USER is empty: set it to a user name, or give --user USER\n",
    )


def test_a_bad_seatctl_user_names_the_variable(venue_db):
    before = dump(venue_db)
    run = run_cli("--db", venue_db, "lock", "1", env={"SEATCTL_USER": "a\tb"})
    assert run.code == 2
    assert run.err.startswith("error: SEATCTL_USER: invalid user 'a\\tb'")
    assert dump(venue_db) == before


def test_the_same_bad_user_on_the_command_line_is_not_blamed_on_the_variable(venue_db):
    run = run_cli("--db", venue_db, "lock", "1", "--user", "a\tb")
    assert run.err.startswith("error: invalid user 'a\\tb'")


def test_a_bad_seatctl_event_names_the_variable(venue_db):
    run = run_cli("--db", venue_db, "seats", env={"SEATCTL_EVENT": "no such"})
    assert run.code == 2
    assert run.err.startswith("error: SEATCTL_EVENT: invalid event name 'no such'")


def test_an_out_of_range_seatctl_now_says_the_range(venue_db):
    run = run_cli("--db", venue_db, "seats", env={"SEATCTL_NOW": "@-1"})
    assert (run.code, run.err) == (
        2,
        "error: SEATCTL_NOW '@-1': instants run from 1970-01-01T00:00:00Z"
        " to 9999-12-30T23:59:59Z\n",
    )


def test_a_since_out_of_range_says_the_range(venue_db):
    run = run_cli("--db", venue_db, "history", "--since", "10000-01-01T00:00:00Z")
    assert run.code == 2
    assert run.err.startswith("error: invalid --since '10000-01-01T00:00:00Z': ")


# --- --json on every command ----------------------------------------------------------------


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[p for p, _ in LEAVES])
def test_every_command_accepts_json(path, command):
    assert "--json" in options_of(command)


@pytest.mark.sqlite_only
def test_init_json_reports_what_it_did(tmp_path):
    db = str(tmp_path / "new.db")
    run = run_cli("--db", db, "init", "--seats", "3", "--ttl", "5", "--json")
    assert json.loads(run.out) == {
        "message": f"initialised {db}: added 3 seats (3 in all); default lock duration 5 s",
        "database": db,
        "added": 3,
        "total": 3,
        "ttl": 5,
        "max_hold": 50,  # a new database's: 10 times its ttl
        "max_seats_per_user": 0,
    }


def test_init_with_ttl_reads_naturally(db_path):
    run = run_cli("--db", db_path, "init", "--seats", "2", "--ttl", "5")
    assert run.out.endswith("added 2 seats (2 in all); default lock duration 5 s\n")
    assert "unless --ttl" not in run.out


@pytest.mark.sqlite_only
def test_backup_json_names_the_database_and_the_copy(venue_db, tmp_path):
    copy = str(tmp_path / "copy.db")
    run = run_cli("--db", venue_db, "backup", copy, "--json")
    assert json.loads(run.out) == {
        "message": f"backed up {venue_db} to {copy}",
        "database": venue_db,
        "dest": copy,
    }


@pytest.mark.sqlite_only
def test_backup_json_reports_a_refusal_as_json(venue_db):
    run = run_cli("--db", venue_db, "backup", venue_db, "--json")
    assert run.code == 6
    assert json.loads(run.err)["error"] == "backup_failed"


def test_map_json_is_the_drawing_without_colour(venue_db):
    run = run_cli("--db", venue_db, "map", "--json")
    drawing = json.loads(run.out)["map"]
    assert "\x1b" not in drawing
    assert ". available" in drawing


def test_batch_json_is_accepted_and_the_lines_stay_json(venue_db):
    run = run_cli("--db", venue_db, "batch", "--json", input="seats --status booked\n")
    assert (run.code, json.loads(run.out)) == (0, {"line": 1, "exit": 0, "seats": []})


def test_serve_json_reports_a_refusal_as_json():
    run = run_process("serve", "--host", "192.0.2.1", "--no-auth", "--json")
    assert run.code == 2
    assert json.loads(run.err)["error"] == "usage"

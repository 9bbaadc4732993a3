"""`seatctl batch`: many commands through one process, one JSON result line per input line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from helpers import START, dump, run_process, seat_object

pytestmark = pytest.mark.usefixtures("venue_db")


def batch(db_path: str, script: str, **env: str):
    run = run_process("--db", db_path, "batch", input=script, env={"SEATCTL_NOW": START, **env})
    return run, [json.loads(line) for line in run.out.splitlines()]


def test_each_line_runs_as_its_own_command_and_reports_one_json_line(db_path):
    run, results = batch(
        db_path,
        "lock 3 --user alice --ttl 30\nconfirm 3 --user alice\nseats --status booked\n",
    )
    assert run.code == 0
    assert results == [
        {
            "line": 1,
            "exit": 0,
            "seats": [
                seat_object(
                    "3",
                    "locked",
                    locked_by="alice",
                    expires_at="2026-01-01T12:00:30Z",
                    held_since="2026-01-01T12:00:00Z",
                )
            ],
        },
        {
            "line": 2,
            "exit": 0,
            "seats": [
                seat_object("3", "booked", booked_by="alice", booked_at="2026-01-01T12:00:00Z")
            ],
        },
        {"line": 3, "exit": 0, "seats": results[1]["seats"]},
    ]


def test_a_refused_line_reports_the_same_codes_as_the_single_command(db_path):
    _, results = batch(db_path, "lock 3 --user alice\nlock 3 --user bob\n")
    assert results[1] == {
        "line": 2,
        "exit": 4,
        "error": "locked",
        "message": "seat 3 is locked by alice until 2026-01-01T12:01:00Z",
        "seats": [{"seat": "3", "reason": "locked"}],
    }


def test_bad_lines_are_reported_as_usage_errors_and_the_batch_goes_on(db_path):
    run, results = batch(
        db_path,
        'bogus 1\nlock "a b" --user x\nlock 1 --frobnicate\nlock 1 --user "open\n'
        "batch\nlock 1 --user alice\n",
    )
    assert run.code == 0
    assert [(r["line"], r["exit"], r.get("error")) for r in results] == [
        (1, 2, "usage"),
        (2, 2, "usage"),
        (3, 2, "usage"),
        (4, 2, "usage"),
        (5, 2, "usage"),
        (6, 0, None),
    ]


def test_blank_lines_and_comments_are_skipped_but_counted(db_path):
    _, results = batch(db_path, "\n# hold one\n   \nlock 1 --user a  # trailing comment\n")
    assert [(r["line"], r["exit"]) for r in results] == [(4, 0)]


def test_each_line_is_its_own_transaction(db_path):
    _, results = batch(db_path, "lock 1 --user a\nlock 1 2 --user b\nlock 2 --user b\n")
    assert [r["exit"] for r in results] == [0, 4, 0]
    listed = run_process("--db", db_path, "seats", "--json", env={"SEATCTL_NOW": START})
    seats = json.loads(listed.out)
    assert [(s["seat"], s["locked_by"]) for s in seats[:2]] == [("1", "a"), ("2", "b")]


def test_history_and_check_lines_carry_their_own_fields(db_path):
    _, results = batch(db_path, "lock 1 --user a\nhistory 1 --limit 1\ncheck\n")
    assert results[1]["events"][0]["action"] == "lock"
    assert results[2] == {"line": 3, "exit": 0, "ok": True, "problems": []}


def test_a_database_problem_stops_the_batch_with_exit_6(tmp_path):
    missing = str(tmp_path / "missing.db")
    run, results = batch(missing, "lock 1 --user a\nlock 2 --user a\n")
    assert run.code == 6
    assert results == [
        {
            "line": 1,
            "exit": 6,
            "error": "no_database",
            "message": f"no database at {missing}: run 'seatctl init' first",
            "seats": [],
        }
    ]


def test_a_batch_of_refusals_leaves_the_database_unchanged(db_path):
    before = dump(db_path)
    run, results = batch(db_path, "confirm 1 --user a\nrelease 2 --user b\nlock 9 --user c\n")
    assert run.code == 0
    assert [r["exit"] for r in results] == [5, 5, 3]
    assert dump(db_path) == before


def test_quotes_in_a_line_work_as_in_a_shell(db_path):
    _, results = batch(db_path, "lock 1 --user \"Mary Ann\"\nlock 2 --user 'O Brien'\n")
    assert [r["seats"][0]["locked_by"] for r in results] == ["Mary Ann", "O Brien"]


def batch_bytes(db_path: str, script: bytes):
    """`batch` fed raw bytes, under a strict UTF-8 locale for stdin and stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    env.update(SEATCTL_NOW=START, PYTHONIOENCODING="utf-8:strict")
    done = subprocess.run(
        [sys.executable, "-m", "seatctl", "--db", db_path, "batch"],
        input=script,
        capture_output=True,
        env=env,
        timeout=120,
    )
    out = done.stdout.decode()
    # On PostgreSQL every write made with SEATCTL_NOW warns once (tests/test_postgres_faults.py).
    err = b"".join(
        line
        for line in done.stderr.splitlines(True)
        if not line.startswith(b"warning: SEATCTL_NOW=")
    )
    return done.returncode, [json.loads(line) for line in out.splitlines()], err


def test_a_hash_inside_a_word_is_part_of_the_word(db_path):
    _, results = batch(db_path, "lock 1 --user alice#2\n")
    assert results[0]["seats"][0]["locked_by"] == "alice#2"


def test_a_hash_inside_a_user_name_names_another_user(db_path):
    _, results = batch(db_path, "lock 1 --user alice\nrelease 1 --user alice#bot\n")
    assert (results[1]["exit"], results[1]["error"]) == (5, "not_holder")


def test_a_hash_after_a_closing_quote_is_part_of_the_word(db_path):
    _, results = batch(db_path, "lock 1 --user 'Mary Ann'#2  # a comment\n")
    assert results[0]["seats"][0]["locked_by"] == "Mary Ann#2"


def test_a_line_that_is_not_valid_utf8_fails_alone_and_the_rest_still_run(db_path):
    code, results, err = batch_bytes(
        db_path, b"lock 1 --user al\xffce\nlock 2 --user bob\n\xfe\xfe\nlock 3 --user bob\n"
    )
    assert (code, err) == (0, b"")
    assert [(r["line"], r["exit"], r.get("error")) for r in results] == [
        (1, 2, "usage"),
        (2, 0, None),
        (3, 2, "usage"),
        (4, 0, None),
    ]
    assert "not valid UTF-8" in results[0]["message"]


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_in_a_batch_prints_one_json_line_and_nothing_else(db_path, flag):
    run, results = batch(db_path, f"lock {flag}\nseats {flag}\nlock 1 --user a {flag}\n")
    assert len(run.out.splitlines()) == 3  # every stdout line parsed as JSON in batch()
    assert [(r["exit"], r["error"]) for r in results] == [(2, "usage")] * 3


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("line", ["lock 1", "token", "token add bob"])
def test_help_in_a_batch_is_refused_the_same_way_by_either_name(db_path, line, flag):
    _, [result] = batch(db_path, f"{line} {flag}\n")
    assert result["message"] == "--help is not available in a batch"


def test_a_command_group_without_its_command_is_one_short_usage_line(db_path):
    _, [result] = batch(db_path, "token\n")
    assert (result["exit"], result["error"]) == (2, "usage")
    assert result["message"] == "'seatctl token' needs a command: add, list, revoke"


def test_unknown_command_names_do_not_each_keep_a_parser():
    from seatctl.cli.app import app, parsers
    from seatctl.cli.batch import run_lines
    from seatctl.cli.common import Invocation

    lines = [f"junk{number} 1\n" for number in range(50)]
    run_lines(lines, io.StringIO(), Invocation(), parsers.subcommand)
    assert len(parsers.built) <= len(app.registered_commands) + 1


def test_a_user_typed_decomposed_in_a_batch_is_the_same_user_as_composed(db_path):
    _, results = batch(db_path, "lock 1 --user Jos\u00e9\nrelease 1 --user Jose\u0301\n")
    assert [r["exit"] for r in results] == [0, 0]

"""Version, help and the exit-code table: what a person meets first."""

from __future__ import annotations

from helpers import run_process
from seatctl import __version__


def test_version_prints_the_version():
    run = run_process("--version")
    assert (run.code, run.out) == (0, f"seatctl {__version__}\n")


def test_help_lists_the_commands_and_the_exit_codes():
    run = run_process("--help")
    assert run.code == 0
    for word in ("init", "seats", "lock", "confirm", "release", "Exit codes:"):
        assert word in run.out
    assert "6  database problem" in run.out


def test_each_command_has_help():
    for command in ("init", "seats", "lock", "confirm", "release"):
        run = run_process(command, "--help")
        assert run.code == 0, command
        assert f"Usage: seatctl {command}" in run.out


def test_no_command_prints_help_and_exits_2():
    run = run_process()
    assert run.code == 2
    assert "Commands" in run.out


def test_a_command_group_without_its_command_is_one_usage_line_naming_its_commands():
    run = run_process("token")
    assert (run.code, run.out) == (2, "")
    assert run.err == (
        "error: 'seatctl token' needs a command: add, list, revoke (see 'seatctl token --help')\n"
    )

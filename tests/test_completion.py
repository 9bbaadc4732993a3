"""Completion: a real bash completes commands, options and values from the database in use.

Each bash test sources the script `seatctl --show-completion` prints (Typer's, for the bash
that runs it), fills COMP_WORDS and COMP_CWORD as bash does when Tab is pressed, calls the
completion function and reads COMPREPLY: the whole path a user's Tab takes.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import START, frozen
from seatctl import Venue

pytestmark = pytest.mark.sqlite_only

BIN = str(Path(sys.executable).parent)  # where this interpreter's `seatctl` script is
MAP = """label,section,row,number,category
A1,Stalls,A,1,premium
A2,Stalls,A,2,premium
B1,Circle,B,1,standard
B2,Circle,B,2,standard
"""


@pytest.fixture
def hall(tmp_path: Path) -> str:
    """A venue with a map and an event `gala`: A1 locked by alice, B1 booked by bob, B2
    blocked, A2 available (in the event `default`)."""
    if not Path(BIN, "seatctl").exists():
        pytest.skip("needs the installed seatctl console script")
    seat_map = tmp_path / "hall.csv"
    seat_map.write_text(MAP)
    db = str(tmp_path / "hall.db")
    with frozen(START):
        Venue.init(db, seat_map=str(seat_map))
        with Venue.open(db) as venue:
            venue.add_event("gala")
            venue.lock(["A1"], "alice", ttl=86_400)
            venue.lock(["B1"], "bob", ttl=86_400)
            venue.confirm(["B1"], "bob")
            venue.block(["B2"])
    return db


def tab(line: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash offers for Tab at the end of `line`."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    script = (
        'eval "$(seatctl --show-completion)"\n'
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_seatctl_completion seatctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={**_base_env(), **(env or {})},
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    return [line for line in done.stdout.splitlines() if line]


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEATCTL_", "_TYPER"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["SEATCTL_NOW"] = "2026-01-01T12:00:30Z"  # the locks of `hall` are live
    return env


def test_commands_complete(hall):
    assert tab("seatctl lo") == ["lock"]
    assert tab("seatctl token ") == ["add", "list", "revoke"]


def test_options_of_the_command_complete(hall):
    assert tab("seatctl seats --st") == ["--status"]


def test_status_values_complete(hall):
    assert tab(f"seatctl --db {hall} seats --status ") == [
        "available",
        "locked",
        "booked",
        "blocked",
    ]


def test_event_names_come_from_the_database(hall):
    assert tab(f"seatctl --db {hall} seats --event ") == ["default", "gala"]
    assert tab(f"seatctl --db {hall} history --event g") == ["gala"]


def test_section_names_come_from_the_database(hall):
    assert tab(f"seatctl --db {hall} lock --best 2 --section ") == ["Stalls", "Circle"]
    assert tab(f"seatctl --db {hall} map --section C") == ["Circle"]


def test_seat_labels_are_the_ones_the_command_can_act_on(hall):
    assert tab(f"seatctl --db {hall} confirm ") == ["A1"]
    assert tab(f"seatctl --db {hall} lock ") == ["A1", "A2"]
    assert tab(f"seatctl --db {hall} unblock ") == ["B2"]
    assert tab(f"seatctl --db {hall} history ") == ["A1", "A2", "B1", "B2"]
    assert tab(f"seatctl --db {hall} history B") == ["B1", "B2"]


def test_seat_labels_follow_the_event_named(hall):
    assert tab(f"seatctl --db {hall} confirm --event gala ") == []
    assert tab(f"seatctl --db {hall} block --event gala ") == ["A1", "A2", "B1", "B2"]


def test_user_names_come_from_the_database(hall):
    assert tab(f"seatctl --db {hall} confirm A1 --user ") == ["alice", "bob"]
    assert tab(f"seatctl --db {hall} seats --user a") == ["alice"]


def test_the_database_may_come_from_db_after_the_command_or_seatctl_db(hall):
    assert tab(f"seatctl seats --db {hall} --event ") == ["default", "gala"]
    assert tab("seatctl seats --event ", env={"SEATCTL_DB": hall}) == ["default", "gala"]


def test_without_a_database_completion_offers_nothing_and_says_nothing(tmp_path):
    missing = tmp_path / "missing.db"
    assert tab(f"seatctl --db {missing} confirm ") == []
    assert not missing.exists(), "completion must not create a database"


def test_zsh_and_fish_get_the_same_candidates(hall):
    # Neither shell is installed here: run the command line their scripts run.
    for shell in ("zsh", "fish"):
        done = subprocess.run(
            [f"{BIN}/seatctl"],
            capture_output=True,
            text=True,
            env={
                **_base_env(),
                "_SEATCTL_COMPLETE": f"complete_{shell}",
                "_TYPER_COMPLETE_ARGS": f"seatctl --db {hall} seats --event g",
                "_TYPER_COMPLETE_FISH_ACTION": "get-args",  # what fish's script asks first
            },
            timeout=60,
        )
        assert done.returncode == 0
        assert "gala" in done.stdout, (shell, done.stdout)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_a_script_for_each_shell(shell):
    done = subprocess.run(
        [f"{BIN}/seatctl", "--show-completion", shell],
        capture_output=True,
        text=True,
        env={**_base_env(), "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
        timeout=60,
    )
    assert done.returncode == 0
    assert "_SEATCTL_COMPLETE=complete_" + shell in done.stdout.replace("'", "")


def test_install_completion_adds_the_script_to_bash(tmp_path, hall):
    env = {**_base_env(), "HOME": str(tmp_path)}
    # `; exit`: bash would otherwise exec the command in its place, and Typer would find the
    # shell that started the tests (none, for a detached run) instead of this bash.
    done = subprocess.run(
        ["bash", "-c", "seatctl --install-completion; exit"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "seatctl" in (tmp_path / ".bashrc").read_text()
    assert "_seatctl_completion" in (tmp_path / ".bash_completions" / "seatctl.sh").read_text()

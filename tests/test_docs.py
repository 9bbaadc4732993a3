"""The bash recipes in README.md and docs/*.md do what the text around them says.

Every ```bash block that runs seatctl is a recipe: it carries a `<!-- recipe: NAME -->` marker
on the line before it, and runs here as a script, as written, in a temporary folder with
`seatctl` on PATH and `SEATCTL_DB` naming a prepared venue. What a recipe leaves to its reader
(`run_the_payment_step`) is defined in a prelude; `sleep` is a stub that returns at once and
logs its calls, so no test waits. Each test checks the script's exit code and output, and
what it did to the database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import frozen
from seatctl import Venue

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(?:<!-- recipe: (?P<name>[\w-]+) -->\n)?```bash\n(?P<body>.*?)^```", re.S | re.M
)
# seatctl run as a command: at a line's start, after a pipe, `;`, `&&`, `||`, `!` or `$(`,
# perhaps behind variable assignments (not `pip install 'seatctl[postgres]'`).
RUNS_SEATCTL = re.compile(r"(?m)(?:^|\$\(|&&|\|\||[|;!])\s*(?:[A-Z_]+=\S*\s+)*seatctl\s")
needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="the recipe uses jq")


def bash_blocks() -> list[tuple[str, str | None, str]]:
    """(file, recipe name or None, script) of every ```bash block in the docs."""
    return [
        (path.name, match["name"], match["body"])
        for path in DOCS
        for match in BLOCK.finditer(path.read_text())
    ]


def recipe(name: str) -> str:
    [body] = [body for _, marked, body in bash_blocks() if marked == name]
    return body


@dataclass
class Ran:
    code: int
    out: str
    err: str
    sleeps: list[str]  # the arguments of each `sleep` the script ran


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The script's working directory, with this interpreter's `seatctl` and a `sleep` stub
    first on PATH."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    installed = Path(sys.executable).with_name("seatctl")  # the console script starts fastest
    if installed.exists():
        (stubs / "seatctl").symlink_to(installed)
    else:
        _executable(stubs / "seatctl", f'#!/bin/sh\nexec "{sys.executable}" -m seatctl "$@"\n')
    _executable(
        stubs / "sleep",
        '#!/bin/sh\necho "$*" >> "$SLEEP_LOG"\n'
        # A database moved away by a test's prelude comes back while the script "waits".
        '[ -e "$SEATCTL_DB.away" ] && [ -n "${RESTORE_ON_SLEEP:-}" ]'
        ' && mv "$SEATCTL_DB.away" "$SEATCTL_DB"\nexit 0\n',
    )
    work = tmp_path / "work"
    work.mkdir()
    return work


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run(name: str, folder: Path, prelude: str = "", env: dict[str, str] | None = None) -> Ran:
    """Run recipe `name` as a bash script in `folder`, against `folder/venue.db`."""
    script = folder / f"{name}.sh"
    script.write_text(prelude + "\n" + recipe(name))
    log = folder.parent / "sleeps"
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    base.update(
        PATH=f"{folder.parent / 'stubs'}{os.pathsep}{base.get('PATH', '')}",
        SEATCTL_DB=str(folder / "venue.db"),
        SLEEP_LOG=str(log),
        TMPDIR=str(folder),
    )
    done = subprocess.run(
        ["bash", str(script)],
        cwd=folder,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    sleeps = log.read_text().splitlines() if log.exists() else []
    return Ran(done.returncode, done.stdout, done.stderr, sleeps)


def venue(folder: Path, seats: int = 5) -> str:
    db = str(folder / "venue.db")
    with frozen("2026-01-01T12:00:00Z"):
        Venue.init(db, seats=seats)
    return db


def seat(db: str, label: str):
    with Venue.open(db) as opened:
        return next(view for view in opened.seats() if view.seat == label)


# --- Which blocks are recipes --------------------------------------------------------------


def test_every_bash_block_that_runs_seatctl_is_a_marked_recipe():
    unmarked = [
        (f, body) for f, name, body in bash_blocks() if not name and RUNS_SEATCTL.search(body)
    ]
    assert unmarked == []


def test_every_marked_recipe_has_a_test_here():
    source = Path(__file__).read_text()
    names = [name for _, name, _ in bash_blocks() if name]
    assert len(names) == len(set(names)), names
    untested = [name for name in names if f'run("{name}"' not in source]
    assert untested == []


# --- docs/scripting.md: branch on the exit code --------------------------------------------


def test_branch_recipe_holds_both_seats(folder):
    db = venue(folder)
    ran = run("branch-on-exit-code", folder)
    assert (ran.code, ran.out.splitlines()[-1]) == (0, "held 3 and 4")
    assert seat(db, "3").locked_by == seat(db, "4").locked_by == "alice"


def test_branch_recipe_holds_neither_seat_when_one_is_taken(folder):
    db = venue(folder)
    with Venue.open(db) as opened:
        opened.lock(["4"], "bob", ttl=86_400)
    ran = run("branch-on-exit-code", folder)
    assert (ran.code, ran.out) == (0, "someone else has one of them; try other seats\n")
    assert seat(db, "3").locked_by is None


def test_branch_recipe_fails_on_a_missing_seat(folder):
    venue(folder, seats=3)
    ran = run("branch-on-exit-code", folder)
    assert ran.code == 1
    assert ran.err.splitlines()[-1] == "no such seat"


# --- docs/scripting.md: hold, then book, retrying safely ------------------------------------

PAID = "run_the_payment_step() { :; }"
JOB = {"CI_JOB_ID": "job-7"}
# The database vanishes during the payment step: every confirm meets exit 6.
DATABASE_GONE = 'run_the_payment_step() { mv "$SEATCTL_DB" "$SEATCTL_DB.away"; }'


def test_hold_then_book_recipe_books_the_seat(folder):
    db = venue(folder, seats=12)
    ran = run("hold-then-book", folder, PAID, JOB)
    assert (ran.code, ran.sleeps) == (0, [])
    assert seat(db, "12").booked_by == "job-7"


def test_hold_then_book_recipe_retries_a_database_problem_and_then_books(folder):
    db = venue(folder, seats=12)
    ran = run("hold-then-book", folder, DATABASE_GONE, {**JOB, "RESTORE_ON_SLEEP": "1"})
    assert (ran.code, len(ran.sleeps)) == (0, 1)
    assert seat(db, "12").booked_by == "job-7"


def test_hold_then_book_recipe_fails_after_three_failed_attempts(folder):
    db = venue(folder, seats=12)
    ran = run("hold-then-book", folder, DATABASE_GONE, JOB)
    assert ran.code == 6, "three failures must not pass for a booking"
    assert len(ran.sleeps) == 2, "it waits between attempts, not after the last"
    os.replace(db + ".away", db)
    assert seat(db, "12").booked_by is None


def test_hold_then_book_recipe_stops_at_once_when_the_lock_expired(folder):
    db = venue(folder, seats=12)
    slow = "run_the_payment_step() { export SEATCTL_NOW=2026-01-01T13:00:00Z; }"
    ran = run("hold-then-book", folder, slow, {**JOB, "SEATCTL_NOW": "2026-01-01T12:30:00Z"})
    assert (ran.code, ran.sleeps) == (5, [])
    assert seat(db, "12").booked_by is None


def test_hold_then_book_recipe_counts_a_booking_whose_report_was_lost_as_booked(folder):
    db = venue(folder, seats=12)
    # From here on stdout is full: confirm books the seat but cannot say so (exit 7).
    full = "run_the_payment_step() { exec > /dev/full; }"
    ran = run("hold-then-book", folder, full, JOB)
    assert (ran.code, ran.sleeps) == (0, [])
    assert seat(db, "12").booked_by == "job-7"


def test_hold_then_book_recipe_does_not_retry_a_seat_that_does_not_exist(folder):
    db = venue(folder, seats=12)
    # The seat disappears behind seatctl's back (an old backup restored, say): exit 3 can
    # never turn into a booking, so waiting and retrying is pointless.
    gone = (
        "run_the_payment_step() { python3 -c 'import sqlite3, sys;"
        ' c = sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM seats WHERE label = 12");'
        ' c.commit()\' "$SEATCTL_DB"; }'
    )
    ran = run("hold-then-book", folder, gone, JOB)
    assert (ran.code, ran.sleeps) == (3, [])
    assert "seat 12 does not exist" in ran.err
    assert db


# --- docs/scripting.md: jq, Python, CI, batch, big venues ------------------------------------


@needs_jq
def test_jq_recipe_finds_a_seat_lists_mine_and_explains_a_refusal(folder):
    db = venue(folder)
    with Venue.open(db) as opened:
        opened.lock(["3"], "alice", ttl=86_400)
    ran = run("jq", folder)
    assert ran.code == 0
    mine, refusal = ran.out.splitlines()
    assert mine.startswith("3 locked 20")
    assert refusal == "3: locked"


@needs_jq
def test_jq_recipe_stops_when_sold_out(folder):
    db = venue(folder, seats=1)
    with Venue.open(db) as opened:
        opened.lock(["1"], "carol", ttl=86_400)
        opened.confirm(["1"], "carol")
    ran = run("jq", folder)
    assert (ran.code, ran.out) == (1, "sold out\n")


def test_python_recipe_counts_free_seats(folder):
    venue(folder)
    assert run("python", folder).out == "5 seats free\n"


@needs_jq
def test_expiry_in_ci_recipe_sees_the_lock_lapse_without_waiting(folder):
    ran = run("expiry-in-ci", folder)
    lines = ran.out.splitlines()
    assert ran.code == 0
    assert lines[1:] == [
        "locked seat 1 for a until 2026-01-01T12:01:00Z",
        "true",
        "true",
        "exit 5 (5: expired)",
    ]
    assert (
        ran.err
        == "error: seat 1 is no longer locked by a: the lock expired at 2026-01-01T12:01:00Z\n"
    )


@needs_jq
def test_batch_recipe_locks_every_seat_and_reports_the_lines_that_failed(folder):
    # Ten seats rather than a thousand: as many commands, without a thousand synced commits.
    db = venue(folder, seats=10)
    ran = run("batch", folder)
    failed = [json.loads(line) for line in ran.out.splitlines()]
    assert (ran.code, ran.err) == (0, "")
    assert failed == [{"line": n, "error": "not_found"} for n in range(11, 1001)]
    with Venue.open(db) as opened:
        assert {view.locked_by for view in opened.seats()} == {"alice"}


def test_big_venues_recipe_streams_ten_seats_and_writes_a_csv(folder):
    venue(folder, seats=20)
    ran = run("big-venues", folder)
    assert ran.code == 0
    assert len(ran.out.splitlines()) == 10
    assert len((folder / "seats.csv").read_text().splitlines()) == 21

"""Guards for the hot path: what a single command may import, and how SQLite runs its writes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from seatctl import Venue

pytestmark = pytest.mark.sqlite_only

HEAVY = ("sqlite_utils", "rich", "pydantic", "psycopg", "click", "dateutil", "tempfile")
# The server stack of `seatctl serve` (the `server` extra): no other command may import it.
SERVER_STACK = (
    "starlette", "uvicorn", "anyio", "h11", "httptools", "uvloop", "httpx", "asyncio"
)  # fmt: skip

PROBE = """
import io, contextlib, json, sys
from seatctl.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    codes = [main(["--db", sys.argv[1], *args.split()]) for args in sys.argv[2:]]
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def modules_after(db: str, *commands: str, full: bool = False) -> tuple[list[int], set[str]]:
    """Exit codes of the commands run in one process, and the top-level packages it imported
    (with `full`, every module name)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, db, *commands],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout)
    names = report["modules"] if full else [name.split(".")[0] for name in report["modules"]]
    return report["codes"], set(names)


def test_lock_and_seats_import_nothing_heavy(venue_db):
    codes, modules = modules_after(
        venue_db, "lock 1 --user a", "release 1 --user a", "seats --json", "confirm 2 --user a"
    )
    assert codes == [0, 0, 0, 5]
    assert modules.isdisjoint(HEAVY), modules & set(HEAVY)


def test_no_command_but_serve_imports_the_server_stack(venue_db, tmp_path):
    codes, modules = modules_after(
        venue_db,
        "init --seats 6",
        "lock 1 --user a",
        "confirm 1 --user a",
        "release 6 --user a",
        "seats --json",
        "history",
        "check",
        f"backup {tmp_path / 'copy.db'}",
        "token add alice",
        "token list",
        "token revoke 1",
        "serve --help",
        "--help",
        full=True,
    )
    assert codes == [0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    stack = {name for name in modules if name.split(".")[0] in SERVER_STACK}
    assert not stack, stack
    assert not {name for name in modules if name.startswith("seatctl.server")}


def test_version_imports_nothing_heavy(venue_db):
    codes, modules = modules_after(venue_db, "--version")
    assert codes == [0]
    assert modules.isdisjoint(HEAVY)


# Loaded only when asked for: completion's candidates, and the parser's messages. (Typer
# imports its own completion modules with itself.)
ON_DEMAND = ("seatctl.cli.completion", "seatctl.cli.messages")


def test_ordinary_commands_load_neither_completion_nor_the_parsers_messages(venue_db):
    codes, modules = modules_after(
        venue_db, "--version", "lock 1 --user a", "seats --json", "history", full=True
    )
    assert codes == [0, 0, 0, 0]
    assert modules.isdisjoint(ON_DEMAND), modules & set(ON_DEMAND)


# Imported by the CLI's libraries but used by no ordinary command (seatctl._deferred).
DEFERRED = ("subprocess", "ipaddress", "tokenize", "bz2", "lzma")


def imported_by_the_command(*args: str) -> set[str]:
    """The modules `python -m seatctl ARGS` imported after Python's own start-up (`site`,
    where an editable install's import hook loads some of them itself)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "seatctl", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    names = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    return set(names[names.index("site") + 1 :])


@pytest.mark.parametrize(
    "args", [["--version"], ["lock", "1", "--user", "a"], ["seats", "--json"]], ids=" ".join
)
def test_a_command_never_loads_what_its_libraries_import_for_rare_uses(venue_db, args):
    imported = imported_by_the_command("--db", venue_db, *args)
    assert "seatctl.cli.app" in imported  # the command ran
    assert imported.isdisjoint(DEFERRED), imported & set(DEFERRED)


def test_a_deferred_module_is_imported_at_the_first_use_of_one_of_its_names(monkeypatch):
    from seatctl import _deferred as deferred

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    deferred.defer({"colorsys": None})
    stand_in = sys.modules["colorsys"]
    assert "__file__" not in vars(stand_in)  # not imported yet
    assert stand_in.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert sys.modules["colorsys"].__file__.endswith("colorsys.py")
    assert stand_in.hsv_to_rgb is sys.modules["colorsys"].hsv_to_rgb


def test_a_module_this_python_cannot_import_is_not_deferred(monkeypatch):
    from seatctl import _deferred as deferred

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    deferred.defer({"colorsys": "_seatctl_no_such_extension"})
    assert "colorsys" not in sys.modules


def test_version_builds_no_command():
    script = (
        "import io, contextlib\n"
        "from seatctl.cli import app\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert app.main(['--version']) == 0\n"
        "print(sum(len(group.commands) for group in app.parsers.built.values()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "0\n")


def statements_run_by(db: str, action, monkeypatch) -> list[str]:
    """Every SQL statement seatctl's own connection runs during `action`, values filled in."""
    from seatctl.storage import sqlite as backend

    traced: list[str] = []
    connect = backend._connect

    def tracing_connect(path: str, create: bool, any_thread: bool) -> sqlite3.Connection:
        conn = connect(path, create, any_thread)
        conn.set_trace_callback(traced.append)
        return conn

    monkeypatch.setattr(backend, "_connect", tracing_connect)
    with Venue.open(db) as venue:
        action(venue)
    return [
        sql for sql in traced if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT"))
    ]


def plan(db: str, sql: str) -> str:
    conn = sqlite3.connect(db)
    try:
        return " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        conn.close()


def test_lock_confirm_and_release_never_scan_the_seats_table(venue_db, monkeypatch):
    Venue.init(venue_db, seats=2000)

    def book(venue: Venue) -> None:
        venue.lock(["1500", "7"], user="alice")
        venue.confirm(["1500"], user="alice")
        venue.release(["7"], user="alice")

    statements = statements_run_by(venue_db, book, monkeypatch)
    assert any(sql.startswith("INSERT INTO seat_states") for sql in statements)
    for sql in statements:
        assert "SCAN" not in plan(venue_db, sql), (sql, plan(venue_db, sql))


def test_listing_reads_seats_in_index_order_without_sorting(venue_db, monkeypatch):
    statements = statements_run_by(venue_db, lambda venue: venue.seats(), monkeypatch)
    listing = next(sql for sql in statements if "ORDER BY" in sql)
    assert "TEMP B-TREE" not in plan(venue_db, listing)
    assert "USING INDEX" in plan(venue_db, listing)


def test_ctrl_c_that_python_wraps_in_another_error_is_still_exit_130():
    # Python wraps an exception raised while a class body is set up (Ctrl-C landing in
    # `platform`'s uname_result during Typer's import, say) in a RuntimeError.
    script = (
        "import sys, types\n"
        "cli = types.ModuleType('seatctl.cli.app')\n"
        "def main():\n"
        "    try:\n"
        "        raise KeyboardInterrupt\n"
        "    except KeyboardInterrupt as exc:\n"
        "        raise RuntimeError('Error calling __set_name__') from exc\n"
        "cli.main = main\n"
        "sys.modules['seatctl.cli.app'] = cli\n"
        "from seatctl.__main__ import run\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (130, "")


def test_warnings_psycopg_logs_never_reach_stderr():
    # psycopg logs one when a failed pipeline cannot be ended cleanly; the error itself is
    # reported by seatctl on its one line.
    pytest.importorskip("psycopg")
    script = (
        "import logging, seatctl.storage.postgres\n"
        "logging.getLogger('psycopg').warning('error ignored terminating <psycopg.Pipeline>')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_command_never_loads_the_pytest_plugin(venue_db):
    # pytest loads seatctl.testing.plugin through its `pytest11` entry point; the command
    # (the console script's own entry, as `-X importtime` sees every import) never does.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "seatctl", "--db", venue_db, "seats", "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "seatctl.cli" in imported  # the report is read right
    plugin = {name for name in imported if name.split(".")[0] in ("pytest", "_pytest", "pluggy")}
    assert not plugin | {name for name in imported if name.startswith("seatctl.testing")}

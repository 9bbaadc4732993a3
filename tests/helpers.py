"""What the tests share: running seatctl, reading a database whole, racing processes, a
stopped clock, the seat object, the reference rule of best available. Test files import from
here (fixtures live in conftest.py), never from one another."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from forking import run_seatctl, start_python
from seatctl.cli import main
from seatctl.cli.app import parsers
from seatctl.core import clock
from seatctl.core.selection import SeatSpot
from seatctl.core.validate import natural_key

START = "2026-01-01T12:00:00Z"
# What Python reads from the environment as it starts (a forked process would not).
STARTUP_VARIABLES = ("PYTHON", "LANG", "LC_")
# How many times the usual number of examples (and stress rounds, crash rounds) to run:
# SEATCTL_SOAK=N, or 20 under HYPOTHESIS_PROFILE=soak.
SOAK = max(
    1,
    int(
        os.environ.get("SEATCTL_SOAK")
        or (20 if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else 1)
    ),
)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    def error(self):
        return json.loads(self.err)


def run_process(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Run:
    """Run seatctl as a real process, the way scripts do: forked from a process that has
    imported seatctl already (tests/forking.py), unless `env` sets what Python reads as it
    starts (a new interpreter then)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    full_env.update(env or {})
    fresh = any(name.startswith(STARTUP_VARIABLES) for name in env or {})
    return Run(*run_seatctl(list(args), full_env, input, new_interpreter=fresh))


def run_cli(*args: str, env: dict[str, str] | None = None, input: str = "") -> Run:
    """`seatctl ARGS` in this process, set up as `run_process` sets up a new one (no SEATCTL_
    variable but those in `env`; stdin `input`): for tests of what seatctl says, where a new
    interpreter proves nothing more and costs a start-up per run."""
    saved = dict(os.environ)
    out, err, stdin = io.StringIO(), io.StringIO(), sys.stdin
    try:
        for name in [name for name in os.environ if name.startswith("SEATCTL_")]:
            del os.environ[name]
        os.environ.update(env or {})
        sys.stdin = io.StringIO(input)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = stdin
        os.environ.clear()
        os.environ.update(saved)
    return Run(int(code), out.getvalue(), err.getvalue())


def sigint_at_default() -> None:
    """`preexec_fn` for a child that will be sent SIGINT: Ctrl-C at its default there, whatever
    it is here. A runner may start the suite with SIGINT ignored (a background job of a
    non-interactive shell is), children inherit that, and seatctl then rightly keeps ignoring
    it, so the test would not see what Ctrl-C does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def dump(path: str) -> dict[str, list[tuple]]:
    """The database's whole logical content: what "left exactly as it was" is checked against.

    On SQLite: the schema (every table, index and trigger, with its SQL) and every row of
    every table in the order a scan reads them, as `iterdump` gives them, but as rows rather
    than INSERT statements (a quarter of its time: a dump of 100,000 seats took 0.9 s)."""
    if path.startswith(("postgresql://", "postgres://")):
        return dump_pg(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        schema = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        content = {
            name: conn.execute(f'SELECT * FROM "{name}"').fetchall()
            for kind, name, _, _ in schema
            if kind == "table"
        }
        return {"sqlite_master": schema, **content}
    finally:
        conn.close()


def seat_object(label: str, status: str = "available", **fields: object) -> dict[str, object]:
    """A seat as `seats --json`, the HTTP API and the stream show it: `fields` set, the rest
    null, and its `name` the label unless given (a seat without a place is named by it)."""
    return {
        "seat": label,
        "status": status,
        "locked_by": None,
        "expires_at": None,
        "booked_by": None,
        "booked_at": None,
        "section": None,
        "row": None,
        "number": None,
        "category": None,
        "held_since": None,
        "name": label,
        "x": None,
        "y": None,
        **fields,
    }


# --- A stopped clock -------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


class Frozen:
    """seatctl's one clock (`seatctl.core.clock.now`) stopped at an instant, as a decorator or
    a `with` block, moved on by `tick` and `move_to`: what freezegun does for seatctl, at a
    fraction of its cost (freezegun scans every loaded module each time it starts, a fifth of a
    second with this suite's imports). Only seatctl's clock stops; SEATCTL_NOW still wins over
    it, as over the system clock. Tests about freezegun itself (a library user's way to
    freeze seatctl) keep using freezegun."""

    def __init__(self, when: str | int | datetime) -> None:
        self.when = when
        self.instant = 0.0
        self._saved: list[Any] = []

    def time(self) -> float:  # stands in for the `time` module in seatctl.core.clock...
        return self.instant

    def __getattr__(self, name: str) -> Any:  # ... whose other functions are the real ones
        return getattr(time, name)

    def tick(self, delta: float | timedelta = 1) -> None:
        self.instant += delta.total_seconds() if isinstance(delta, timedelta) else delta

    def move_to(self, when: str | int | datetime) -> None:
        self.instant = _seconds(when)

    def start(self) -> Frozen:
        self.instant = _seconds(self.when)
        self._saved.append(clock.time)
        clock.time = self  # type: ignore[assignment]
        return self

    def stop(self) -> None:
        clock.time = self._saved.pop()

    def __enter__(self) -> Frozen:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, test: F) -> F:
        @functools.wraps(test)
        def frozen_test(*args: Any, **kwargs: Any) -> Any:
            with Frozen(self.when):
                return test(*args, **kwargs)

        return frozen_test  # type: ignore[return-value]


def frozen(when: str | int | datetime) -> Frozen:
    return Frozen(when)


def _seconds(when: str | int | datetime) -> float:
    if isinstance(when, datetime):
        return when.timestamp()
    if isinstance(when, int):
        return float(when)
    # Fractions of a second matter: the clock truncates them.
    return datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()


# --- Bad input ---------------------------------------------------------------------------------


def assert_one_line_error(run: Run, code: int) -> None:
    assert run.code == code
    assert run.out == ""
    assert run.err.startswith("error: ")
    assert run.err.count("\n") == 1
    assert "Traceback" not in run.err


def run_as_other_user(db: str, *args: str) -> Run:
    """Run the CLI where file permissions bind: as `nobody` when the suite runs as root."""
    return run_as(65534 if os.geteuid() == 0 else None, db, *args)


def run_as(uid: int | None, db: str, *args: str) -> Run:
    """Run the CLI in a child process with `uid` as its user and group (None: this one's)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            code = 70
            try:
                if uid is not None:
                    os.setgid(uid)
                    os.setuid(uid)
                sys.stdout, sys.stderr = out, err
                code = int(main(["--db", db, *args]))
            finally:
                out.flush()
                err.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return Run(os.waitstatus_to_exitcode(status), out.read(), err.read())


# --- Real races --------------------------------------------------------------------------------

RACERS = 16

# Each racer (forked from the starter, tests/forking.py, as `run_process`'s commands are) has
# its backend imported, says it is ready, then blocks on its stdin: the starting pipe all of
# them share. When that closes, all of them hit the database at the same moment, each with
# its own connection, as `seatctl` runs do; each ends as `python -c` does (its coverage saved).
RACER = """
import importlib, os, sys
from seatctl.cli import main
importlib.import_module(os.environ["RACER_BACKEND"])
print("ready", flush=True)
sys.stdin.buffer.read()
sys.exit(main(sys.argv[1:]))
"""


def race(commands: list[list[str]], env: dict[str, str] | None = None) -> list[Run]:
    """Run every command in its own process, all released at once; their results in order."""
    start_read, start_write = os.pipe()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    db = commands[0][commands[0].index("--db") + 1]
    full_env["RACER_BACKEND"] = (
        "seatctl.storage.postgres" if db.startswith("postgres") else "seatctl.storage.sqlite"
    )
    full_env.update(env or {})
    try:
        racers = [start_python(RACER, cmd, full_env, stdin_fd=start_read) for cmd in commands]
    finally:
        os.close(start_read)
    try:
        for racer in racers:
            assert racer.stdout is not None and racer.stderr is not None
            assert racer.stdout.readline() == "ready\n", racer.stderr.read()
    finally:
        os.close(start_write)  # go
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        results.append(Run(racer.wait(), out or "", err or ""))
    return results


def assert_clean(runs: list[Run]) -> None:
    for run in runs:
        assert "Traceback" not in run.err
        assert "database is locked" not in run.err


# --- The command tree (for the help and message tests) ------------------------------------


def parser() -> Any:
    return parsers.command_for(None, completion=True)


def commands(group: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(path, command) of every command and command group, the top level first."""
    group = group or parser()
    if not path:
        yield "", group
    for name, command in group.commands.items():
        yield " ".join((*path, name)), command
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))


ALL = list(commands())
SUBCOMMANDS = [(path, command) for path, command in ALL if path]
LEAVES = [(path, command) for path, command in SUBCOMMANDS if not hasattr(command, "commands")]


def options_of(command: Any) -> dict[str, set[str | None]]:
    """Each option's long name, and how the docs may write its value: the metavar, or the
    choices as `a|b|c` (None for a flag)."""
    return {
        max(param.opts, key=len): _written(param)
        for param in command.params
        if param.param_type_name == "option" and "--help" not in param.opts
    }


def _written(param: Any) -> set[str | None]:
    if param.is_flag:
        return {None}
    choices = getattr(param.type, "choices", None)
    return {
        param.metavar,
        *(["|".join(str(getattr(c, "value", c)) for c in choices)] if choices else []),
    }


# --- PostgreSQL --------------------------------------------------------------------------------

PG_ENV = "SEATCTL_TEST_PG"  # a server URL, e.g. postgresql://postgres@127.0.0.1:5432/test


def with_search_path(url: str, schema: str) -> str:
    """`url` with the connection's search_path set to `schema`, as a user would write it."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def new_schema(server: str, prefix: str = "seatctl_test") -> tuple[str, Callable[[], None]]:
    """A fresh, empty schema `<prefix>_<random>` on the PostgreSQL `server`: the URL whose
    search_path it is (a new database as far as seatctl can tell), and the function that drops
    it. Both go through one connection per test process, not two new ones per schema."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    url = with_search_path(server, schema)
    pg_connection(server).execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        looking = _connections.pop(url, None)
        if looking is not None:
            looking.close()
        pg_connection(server).execute(f"DROP SCHEMA {schema} CASCADE")

    return url, drop


# The catalogs each test's schema adds rows to and its drop leaves dead: with autovacuum off
# (as on the CI machines here), a run leaves some 250,000 dead rows behind, and the next run's
# DDL and connections get slower with every run.
CHURNED_CATALOGS = [
    f"pg_catalog.{name}"
    for name in (
        "pg_attribute",
        "pg_class",
        "pg_depend",
        "pg_type",
        "pg_index",
        "pg_constraint",
        "pg_attrdef",
        "pg_namespace",
        "pg_statistic",
        "pg_sequence",
    )
]


def vacuum_catalogs(server: str) -> None:
    """Vacuum what earlier runs' schemas left dead in the test server's catalogs (a role that
    may not vacuum them gets a warning from the server, not an error; an unreachable server is
    left to the PostgreSQL tests to report)."""
    try:
        import psycopg
    except ImportError:
        return
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"VACUUM {', '.join(CHURNED_CATALOGS)}")
    except psycopg.Error:
        return


_connections: dict[str, Any] = {}


def pg_connection(url: str) -> Any:
    """This process's autocommit connection to `url`, made again if it was lost: a test that
    looks behind seatctl's back many times (a dump before and after every command) pays for
    one connection, not one per look. A schema's is closed when `new_schema` drops it."""
    import psycopg

    conn = _connections.get(url)
    if conn is None or conn.closed or conn.broken:
        conn = _connections[url] = psycopg.connect(url, autocommit=True)
    return conn


def dump_pg(url: str) -> dict[str, list[tuple]]:
    """Every row of seatctl's tables behind `url`: the PostgreSQL counterpart of `dump`."""
    conn = pg_connection(url)
    present = {
        row[0]
        for row in conn.execute(
            "SELECT relname::text FROM pg_class"
            " WHERE relnamespace = to_regnamespace(current_schema())"
        )
    }
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        for table in ("meta", "seats", "events", "shows", "seat_states")
        if table in present
    }


def sql(url: str, query: str, *params) -> list[tuple]:
    """Run one statement on its own connection (another host, as far as seatctl knows)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_user(url: str, userinfo: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc.rpartition('@')[2]}"))


def named(url: str) -> tuple[str, str]:
    """`url` with an application_name of its own, to find its connection (and no other test's)
    in pg_stat_activity; and that name."""
    name = f"seatctl_test_{secrets.token_hex(4)}"
    return f"{url}&application_name={name}", name


WAITING = (
    "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'"
)


# --- Best available: the whole rule as a brute force -------------------------------------------


def reference_rows(spots: Sequence[SeatSpot]) -> dict[tuple, tuple[int, int, dict[int, SeatSpot]]]:
    """(section, row or '#unnumbered') -> (section rank, row rank, seats by position)."""
    ordered = sorted(spots, key=lambda s: s.map_order)
    sections = list(dict.fromkeys(s.section for s in ordered))
    rows: dict[tuple, tuple[int, int, dict[int, SeatSpot]]] = {}
    for section in sections:
        numbered = [s for s in ordered if s.section == section and s.number is not None]
        names = list(dict.fromkeys(s.row for s in numbered))
        for rank, name in enumerate(names):
            seats = {s.number: s for s in numbered if s.row == name}
            rows[(section, name)] = (sections.index(section), rank, seats)
        loose = [s for s in ordered if s.section == section and s.number is None]
        loose.sort(key=lambda s: (natural_key(s.label), s.label))
        if loose:
            seats = {n: s for n, s in enumerate(loose, 1)}
            rows[(section, "#unnumbered")] = (sections.index(section), len(names), seats)
    return rows


def reference(
    spots: Sequence[SeatSpot],
    count: int,
    sections: Sequence[str] = (),
    categories: Sequence[str] = (),
    split: bool = False,
) -> list[str] | None:
    def ok(spot: SeatSpot) -> bool:
        return spot.available and (not categories or spot.category in categories)

    def free(seats: dict[int, SeatSpot], n: int) -> bool:
        return n in seats and seats[n].available

    rows = [
        row
        for (section, _), row in reference_rows(spots).items()
        if not sections or section in sections
    ]
    blocks = []
    for section_rank, row_rank, seats in rows:
        centre = (min(seats) + max(seats)) / 2
        for first in seats:
            block = [seats.get(first + i) for i in range(count)]
            if all(s is not None and ok(s) for s in block):
                last = first + count - 1
                left = free(seats, first - 1) and not free(seats, first - 2)
                right = free(seats, last + 1) and not free(seats, last + 2)
                key = (
                    left + right,
                    section_rank,
                    row_rank,
                    abs((first + last) / 2 - centre),
                    first,
                )
                blocks.append((key, [s.label for s in block]))
    if blocks:
        return min(blocks)[1]
    if not split:
        return None
    singles = [
        ((section_rank, row_rank, abs(n - (min(seats) + max(seats)) / 2), n), s)
        for section_rank, row_rank, seats in rows
        for n, s in seats.items()
        if ok(s)
    ]
    if len(singles) < count:
        return None
    chosen = sorted(singles)[:count]
    chosen.sort(key=lambda single: (single[0][0], single[0][1], single[0][3]))
    return [s.label for _, s in chosen]


def reference_largest(
    spots: Sequence[SeatSpot], sections: Sequence[str] = (), categories: Sequence[str] = ()
) -> int:
    largest = 0
    for (section, _), (_, _, seats) in reference_rows(spots).items():
        if sections and section not in sections:
            continue
        for first in seats:
            length = 0
            while (
                (s := seats.get(first + length))
                and s.available
                and (not categories or s.category in categories)
            ):
                length += 1
            largest = max(largest, length)
    return largest


def booking_state(db: str):
    """The database without its tokens, whose "last used" stamps any authenticated request
    may update: what a refused or bad request must leave exactly as it was."""
    state = dump(db)
    state.pop("tokens", None)  # (the PostgreSQL dump leaves them out already)
    return state


class ThrowawayCluster:
    """A PostgreSQL cluster of its own in a temporary folder, on a free port, that a test may
    stop, start, kill or freeze (SIGSTOP its postmaster) without touching the shared server."""

    def __init__(self) -> None:
        import glob
        import shutil

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins or shutil.which("su") is None:
            raise RuntimeError("no PostgreSQL binaries to make a cluster with")
        self.bin = bins[-1]
        self.dir = tempfile.mkdtemp(prefix="seatctl-cluster-")
        os.chmod(self.dir, 0o777)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(f"{self.bin}/initdb -D {self.data} -A trust -U postgres")
        self.start()

    def _as_postgres(self, command: str) -> None:
        done = subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.dir,
        )
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1"
        self._as_postgres(
            f"{self.bin}/pg_ctl -D {self.data} -o '{options}' -l {self.dir}/log -w start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(f"{self.bin}/pg_ctl -D {self.data} -m {mode} -w stop")

    def postmaster(self) -> int:
        with open(os.path.join(self.data, "postmaster.pid")) as pid_file:
            return int(pid_file.readline())

    def freeze(self) -> None:
        os.kill(self.postmaster(), signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.postmaster(), signal.SIGCONT)

    def remove(self) -> None:
        import shutil

        with contextlib.suppress(Exception):
            self.thaw()
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def new_token(db: str, user: str) -> str:
    """A new token acting for `user`."""
    from seatctl import Venue

    with Venue.open(db) as venue:
        return venue.add_token(user)[0]


def wait_until(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """Poll `condition` until it holds: for a scenario to come about (a request waiting for a
    lock, say), never to wait out a race."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the scenario did not come about"
        time.sleep(0.01)


def refuse_seat_3_at_commit_on_sqlite(path: str, monkeypatch: Any) -> None:
    """SQLite refuses, at COMMIT and not before, any transaction that changed seat 3: changing
    it adds a row whose foreign key points nowhere; the key is DEFERRED, so the statement
    succeeds and the COMMIT fails (and leaves the transaction open, as SQLite does)."""
    from seatctl.storage import sqlite as sqlite_backend

    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE commit_guard_parent (label TEXT PRIMARY KEY);
        CREATE TABLE commit_guard (
            seat TEXT REFERENCES commit_guard_parent (label) DEFERRABLE INITIALLY DEFERRED
        );
        CREATE TRIGGER fail_commit_of_seat_3 AFTER INSERT ON seat_states WHEN NEW.seat = '3'
        BEGIN INSERT INTO commit_guard VALUES (NEW.seat); END;
        CREATE TRIGGER fail_commit_of_seat_3_again AFTER UPDATE ON seat_states
        WHEN NEW.seat = '3' BEGIN INSERT INTO commit_guard VALUES (NEW.seat); END;
        """
    )
    conn.close()
    connect = sqlite_backend._connect

    def connect_checking_foreign_keys(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        made = connect(*args, **kwargs)
        made.execute("PRAGMA foreign_keys = ON")  # SQLite checks them only when asked to
        return made

    monkeypatch.setattr(sqlite_backend, "_connect", connect_checking_foreign_keys)

"""seatctl benchmarks, each figure next to its floor.

    python benchmarks/run.py [--quick] [--json PATH] [--case N ...]

The floor of a seatctl command is a tiny script in benchmarks/floor/ (standard library
only) that does the same SQLite work -- same database file, PRAGMAs, BEGIN IMMEDIATE and
statements, including the `events` insert -- and prints about the same output, started the
same way: a new process of the same interpreter each time. A seatctl figure divided by its
floor is what seatctl itself costs. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from rows import BenchmarkError, Row, Run, verdict

HERE = Path(__file__).resolve().parent
FLOOR = HERE / "floor"
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """How much of each case to run; `quick_run()` is the smoke run of --quick."""

    quick: bool = False
    startup_reps: int = 25
    batch_seats: int = 1000
    batch_reps: int = 9
    scale_seats: int = 100_000
    init_reps: int = 3
    listing_reps: int = 5
    scale_op_reps: int = 15
    workers: int = 8
    worker_cycles: int = 100
    contention_reps: int = 3
    api_cycles: int = 500
    api_reps: int = 5
    batch_lines: int = 10_000
    batch_mode_reps: int = 3

    @classmethod
    def quick_run(cls) -> Settings:
        return cls(
            quick=True,
            startup_reps=5,
            batch_reps=3,
            init_reps=1,
            listing_reps=1,
            scale_op_reps=3,
            worker_cycles=20,
            contention_reps=1,
            api_cycles=100,
            api_reps=1,
            batch_lines=1000,
            batch_mode_reps=1,
        )


# --- running processes ------------------------------------------------------------------

MEASURE = HERE / "measure.py"
# Python settings a developer's shell may carry that a user's does not, and that change what
# is measured: no bytecode cache (every start compiles seatctl), unbuffered stdout, ...
# Children get none of them; bytecode is cached under the temporary directory instead.
KEPT_PYTHON_VARIABLES = {"PYTHONPATH", "PYTHONHOME"}


def child_environment(pycache: Path) -> tuple[dict[str, str], list[str]]:
    """The environment every measured process gets, and the variables it leaves out."""
    dropped = sorted(
        name
        for name in os.environ
        if name.startswith("SEATCTL_")
        or (name.startswith("PYTHON") and name not in KEPT_PYTHON_VARIABLES)
    )
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env, dropped


ROOT = HERE.parent
# The interpreter that runs the floors: the installed seatctl's (see `install_seatctl`).
floor_python = sys.executable


def install_seatctl(workdir: Path) -> tuple[list[str], str]:
    """seatctl as users get it (as pipx installs it): a normal, not editable, install of this
    checkout into a new virtual environment, whose console script is timed. An editable
    install would add its import finder's work to every run, which no user pays. The floors
    run on the same environment's interpreter, so both start alike."""
    global floor_python
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # With the server extra (`seatctl serve`: cases 7, 9 and 10) and the PostgreSQL one (case
    # 10's PostgreSQL rows); neither is imported by the commands that case 1 times.
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{ROOT}[server,postgres]"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()
        raise BenchmarkError(f"cannot install {ROOT}: {why[-1] if why else '?'}")
    floor_python = str(python)
    script = venv / "bin" / "seatctl"
    return [str(script)], f"the console script {script} (pip install of {ROOT}, not editable)"


def given_seatctl(script: str) -> tuple[list[str], str]:
    """A console script named with --seatctl (an install already made); the floors run on the
    interpreter beside it when there is one."""
    global floor_python
    beside = Path(script).parent / "python"
    if beside.exists():
        floor_python = str(beside)
    return [script], f"the console script {script} (given)"


def floor_argv(script: str, *args: str) -> list[str]:
    return [floor_python, str(FLOOR / script), *args]


def interleaved(reps: int, *actions: Callable[[], T]) -> list[list[T]]:
    """Run every action once per round, in reverse order every other round, so that drift in
    a busy machine's speed falls on all of them alike. Returns each action's results."""
    results: list[list[T]] = [[] for _ in actions]
    for round_ in range(reps):
        order = range(len(actions)) if round_ % 2 == 0 else reversed(range(len(actions)))
        for index in order:
            results[index].append(actions[index]())
    return results


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- the bench: settings, environment, databases, commands --------------------------------


class Bench:
    """Settings, the temporary directory, the children's environment, and seatctl-made
    template databases to copy."""

    def __init__(self, settings: Settings, workdir: Path, seatctl: list[str]) -> None:
        self.settings = settings
        self.workdir = workdir
        self.seatctl = seatctl
        self.env, self.dropped = child_environment(workdir / "pycache")
        self._templates: dict[int, Path] = {}
        self._count = 0

    def run(self, argv: list[str], stdin: bytes = b"") -> Run:
        """Run `argv` to the end through a fresh measure.py wrapper, which times it from
        spawn to exit and reads its own rusage (peak RSS, CPU) with os.wait4."""
        report = self.workdir / "measure.json"
        wrapper = [sys.executable, "-S", str(MEASURE), str(report)]
        with (
            tempfile.TemporaryFile() as given,
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
        ):
            given.write(stdin)
            given.seek(0)
            report.unlink(missing_ok=True)
            subprocess.run([*wrapper, *argv], stdin=given, stdout=out, stderr=err, env=self.env)
            out.seek(0)
            err.seek(0)
            if not report.exists():  # the command could not even be started
                why = err.read().decode(errors="replace").strip().splitlines()
                raise BenchmarkError(f"cannot run {argv[0]}: {why[-1] if why else '?'}")
            figures = json.loads(report.read_text())
            return Run(stdout=out.read(), stderr=err.read(), **figures)

    def succeed(self, argv: list[str], stdin: bytes = b"") -> Run:
        run = self.run(argv, stdin)
        if run.exit_code != 0:
            detail = run.stderr.decode(errors="replace").strip()
            raise BenchmarkError(f"{' '.join(argv[:6])} ... exited {run.exit_code}: {detail}")
        return run

    def path(self, stem: str) -> str:
        self._count += 1
        return str(self.workdir / f"{stem}-{self._count}.db")

    def template(self, seats: int) -> str:
        """A database made by `seatctl init --seats N`, made once, flushed to disk."""
        if seats not in self._templates:
            path = self.workdir / f"template-{seats}.db"
            self.succeed(self.cli(str(path), "init", "--seats", str(seats)))
            _fsync(path)
            self._templates[seats] = path
        return str(self._templates[seats])

    def copy(self, seats: int, stem: str = "copy") -> str:
        """A fresh copy of a template, flushed to disk so that no measured run pays for
        writing it (a checkpoint's fsync would)."""
        path = self.path(stem)
        shutil.copyfile(self.template(seats), path)
        _fsync(Path(path))
        return path

    def cli(self, db: str, *args: str) -> list[str]:
        return [*self.seatctl, "--db", db, *args]

    def check_floor_database(self, db: str) -> None:
        """The floor wrote what seatctl would have: `seatctl check` replays its history."""
        self.succeed(self.cli(db, "check"))


def _fsync(path: Path) -> None:
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


def remove_db(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


# --- result rows ------------------------------------------------------------------------


def time_row(
    case: str, measure: str, seatctl: list[float], floor: list[float], limit: float, note: str = ""
) -> Row:
    """Seconds per run, both medians in ms; passes when seatctl <= limit x floor."""
    mine, base = median(seatctl) * 1e3, median(floor) * 1e3
    return Row(
        case,
        measure,
        "ms",
        mine,
        base,
        f"<= {limit}x floor",
        mine <= limit * base,
        note,
        [s * 1e3 for s in seatctl],
        [s * 1e3 for s in floor],
    )


def rate_row(
    case: str,
    measure: str,
    seatctl: list[float],
    floor: list[float],
    limit: float,
    note: str = "",
    ok: bool = True,
) -> Row:
    """Operations per second; passes when seatctl >= limit x floor (and `ok`)."""
    mine, base = median(seatctl), median(floor)
    passed = ok and mine >= limit * base
    return Row(
        case, measure, "ops/s", mine, base, f">= {limit}x floor", passed, note, seatctl, floor
    )


def output_note(mine: Run, base: Run) -> str:
    return (
        f"output {mine.output_bytes:,} B vs {base.output_bytes:,} B;"
        f" peak RSS {mine.peak_rss_mb:.0f} vs {base.peak_rss_mb:.0f} MB"
    )


def run_verbs(
    bench: Bench, argv: Callable[..., list[str]], db: str, verbs: tuple[str, ...], *labels: str
) -> tuple[Run, ...]:
    """`VERB LABEL... --user a` for each verb in turn, each a new process."""
    return tuple(bench.succeed(argv(db, verb, *labels, "--user", "a")) for verb in verbs)


def floor_change(db: str, *args: str) -> list[str]:
    return floor_argv("change.py", "--db", db, *args)


def verb_rows(
    bench: Bench,
    case: str,
    measures: tuple[str, ...],
    seatctl: Callable[[], tuple[Run, ...]],
    floor: Callable[[], tuple[Run, ...]],
    reps: int,
    limit: float,
    warmup: int = 0,
) -> list[Row]:
    """Rounds of commands run one after the other (lock then release, say), seatctl's and the
    floor's alternating; one row per command of the round."""
    interleaved(warmup, seatctl, floor)
    mine, base = interleaved(reps, seatctl, floor)
    return [
        time_row(
            case,
            measure,
            [runs[index].seconds for runs in mine],
            [runs[index].seconds for runs in base],
            limit,
            output_note(mine[0][index], base[0][index]),
        )
        for index, measure in enumerate(measures)
    ]


# --- case 1: start-up -------------------------------------------------------------------

STARTUP = "1 start-up"


def case_startup(bench: Bench) -> list[Row]:
    """Fresh processes on a 5-seat database: --version, seats --json, lock then release."""
    reps = bench.settings.startup_reps
    db = bench.copy(5, "startup")

    def one(argv: list[str]) -> Callable[[], tuple[Run, ...]]:
        return lambda: (bench.succeed(argv),)

    version = verb_rows(
        bench,
        STARTUP,
        ("--version",),
        one([*bench.seatctl, "--version"]),
        one(floor_argv("version.py", "--version")),
        reps,
        2.5,
        warmup=2,
    )
    listing = verb_rows(
        bench,
        STARTUP,
        ("seats --json (5 seats)",),
        one(bench.cli(db, "seats", "--json")),
        one(floor_argv("seats.py", "--db", db, "seats", "--json")),
        reps,
        2.2,
        warmup=2,
    )
    lock_release = verb_rows(
        bench,
        STARTUP,
        ("lock 1", "release 1 (after the lock)"),
        lambda: run_verbs(bench, bench.cli, db, ("lock", "release"), "1"),
        lambda: run_verbs(bench, floor_change, db, ("lock", "release"), "1"),
        reps,
        2.2,
        warmup=2,
    )
    return version + listing + lock_release


# --- case 2: many seats in one command --------------------------------------------------


def case_batch(bench: Bench) -> list[Row]:
    """`lock` of 1,000 seats in one command, then `confirm` of them, on a fresh copy."""
    seats = bench.settings.batch_seats
    labels = [str(n) for n in range(1, seats + 1)]
    floor_dbs: list[str] = []

    def with_seatctl() -> tuple[Run, ...]:
        db = bench.copy(seats, "batch")
        runs = run_verbs(bench, bench.cli, db, ("lock", "confirm"), *labels)
        remove_db(db)
        return runs

    def with_floor() -> tuple[Run, ...]:
        db = bench.copy(seats, "batch-floor")
        floor_dbs.append(db)
        return run_verbs(bench, floor_change, db, ("lock", "confirm"), *labels)

    measures = (f"lock {seats:,} seats, one command", f"confirm {seats:,} seats, one command")
    rows = verb_rows(
        bench, "2 batch", measures, with_seatctl, with_floor, bench.settings.batch_reps, 2.0
    )
    bench.check_floor_database(floor_dbs[0])
    for db in floor_dbs:
        remove_db(db)
    return rows


# --- case 3: a big venue ----------------------------------------------------------------

SCALE = "3 scale"


def case_scale(bench: Bench) -> list[Row]:
    return [scale_init(bench), *scale_listing(bench), *scale_single_seat(bench)]


def scale_init(bench: Bench) -> Row:
    """`init --seats 100000` on a new file; target: 3 s."""
    seats = str(bench.settings.scale_seats)

    def timed(argv: Callable[[str], list[str]]) -> Callable[[], Run]:
        def action() -> Run:
            db = bench.path("init")
            run = bench.succeed(argv(db))
            remove_db(db)
            return run

        return action

    mine, base = interleaved(
        bench.settings.init_reps,
        timed(lambda db: bench.cli(db, "init", "--seats", seats)),
        timed(lambda db: floor_argv("init.py", "--db", db, "init", "--seats", seats)),
    )
    value, floor = median([r.seconds for r in mine]), median([r.seconds for r in base])
    rss = median([r.peak_rss_mb for r in mine]), median([r.peak_rss_mb for r in base])
    return Row(
        SCALE,
        f"init --seats {int(seats):,}",
        "s",
        value,
        floor,
        "<= 3 s",
        value <= 3.0,
        f"peak RSS {rss[0]:.0f} vs {rss[1]:.0f} MB",
        [r.seconds for r in mine],
        [r.seconds for r in base],
    )


def scale_listing(bench: Bench) -> list[Row]:
    """`seats --json` of the big venue: wall time (1.5 s) and the child's peak RSS (150 MB)."""
    seats = bench.settings.scale_seats
    db = bench.template(seats)

    def listing(argv: list[str]) -> Callable[[], Run]:
        return lambda: bench.succeed(argv).slim()

    seatctl = listing(bench.cli(db, "seats", "--json"))
    floor = listing(floor_argv("seats.py", "--db", db, "seats", "--json"))
    interleaved(1, seatctl, floor)  # warm the page cache
    mine, base = interleaved(bench.settings.listing_reps, seatctl, floor)
    seconds = median([r.seconds for r in mine]), median([r.seconds for r in base])
    rss = median([r.peak_rss_mb for r in mine]), median([r.peak_rss_mb for r in base])
    size = f"output {mine[0].output_bytes / 1e6:.1f} MB vs {base[0].output_bytes / 1e6:.1f} MB"
    return [
        Row(
            SCALE,
            f"seats --json, {seats:,} seats: time",
            "s",
            *seconds,
            "<= 1.5 s",
            seconds[0] <= 1.5,
            size,
            [r.seconds for r in mine],
            [r.seconds for r in base],
        ),
        Row(
            SCALE,
            f"seats --json, {seats:,} seats: peak RSS",
            "MB",
            *rss,
            "<= 150 MB",
            rss[0] <= 150,
            "the process's own ru_maxrss, read by a fresh measure.py wrapper",
            [r.peak_rss_mb for r in mine],
            [r.peak_rss_mb for r in base],
        ),
    ]


def scale_single_seat(bench: Bench) -> list[Row]:
    """`lock` then `confirm` of one seat: on the 100,000-seat database (a new seat each
    round) against a fresh 5-seat one; the floor does the same on both."""
    big_seats = bench.settings.scale_seats
    big, big_floor = bench.copy(big_seats, "big"), bench.copy(big_seats, "big-floor")
    labels = iter(range(big_seats // 2, big_seats + 1))
    verbs = ("lock", "confirm")

    def on_small(argv: Callable[..., list[str]]) -> Callable[[], tuple[Run, ...]]:
        def action() -> tuple[Run, ...]:
            db = bench.copy(5, "small")
            runs = run_verbs(bench, argv, db, verbs, "3")
            remove_db(db)
            return runs

        return action

    def on_big(argv: Callable[..., list[str]], db: str) -> Callable[[], tuple[Run, ...]]:
        return lambda: run_verbs(bench, argv, db, verbs, str(next(labels)))

    small, small_floor, mine, base = interleaved(
        bench.settings.scale_op_reps,
        on_small(bench.cli),
        on_small(floor_change),
        on_big(bench.cli, big),
        on_big(floor_change, big_floor),
    )
    remove_db(big)
    remove_db(big_floor)
    rows = []
    for index, verb in enumerate(verbs):
        small_ms = median([runs[index].seconds for runs in small]) * 1e3
        small_floor_ms = median([runs[index].seconds for runs in small_floor]) * 1e3
        row = time_row(
            SCALE,
            f"{verb} 1 seat of {big_seats:,}",
            [runs[index].seconds for runs in mine],
            [runs[index].seconds for runs in base],
            1.1,
        )
        row.target = "<= 1.1x on 5 seats"
        row.passed = row.seatctl <= 1.1 * small_ms
        row.note = (
            f"on 5 seats: seatctl {small_ms:.1f} ms, floor {small_floor_ms:.1f} ms;"
            f" 100,000 / 5 seats: seatctl {row.seatctl / small_ms:.2f}x,"
            f" floor {(row.floor or 0) / small_floor_ms:.2f}x"
        )
        rows.append(row)
    return rows


# --- case 4: contention -----------------------------------------------------------------


@dataclass
class Worker:
    """One process of a contention run, driven line by line like a coprocess."""

    exit_code: int = -1
    ops: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    busy: int = 0
    died: bool = False


def drive(
    bench: Bench, argv: list[str], user: str, seat_for: Callable[[int], int], cycles: int
) -> Worker:
    """Lock a seat; release it only if the lock was granted; `cycles` times."""
    result = Worker()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=bench.env,
            text=True,
        )
        assert proc.stdin and proc.stdout

        def ask(line: str) -> int:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            reply = proc.stdout.readline()
            if not reply:
                result.died = True
                return -1
            record = json.loads(reply)
            result.ops += 1
            result.codes[record["exit"]] += 1
            if record.get("error") == "busy" or "database is locked" in reply:
                result.busy += 1
            return record["exit"]

        for cycle in range(cycles):
            seat = seat_for(cycle)
            code = ask(f"lock {seat} --user {user}")
            if code == 0:
                code = ask(f"release {seat} --user {user}")
            if result.died:
                break
        proc.stdin.close()
        proc.stdout.read()
        result.exit_code = proc.wait()
        err.seek(0)
        result.busy += err.read().count(b"database is locked")
    return result


def contention_run(
    argv: Callable[[str], list[str]], seat_for: Callable[[int, int], int], bench: Bench
) -> tuple[float, list[Worker]]:
    """All workers at once on a fresh database: (operations per second, the workers)."""
    settings = bench.settings
    db = bench.copy(settings.workers, "contention")
    workers: list[Worker] = [Worker() for _ in range(settings.workers)]

    def work(index: int) -> None:
        workers[index] = drive(
            bench,
            argv(db),
            f"w{index}",
            lambda cycle: seat_for(index, cycle),
            settings.worker_cycles,
        )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(settings.workers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    remove_db(db)
    return sum(w.ops for w in workers) / seconds, workers


def case_contention(bench: Bench) -> list[Row]:
    """8 `batch` processes x 100 lock+release cycles: each on its own seat, then all 8 on
    seats 1-4. Against 8 floor processes doing the same, one transaction per operation."""
    return [
        contention_row(bench, "own seat each", lambda worker, cycle: worker + 1),
        contention_row(bench, "all on seats 1-4", lambda worker, cycle: (worker + cycle) % 4 + 1),
    ]


def contention_row(bench: Bench, name: str, seat_for: Callable[[int, int], int]) -> Row:
    settings = bench.settings
    mine, base = interleaved(
        settings.contention_reps,
        lambda: contention_run(lambda db: bench.cli(db, "batch"), seat_for, bench),
        lambda: contention_run(
            lambda db: floor_argv("batch.py", "--db", db, "batch"), seat_for, bench
        ),
    )
    problems = contention_problems([w for _, run in mine for w in run])
    floor_problems = contention_problems([w for _, run in base for w in run])
    codes = sum((w.codes for _, run in mine for w in run), Counter())
    note = f"seatctl line exits {dict(sorted(codes.items()))} over {len(mine)} run(s)"
    if problems or floor_problems:
        note += f"; PROBLEMS seatctl: {problems or 'none'}, floor: {floor_problems or 'none'}"
    return rate_row(
        "4 contention",
        f"{settings.workers} x {settings.worker_cycles} lock+release, {name}",
        [rate for rate, _ in mine],
        [rate for rate, _ in base],
        0.5,
        note,
        ok=not problems,
    )


def contention_problems(workers: list[Worker]) -> str:
    """What broke the rules: a process that died or failed, an exit other than 0 or 4, busy."""
    found = []
    if any(w.died for w in workers):
        found.append("a process died")
    if any(w.exit_code != 0 for w in workers):
        found.append(f"process exits {sorted({w.exit_code for w in workers})}")
    other = {code for w in workers for code in w.codes if code not in (0, 4)}
    if other:
        found.append(f"line exits {sorted(other)}")
    busy = sum(w.busy for w in workers)
    if busy:
        found.append(f"{busy} busy / 'database is locked'")
    return ", ".join(found)


# --- case 5: the Python API -------------------------------------------------------------


def load_floor_sql() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seatsql", FLOOR / "seatsql.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case_api(bench: Bench) -> list[Row]:
    """lock+confirm cycles per second in one process: `Venue` against raw sqlite3."""
    from seatctl import Venue

    raw = load_floor_sql()
    cycles = bench.settings.api_cycles
    labels = [str(n) for n in range(1, cycles + 1)]

    def with_venue() -> tuple[float, float]:
        db = bench.copy(cycles, "api")
        with Venue.open(db) as venue:
            start, cpu = time.perf_counter(), time.process_time()
            for label in labels:
                venue.lock([label], user="a")
                venue.confirm([label], user="a")
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        remove_db(db)
        return cycles / seconds, cpu / cycles

    def with_sqlite3() -> tuple[float, float]:
        db = bench.copy(cycles, "api-floor")
        conn = raw.connect(db)
        start, cpu = time.perf_counter(), time.process_time()
        for label in labels:
            raw.change(conn, "lock", [label], "a")
            raw.change(conn, "confirm", [label], "a")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        conn.close()
        remove_db(db)
        return cycles / seconds, cpu / cycles

    mine, base = interleaved(bench.settings.api_reps, with_venue, with_sqlite3)
    cpu = [median([c for _, c in runs]) * 1e3 for runs in (mine, base)]
    row = rate_row(
        "5 Python API",
        f"lock+confirm cycles, {cycles:,} per run",
        [rate for rate, _ in mine],
        [rate for rate, _ in base],
        0.5,
        f"CPU per cycle {cpu[0]:.3f} vs {cpu[1]:.3f} ms;"
        " the rest of a cycle is waiting, mostly for fsync",
    )
    row.unit = "cycles/s"
    return [row]


# --- case 6: batch mode -----------------------------------------------------------------


def batch_lines(count: int) -> tuple[bytes, int]:
    """`count` lines: per seat, lock, release, lock again, confirm -- all succeed."""
    lines = []
    for index in range(count):
        seat, step = index // 4 + 1, index % 4
        verb = ("lock", "release", "lock", "confirm")[step]
        lines.append(f"{verb} {seat} --user u{seat % 7}\n")
    return "".join(lines).encode(), (count + 3) // 4


def case_batch_mode(bench: Bench) -> list[Row]:
    """N lines through one `seatctl batch` against the floor's batch.py, in lines per second."""
    count = bench.settings.batch_lines
    text, seats = batch_lines(count)
    floor_dbs: list[str] = []

    def run(argv: Callable[[str], list[str]], keep: bool) -> Run:
        db = bench.copy(seats, "lines")
        result = bench.succeed(argv(db), text)
        exits = Counter(json.loads(line)["exit"] for line in result.stdout.splitlines())
        if exits != Counter({0: count}):
            raise BenchmarkError(f"batch: expected {count} successes, got {dict(exits)}")
        if keep:
            floor_dbs.append(db)
        else:
            remove_db(db)
        return result

    mine, base = interleaved(
        bench.settings.batch_mode_reps,
        lambda: run(lambda db: bench.cli(db, "batch"), keep=False),
        lambda: run(lambda db: floor_argv("batch.py", "--db", db, "batch"), keep=True),
    )
    bench.check_floor_database(floor_dbs[0])
    for db in floor_dbs:
        remove_db(db)
    cpu = [median([r.cpu_seconds for r in runs]) / count * 1e3 for runs in (mine, base)]
    note = f"CPU per line {cpu[0]:.3f} vs {cpu[1]:.3f} ms; " + output_note(mine[0], base[0])
    return [
        rate_row(
            "6 batch mode",
            f"{count:,} lock/release/confirm lines, one process",
            [count / r.seconds for r in mine],
            [count / r.seconds for r in base],
            0.5,
            note,
        )
    ]


# --- case 8: a real venue (issue 10) ------------------------------------------------------

VENUE = "8 venue"
VENUE_EVENTS = 5


def venue_map_csv(path: Path, sections: int, rows: int, seats: int) -> list[str]:
    """A seat-map file: sections x rows x seats, best first; returns the labels."""
    labels, lines = [], ["label,section,row,number,category"]
    for section in range(1, sections + 1):
        for row in range(1, rows + 1):
            category = "premium" if row <= rows // 5 else "standard"
            for number in range(1, seats + 1):
                label = f"S{section}R{row}N{number}"
                labels.append(label)
                lines.append(f"{label},S{section},R{row},{number},{category}")
    path.write_text("\n".join(lines) + "\n")
    return labels


def venue_database(
    bench: Bench, csv: Path, labels: list[str], events: int, stem: str
) -> tuple[str, list[str]]:
    """`init --map`, 60% of the seats booked at random (the same ones every time) in the
    event default, and more events; returns the database and its free seats in map order."""
    import random

    db = bench.path(stem)
    bench.succeed(bench.cli(db, "init", "--map", str(csv)))
    booked = random.Random(10).sample(labels, len(labels) * 6 // 10)
    named = " ".join(booked)
    lines = [f"lock {named} --user box --ttl 86400", f"confirm {named} --user box"]
    lines += [f"event add e{n}" for n in range(2, events + 1)]
    bench.succeed(bench.cli(db, "batch"), ("\n".join(lines) + "\n").encode())
    _fsync(Path(db))
    taken = set(booked)
    return db, [label for label in labels if label not in taken]


def case_venue(bench: Bench) -> list[Row]:
    """A 100,000-seat map (10 sections x 100 rows x 100 seats), 60% booked, 5 events."""
    reps = bench.settings.scale_op_reps
    csv = bench.workdir / "venue.csv"
    side = 100 if bench.settings.scale_seats >= 100_000 else 30
    labels = venue_map_csv(csv, 10, side, side)
    rows = [venue_init(bench, csv, len(labels))]
    one, _ = venue_database(bench, csv, labels, 1, "venue-1")
    five, free_seats = venue_database(bench, csv, labels, VENUE_EVENTS, "venue-5")
    free = iter(reversed(free_seats))  # from the back: lock --best takes seats at the front

    def single(db: str, seats: Any) -> Callable[[], Run]:
        return lambda: bench.succeed(bench.cli(db, "lock", next(seats), "--user", "x"))

    best, lock1 = interleaved(
        reps,
        lambda: bench.succeed(bench.cli(five, "lock", "--best", "4", "--user", "b")),
        single(five, free),
    )
    rows.append(
        ratio_row("lock --best 4 vs lock 1 (5 events)", best, lock1, 2.5, "lock 1 in the same run")
    )
    summary, listing = interleaved(
        max(3, reps // 3),
        lambda: bench.succeed(bench.cli(five, "summary", "--by", "section")),
        lambda: bench.succeed(bench.cli(five, "seats", "--json")).slim(),
    )
    rows.append(ratio_row("summary --by section vs seats --json", summary, listing, 0.5, ""))
    small_csv = bench.workdir / "small.csv"
    small_labels = venue_map_csv(small_csv, 2, 20, 50)
    small, _ = venue_database(bench, small_csv, small_labels, 1, "venue-small")
    drawn, small_listing = interleaved(
        reps,
        lambda: bench.succeed(bench.cli(small, "map")),
        lambda: bench.succeed(bench.cli(small, "seats", "--json")),
    )
    rows.append(ratio_row("map vs seats --json, 2,000 seats", drawn, small_listing, 1.5, ""))
    with_five, with_one = interleaved(reps, single(five, free), single(one, free))
    rows.append(ratio_row("lock 1 with 5 events vs with 1", with_five, with_one, 1.1, ""))
    return rows


def venue_init(bench: Bench, csv: Path, seats: int) -> Row:
    """`init --map` of the venue's CSV on a new file; target: 3 s."""

    def action() -> Run:
        db = bench.path("venue-init")
        run = bench.succeed(bench.cli(db, "init", "--map", str(csv)))
        remove_db(db)
        return run

    [runs] = interleaved(bench.settings.init_reps, action)
    value = median([r.seconds for r in runs])
    return Row(
        VENUE,
        f"init --map, {seats:,} seats",
        "s",
        value,
        None,
        "<= 3 s",
        value <= 3.0,
        "",
        [r.seconds for r in runs],
    )


def ratio_row(measure: str, mine: list[Run], base: list[Run], limit: float, note: str) -> Row:
    """Two seatctl commands measured in the same run: passes when the first's median is at
    most `limit` times the second's (shown in the floor column)."""
    row = time_row(VENUE, measure, [r.seconds for r in mine], [r.seconds for r in base], limit)
    row.target = f"<= {limit}x"
    row.note = note
    return row


def case_http(bench: Bench) -> list[Row]:
    import http_case  # wrk and the prototype peer: only case 7 loads them

    return http_case.case_http(bench)


def case_stream(bench: Bench) -> list[Row]:
    import stream_case

    return stream_case.case_stream(bench)


def case_onsale(bench: Bench) -> list[Row]:
    import onsale  # the on-sale's load generator: only case 10 loads it

    return onsale.case_onsale(bench)


def case_page(bench: Bench) -> list[Row]:
    import page_case  # Playwright and Chromium: only case 11 loads them

    return page_case.case_page(bench)


CASES: dict[int, Callable[[Bench], list[Row]]] = {
    1: case_startup,
    2: case_batch,
    3: case_scale,
    4: case_contention,
    5: case_api,
    6: case_batch_mode,
    7: lambda bench: case_http(bench),
    8: case_venue,
    9: lambda bench: case_stream(bench),
    10: lambda bench: case_onsale(bench),
    11: lambda bench: case_page(bench),
}


# --- report -----------------------------------------------------------------------------


def machine(bench: Bench) -> dict[str, Any]:
    version = bench.succeed([*bench.seatctl, "--version"]).stdout.decode().strip()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "seatctl": version.removeprefix("seatctl "),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("ops/s", "cycles/s"):
        return f"{value:,.0f} {unit}"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.1f} {unit}"


def table(rows: list[Row]) -> str:
    header = ("case", "measure", "seatctl", "floor", "vs floor", "target", "result")
    lines = [header]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        lines.append(
            (
                row.case,
                row.measure,
                number(row.seatctl, row.unit),
                number(row.floor, row.unit),
                ratio,
                row.target,
                verdict(row.passed),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {row.case} / {row.measure}: {row.note}" for row in rows if row.note]
    return "\n".join(line.rstrip() for line in text) + "\n\nnotes:\n" + "\n".join(notes)


def write_json(path: str, report: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


@dataclass
class Options:
    quick: bool
    json: str | None
    cases: list[int]
    seatctl: str | None


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few repetitions)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument(
        "--case",
        type=int,
        action="append",
        choices=sorted(CASES),
        help="run only this case (repeatable; default: all)",
    )
    parser.add_argument(
        "--seatctl",
        metavar="SCRIPT",
        help="time this console script (an install already made) instead of installing this"
        " checkout into a new virtual environment",
    )
    args = parser.parse_args(argv)
    return Options(args.quick, args.json, args.case or sorted(CASES), args.seatctl)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    settings = Settings.quick_run() if options.quick else Settings()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seatctl-bench-") as workdir:
        try:
            if options.seatctl:
                seatctl, how = given_seatctl(options.seatctl)
            else:
                print("installing this checkout into a new virtual environment...", flush=True)
                seatctl, how = install_seatctl(Path(workdir))
            bench = Bench(settings, Path(workdir), seatctl)
            info = machine(bench)
            print_header(info, how, bench)
            rows = run_cases(bench, options.cases)
        except BenchmarkError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1
    duration = time.perf_counter() - started
    print()
    print(table(rows))
    passed, missed = sum(r.passed is True for r in rows), sum(r.passed is False for r in rows)
    print(f"\n{passed} PASS, {missed} MISS; {duration:.0f} s in all")
    if options.json:
        report = {
            "machine": info,
            "seatctl_command": seatctl,
            "seatctl_runs_as": how,
            "environment_left_out": bench.dropped,
            "quick": settings.quick,
            "settings": asdict(settings),
            "duration_s": round(duration, 1),
            "results": [row.as_json() for row in rows],
        }
        write_json(options.json, report)
        print(f"wrote {options.json}")
    return 0


def print_header(info: dict[str, Any], how: str, bench: Bench) -> None:
    print(
        f"machine: {info['cpus']} CPUs, {info['platform']}, Python {info['python']},"
        f" SQLite {info['sqlite']}, seatctl {info['seatctl']},"
        f" load average {info['load_average']}"
    )
    print(f"seatctl runs as {how}; floors as {floor_python} benchmarks/floor/*.py")
    print(
        "children get bytecode caching and buffered output"
        + (f" (left out of their environment: {', '.join(bench.dropped)})" if bench.dropped else "")
    )
    kind = "quick smoke run" if bench.settings.quick else "full run"
    print(f"{kind}: medians of repeated runs\n", flush=True)


def run_cases(bench: Bench, cases: list[int]) -> list[Row]:
    rows: list[Row] = []
    for case in cases:
        started = time.perf_counter()
        rows += CASES[case](bench)
        print(f"case {case} done in {time.perf_counter() - started:.1f} s", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())

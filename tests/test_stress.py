"""Stress: 8 processes run 150 random lock/confirm/release/block/unblock commands each on a
6-seat venue with two events, on SQLite and on PostgreSQL.

Each process calls the CLI's entry point, `seatctl.cli.main`, in a loop: every call opens its
own connection and runs its own transaction exactly as a separate `seatctl` run does, without
paying 1,200 interpreter start-ups. Every command sets `SEATCTL_NOW` from a ticket drawn from a
counter all processes share (3 s per process step, on average) and locks last 5 to 20 s, so
locks lapse and are taken over while other processes still try to confirm or release them. A
process that drew its ticket and then waited for the write lock acts with a clock a little
behind the seats' history, as hosts a little out of step do: the write moves up to the seat's
newest event, or, rarely, is refused for its clock.

Afterwards `check` passes, no seat was confirmed twice in an event, every reported booking is
on the record of its event, and every command ended in success or a documented refusal (exit
0, 3, 4 or 5, or 6 `clock_behind`): never exit 1 or another exit 6, never a traceback or
"database is locked".

`SEATCTL_SOAK=N` runs N rounds, each on a fresh venue with different random choices.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from helpers import PG_ENV, SOAK, frozen, new_schema, run_process
from seatctl import Venue
from seatctl.core.clock import format_instant, parse_instant

# Not `alone`: what these tests prove (every command ends in success or a documented refusal,
# nothing is booked twice) holds under any scheduling, so other tests may run beside them. Each
# backend's round is a group of its own: its module fixture is built once, on one worker, while
# the other backend's round runs on another.

PROCESSES = 8
OPERATIONS = 150
SEATS = 6
STEP_SECONDS = 3
START = parse_instant("2026-01-01T12:00:00Z")
ROUNDS = SOAK
EVENTS = ("default", "gala")

# One stressing process: it imports everything, says it is ready and waits for the starting
# pipe to close, so that all of them begin together. Then it runs its commands through the CLI
# entry point, recording each one's arguments, exit code and stderr, and prints them as JSON.
WORKER = """
import contextlib, io, json, os, random, sys, traceback
from seatctl.cli import main

go, db, seed, operations, start, step_seconds, seats, ticks, processes = sys.argv[1:10]
operations, start, step_seconds = int(operations), int(start), int(step_seconds)
# Each write appends a byte to one shared file; where it landed is a ticket no other process
# holds, in the order they were drawn: one clock for all, advancing with the whole workload.
ticket_file = os.open(ticks, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
labels = [str(n) for n in range(1, int(seats) + 1)]
events = ["default", "gala"]
missing = str(int(seats) + 1)
rng = random.Random(seed)
print("ready", flush=True)
os.read(int(go), 1)

runs = []
last_lock = None  # (user, seats) of this process's last successful lock
book_next = False  # confirm that lock with the next command
first_block = None  # the seats of this process's opening block and unblock
for step in range(operations):
    os.write(ticket_file, b".")
    ticket = os.lseek(ticket_file, 0, os.SEEK_CUR)
    os.environ["SEATCTL_NOW"] = f"@{start + step_seconds * ticket // int(processes)}"
    action = rng.choices(
        ["lock", "release", "confirm", "block", "unblock"], weights=[10, 5, 1, 1, 1]
    )[0]
    user = rng.choice(["ann", "bob", "cy", "di"])
    chosen = rng.sample(labels, rng.randint(1, 3))
    event = rng.choice(events)
    again = {"lock": 0, "release": 0.3, "confirm": 0.3, "block": 0, "unblock": 0}[action]
    if last_lock and (book_next or rng.random() < again):
        # Give up or book what this process held last (at once, now and then: however the
        # processes are scheduled, some bookings are made while their locks are live).
        if book_next:
            action = "confirm"
        user, chosen, event = last_lock
    elif rng.random() < 0.03:
        chosen.append(missing)
    if step < 2:
        # Each process begins by blocking seats and unblocking them: the hall is sold out after
        # a few dozen bookings, and no block can succeed after that (how soon depends on how
        # the processes are scheduled).
        action = ("block", "unblock")[step]
        chosen, event = first_block = first_block or (chosen, event)
    book_next = False
    args = [action, *chosen, "--event", event]
    if action in ("lock", "release", "confirm"):
        args += ["--user", user]
    if action == "lock":
        args += ["--ttl", str(rng.randint(5, 20))]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(["--db", db, *args])
        except BaseException:
            traceback.print_exc()
            code = None
    if action == "lock" and code == 0:
        last_lock = (user, chosen, event)
        book_next = rng.random() < 0.05
    runs.append({"step": step, "args": args, "code": code, "err": err.getvalue()})
json.dump(runs, sys.stdout)
"""


@dataclass
class Stress:
    db: str
    runs: list[dict]  # every command: step, args, code, err
    history: dict[str, list[dict]]  # each event's `seatctl history --json` afterwards
    seats: dict[str, list[dict]]  # each event's `seatctl seats --json` afterwards

    def codes(self) -> Counter:
        return Counter(run["code"] for run in self.runs)


def run_workers(db: str, seed: str, folder: str) -> list[dict]:
    go_read, go_write = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    ticks = os.path.join(folder, "ticks")
    settings = [str(OPERATIONS), str(START), str(STEP_SECONDS), str(SEATS), ticks, str(PROCESSES)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go_read), db, f"{seed}-{n}", *settings],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            pass_fds=(go_read,),
        )
        for n in range(PROCESSES)
    ]
    os.close(go_read)
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n", worker.stderr.read()
    finally:
        os.close(go_write)  # go
    runs = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)  # a safety net, not a pace
        assert worker.returncode == 0, err
        runs += json.loads(out)
    return runs


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((backend, n), marks=pytest.mark.xdist_group(f"stress_{backend}_{n}"))
        for backend in ("sqlite", "postgres")
        for n in range(ROUNDS)
    ],
    ids=lambda param: f"{param[0]}-round{param[1]}",
)
def stress(request, tmp_path_factory) -> Iterator[Stress]:
    backend, seed = request.param
    folder = tmp_path_factory.mktemp("stress")
    with _database(backend, folder) as db:
        # The seats' history starts before the workload (on PostgreSQL "now" is the server's
        # clock unless SEATCTL_NOW says otherwise).
        with frozen(format_instant(START)), _now(format_instant(START)):
            Venue.init(db, seats=SEATS)
            with Venue.open(db) as venue:
                venue.add_event("gala")
        runs = run_workers(db, seed=f"{backend}-{seed}", folder=str(folder))
        after = {"SEATCTL_NOW": format_instant(START + STEP_SECONDS * OPERATIONS)}
        history, seats = {}, {}
        for event in EVENTS:
            listed = run_process("--db", db, "history", "--json", "--event", event, env=after)
            now = run_process("--db", db, "seats", "--json", "--event", event, env=after)
            assert (listed.code, now.code) == (0, 0), listed.err + now.err
            history[event], seats[event] = listed.json(), now.json()
        yield Stress(db, runs, history, seats)


@contextlib.contextmanager
def _database(backend: str, folder) -> Iterator[str]:
    """A new database: a SQLite file, or a fresh PostgreSQL schema (skipped without a server)."""
    if backend == "sqlite":
        yield str(folder / "venue.db")
        return
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(f"set {PG_ENV} to a PostgreSQL URL to run the PostgreSQL tests")
    pytest.importorskip("psycopg")
    url, drop = new_schema(server, prefix="seatctl_stress")
    try:
        yield url
    finally:
        drop()


@contextlib.contextmanager
def _now(value: str) -> Iterator[None]:
    before = os.environ.get("SEATCTL_NOW")
    os.environ["SEATCTL_NOW"] = value
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PostgreSQL's "overrides the server clock"
            yield
    finally:
        if before is None:
            del os.environ["SEATCTL_NOW"]
        else:
            os.environ["SEATCTL_NOW"] = before


def test_every_command_succeeds_or_gets_a_documented_refusal(stress):
    codes = stress.codes()
    unexpected = [
        run for run in stress.runs if run["code"] not in (0, 3, 4, 5) and not clock_behind(run)
    ]
    assert not unexpected, f"exit codes {dict(codes)}; first: {unexpected[:3]}"


def clock_behind(run: dict) -> bool:
    """Refused for a clock too far behind a seat's history (exit 6 `clock_behind`)."""
    return run["code"] == 6 and "a seat's history cannot go back in time" in run["err"]


def test_no_command_prints_a_traceback_or_database_is_locked(stress):
    for run in stress.runs:
        assert "Traceback" not in run["err"], run
        assert "database is locked" not in run["err"], run


def test_success_is_silent_on_stderr_and_a_refusal_is_one_error_line(stress):
    for run in stress.runs:
        err = errors(run)
        if run["code"] == 0:
            assert err == "", run
        else:
            assert err.startswith("error: seat "), run
            assert err.count("\n") == 1, run


def errors(run: dict) -> str:
    """stderr without PostgreSQL's warning that SEATCTL_NOW overrides the server clock."""
    lines = run["err"].splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("warning: SEATCTL_NOW="))


def test_check_passes_afterwards(stress):
    run = run_process("--db", stress.db, "check")
    assert (run.code, run.out, run.err) == (0, "ok\n", "")


def test_no_seat_is_confirmed_twice_in_an_event(stress):
    confirmed = Counter(
        (event, e["seat"])
        for event, history in stress.history.items()
        for e in history
        if e["action"] == "confirm"
    )
    assert confirmed, "no confirm succeeded: the workload proves nothing"
    assert max(confirmed.values()) == 1, confirmed


def test_every_reported_booking_is_in_its_events_history_and_seats(stress):
    reported = {
        (run["args"][run["args"].index("--event") + 1], seat, run["args"][-1])
        for run in stress.runs
        if run["args"][0] == "confirm" and run["code"] == 0
        for seat in run["args"][1 : run["args"].index("--event")]
    }
    recorded = {
        (event, e["seat"], e["user"])
        for event, history in stress.history.items()
        for e in history
        if e["action"] == "confirm"
    }
    booked = {
        (event, s["seat"], s["booked_by"])
        for event, seats in stress.seats.items()
        for s in seats
        if s["status"] == "booked"
    }
    assert reported == recorded == booked


def test_the_workload_reaches_every_outcome(stress):
    """A guard on the test itself: the random commands really did contend and expire."""
    assert {0, 3, 4, 5} <= set(stress.codes())
    actions = Counter(e["action"] for history in stress.history.values() for e in history)
    expected = {"add", "lock", "extend", "expire", "release", "confirm", "block", "unblock"}
    assert expected <= set(actions), actions

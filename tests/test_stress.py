"""Stress: 8 processes run 150 random lock/confirm/release commands each on a 6-seat venue.

Each process calls the CLI's entry point, `seatctl.cli.main`, in a loop: every call opens its
own connection and runs its own transaction exactly as a separate `seatctl` run does, without
paying 1,200 interpreter start-ups. Every command sets `SEATCTL_NOW` from a ticket drawn from a
counter all processes share (3 s per process step, on average) and locks last 5 to 20 s, so
locks lapse and are taken over while other processes still try to confirm or release them. A
process that drew its ticket and then waited for the write lock acts with a clock a little
behind the seats' history, as hosts a little out of step do: the write moves up to the seat's
newest event, or, rarely, is refused for its clock.

Afterwards `check` passes, no seat was confirmed twice, every reported booking is on the
record, and every command ended in success or a documented refusal (exit 0, 3, 4 or 5, or 6
`clock_behind`): never exit 1 or another exit 6, never a traceback or "database is locked".

`SEATCTL_SOAK=N` runs N rounds, each on a fresh venue with different random choices.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

import pytest
from freezegun import freeze_time

from conftest import run_process
from seatctl import Venue
from seatctl.clock import format_instant, parse_instant

PROCESSES = 8
OPERATIONS = 150
SEATS = 6
STEP_SECONDS = 3
START = parse_instant("2026-01-01T12:00:00Z")
ROUNDS = max(1, int(os.environ.get("SEATCTL_SOAK") or 1))

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
missing = str(int(seats) + 1)
rng = random.Random(seed)
print("ready", flush=True)
os.read(int(go), 1)

runs = []
last_lock = None  # (user, seats) of this process's last successful lock
for step in range(operations):
    os.write(ticket_file, b".")
    ticket = os.lseek(ticket_file, 0, os.SEEK_CUR)
    os.environ["SEATCTL_NOW"] = f"@{start + step_seconds * ticket // int(processes)}"
    action = rng.choices(["lock", "release", "confirm"], weights=[10, 5, 1])[0]
    user = rng.choice(["ann", "bob", "cy", "di"])
    chosen = rng.sample(labels, rng.randint(1, 3))
    if last_lock and rng.random() < {"lock": 0, "release": 0.3, "confirm": 0.1}[action]:
        user, chosen = last_lock  # give up or book what this process held last
    elif rng.random() < 0.03:
        chosen.append(missing)
    args = [action, *chosen, "--user", user]
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
        last_lock = (user, chosen)
    runs.append({"step": step, "args": args, "code": code, "err": err.getvalue()})
json.dump(runs, sys.stdout)
"""


@dataclass
class Stress:
    db: str
    runs: list[dict]  # every command: step, args, code, err
    history: list[dict]  # `seatctl history --json` afterwards
    seats: list[dict]  # `seatctl seats --json` afterwards

    def codes(self) -> Counter:
        return Counter(run["code"] for run in self.runs)


def run_workers(db: str, seed: int) -> list[dict]:
    go_read, go_write = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    ticks = os.path.join(os.path.dirname(db), "ticks")
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


@pytest.fixture(scope="module", params=range(ROUNDS), ids=lambda n: f"round{n}")
def stress(request, tmp_path_factory) -> Stress:
    db = str(tmp_path_factory.mktemp("stress") / "venue.db")
    with freeze_time(format_instant(START)):  # the seats' history starts before the workload
        Venue.init(db, seats=SEATS)
    runs = run_workers(db, seed=request.param)
    after = {"SEATCTL_NOW": format_instant(START + STEP_SECONDS * OPERATIONS)}
    history = run_process("--db", db, "history", "--json", env=after)
    seats = run_process("--db", db, "seats", "--json", env=after)
    assert (history.code, seats.code) == (0, 0), history.err + seats.err
    return Stress(db, runs, history.json(), seats.json())


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
        if run["code"] == 0:
            assert run["err"] == "", run
        else:
            assert run["err"].startswith("error: seat "), run
            assert run["err"].count("\n") == 1, run


def test_check_passes_afterwards(stress):
    run = run_process("--db", stress.db, "check")
    assert (run.code, run.out, run.err) == (0, "ok\n", "")


def test_no_seat_is_confirmed_twice(stress):
    confirmed = Counter(e["seat"] for e in stress.history if e["action"] == "confirm")
    assert confirmed, "no confirm succeeded: the workload proves nothing"
    assert max(confirmed.values()) == 1, confirmed


def test_every_reported_booking_is_in_the_history_and_in_the_seats(stress):
    reported = {
        (seat, run["args"][-1])
        for run in stress.runs
        if run["args"][0] == "confirm" and run["code"] == 0
        for seat in run["args"][1:-2]
    }
    recorded = {(e["seat"], e["user"]) for e in stress.history if e["action"] == "confirm"}
    booked = {(s["seat"], s["booked_by"]) for s in stress.seats if s["status"] == "booked"}
    assert reported == recorded == booked


def test_the_workload_reaches_every_outcome(stress):
    """A guard on the test itself: the random commands really did contend and expire."""
    assert {0, 3, 4, 5} <= set(stress.codes())
    actions = Counter(e["action"] for e in stress.history)
    assert {"add", "lock", "extend", "expire", "release", "confirm"} <= set(actions), actions

"""Crashes: writers SIGKILLed at random moments leave every command wholly applied or not at all.

Worker processes loop calling the CLI's entry point, `seatctl.cli.main`, with multi-seat
commands, each worker on 200 seats of its own: lock 20 to 50 of them, then confirm or release
them, each command pair under its own unique user name, so that its effects can be picked out
of the history. Before a command starts, the worker appends its intent (user, action, seats) to
a log, and its exit code after it returns; a command with an intent but no exit code was
running when the worker was killed.

Round after round, a few workers are started on the same database and each is SIGKILLed after a
random short delay, at least 30 kills in all, so kills land in the middle of transactions,
commits and fsyncs. Afterwards SQLite's integrity check is `ok`, `seatctl check` passes, and for
every user the history and the seats table hold all of a command's seats or none of them.

`SEATCTL_SOAK=N` runs N times as many rounds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from forking import start_python
from helpers import SOAK, run_process
from seatctl import Venue

# Not `alone`: a kill lands at a random moment whatever else runs, and every command is wholly
# applied or not at all under any scheduling. One group: the module fixture is built once.
pytestmark = [pytest.mark.xdist_group("crash"), pytest.mark.sqlite_only]

WORKERS_PER_ROUND = 4
ROUNDS = 8 * SOAK
SEATS_PER_WORKER = 200
KILL_DELAY_SECONDS = (0.05, 1.0)  # after the worker is ready: when to kill it

# One worker: it imports everything, says it is ready, then runs commands until it is killed.
# It has seats of its own (their labels start with its prefix), so its locks are not refused
# for want of seats, and it keeps at least 50 of them unbooked, so that it can go on locking.
WORKER = """
import contextlib, io, json, os, random, sys
from seatctl.cli import main

db, prefix, seats, log_path = sys.argv[1:5]
rng = random.Random(prefix)
free = [f"{prefix}{k}" for k in range(1, int(seats) + 1)]
log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

def note(**record):
    os.write(log, (json.dumps(record) + "\\n").encode())

def command(user, action, seats):
    note(user=user, action=action, seats=seats)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["--db", db, action, *seats, "--user", user])
    note(user=user, action=action, code=code)
    return code

print("ready", flush=True)
for n in range(10**9):
    user = f"{prefix}{n}"
    seats = rng.sample(free, rng.randint(20, 50))
    if command(user, "lock", seats) == 0:
        book = len(free) - len(seats) >= 50 and rng.random() < 0.2
        if command(user, "confirm" if book else "release", seats) == 0 and book:
            free = [seat for seat in free if seat not in seats]
"""


@dataclass
class Command:
    """One multi-seat command a worker started, and its exit code if it got to return."""

    user: str
    action: str
    seats: frozenset[str]
    code: int | None = None


@dataclass
class Crashes:
    db: str
    kills: int = 0
    commands: list[Command] = field(default_factory=list)

    def interrupted(self) -> list[Command]:
        return [c for c in self.commands if c.code is None]


def read_log(path: str) -> list[Command]:
    commands: dict[tuple[str, str], Command] = {}
    with open(path) as log:
        for line in log:
            if not line.endswith("\n"):
                break  # the worker was killed while writing this line
            record = json.loads(line)
            user, action = record["user"], record["action"]
            if "seats" in record:
                commands[user, action] = Command(user, action, frozenset(record["seats"]))
            else:
                commands[user, action].code = record["code"]
    return list(commands.values())


def run_round(db: str, number: int, folder: str, rng: random.Random) -> tuple[int, list[Command]]:
    prefixes = [f"r{number}w{n}-" for n in range(WORKERS_PER_ROUND)]
    labels = [f"{prefix}{k}" for prefix in prefixes for k in range(1, SEATS_PER_WORKER + 1)]
    Venue.init(db, labels=labels)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    logs = [os.path.join(folder, f"{prefix}log") for prefix in prefixes]
    workers = [
        start_python(WORKER, [db, prefix, str(SEATS_PER_WORKER), log], env)
        for prefix, log in zip(prefixes, logs, strict=True)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n", worker.stderr.read()
        started = time.monotonic()
        kill_at = sorted((rng.uniform(*KILL_DELAY_SECONDS), n) for n in range(len(workers)))
        for delay, n in kill_at:
            time.sleep(max(0.0, started + delay - time.monotonic()))
            workers[n].send_signal(signal.SIGKILL)
    finally:
        for worker in workers:
            worker.kill()  # a no-op for the ones already killed; frees any left by a failure
    kills = 0
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == -signal.SIGKILL, f"worker ended on its own:\n{err}"
        kills += 1
    commands = [c for log in logs if os.path.exists(log) for c in read_log(log)]
    return kills, commands


@pytest.fixture(scope="module")
def crashes(tmp_path_factory) -> Crashes:
    folder = str(tmp_path_factory.mktemp("crash"))
    db = os.path.join(folder, "venue.db")
    result = Crashes(db)
    rng = random.Random(20260101)
    for number in range(ROUNDS):
        kills, commands = run_round(db, number, folder, rng)
        result.kills += kills
        result.commands += commands
    return result


@pytest.fixture(scope="module")
def events_by_user(crashes) -> dict[str, list[dict]]:
    run = run_process("--db", crashes.db, "history", "--json")
    assert run.code == 0, run.err
    grouped: dict[str, list[dict]] = defaultdict(list)
    for event in run.json():
        grouped[event["user"]].append(event)
    return grouped


@pytest.fixture(scope="module")
def seats_table(crashes) -> list[tuple[str, str | None, str | None]]:
    conn = sqlite3.connect(crashes.db)
    try:
        return conn.execute(
            "SELECT s.label, st.locked_by, st.booked_by FROM seats AS s"
            " LEFT JOIN seat_states AS st ON st.show = 'default' AND st.seat = s.label"
        ).fetchall()
    finally:
        conn.close()


def seats_of(events: list[dict], action: str) -> list[str]:
    return [e["seat"] for e in events if e["action"] == action]


def test_workers_were_killed_at_least_30_times_mostly_inside_a_command(crashes):
    assert crashes.kills >= 30
    assert len(crashes.interrupted()) >= crashes.kills // 2


def test_sqlite_integrity_check_is_ok(crashes):
    conn = sqlite3.connect(crashes.db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def test_seatctl_check_passes(crashes):
    run = run_process("--db", crashes.db, "check")
    assert (run.code, run.out, run.err) == (0, "ok\n", "")


@pytest.mark.parametrize("action", ["lock", "confirm", "release"])
def test_each_command_wrote_an_event_for_every_seat_it_named_or_none(
    crashes, events_by_user, action
):
    commands = [c for c in crashes.commands if c.action == action]
    assert commands
    for command in commands:
        written = seats_of(events_by_user.get(command.user, []), action)
        assert sorted(written) in ([], sorted(command.seats)), command


def test_the_events_of_one_command_share_one_instant(crashes, events_by_user):
    for command in crashes.commands:
        events = events_by_user.get(command.user, [])
        assert len({e["at"] for e in events if e["action"] == command.action}) <= 1, command


def test_a_command_that_returned_is_on_the_record_exactly_when_it_succeeded(
    crashes, events_by_user
):
    for command in crashes.commands:
        if command.code is not None:
            written = seats_of(events_by_user.get(command.user, []), command.action)
            assert bool(written) == (command.code == 0), command


def test_only_users_the_workers_named_appear_in_the_history(crashes, events_by_user):
    named = {c.user for c in crashes.commands}
    assert set(events_by_user) - {None} <= named


def test_the_seats_table_holds_each_commands_seats_all_or_none(
    crashes, events_by_user, seats_table
):
    booked, held = defaultdict(set), defaultdict(set)
    for label, locked_by, booked_by in seats_table:
        booked[booked_by].add(label)
        held[locked_by].add(label)
    for command in crashes.commands:
        if command.action != "lock":
            continue
        events = events_by_user.get(command.user, [])
        confirmed, released = seats_of(events, "confirm"), seats_of(events, "release")
        assert booked[command.user] == set(confirmed), command
        if confirmed or released or not seats_of(events, "lock"):
            assert held[command.user] == set(), command
        else:  # still held: in the table, and shown as expired too once the lock has lapsed
            assert held[command.user] | set(seats_of(events, "expire")) == command.seats

"""Faults (`python benchmarks/faults.py`): two `seatctl serve` processes, the CLI and a load
client on one PostgreSQL database, through the faults of issue 18, on a throwaway cluster
(initdb into a temporary folder, a free port; the machine's own server is never touched).

Load: WRITERS threads lock and release random seats of a 200-seat venue through both servers
(keep-alive HTTP/1.1, each request naming its user: `serve --no-auth`), a CLI process locks and
releases now and then, and each server's change stream (`GET /v1/stream`, resumed with
Last-Event-ID whenever it ends) is read throughout. Faults, one after another with load
between them: a row held from another connection for 3 s; a server killed (SIGKILL) and
started again; every server backend terminated (pg_terminate_backend); PostgreSQL restarted
(pg_ctl restart -m fast); PostgreSQL stopped for 3 s; the postmaster frozen (SIGSTOP) for 3 s
with the servers' connections terminated, so that new connections hang.

Reported per fault: what clients were answered meanwhile (status and reason counts), the
slowest answer, and the recovery time (from the database or server being back to each server's
first 2xx write, probed every 10 ms). Overall: acknowledged, lost (acknowledged but not in the
history) and doubled (in the history more often than acknowledged or possibly done) operations,
and stream gaps (history ids a stream missed, repeated or told out of order).
Run as root (initdb runs as the `postgres` user). `--seconds` sets the load between faults.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import glob
import http.client
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

SEATS = 200
WRITERS = 6
READY = re.compile(r"serving .+ on http://127\.0\.0\.1:(\d+) ")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self) -> None:
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.dir = tempfile.mkdtemp(prefix="seatctl-faults-")
        os.chmod(self.dir, 0o777)
        self.data = f"{self.dir}/data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.pg(f"initdb -D {self.data} -A trust -U postgres")
        self.start()

    def pg(self, command: str) -> None:
        subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", f"{self.bin}/{command}"],
            check=True,
            capture_output=True,
            cwd=self.dir,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1"
        self.pg(f"pg_ctl -D {self.data} -o '{options}' -l {self.dir}/log -w start")

    def stop(self) -> None:
        self.pg(f"pg_ctl -D {self.data} -m fast -w stop")

    def postmaster(self) -> int:
        with open(f"{self.data}/postmaster.pid") as pid:
            return int(pid.readline())

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            os.kill(self.postmaster(), signal.SIGCONT)
        with contextlib.suppress(Exception):
            self.pg(f"pg_ctl -D {self.data} -m immediate -w stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def seatctl(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    command = [sys.executable, "-m", "seatctl", "--db", db, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


class Server:
    def __init__(self, db: str, port: int = 0) -> None:
        self.db = db
        self.port = port
        self.start()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
        command = [sys.executable, "-m", "seatctl", "--db", self.db, "serve", "--no-auth"]
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = READY.search(line)
        assert match, line
        self.port = int(match.group(1))
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


class Ledger:
    """What clients were told: acknowledged and unknown outcomes, answers by phase."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.unknown: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.phase = "load"
        self.answers: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.slowest: dict[str, float] = collections.defaultdict(float)

    def record(self, op: tuple[str, str, str], outcome: str, took: float) -> None:
        with self.lock:
            if outcome == "200":
                self.acked[op] += 1
            elif outcome in ("503 commit_unknown", "no answer", "500"):
                self.unknown[op] += 1
            self.answers[self.phase][outcome] += 1
            self.slowest[self.phase] = max(self.slowest[self.phase], took)


def post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    answer = conn.getresponse()
    return answer.status, json.loads(answer.read() or b"null")


def writer(ports: list[Server], user: str, ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random(user)
    held: list[str] = []
    conns: dict[int, http.client.HTTPConnection] = {}
    while not stop.is_set():
        server = ports[rng.randrange(len(ports))]
        conn = conns.get(server.port) or http.client.HTTPConnection(
            "127.0.0.1", server.port, timeout=30
        )
        conns[server.port] = conn
        if held and rng.random() < 0.5:
            verb, seat = "release", held.pop(rng.randrange(len(held)))
        else:
            verb, seat = "lock", str(rng.randint(11, SEATS))
        started = time.monotonic()
        try:
            status, body = post(conn, f"/v1/{verb}", {"seats": [seat], "user": user})
            outcome = f"{status} {body.get('error')}" if status != 200 else "200"
        except (OSError, http.client.HTTPException, ValueError):
            conn.close()
            conns.pop(server.port, None)
            status, outcome = 0, "no answer"
            time.sleep(0.05)  # the server is down: do not spin
        ledger.record((verb, user, seat), outcome, time.monotonic() - started)
        if status == 503:
            time.sleep(0.05)  # told to retry later: soon, to keep the load up
        if (verb == "lock" and status in (200, 0)) or (verb == "release" and status != 200):
            held.append(seat)  # possibly held: released later (a refusal then is harmless)


def cli_writer(db: str, ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random("cli")
    while not stop.wait(0.3):
        verb, seat = rng.choice(("lock", "release")), str(rng.randint(11, SEATS))
        started = time.monotonic()
        done = seatctl(db, verb, seat, "--user", "cli", "--json")
        outcome = "200" if done.returncode == 0 else f"exit {done.returncode}"
        if done.returncode == 6 and "commit" in done.stderr:
            outcome = "503 commit_unknown"  # the CLI's word for it: counted as unknown
        ledger.record((verb, "cli", seat), outcome, time.monotonic() - started)


class Stream:
    """One server's change stream, resumed with Last-Event-ID whenever it ends."""

    def __init__(self, server: Server, stop: threading.Event) -> None:
        self.server = server
        self.ids: list[int] = []
        self.last: str | None = None
        self.stop = stop
        self.reconnects = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                self._read()
            self.reconnects += 1
            self.stop.wait(0.05)

    def _read(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        headers = {"Last-Event-ID": self.last} if self.last else {}
        conn.request("GET", "/v1/stream", headers=headers)
        answer = conn.getresponse()
        if answer.status != 200:
            answer.read()
            return
        fields: dict[str, str] = {}
        while line := answer.readline():
            text = line.decode().rstrip("\n")
            if text and not text.startswith(":"):
                name, _, value = text.partition(":")
                fields[name] = value.removeprefix(" ")
            elif not text and fields:
                if "id" in fields:
                    self.last = fields["id"]
                if fields.get("event") == "seat":
                    self.ids.append(int(fields["id"]))
                fields = {}


def recovery(servers: list[Server], since: float) -> list[float]:
    """Seconds from `since` to each server's first 2xx write (probed every 10 ms, each server
    by a thread of its own)."""
    times = [0.0] * len(servers)
    probes = [
        threading.Thread(target=probe, args=(server, index, since, times))
        for index, server in enumerate(servers)
    ]
    for thread in probes:
        thread.start()
    for thread in probes:
        thread.join()
    return times


def probe(server: Server, index: int, since: float, times: list[float]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
            status, _ = post(conn, "/v1/lock", {"seats": [str(index + 1)], "user": "probe"})
            conn.close()
            if status == 200:
                break
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.01)
    times[index] = time.monotonic() - since


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="load between faults")
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    args = parser.parse_args()
    cluster = Cluster()
    try:
        return run(cluster, args.seconds, args.json)
    finally:
        cluster.remove()


def run(cluster: Cluster, seconds: float, as_json: bool) -> int:
    import psycopg

    db = cluster.url
    assert seatctl(db, "init", "--seats", str(SEATS)).returncode == 0
    servers = [Server(db), Server(db)]
    ledger, stop = Ledger(), threading.Event()
    streams = [Stream(server, stop) for server in servers]
    while any(stream.last is None for stream in streams):  # each has its snapshot
        time.sleep(0.01)
    start_id = max(int(str(stream.last).split(":")[0]) for stream in streams)
    threads = [
        threading.Thread(target=writer, args=(servers, f"u{i}", ledger, stop))
        for i in range(WRITERS)
    ] + [threading.Thread(target=cli_writer, args=(db, ledger, stop))]
    for thread in threads:
        thread.start()
    report: dict[str, Any] = {"faults": {}}

    def phase(name: str, fault: Any) -> None:
        time.sleep(seconds)  # load before the fault
        ledger.phase = name
        back = fault()
        times = recovery(servers, back)
        report["faults"][name] = {
            "answers": dict(ledger.answers[name]),
            "slowest_s": round(ledger.slowest[name], 3),
            "recovery_s": [round(t, 3) for t in times],
        }
        ledger.phase = "load"

    def hold_row() -> float:
        holder = psycopg.connect(db)
        holder.execute("SELECT * FROM seats WHERE label IN ('50', '51') FOR UPDATE")
        time.sleep(3)
        holder.rollback()
        holder.close()
        return time.monotonic()

    def kill_server() -> float:
        servers[1].kill()
        time.sleep(1)
        servers[1].start()  # on the same port
        return time.monotonic()

    def terminate() -> float:
        sql(
            db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'seatctl' AND pid <> pg_backend_pid()",
        )
        return time.monotonic()

    def restart() -> float:
        cluster.stop()
        cluster.start()
        return time.monotonic()

    def stopped() -> float:
        cluster.stop()
        time.sleep(3)
        cluster.start()
        return time.monotonic()

    def frozen() -> float:
        admin = psycopg.connect(db, autocommit=True)
        os.kill(cluster.postmaster(), signal.SIGSTOP)
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'seatctl' AND pid <> pg_backend_pid()"
        )
        time.sleep(3)
        os.kill(cluster.postmaster(), signal.SIGCONT)
        admin.close()
        return time.monotonic()

    for name, fault in (
        ("row held 3 s", hold_row),
        ("server killed", kill_server),
        ("backends terminated", terminate),
        ("PostgreSQL restarted", restart),
        ("PostgreSQL stopped 3 s", stopped),
        ("postmaster frozen 3 s", frozen),
    ):
        phase(name, fault)
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    newest = sql(db, "SELECT max(id) FROM events")[0][0]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(not s.ids or s.ids[-1] < newest for s in streams):
        time.sleep(0.05)  # the streams catch up with the last changes
    for server in servers:
        server.stop()
    history = sql(
        db,
        'SELECT id, action, "user", seat FROM events WHERE id > %s ORDER BY id',
        start_id,
    )
    relocks = {"extend": "lock", "shorten": "lock"}  # the holder locked again
    in_history = collections.Counter(
        (relocks.get(action, action), user, seat)
        for _, action, user, seat in history
        if user != "probe" and action != "expire"
    )
    ops = set(ledger.acked) | set(in_history)
    lost = sum(max(0, ledger.acked[op] - in_history[op]) for op in ops)
    doubled = sum(max(0, in_history[op] - ledger.acked[op] - ledger.unknown[op]) for op in ops)
    ids = [row[0] for row in history if row[1] != "expire"]
    told_by_all = set.intersection(*(set(stream.ids) for stream in streams))
    report.update(
        acknowledged=sum(ledger.acked.values()),
        unknown_outcome=sum(ledger.unknown.values()),
        lost=lost,
        doubled=doubled,
        history_entries=len(ids),
        answers_under_load=dict(ledger.answers["load"]),
        streams=[stream_report(stream, ids) for stream in streams],
        untold=[r for r in history if r[1] != "expire" and r[0] not in told_by_all][:5],
        check=seatctl(db, "check").returncode,
    )
    print(json.dumps(report, indent=2) if as_json else text(report))
    bad = lost or doubled or any(s["missing"] or s["repeated"] for s in report["streams"])
    return 1 if bad or report["check"] != 0 else 0


def stream_report(stream: Stream, ids: list[int]) -> dict[str, Any]:
    told = stream.ids
    counts = collections.Counter(told)
    return {
        "told": len(told),
        "missing": len(set(ids) - set(told)),
        "missing_ids": sorted(set(ids) - set(told))[:5],
        "repeated": sum(n - 1 for n in counts.values() if n > 1),
        "out_of_order": sum(1 for a, b in itertools.pairwise(told) if b <= a),
        "reconnects": stream.reconnects,
    }


def text(report: dict[str, Any]) -> str:
    lines = []
    for name, fault in report["faults"].items():
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(fault["answers"].items()))
        lines.append(
            f"{name:24} recovery {fault['recovery_s']} s, slowest answer"
            f" {fault['slowest_s']} s; answers {answers}"
        )
    if report["untold"]:
        lines.append(f"history entries some stream did not tell: {report['untold']}")
    lines.append(
        f"acknowledged {report['acknowledged']}, unknown outcome {report['unknown_outcome']},"
        f" lost {report['lost']}, doubled {report['doubled']}, history {report['history_entries']}"
        f" entries, check exit {report['check']}"
    )
    for index, stream in enumerate(report["streams"], 1):
        stream = {k: v for k, v in stream.items() if k != "missing_ids" or v}
        lines.append(f"stream of server {index}: {stream}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""Case 7 (`run.py --case 7`): `seatctl serve` against the Express prototype peer, with wrk.

wrk (Debian/Ubuntu: `apt-get install wrk`; macOS: `brew install wrk`) drives each server with
2 threads and 32 connections for 5 s (`--quick`: 2 s):

- GET /seats (5 seats): seatctl should reach >= 1.5x the peer's requests per second;
- POST /lock, the same user re-locking one seat, each a durable write: >= 1.0x the peer's,
  although the peer writes nothing to disk.

Both servers run unauthenticated (`serve --no-auth`, as the peer is). Beside them, the ceilings
measured in the same run: the raw sqlite3 durable-commit rate on the same disk (one BEGIN
IMMEDIATE / UPDATE / COMMIT per operation, WAL, synchronous=FULL) and a bare ASGI app under the
same uvicorn answering the same JSON (benchmarks/floor/bare_asgi.py). The peer needs node and
npm; the case is skipped, with a note, when wrk, node or npm is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
PEER = Path(os.environ.get("SEATCTL_PEER_DIR") or HERE.parents[1] / "shared/peers/seed-express")
LOCK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"seatId": 1, "userId": "alice"}'
wrk.headers["Content-Type"] = "application/json"
"""


class WrkResult(NamedTuple):
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx answers
    requests: int

    def describe(self) -> str:
        return (
            f"{self.rps:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms,"
            f" {self.errors} errors in {self.requests:,} requests"
        )


def missing_tools() -> list[str]:
    return [tool for tool in ("wrk", "node", "npm") if shutil.which(tool) is None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {timeout:.0f} s")


@contextmanager
def running(argv: list[str], port: int, cwd: Path | None = None, env: Any = None) -> Iterator[None]:
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
        yield
    finally:
        process.terminate()
        process.wait(timeout=60)


def installed_peer(workdir: Path) -> Path:
    copy = workdir / "seed-express"
    shutil.copytree(PEER, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    install = ["npm", "ci"] if (copy / "package-lock.json").exists() else ["npm", "install"]
    subprocess.run(
        [*install, "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=copy,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return copy


def wrk(url: str, seconds: int, script: Path | None = None) -> WrkResult:
    argv = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    if script:
        argv += ["-s", str(script)]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    return parse_wrk(out)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(out: str) -> WrkResult:
    def latency(percent: str) -> float:
        found = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(
        float(rps.group(1)) if rps else 0.0,
        latency("50"),
        latency("99"),
        errors,
        int(total.group(1)) if total else 0,
    )


def sqlite_commit_rate(db: str, seconds: float) -> float:
    """Durable commits per second on this disk: the floor of one-transaction-per-write."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(  # one seat's state in the event `default`, as a re-lock writes it
            "INSERT INTO seat_states (show, seat, locked_by, lock_expires)"
            " VALUES ('default', '1', 'alice', ?)"
            " ON CONFLICT (show, seat) DO UPDATE SET lock_expires = excluded.lock_expires",
            (done,),
        )
        conn.execute("COMMIT")
        done += 1
    rate = done / (time.perf_counter() - started)
    conn.close()
    return rate


def case_http(bench: Any) -> list[Any]:
    from rows import Row

    missing = missing_tools()
    if missing:
        note = (
            f"skipped: {', '.join(missing)} not installed"
            " (wrk: apt-get install wrk, or brew install wrk; node and npm for the peer)"
        )
        return [Row("7 http", "skipped", "req/s", 0.0, None, "-", None, note)]
    seconds = 2 if bench.settings.quick else 5
    workdir: Path = bench.workdir
    script = workdir / "lock.lua"
    script.write_text(LOCK_SCRIPT)
    peer = installed_peer(workdir)

    peer_port = free_port()
    with running(["node", "server.js"], peer_port, peer, {**os.environ, "PORT": str(peer_port)}):
        peer_seats = wrk(f"http://127.0.0.1:{peer_port}/seats", seconds)
        peer_lock = wrk(f"http://127.0.0.1:{peer_port}/lock", seconds, script)

    db = bench.copy(5, "serve")
    port = free_port()
    serve = [*bench.cli(db, "serve", "--port", str(port), "--no-auth")]
    with running(serve, port, env=bench.env):
        seats = wrk(f"http://127.0.0.1:{port}/seats", seconds)
        lock = wrk(f"http://127.0.0.1:{port}/lock", seconds, script)
    bench.check_floor_database(db)

    bare_port = free_port()
    bare = [sys.executable, str(HERE / "floor" / "bare_asgi.py"), str(bare_port)]
    with running(bare, bare_port, env=bench.env):
        bare_seats = wrk(f"http://127.0.0.1:{bare_port}/seats", seconds)
        bare_lock = wrk(f"http://127.0.0.1:{bare_port}/lock", seconds, script)
    commits = sqlite_commit_rate(bench.copy(5, "commits"), seconds)

    def row(measure: str, mine: WrkResult, base: WrkResult, limit: float, ceiling: str) -> Row:
        note = f"seatctl {mine.describe()}; peer {base.describe()}; {ceiling}"
        ok = mine.errors == 0
        return Row(
            "7 http",
            measure,
            "req/s",
            mine.rps,
            base.rps,
            f">= {limit}x peer",
            ok and mine.rps >= limit * base.rps,
            note,
            [mine.rps],
            [base.rps],
        )

    return [
        row("GET /seats", seats, peer_seats, 1.5, f"bare ASGI {bare_seats.describe()}"),
        row(
            "POST /lock (durable)",
            lock,
            peer_lock,
            1.0,
            f"bare ASGI {bare_lock.describe()}; raw sqlite3 {commits:,.0f} durable commits/s",
        ),
    ]

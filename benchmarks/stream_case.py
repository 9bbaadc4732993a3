"""Case 9 (`run.py --case 9`): the change stream under load.

`seatctl serve` (SQLite, `--no-auth`) with 500 clients reading `GET /v1/stream` while a writer
in another process commits 100 seat changes per second for 10 s (`--quick`: 100 watchers,
3 s) through the Python API, as the CLI would: each a durable transaction of its own, noticed
by the server through `PRAGMA data_version`. Three processes (server, watchers, writer), so
the clients' work is not the server's. Targets (docs/performance.md):

- every watcher receives every change, once, in commit order;
- p99 delay from the writer's COMMIT returning to a watcher reading the message <= 250 ms;
- the server's memory stays flat: resident size at the end within 10 % (and 10 MB) of its
  size once every watcher was connected.

Run alone, this file is the two client processes:
    python stream_case.py watchers PORT COUNT     (reads "go"/"done PATH" on stdin)
    python stream_case.py writer DB RATE SECONDS OUT.json
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
P99_TARGET_MS = 250.0
MEMORY_GROWTH = 0.10  # at most this much above the size once connected...
MEMORY_SLACK_MB = 10.0  # ...or this many MB, whichever is more


# --- the watchers' process --------------------------------------------------------------


async def watcher(port: int, received: list[tuple[bytes, bytes, float]], ready: asyncio.Event):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # `serve --no-auth` answers only requests that name its own address and port in Host.
    host = f"127.0.0.1:{port}".encode()
    writer.write(
        b"GET /v1/stream HTTP/1.1\r\nHost: " + host + b"\r\nAccept: text/event-stream\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"stream refused: {head[:60]!r}")
    buffer = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return
        arrived = time.time()
        buffer += chunk
        *complete, buffer = buffer.split(b"\n\n")  # whole messages; the rest waits
        for message in complete:
            start = message.find(b"event: ")  # after any chunked-encoding framing
            if start < 0:
                continue  # an id-only message, or a keep-alive comment
            kind, id_line, data = message[start + 7 :].split(b"\n", 2)
            if kind == b"snapshot":
                ready.set()
                continue
            label = data[data.index(b'"seat":"') + 8 :].split(b'"', 1)[0]
            received.append((label, id_line[4:], arrived))


async def watchers_main(port: int, count: int) -> None:
    streams: list[list[tuple[bytes, bytes, float]]] = [[] for _ in range(count)]
    readies = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(watcher(port, streams[i], readies[i])) for i in range(count)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)  # "done PATH"
    commits = json.loads(Path(line.split(maxsplit=1)[1].strip()).read_text())
    deadline = time.time() + 5  # the last changes may still be on their way
    expected = [label.encode() for label, _ in commits]
    while time.time() < deadline and any(len(s) < len(expected) for s in streams):
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    committed_at = {label.encode(): at for label, at in commits}
    delays, complete, in_order = [], 0, 0
    for stream in streams:
        labels = [label for label, _, _ in stream]
        ids = [int(id_text) for _, id_text, _ in stream]
        complete += labels == expected
        in_order += ids == sorted(set(ids))
        delays += [(arrived - committed_at[label]) * 1e3 for label, _, arrived in stream]
    delays.sort()
    print(
        json.dumps(
            {
                "watchers": count,
                "changes": len(expected),
                "complete": complete,
                "in_order": in_order,
                "p50_ms": statistics.median(delays) if delays else None,
                "p99_ms": delays[int(len(delays) * 0.99)] if delays else None,
                "max_ms": delays[-1] if delays else None,
            }
        ),
        flush=True,
    )


# --- the writer's process ---------------------------------------------------------------


def writer_main(db: str, rate: float, seconds: float, out: str) -> None:
    from seatctl import Venue

    commits = []
    with Venue.open(db) as venue:
        started = time.monotonic()
        for n in range(int(rate * seconds)):
            pause = started + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # the pace of the load
            label = str(n + 1)
            venue.lock([label], "writer", ttl=3600)
            commits.append((label, time.time()))  # the COMMIT has returned
    Path(out).write_text(json.dumps(commits))


# --- the case, in run.py's process ------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def case_stream(bench: Any) -> list[Any]:
    from http_case import free_port, wait_for_port
    from rows import BenchmarkError, Row

    quick = bench.settings.quick
    count, seconds, rate = (100, 3, 100) if quick else (500, 10, 100)
    changes = int(rate * seconds)
    db = bench.copy(changes, "stream")
    port = free_port()
    server = subprocess.Popen(
        # Every watcher connects from 127.0.0.1: no per-address limit (as behind a proxy).
        bench.cli(db, "serve", "--port", str(port), "--no-auth", "--max-client-connections", "0"),
        env=bench.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        clients = subprocess.Popen(
            [sys.executable, __file__, "watchers", str(port), str(count)],
            env=bench.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert clients.stdin is not None and clients.stdout is not None
        if clients.stdout.readline().strip() != "ready":
            raise BenchmarkError("the stream watchers could not all connect")
        connected = rss_mb(server.pid)
        cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
        commits = bench.workdir / "commits.json"
        writer = subprocess.Popen(
            [sys.executable, __file__, "writer", db, str(rate), str(seconds), str(commits)],
            env=bench.env,
        )
        samples = []
        while writer.poll() is None:
            samples.append(rss_mb(server.pid))
            time.sleep(0.5)  # sampling the server's memory
        cpu = cpu_seconds(server.pid) - cpu_before
        wall = time.monotonic() - wall_before
        if writer.returncode != 0:
            raise BenchmarkError(f"the stream writer exited {writer.returncode}")
        clients.stdin.write(f"done {commits}\n")
        clients.stdin.flush()
        result = json.loads(clients.stdout.readline())
        clients.wait(timeout=60)
        end = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)

    everyone = result["complete"] == count and result["in_order"] == count
    grew = end - connected
    flat = grew <= max(MEMORY_GROWTH * connected, MEMORY_SLACK_MB)
    p99 = result["p99_ms"]
    note = (
        f"{count} watchers, {changes} changes at {rate}/s from another process:"
        f" {result['complete']} watchers got every change, {result['in_order']} in order;"
        f" delay p50 {result['p50_ms']:.1f} ms, p99 {p99:.1f} ms, max {result['max_ms']:.1f} ms;"
        f" server RSS {connected:.1f} MB connected, {max(samples, default=end):.1f} MB peak,"
        f" {end:.1f} MB at the end ({'flat' if flat else 'grew'}); server CPU {cpu:.1f} s"
        f" in {wall:.1f} s while writing; load average {os.getloadavg()[0]:.1f}"
    )
    return [
        Row(
            "9 stream",
            f"p99 commit-to-delivery, {count} watchers",
            "ms",
            p99,
            None,
            f"<= {P99_TARGET_MS:.0f} ms, all delivered, RSS flat",
            everyone and flat and p99 <= P99_TARGET_MS,
            note,
            [p99],
            [],
        )
    ]


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "watchers":
        asyncio.run(watchers_main(int(sys.argv[2]), int(sys.argv[3])))
    elif mode == "writer":
        writer_main(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(f"unknown mode {mode!r}")

"""`seatctl serve --workers N`: N processes on one port, stopped together, replaced when one
dies, and one change stream across them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from pathlib import Path

import pytest

from serving import EventStream, ServerProcess

pytestmark = [pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")]
pytest.importorskip("uvicorn")

OTHER_WORKER_BOUND = 0.5  # seconds: the promise for a change through another worker


def workers_of(server: ServerProcess) -> list[int]:
    """The worker processes: the children of `serve`."""
    pid = server.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(map(int, children))


def worker_serving(server: ServerProcess, conn: http.client.HTTPConnection) -> int:
    """Which worker accepted this client connection (its socket's inode, found in /proc)."""
    client_port = conn.sock.getsockname()[1]
    wanted = f"0100007F:{server.port:04X} 0100007F:{client_port:04X}"
    inode = next(
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if " ".join(line.split()[1:3]) == wanted
    )
    for pid in workers_of(server):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue  # closed meanwhile
    raise AssertionError("no worker holds the connection")


def connection(server: ServerProcess) -> http.client.HTTPConnection:
    """A keep-alive connection that a worker has accepted (it answered on it)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", "/v1/health")
    assert conn.getresponse().read()
    return conn


def lock(conn: http.client.HTTPConnection, seat: str, user: str) -> int:
    body = json.dumps({"seats": [seat], "user": user})
    conn.request("POST", "/v1/lock", body, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    return answer.status


def test_two_workers_serve_one_port_and_sigterm_stops_them_all_with_exit_0(venue_db):
    with ServerProcess(venue_db, "--no-auth", "--workers", "2") as server:
        pids = workers_of(server)
        assert len(pids) == 2
        assert server.request("GET", "/v1/seats")[0] == 200
        assert server.stop(signal.SIGTERM) == 0
        assert server.all_stderr() == server.ready_line
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def test_a_worker_that_dies_is_replaced(venue_db):
    with ServerProcess(venue_db, "--no-auth", "--workers", "2") as server:
        first, second = workers_of(server)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while first in workers_of(server) or len(workers_of(server)) < 2:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.05)  # polling for the replacement, not waiting out a race
        assert second in workers_of(server)
        assert server.request("GET", "/v1/seats")[0] == 200
        assert server.stop() == 0
    assert f"worker {first} stopped (signal SIGKILL)" in server.all_stderr()


@pytest.mark.alone  # timed: nothing else may load the machine
def test_a_lock_through_one_worker_reaches_a_stream_on_the_other_within_half_a_second(venue_db):
    with ServerProcess(venue_db, "--no-auth", "--workers", "2") as server:
        with EventStream(server.port) as stream:
            stream.next()  # the snapshot: the stream runs on one of the workers
            streaming = worker_serving(server, stream.conn)
            conns = [connection(server) for _ in range(20)]
            other = next(c for c in conns if worker_serving(server, c) != streaming)
            assert lock(other, "3", "bob") == 200
            answered = time.time()
            change = stream.next(timeout=OTHER_WORKER_BOUND + 5)
            for conn in conns:
                conn.close()
        assert server.stop() == 0
    assert change.data["seat"] == "3" and change.data["locked_by"] == "bob"
    assert change.arrived - answered <= OTHER_WORKER_BOUND

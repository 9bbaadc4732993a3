"""Drop-in for the prototype: one scripted client session runs against the Express prototype
(the peer in ../shared/peers/seed-express) and against `seatctl serve --no-auth`; every step
succeeds or fails alike, and answers with the keys (and texts) the client reads.

The peer is copied to a temporary folder and its packages installed there (npm ci). Set
SEATCTL_PEER_DIR to use a peer folder elsewhere; the test is skipped only without node/npm.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seatctl import Venue
from serving import ServerProcess

PEER_ENV = "SEATCTL_PEER_DIR"
DEFAULT_PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "seed-express"

pytestmark = pytest.mark.sqlite_only  # the peer is the subject here; the backends are elsewhere

# (method, path, body): view seats, lock, lock by another user, confirm by another user,
# confirm, view; plus a seat id as a string, an unknown seat, and a user's own re-lock.
SESSION: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/seats", None),
    ("POST", "/lock", {"seatId": 3, "userId": "alice"}),
    ("POST", "/lock", {"seatId": 3, "userId": "bob"}),
    ("POST", "/confirm", {"seatId": 3, "userId": "bob"}),
    ("POST", "/confirm", {"seatId": 3, "userId": "alice"}),
    ("GET", "/seats", None),
    ("POST", "/lock", {"seatId": "4", "userId": "bob"}),
    ("POST", "/lock", {"seatId": 4, "userId": "bob"}),
    ("POST", "/lock", {"seatId": 3, "userId": "bob"}),
    ("POST", "/confirm", {"seatId": 5, "userId": "bob"}),
    ("POST", "/lock", {"seatId": 99, "userId": "bob"}),
    ("GET", "/seats", None),
]


def peer_dir() -> Path:
    return Path(os.environ.get(PEER_ENV) or DEFAULT_PEER)


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The Express prototype, installed in a temporary copy and listening; yields its port."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed to run the Express prototype peer")
    source = peer_dir()
    assert (source / "server.js").is_file(), f"no prototype peer at {source}: set {PEER_ENV}"
    copy = tmp_path_factory.mktemp("peer") / "seed-express"
    shutil.copytree(source, copy)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    copy.chmod(0o755)
    install = ["npm", "ci"] if (copy / "package-lock.json").exists() else ["npm", "install"]
    subprocess.run(
        [*install, "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=copy,
        check=True,
        capture_output=True,
        timeout=600,
    )
    port = free_port()
    node = subprocess.Popen(
        ["node", "server.js"],
        cwd=copy,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in node.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        assert lines.get(timeout=60) == f"listening on {port}\n"
        yield port
    finally:
        node.kill()
        node.wait(timeout=60)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_session(port: int) -> list[tuple[bool, Any]]:
    """Each step's success (2xx) and what a prototype client reads from it."""
    seen = []
    for method, path, body in SESSION:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            data = json.dumps(body) if body is not None else None
            conn.request(method, path, data, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            payload = json.loads(answer.read())
        finally:
            conn.close()
        ok = 200 <= answer.status < 300
        if path == "/seats":
            seen.append((ok, payload))
        elif ok:
            seen.append((ok, {"message": payload["message"]}))
        else:
            seen.append((ok, {"error": isinstance(payload.get("error"), str)}))
    return seen


def test_a_prototype_client_session_goes_the_same_way_on_both(peer, tmp_path):
    db = str(tmp_path / "venue.db")
    Venue.init(db)
    expected = run_session(peer)
    with ServerProcess(db, "--no-auth") as server:
        got = run_session(server.port)
        assert server.stop() == 0
    assert [ok for ok, _ in expected] == [
        True, True, False, False, True, True, True, True, False, False, False, True
    ]  # fmt: skip
    assert got == expected

"""Helpers for tests that run the real `seatctl serve` process and talk to it over TCP."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from typing import Any

READY = re.compile(r"serving (.+) on http://127\.0\.0\.1:(\d+) \(auth: (tokens|none)\)\n")
START_TIMEOUT = 60.0  # a loaded machine starts Python slowly; this is an upper bound only


class ServerProcess:
    """`seatctl --db DB serve --port 0 ...` in its own process; `port` once it said it is ready."""

    def __init__(self, db: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "seatctl", "--db", db, "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.ready_line = self._lines.get(timeout=START_TIMEOUT)
        match = READY.fullmatch(self.ready_line)
        assert match, f"not a ready line: {self.ready_line!r} {self.stderr}"
        self.port = int(match.group(2))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self._lines.put(line)
        self._lines.put("")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        timeout: float = 60.0,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            data = json.dumps(body) if body is not None else None
            conn.request(method, path, body=data, headers=headers)
            answer = conn.getresponse()
            return answer.status, json.loads(answer.read() or b"null")
        finally:
            conn.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.proc.stdout.close()  # type: ignore[union-attr]
        return code

    def all_stderr(self) -> str:
        self.proc.wait(timeout=60)
        while self._lines.get(timeout=10) != "":
            pass
        return "".join(self.stderr)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)

"""Helpers for tests that run the real `seatctl serve` process and talk to it over TCP."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import signal
import socket
import threading
import time
from typing import Any, NamedTuple

from forking import start_seatctl

READY = re.compile(r"serving (.+) on https?://127\.0\.0\.1:(\d+) \(auth: (tokens|none)\)\n")
START_TIMEOUT = 60.0  # a loaded machine starts Python slowly; this is an upper bound only


class ServerProcess:
    """`seatctl --db DB serve --port 0 ...` in its own process; `port` once it said it is ready."""

    def __init__(self, db: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
        # Forked from a process that has imported the server already (tests/forking.py);
        # SIGINT is at its default there, as some tests stop the server with it.
        self.proc = start_seatctl(["--db", db, "serve", "--port", "0", *args], env)
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


class Message(NamedTuple):
    """One Server-Sent Events message (or a comment line), with the time it arrived."""

    event: str | None
    id: str | None
    data: Any
    comment: str | None
    arrived: float  # time.time() when its blank line was read


class EventStream:
    """`GET /v1/stream` read by a thread of its own: messages queue up as they arrive."""

    def __init__(
        self,
        port: int,
        token: str | None = None,
        query: str = "",
        last_id: str | None = None,
    ) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        self.conn.request("GET", f"/v1/stream{query}", headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.messages: queue.Queue[Message | None] = queue.Queue()
        self.last_id: str | None = last_id
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.error = json.loads(self.response.read())

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while line := self.response.readline():
                text = line.decode().rstrip("\n")
                if text.startswith(":"):
                    self.messages.put(Message(None, None, None, text[1:].strip(), time.time()))
                elif text:
                    name, _, value = text.partition(":")
                    fields[name] = value.removeprefix(" ")
                elif fields:
                    data = json.loads(fields["data"]) if "data" in fields else None
                    message = Message(
                        fields.get("event"), fields.get("id"), data, None, time.time()
                    )
                    self.messages.put(message)
                    fields = {}
        except (OSError, ValueError, http.client.HTTPException):
            pass  # the connection was cut
        finally:
            self.conn.close()
            self.messages.put(None)

    def next(self, timeout: float = 30.0, everything: bool = False) -> Message:
        """The next message with data (unless `everything`: comments and id-only messages
        too); fails if none comes in time. Keeps `last_id` as EventSource does."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            assert message is not None, "the stream ended"
            if message.id is not None:
                self.last_id = message.id
            if everything or message.data is not None:
                return message

    def kill(self) -> None:
        """Cut the connection without a goodbye, as a dropped network does."""
        sock = self.conn.sock
        if sock is not None:  # the reader thread then meets the end and closes its side
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


class JsonWatch:
    """`seatctl --db DB watch --json` running; its objects queue up as they come."""

    def __init__(self, db: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
        self.proc = start_seatctl(["--db", db, "watch", "--json"], env)
        self.objects: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.objects.put(json.loads(line))

    def __enter__(self) -> JsonWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait(timeout=60)

"""The change stream's limits: how many streams, how much each may leave unsent, and how long
a stream outlives its token.

- At most `max_streams` open streams, `max_token_streams` per token (per named user with
  `--no-auth`): past them, 429 with `Retry-After`.
- A stream's answer is written in slices of at most `stream_buffer` bytes, each after the
  previous one has left the server's buffer: what a stream holds unsent is bounded. A client
  that reads nothing for `stream_timeout` seconds has its connection dropped.
- Every `recheck` seconds the tokens of the open streams are checked again, in one database
  read: a stream whose token was revoked or has expired gets `event: end` saying why, and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.server.limits import Limits
from seatctl.server.live import Watcher
from seatctl.server.worker import Worker
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")
RETRY_AFTER_SECONDS = 5


class StreamGuard:
    """The open streams, by token; and the task that checks their tokens again."""

    def __init__(self, worker: Worker, limits: Limits, auth: bool) -> None:
        self._worker = worker
        self._limits = limits
        self._auth = auth
        self._open: dict[str, set[Watcher]] = {}
        self._total = 0
        self._task: asyncio.Task[None] | None = None

    def admit(self, key: str) -> None:
        """Count one more stream for `key` (its token; "" with --no-auth, where only the
        limit in all applies), or refuse it with 429."""
        if self._total >= self._limits.max_streams:
            raise too_many(f"the server has {self._total} open streams, its limit")
        mine = len(self._open.get(key, ()))
        if self._auth and mine >= self._limits.max_token_streams:
            raise too_many(
                f"this token has {self._limits.max_token_streams} open streams, its limit"
            )
        self._total += 1
        self._open.setdefault(key, set())

    def watch(self, key: str, watcher: Watcher) -> None:
        # Another stream of the same token may have ended since this one was admitted, and
        # taken the token's (then empty) set with it.
        self._open.setdefault(key, set()).add(watcher)
        if self._auth and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._recheck())

    def leave(self, key: str, watcher: Watcher | None) -> None:
        self._total -= 1
        watchers = self._open.get(key)
        if watchers is None:
            return
        watchers.discard(watcher)
        if not watchers:
            del self._open[key]

    async def _recheck(self) -> None:
        """While any stream is open, check its token every `recheck` seconds."""
        try:
            while self._open:
                await asyncio.sleep(self._limits.recheck)
                tokens = list(self._open)
                try:
                    refused = await self._worker.read(partial(_refused, tokens=tokens))
                except SeatctlError as exc:  # busy, say: the next round checks again
                    log.error("checking the streams' tokens: %s", exc.message)
                    continue
                for token, why in refused.items():
                    for watcher in list(self._open.get(token, ())):
                        watcher.end(why)
        finally:
            self._task = None


def _refused(venue: Venue, tokens: list[str]) -> dict[str, SeatctlError]:
    """The tokens no longer valid, each with the error a request bearing it would get."""
    refused = {}
    for token in tokens:
        try:
            venue.authenticate(token)
        except SeatctlError as error:
            if error.reason is Reason.UNAUTHORIZED:
                refused[token] = error
            else:
                raise
    return refused


async def counted(messages: AsyncIterator[bytes], done: Callable[[], None]) -> AsyncIterator[bytes]:
    """The stream's messages; `done` once it ends, however it ends."""
    try:
        async for chunk in messages:
            yield chunk
    finally:
        await messages.aclose()  # type: ignore[attr-defined]
        done()


def too_many(message: str) -> SeatctlError:
    return SeatctlError(Reason.TOO_MANY, message, ExitCode.USAGE)


class StreamAnswer(StreamingResponse):
    """A stream's answer, sent slice by slice so that what waits for the client is bounded,
    dropped when the client takes more than `stream_timeout` seconds to take a slice."""

    def __init__(
        self, messages: AsyncIterator[bytes], limits: Limits, headers: dict[str, str]
    ) -> None:
        super().__init__(messages, headers=headers, media_type="text/event-stream")
        self._slice = limits.stream_buffer
        self._timeout = limits.stream_timeout
        self._abort: Callable[[], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get("seatctl.transport")
        if transport is not None:
            self._abort = transport.abort
            # The kernel's send buffer grows to megabytes by itself: bounded too, so that a
            # client that does not read is found out after a buffer's worth, not a snapshot's.
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._slice)
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        messages: Any = self.body_iterator
        async with contextlib.aclosing(messages):
            async for chunk in messages:
                whole = memoryview(chunk)
                for at in range(0, len(whole), self._slice):
                    part = (
                        chunk if len(chunk) <= self._slice else bytes(whole[at : at + self._slice])
                    )
                    try:
                        async with asyncio.timeout(self._timeout):
                            await send(
                                {"type": "http.response.body", "body": part, "more_body": True}
                            )
                    except TimeoutError:
                        await self._drop()
                        return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _drop(self) -> None:
        """The client does not read: drop its connection (unsent bytes and all)."""
        if self._abort is not None:
            self._abort()
            # One turn of the loop: the transport reports the connection lost, so that uvicorn
            # sees a client gone, not an application that left its answer unfinished.
            await asyncio.sleep(0)

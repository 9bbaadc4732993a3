"""What one client may cost the server: the connection-level limits of `seatctl serve`.

uvicorn's httptools protocol sets no limit on a request's head and no timeout before the first
request, and its `limit_concurrency` still accepts every connection. `protocol_class` returns a
subclass of it that adds, without another parser (httptools keeps its speed):

- the request line and headers at most `max_header_bytes` in all: 431, and nothing more is read;
- the head within `header_timeout` seconds of the request's first byte (or of the connection,
  for its first request): else 408 and the connection is closed, so idle and half-sent
  connections do not hold a file descriptor for ever;
- at most `max_connections` open connections, `max_client_connections` from one address:
  past them a connection is answered 503 and closed at once.

`request_timeout` is not the protocol's: it is each request's one deadline, kept by
`seatctl.server.worker`.

A stream's own limits (how many, its output buffer) are in `seatctl.server.streams`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from seatctl.core.errors import usage_error
from seatctl.server.worker import BUDGET_SECONDS

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class Limits:
    """Every limit of `serve`, with its default; each has a `serve` option (docs/http-api.md)."""

    max_header_bytes: int = 16 * 1024  # bytes: request line and headers in all
    header_timeout: float = 15.0  # seconds from a request's first byte to its last header
    request_timeout: float = BUDGET_SECONDS  # a request's whole time: then 503 `busy`
    max_connections: int = 1000  # open connections in all (keep it under `ulimit -n`)
    max_client_connections: int = 100  # from one address (0: no limit, e.g. behind a proxy)
    max_streams: int = 500  # open /v1/stream answers in all
    max_token_streams: int = 10  # open /v1/stream answers per token (per user with --no-auth)
    stream_buffer: int = 64 * 1024  # bytes a stream may have unsent before it waits
    stream_timeout: float = 30.0  # seconds a stream may wait for its client to read
    recheck: float = 2.0  # seconds between checks that a stream's token is still valid

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "max_client_connections" and value == 0:
                continue
            if not 0 < value <= _MOST[field.name]:
                option = "--" + field.name.replace("_", "-")
                most = f"{_MOST[field.name]:g}"
                # Seconds (a float default) may have a fraction; sizes and counts are whole.
                seconds = isinstance(field.default, float)
                wanted = f"more than 0, at most {most}" if seconds else f"1 to {most}"
                raise usage_error(f"invalid {option} {value:g}: use {wanted}")


_MOST = {
    "max_header_bytes": 1024 * 1024,
    "header_timeout": 3600,
    "request_timeout": 3600,
    "max_connections": 1_000_000,
    "max_client_connections": 1_000_000,
    "max_streams": 1_000_000,
    "max_token_streams": 1_000_000,
    "stream_buffer": 64 * 1024 * 1024,
    "stream_timeout": 3600,
    "recheck": 3600,
}


def _answer(status: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n" + extra + b"\r\n"
    )


TOO_LARGE = _answer(b"431 Request Header Fields Too Large")
TIMED_OUT = _answer(b"408 Request Timeout")
TOO_MANY = _answer(b"503 Service Unavailable", b"retry-after: 1\r\n")


# In a request's scope once its whole body has arrived: if it is there before the endpoint
# reads it (the usual case), the read cannot wait, so it needs no timeout
# (`seatctl.server.parsing.body`).
BODY_RECEIVED = "seatctl.body_received"


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a head over the limit."""


def protocol_class(limits: Limits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits`; one class (and one count) per server."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    by_client: dict[str, int] = {}
    counted: set[Protocol] = set()
    # One timer for every connection, not one per request: a head that began more than
    # header_timeout ago is found within a tick of it.
    tick = max(0.1, min(1.0, limits.header_timeout / 4))
    sweeping: list[asyncio.TimerHandle] = []

    def sweep(loop: asyncio.AbstractEventLoop) -> None:
        sweeping.clear()
        late = loop.time() - limits.header_timeout
        for connection in list(counted):
            since = connection.head_since
            if since is not None and since < late:
                connection.refuse(TIMED_OUT)
        if counted:
            sweeping.append(loop.call_later(tick, sweep, loop))

    class Protocol(HttpToolsProtocol):
        # When the pending head began (the connection opened, or its first byte came); None
        # while a request is served, and while a kept-alive connection waits (uvicorn's
        # keep-alive timeout closes it then).
        head_since: float | None = None
        _head_open = True  # no request, or one whose head is not complete: count its bytes
        _head_seen = 0  # bytes received while the head was open
        _address: str | None = None  # the client address counted for this connection
        _refusal = b""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            transport.set_write_buffer_limits(high=limits.stream_buffer)
            address = self.client[0] if self.client else ""
            mine = by_client.get(address, 0)
            per_client = limits.max_client_connections
            if len(counted) >= limits.max_connections or (per_client and mine >= per_client):
                transport.write(TOO_MANY)
                transport.close()
                return
            by_client[address] = mine + 1
            self._address = address
            counted.add(self)
            self.head_since = self.loop.time()
            if not sweeping:
                sweeping.append(self.loop.call_later(tick, sweep, self.loop))

        def connection_lost(self, exc: Exception | None) -> None:
            self.head_since = None
            if self._address is not None:
                counted.discard(self)
                left = by_client[self._address] - 1
                if left:
                    by_client[self._address] = left
                else:
                    del by_client[self._address]
                self._address = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._head_open:
                self._head_seen += len(data)
            super().data_received(data)
            # A head not finished yet: what it holds is bounded by one read past the limit.
            if self._head_open and self._head_seen > limits.max_header_bytes and self.parser:
                self.refuse(TOO_LARGE)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            # For the change stream: its connection, to bound and to drop (seatctl.server.guard).
            self.scope["seatctl.transport"] = self.transport  # type: ignore[typeddict-unknown-key]
            self._head_open = True
            if self.head_since is None:  # a further request on a kept-alive connection
                self.head_since = self.loop.time()

        def on_message_complete(self) -> None:
            self.scope[BODY_RECEIVED] = True  # type: ignore[literal-required]
            super().on_message_complete()

        def on_headers_complete(self) -> None:
            self._head_open = False
            self.head_since = None
            if self._head_seen > limits.max_header_bytes:  # maybe, with its body: look closer
                size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
                if size > limits.max_header_bytes:  # the whole head came in one read
                    self._refusal = TOO_LARGE
                    raise _Refused
            self._head_seen = 0  # a pipelined head after it counts from the next read on
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._head_open = True  # idle until the next request: its bytes count
            self._head_seen = 0

        def send_400_response(self, msg: str) -> None:
            if self._refusal:  # parsing stopped by on_headers_complete, not a bad request
                self.refuse(self._refusal)
            else:
                super().send_400_response(msg)

        def refuse(self, answer: bytes) -> None:
            """Answer `answer` (a status line and no body) and close the connection."""
            self.head_since = None
            if not self.transport.is_closing():
                self.transport.write(answer)
                self.transport.close()

    return Protocol

"""`seatctl serve`: the HTTP API, a second thin shell over `seatctl.Venue` beside the CLI.

Only the `serve` command imports this package, and only this package imports the server stack
(Starlette, uvicorn), from the optional `server` extra.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from seatctl.core.errors import ExitCode, Reason, SeatctlError, usage_error
from seatctl.core.validate import is_postgres_url

if TYPE_CHECKING:
    from types import FrameType

    from seatctl.server.limits import Limits
    from seatctl.server.local import Local

Tls = tuple[str | None, str | None]  # --certfile, --keyfile (both or neither)

INSTALL_HINT = "pip install 'seatctl[server]'"
MAX_WORKERS = 64
log = logging.getLogger("seatctl.serve")


def serve(
    db: str,
    host: str,
    port: int,
    auth: bool = True,
    limits: Limits | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    workers: int | None = None,
) -> int:
    """Serve the API on host:port until SIGINT or SIGTERM; return the exit code (0). With
    `workers` above 1, that many processes serve the one socket (`seatctl.server.workers`);
    None: the default for this machine."""
    from seatctl.server import workers as supervision

    if (certfile is None) != (keyfile is None):
        raise usage_error("give --certfile and --keyfile together (the certificate and its key)")
    count = supervision.default_workers(is_postgres_url(db)) if workers is None else workers
    if not 1 <= count <= MAX_WORKERS:
        raise usage_error(f"invalid --workers {count}: use 1 to {MAX_WORKERS}")
    if count > 1 and not supervision.SUPPORTED:
        raise usage_error("--workers above 1 needs Linux (or another system with sigwaitinfo)")
    if not auth and not is_loopback(host):
        raise usage_error(
            f"--no-auth trusts whoever names a user, so it serves only a loopback address"
            f" (127.0.0.1, ::1, localhost), not {host!r}; use tokens ('seatctl token add')"
        )
    if not 0 <= port <= 65535:
        raise usage_error(f"invalid --port {port}: use 0 to 65535")
    try:
        import orjson  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise usage_error(f"serve needs the server extra ({exc.name}): {INSTALL_HINT}") from None
    if certfile is not None and keyfile is not None:
        _check_tls(certfile, keyfile)
    _quiet_logging()
    from seatctl.server.app import create_app
    from seatctl.server.limits import Limits
    from seatctl.server.live import Hub
    from seatctl.server.worker import Worker

    limits = limits or Limits()
    tls = (certfile, keyfile)
    if count > 1:
        return _serve_many(db, host, port, auth, count, limits, tls)
    worker = Worker(db, limits.request_timeout)
    worker.start()  # opens the database now: a missing or bad one stops serve here
    try:
        listener = _listen(host, port)
        try:
            local = _local(listener, host, auth, tls)
            hub = Hub(db, worker)
            try:
                app = create_app(worker, auth, hub, limits, local)
                _run(app, listener, worker.location, auth, hub.close, limits, tls)
            finally:
                hub.close()
                hub.join()
        finally:
            listener.close()
    finally:
        worker.stop()
    return ExitCode.OK


def _local(listener: socket.socket, host: str, auth: bool, tls: Tls) -> Local:
    """The names the server answers to (`--no-auth` checks Host against them), after checking
    the bound address: --no-auth only on loopback, a warning for plain HTTP on a network."""
    from seatctl.server.local import Local

    bound = listener.getsockname()[0]
    if not auth and not is_loopback(bound):  # e.g. a hosts file mapping localhost
        raise usage_error(
            f"--no-auth serves only a loopback address, but {host!r} resolves to"
            f" {bound}; use 127.0.0.1 or ::1, or tokens ('seatctl token add')"
        )
    warning = plain_http_warning(bound, tls=tls[0] is not None)
    if warning is not None:
        print(f"seatctl serve: warning: {warning}", file=sys.stderr)
    scheme = "http" if tls[0] is None else "https"
    return Local((host, bound), listener.getsockname()[1], scheme)


def _serve_many(
    db: str, host: str, port: int, auth: bool, count: int, limits: Limits, tls: Tls
) -> int:
    """`count` worker processes on one socket, bound here before they start."""
    from seatctl.server import workers as supervision
    from seatctl.server.app import create_app
    from seatctl.server.live import Hub
    from seatctl.server.worker import Worker
    from seatctl.venue import Venue

    with Venue.open(db) as venue:  # a missing or bad database stops serve here, once
        location = venue.location
    listener = _listen(host, port)
    try:
        local = _local(listener, host, auth, tls)

        def serve_one() -> int:
            if not is_postgres_url(db):  # the workers' writers queue for SQLite's one lock
                from seatctl.storage.sqlite import queue_writers

                queue_writers(db)
            worker = Worker(db, limits.request_timeout, alone=False)
            worker.start()
            try:
                hub = Hub(db, worker)
                try:
                    app = create_app(worker, auth, hub, limits, local)
                    _run(app, listener, location, auth, hub.close, limits, tls, announce=False)
                finally:
                    hub.close()
                    hub.join()
            finally:
                worker.stop()
            return ExitCode.OK

        def announce() -> None:
            # The same line as one process says: scripts wait for it.
            print(_serving(listener, location, auth, tls), file=sys.stderr)
            sys.stderr.flush()

        code = supervision.supervise(count, serve_one, announce, listener.close)
    finally:
        listener.close()
    if code:
        raise SeatctlError(
            Reason.BAD_DATABASE,
            "serve stopped: its workers kept stopping at start-up (see the lines above)",
            ExitCode.DATABASE,
        )
    return ExitCode.OK


def _serving(listener: socket.socket, location: str, auth: bool, tls: Tls) -> str:
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    mode = "tokens" if auth else "none"
    scheme = "http" if tls[0] is None else "https"
    return f"serving {location} on {scheme}://{shown}:{port} (auth: {mode})"


def plain_http_warning(bound: str, tls: bool) -> str | None:
    """What to tell the operator of a server that other machines reach without TLS."""
    if tls or is_loopback(bound):
        return None
    return (
        f"serving plain HTTP on {bound}: tokens and bookings cross the network unencrypted;"
        " use --certfile/--keyfile, or a reverse proxy that speaks HTTPS"
        " (docs/http-api.md, Security)"
    )


def _check_tls(certfile: str, keyfile: str) -> None:
    """Load the certificate now: a bad one is a clear error, not a failed start-up."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise usage_error(f"cannot use --certfile/--keyfile: {why}") from None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host.strip("[]"), port), family=family, backlog=2048)
    except OSError as exc:
        raise usage_error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _run(
    app: object,
    listener: socket.socket,
    location: str,
    auth: bool,
    end_streams: Callable[[], None],
    limits: Limits,
    tls: Tls,
    announce: bool = True,
) -> None:
    import asyncio
    import contextlib

    import uvicorn

    from seatctl.server.limits import protocol_class

    class Server(uvicorn.Server):
        # uvicorn looks for a stop signal once every 0.1 s; an operator's restart (or a
        # supervisor's) should not wait for that: a signal wakes the loop at once.
        _stopping: asyncio.Event | None = None
        _loop: asyncio.AbstractEventLoop | None = None

        async def main_loop(self) -> None:
            self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 1) % 864_000  # on_tick's count of 0.1 s ticks, as uvicorn's
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 0.1)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            if self._loop is not None and self._stopping is not None:
                self._loop.call_soon_threadsafe(self._stopping.set)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Open streams never end by themselves: end them first, so that the graceful
            # shutdown waits only for the requests in flight.
            end_streams()
            if self.server_state.connections or self.server_state.tasks:
                await super().shutdown(sockets)
                return
            # Nothing in flight (and nothing can arrive before the close, with no await in
            # between): uvicorn would still wait 0.1 s for connections to finish; close now.
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for server in self.servers:
                await server.wait_closed()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and announce:
                print(_serving(listener, location, auth, tls), file=sys.stderr)
                sys.stderr.flush()

        def capture_signals(self):  # type: ignore[no-untyped-def]
            # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown, which would end
            # the process by the signal; a clean shutdown is exit 0.
            @contextlib.contextmanager
            def captured():  # type: ignore[no-untyped-def]
                with uvicorn.Server.capture_signals(self):
                    yield
                    self._captured_signals.clear()

            return captured()

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        # Nothing here reads the client's address or scheme from the request (the limits
        # count the connection's own peer): no middleware to rewrite them on every request.
        proxy_headers=False,
        timeout_graceful_shutdown=30,
        http=protocol_class(limits),
        ssl_certfile=tls[0],
        ssl_keyfile=tls[1],
    )
    Server(config).run(sockets=[listener])


class _OneLine(logging.Formatter):
    """Log lines without tracebacks: details for the operator, never a stack dump."""

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]
        return ""

    def formatStack(self, stack_info: str) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None
        text = super().format(record)
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:  # name what failed, on the same line
            text += f": {type(error).__name__}: {error}"
        return text.replace("\n", " ")


def _quiet_logging() -> None:
    """One line per problem on stderr, whoever reports it: seatctl, uvicorn, the event loop
    (the `asyncio` logger), any library (the root logger), or a thread that died."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("seatctl serve: %(message)s"))
    handler.addFilter(_not_an_aftermath)
    levels = (("seatctl", logging.INFO), ("uvicorn", logging.ERROR), ("", logging.WARNING))
    for name, level in levels:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    threading.excepthook = _thread_died


def _not_an_aftermath(record: logging.LogRecord) -> bool:
    """psycopg logs "error ignored terminating <Pipeline>" when a statement sent in a pipeline
    fails (a lock wait that ran out, say) and ending the pipeline then fails too. The first
    error goes on to seatctl, which answers or retries the request: this line says nothing."""
    return not (record.name.startswith("psycopg") and str(record.msg).startswith("error ignored"))


def _thread_died(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    log.error("thread %s stopped: %s: %s", name, args.exc_type.__name__, args.exc_value)

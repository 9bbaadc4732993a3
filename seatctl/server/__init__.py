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

from seatctl.core.errors import ExitCode, Reason, SeatctlError, usage_error
from seatctl.core.validate import is_postgres_url

INSTALL_HINT = "pip install 'seatctl[server]'"
MAX_WORKERS = 64
log = logging.getLogger("seatctl.serve")


def serve(db: str, host: str, port: int, auth: bool = True, workers: int | None = None) -> int:
    """Serve the API on host:port until SIGINT or SIGTERM; return the exit code (0). With
    `workers` above 1, that many processes serve the one socket (`seatctl.server.workers`);
    None: the default for this machine."""
    from seatctl.server import workers as supervision

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
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise usage_error(f"serve needs the server extra ({exc.name}): {INSTALL_HINT}") from None
    _quiet_logging()
    from seatctl.server.app import create_app
    from seatctl.server.live import Hub
    from seatctl.server.worker import Worker

    if count > 1:
        return _serve_many(db, host, port, auth, count)
    worker = Worker(db)
    worker.start()  # opens the database now: a missing or bad one stops serve here
    try:
        listener = _listen(host, port)
        try:
            bound = listener.getsockname()[0]
            if not auth and not is_loopback(bound):  # e.g. a hosts file mapping localhost
                raise usage_error(
                    f"--no-auth serves only a loopback address, but {host!r} resolves to"
                    f" {bound}; use 127.0.0.1 or ::1, or tokens ('seatctl token add')"
                )
            hub = Hub(db, worker)
            try:
                _run(create_app(worker, auth, hub), listener, worker.location, auth, hub.close)
            finally:
                hub.close()
                hub.join()
        finally:
            listener.close()
    finally:
        worker.stop()
    return ExitCode.OK


def _serve_many(db: str, host: str, port: int, auth: bool, count: int) -> int:
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
        bound = listener.getsockname()[0]
        if not auth and not is_loopback(bound):
            raise usage_error(
                f"--no-auth serves only a loopback address, but {host!r} resolves to"
                f" {bound}; use 127.0.0.1 or ::1, or tokens ('seatctl token add')"
            )

        def serve_one() -> int:
            if not is_postgres_url(db):  # the workers' writers queue for SQLite's one lock
                from seatctl.storage.sqlite import queue_writers

                queue_writers(db)
            worker = Worker(db)
            worker.start()
            try:
                hub = Hub(db, worker)
                try:
                    _run(create_app(worker, auth, hub), listener, location, auth, hub.close, False)
                finally:
                    hub.close()
                    hub.join()
            finally:
                worker.stop()
            return ExitCode.OK

        def announce() -> None:
            # The same line as one process says: scripts wait for it.
            print(_serving(listener, location, auth), file=sys.stderr)
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


def _serving(listener: socket.socket, location: str, auth: bool) -> str:
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    mode = "tokens" if auth else "none"
    return f"serving {location} on http://{shown}:{port} (auth: {mode})"


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
    announce: bool = True,
) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Open streams never end by themselves: end them first, so that the graceful
            # shutdown waits only for the requests in flight.
            end_streams()
            await super().shutdown(sockets)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and announce:
                print(_serving(listener, location, auth), file=sys.stderr)
                sys.stderr.flush()

        def capture_signals(self):  # type: ignore[no-untyped-def]
            # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown, which would end
            # the process by the signal; a clean shutdown is exit 0.
            import contextlib

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
        timeout_graceful_shutdown=30,
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
    levels = (("seatctl", logging.INFO), ("uvicorn", logging.ERROR), ("", logging.WARNING))
    for name, level in levels:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    threading.excepthook = _thread_died


def _thread_died(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    log.error("thread %s stopped: %s: %s", name, args.exc_type.__name__, args.exc_value)

"""`seatctl serve`: the HTTP API. The server stack is imported by this command only."""

# Annotations are evaluated here, once (no `from __future__ import annotations`): as strings,
# Typer would compile each of the running command's twice, on every run.

from typing import Annotated

import typer

from seatctl.cli.common import JsonOpt


def serve(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="HOST", help="Address to listen on (loopback unless you mean it)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="TCP port (0 picks a free one).")
    ] = 8000,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="Trust the user named in each request, as the prototype did (loopback only).",
        ),
    ] = False,
    certfile: Annotated[
        str | None, typer.Option(metavar="FILE", help="Serve HTTPS: the certificate (PEM).")
    ] = None,
    keyfile: Annotated[
        str | None, typer.Option(metavar="FILE", help="Serve HTTPS: its private key (PEM).")
    ] = None,
    max_header_bytes: Annotated[
        int, typer.Option(metavar="BYTES", help="Request line and headers at most (431).")
    ] = 16384,
    header_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Time to send a request's headers (408).")
    ] = 15.0,
    request_timeout: Annotated[
        float,
        typer.Option(metavar="SECONDS", help="A request's whole time, waits included (503)."),
    ] = 10.0,
    max_connections: Annotated[
        int, typer.Option(metavar="N", help="Open connections at most (503 past it).")
    ] = 1000,
    max_client_connections: Annotated[
        int, typer.Option(metavar="N", help="Open connections per client address (0: no limit).")
    ] = 100,
    max_streams: Annotated[
        int, typer.Option(metavar="N", help="Open /v1/stream answers at most (429).")
    ] = 500,
    max_token_streams: Annotated[
        int, typer.Option(metavar="N", help="Open /v1/stream answers per token (429).")
    ] = 10,
    stream_buffer: Annotated[
        int, typer.Option(metavar="BYTES", help="Unsent bytes a stream may hold.")
    ] = 65536,
    stream_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Drop a stream whose client stops reading.")
    ] = 30.0,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            help="Server processes on the port (default: 1 on SQLite, 1 per CPU on PostgreSQL).",
            show_default=False,
        ),
    ] = None,
    json: JsonOpt = False,
) -> int:
    """Serve the HTTP API (the prototype's endpoints and /v1) until SIGINT or SIGTERM.

    Requests act as the user of their bearer token ('seatctl token add'). With --json, an
    error that stops serve is JSON on stderr. The limits are described in
    docs/http-api.md (Security).

    Examples:
      seatctl serve
      seatctl serve --port 0 --no-auth
      seatctl serve --host 0.0.0.0 --port 8443 --workers 4 --certfile cert.pem --keyfile key.pem
    """
    from seatctl.server import serve as run_server  # the server stack: only this command
    from seatctl.server.limits import Limits

    ctx.obj.json = json
    limits = Limits(
        max_header_bytes=max_header_bytes,
        header_timeout=header_timeout,
        request_timeout=request_timeout,
        max_connections=max_connections,
        max_client_connections=max_client_connections,
        max_streams=max_streams,
        max_token_streams=max_token_streams,
        stream_buffer=stream_buffer,
        stream_timeout=stream_timeout,
    )
    db = ctx.obj.database()
    return run_server(db, host, port, not no_auth, limits, certfile, keyfile, workers)

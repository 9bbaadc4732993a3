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
    error that stops serve is JSON on stderr.

    Examples:
      seatctl serve
      seatctl serve --host 0.0.0.0 --port 8080 --workers 4
      seatctl serve --port 0 --no-auth
    """
    from seatctl.server import serve as run_server  # the server stack: only this command

    ctx.obj.json = json
    return run_server(ctx.obj.database(), host, port, auth=not no_auth, workers=workers)

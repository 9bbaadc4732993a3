"""Looking after the database: init, settings, check, backup, and batch (many commands, one
process)."""

# Annotations are evaluated here, once (no `from __future__ import annotations`): as strings,
# Typer would compile each of the running command's twice, on every run.

import os
import sys
from typing import Annotated

import typer

from seatctl.cli.common import JsonOpt
from seatctl.cli.output import Output
from seatctl.cli.reports import CheckReport, Message, SettingsReport
from seatctl.service import Venue
from seatctl.wire import printable


def init(
    ctx: typer.Context,
    labels: Annotated[
        list[str] | None,
        typer.Argument(metavar="[LABEL...]", show_default=False, help="Seats to add by label."),
    ] = None,
    seats: Annotated[
        int | None, typer.Option("--seats", metavar="N", help="Add seats 1..N (0 to 100000).")
    ] = None,
    ttl: Annotated[
        int | None,
        typer.Option(
            "--ttl", metavar="SECONDS", help="Set the default lock duration (60, 1 to 86400)."
        ),
    ] = None,
    seat_map: Annotated[
        str | None,
        typer.Option(
            "--map",
            metavar="FILE",
            help="Add the seats of a seat-map file (CSV with a header row, or JSON lines):"
            " label, section, row, number, category; best sections and rows first.",
        ),
    ] = None,
    max_hold: Annotated[
        int | None,
        typer.Option(
            "--max-hold",
            metavar="SECONDS",
            help="Cap one hold's whole length, relocks included; 0: no cap"
            " (a new database: 10x the default lock duration).",
        ),
    ] = None,
    max_seats_per_user: Annotated[
        int | None,
        typer.Option(
            "--max-seats-per-user",
            metavar="N",
            help="Cap each user's live locks in an event; 0: no cap (the default).",
        ),
    ] = None,
    json: JsonOpt = False,
) -> Output:
    """Create the database if missing and add seats; never changes existing seats.

    A new database with neither --seats, labels nor --map gets seats 1 to 5.

    Examples:
      seatctl init --seats 200
      seatctl init VIP1 VIP2 --ttl 120
      seatctl --db hall.db init --map hall.csv
    """
    ctx.obj.close()  # init opens the database its own way: it may create it
    ctx.obj.json = json
    result = Venue.init(
        ctx.obj.database(creating=True),
        seats=seats,
        labels=labels or [],
        ttl=ttl,
        seat_map=seat_map,
        max_hold=max_hold,
        max_seats_per_user=max_seats_per_user,
    )
    seats_word = "seat" if result.added == 1 else "seats"
    return Message(
        f"initialised {result.location}: added {result.added} {seats_word}"
        f" ({result.total} in all); default lock duration {result.default_ttl} s",
        {
            "database": result.location,
            "added": result.added,
            "total": result.total,
            "ttl": result.default_ttl,
            "max_hold": result.max_hold,
            "max_seats_per_user": result.max_seats_per_user,
        },
    )


def settings(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """Show the settings: default lock duration, max-hold, max-seats-per-user (0: no cap).

    'seatctl init' changes them: --ttl, --max-hold and --max-seats-per-user.

    Examples:
      seatctl settings
      seatctl --db venue.db settings --json
    """
    return SettingsReport(ctx.obj.venue(json).settings())


def check(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """Verify the database: its integrity check and every booking invariant.

    Examples:
      seatctl check
      seatctl --db venue.db check --json
    """
    venue = ctx.obj.venue(json)
    report = CheckReport(venue.check())
    if _readable_by_others(venue.location) and venue.tokens():
        print(
            f"warning: {printable(venue.location)} holds API tokens and other users may"
            " read it: chmod 600 it (and its -wal and -shm files)",
            file=sys.stderr,
        )
    return report


def _readable_by_others(path: str) -> bool:
    """A SQLite file that its group or anyone may read (a PostgreSQL URL is not a file)."""
    try:
        return os.path.isfile(path) and bool(os.stat(path).st_mode & 0o044)
    except (OSError, ValueError):
        return False


def backup(
    ctx: typer.Context,
    dest: Annotated[
        str,
        typer.Argument(
            metavar="DEST", show_default=False, help="The copy's file name (a new one)."
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite DEST if it is an existing regular file.")
    ] = False,
    json: JsonOpt = False,
) -> Output:
    """Write a consistent copy of the database to DEST, safe while others keep writing.

    Examples:
      seatctl backup venue-2026-01-01.db
      seatctl backup /backups/venue.db --force
    """
    ctx.obj.venue(json).backup(dest, force=force)
    source = ctx.obj.database()
    return Message(f"backed up {source} to {dest}", {"database": source, "dest": dest})


def batch(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Run commands from stdin, one per line, and print one JSON result per line.

    Each line is written as on the command line, without 'seatctl'; blank lines and
    # comments are skipped. The output is always JSON lines; --json makes the batch's own
    errors JSON too.

    Examples:
      seatctl batch < commands.txt
      seatctl --db venue.db batch < commands.txt
    """
    from seatctl.cli.batch import run_lines

    ctx.obj.json = json
    # Bytes, decoded line by line in run_lines: one undecodable line must not end the batch.
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    code = run_lines(stdin, sys.stdout, ctx.obj, ctx.obj.commands, sys.stdin.encoding or "utf-8")
    if code:
        raise typer.Exit(code)

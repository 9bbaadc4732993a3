"""Reading an event's seats: seats, history, watch, summary and map."""

# Annotations are evaluated here, once (no `from __future__ import annotations`): as strings,
# Typer would compile each of the running command's twice, on every run.

import contextlib
import signal
import sys
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated

import typer

from seatctl import wire
from seatctl.cli import output as render
from seatctl.cli.common import EventOpt, JsonOpt, event_name, instant
from seatctl.cli.output import Output
from seatctl.core.errors import ExitCode, usage_error
from seatctl.core.model import Status, count_statuses


class StatusChoice(StrEnum):
    available = "available"
    locked = "locked"
    booked = "booked"
    blocked = "blocked"


def seats(
    ctx: typer.Context,
    status: Annotated[
        StatusChoice | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only seats in this state: available, locked, booked or blocked.",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            metavar="USER",
            help="Only seats this user holds a live lock on or has booked.",
        ),
    ] = None,
    json: JsonOpt = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
    nl: Annotated[
        bool, typer.Option("--nl", help="Print one JSON seat object per line (streamed).")
    ] = False,
    event: EventOpt = None,
) -> Output:
    """List an event's seats and their states.

    Examples:
      seatctl seats
      seatctl seats --status available --json
      seatctl seats --user alice --event gala --csv
    """
    if json + csv + nl > 1:
        raise usage_error("choose one of --json, --csv and --nl")
    views = ctx.obj.venue(json or nl).iter_seats(
        status=Status(status.value) if status else None, user=user, event=event_name(ctx, event)
    )
    return render.SeatList(views, "csv" if csv else "nl" if nl else "table")


def history(
    ctx: typer.Context,
    seat: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SEAT...]",
            show_default=False,
            help="Only these seats' events.",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="USER", help="Only this user's events."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="INSTANT",
            help="Only events at or after this instant (a date: the start of that day, UTC).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", help="Only the last N matching events.")
    ] = None,
    json: JsonOpt = False,
    event: EventOpt = None,
    by: Annotated[
        str | None,
        typer.Option("--by", metavar="NAME", help="Only the changes NAME made for someone else."),
    ] = None,
) -> Output:
    """Show the audit history of an event, oldest first.

    An instant is written like 2026-01-01T12:00:00Z, 2026-01-01T13:00:00+01:00 or
    @1767268800; a date alone (2026-01-01) is the start of that day in UTC.

    Examples:
      seatctl history 3
      seatctl history --user alice --since 2031-01-01 --json
      seatctl history --by clerk1 --limit 20 --event gala
    """
    venue = ctx.obj.venue(json)
    show = event_name(ctx, event)
    events = venue.history(seat or [], user, instant(since), limit, event=show, by=by)
    from seatctl.cli.reports import EventList  # not every run defines the class

    return EventList(events)


def watch(ctx: typer.Context, json: JsonOpt = False, event: EventOpt = None) -> int:
    """Print each change of an event's seats as it happens, until Ctrl-C.

    \b
    Text: first a line on stderr saying what is watched, then on stdout one
    line per change: its instant, the seat, and what the seat is now.
    --json: first a snapshot object (every seat now), then one object per
    change: {"type": "seat", "cancel" or "expire", "id", "at", "seat": seat object}.
    Changes by any process count; a lock that runs out is printed as an
    `expire` within a second of its deadline. Ctrl-C or SIGTERM ends it: exit 0.

    Examples:
      seatctl watch
      seatctl watch --event gala --json
    """
    venue = ctx.obj.venue(json)
    show = event_name(ctx, event)
    from seatctl.cli.watch_output import (
        watch_line,
        watch_object,
        watch_snapshot_object,
        watch_start_line,
    )
    from seatctl.core.changefeed import Item

    with _ended_by_signals():
        for told in venue.watch(show):
            if isinstance(told, Item):
                if json:
                    line = watch_object(
                        told.kind, told.id_text, told.at, wire.seat_object(told.view)
                    )
                else:
                    seat = wire.seat_object(told.view)
                    line = watch_line(told.kind, told.at, seat, told.action)
                typer.echo(line)
            elif json:
                seats = [wire.seat_object(seat.view(told.now)) for seat in told.seats]
                start_id = f"{told.newest_id}:{told.now}"
                typer.echo(watch_snapshot_object(show, start_id, told.now, seats))
            else:
                counts = count_statuses(seat.status(told.now) for seat in told.seats)
                typer.echo(watch_start_line(show, venue.location, counts), err=True)
            sys.stdout.flush()  # a pipe's reader sees each change now, not when a buffer fills
    return ExitCode.OK


@contextlib.contextmanager
def _ended_by_signals() -> Iterator[None]:
    """Ctrl-C or SIGTERM ends a watch as its normal end (exit 0): nothing is being changed."""

    def stop(signum: int, frame: object) -> None:
        raise _Stopped

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stopped(Exception):
    """SIGTERM arrived during a watch."""


class Grouping(StrEnum):
    section = "section"
    row = "row"
    category = "category"


def summary(
    ctx: typer.Context,
    by: Annotated[
        Grouping | None,
        typer.Option("--by", metavar="GROUP", help="Also count each section, row or category."),
    ] = None,
    json: JsonOpt = False,
    event: EventOpt = None,
) -> Output:
    """Count an event's seats by status, with its occupancy (booked / total).

    Examples:
      seatctl summary
      seatctl summary --by section --event gala --json
    """
    show = event_name(ctx, event)
    counts, groups = ctx.obj.venue(json).summary(show, by.value if by else None)
    from seatctl.cli.reports import Summary  # not every run defines the class

    return Summary(show, counts, by.value if by else None, groups)


def seat_map(
    ctx: typer.Context,
    section: Annotated[
        str | None,
        typer.Option("--section", metavar="SECTION", help="Only this section."),
    ] = None,
    event: EventOpt = None,
    json: JsonOpt = False,
) -> Output:
    """Draw an event's seats in the terminal, one line per row, one character per seat.

    . available, L locked, B booked, X blocked; coloured on a terminal unless NO_COLOR.
    With --json: {"map": TEXT}, the drawing without colour.

    Examples:
      seatctl map
      seatctl map --section Stalls --event gala
    """
    import shutil

    cells = ctx.obj.venue(json).map_cells(event_name(ctx, event), section)
    # The terminal's width ($COLUMNS first), else 80.
    from seatctl.cli.reports import SeatMap  # not every run defines the class

    return SeatMap(cells, shutil.get_terminal_size((80, 24)).columns)

"""`seatctl event`: the events (shows), each with its own seat states and history."""

# Annotations are evaluated here, once (no `from __future__ import annotations`): as strings,
# Typer would compile each of the running command's twice, on every run.

from typing import Annotated

import typer

from seatctl import wire
from seatctl.cli.common import JsonOpt, instant
from seatctl.cli.formatting import SeatctlGroup, SeatctlTyper
from seatctl.cli.output import Output
from seatctl.cli.reports import Message, ShowList

event_app: SeatctlTyper = SeatctlTyper(
    name="event",
    help="""Manage the events (shows): each has its own seat states and history.

Examples:
  seatctl event add gala --title "Gala night" --starts 2031-12-31T20:00:00Z
  seatctl event list""",
    rich_markup_mode=None,
    no_args_is_help=True,
    cls=SeatctlGroup,
)


@event_app.command("add")
def event_add(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", show_default=False, help="The event's name (the seat label rules)."
        ),
    ],
    title: Annotated[
        str | None, typer.Option("--title", metavar="TEXT", help="What the event is called.")
    ] = None,
    starts: Annotated[
        str | None,
        typer.Option("--starts", metavar="INSTANT", help="When it starts (an ISO 8601 instant)."),
    ] = None,
    json: JsonOpt = False,
) -> Output:
    """Add an event: every seat of the map is available in it.

    Examples:
      seatctl event add gala --title "Gala night" --starts 2031-12-31T20:00:00Z
      seatctl event add matinee --json
    """
    starts_at = instant(starts, "--starts")
    show = ctx.obj.venue(json).add_event(name, title=title, starts_at=starts_at)
    return Message(f"added event {show.name}", wire.show_object(show))


@event_app.command("list")
def event_list(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """List the events, in the order added, with their seats counted by status.

    Examples:
      seatctl event list
      seatctl event list --json
    """
    venue = ctx.obj.venue(json)
    return ShowList(venue.events(), venue.stage())

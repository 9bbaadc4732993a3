"""Changing seats: lock (named seats or the best N), confirm, release, block, unblock and
cancel. Each takes --by (default $SEATCTL_BY): who is at the keyboard, for the history."""

# Annotations are evaluated here, once (no `from __future__ import annotations`): as strings,
# Typer would compile each of the running command's twice, on every run.

from typing import Annotated

import typer

from seatctl.cli import output as render
from seatctl.cli.common import (
    ByOpt,
    EventOpt,
    JsonOpt,
    SeatsArg,
    TtlOpt,
    UserOpt,
    by_name,
    event_name,
    user_name,
)
from seatctl.cli.output import Output
from seatctl.core import validate
from seatctl.core.errors import usage_error


def lock(
    ctx: typer.Context,
    seat: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SEAT...]",
            show_default=False,
            help="Seat labels, such as 3 or A12 (or --best N).",
        ),
    ] = None,
    user: UserOpt = None,
    ttl: TtlOpt = None,
    json: JsonOpt = False,
    event: EventOpt = None,
    best: Annotated[
        int | None,
        typer.Option(
            "--best",
            metavar="N",
            help="Choose the best N available seats together (instead of naming seats).",
        ),
    ] = None,
    section: Annotated[
        list[str] | None,
        typer.Option(
            "--section",
            metavar="SECTION",
            help="With --best: only this section (repeatable).",
        ),
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            metavar="CATEGORY",
            help="With --best: only this category (repeatable).",
        ),
    ] = None,
    split: Annotated[
        bool,
        typer.Option("--split", help="With --best: take single seats if no block is together."),
    ] = False,
    by: ByOpt = None,
) -> Output:
    """Hold seats for a user until the lock expires (all or nothing).

    The holder may lock again to move the deadline to now + ttl: later is recorded as
    `extend`, earlier as `shorten`. With --best N, seatctl chooses the best N available seats
    together and locks them in one transaction.

    Examples:
      seatctl lock 3 4 --user alice
      seatctl lock A12 --user bob --ttl 300 --event gala
      seatctl lock --best 2 --user carol --section Stalls
    """
    ctx.obj.json = json  # the usage errors below are reported as JSON with --json too
    if best is None:
        if section or category or split:
            raise usage_error("--section, --category and --split go with --best N")
        views = ctx.obj.venue(json).lock(
            seat or [], user_name(ctx, user), ttl, event_name(ctx, event), by_name(ctx, by)
        )
        return render.SeatChange("locked", views)
    if seat:
        raise usage_error("give either seat labels or --best N, not both")
    validate.best(best)  # before the database is opened, as every usage error is
    views = ctx.obj.venue(json).lock_best(
        best,
        user_name(ctx, user),
        sections=section or [],
        categories=category or [],
        split=split,
        ttl=ttl,
        event=event_name(ctx, event),
        by=by_name(ctx, by),
    )
    return render.SeatChange("locked", views)


def confirm(
    ctx: typer.Context,
    seat: SeatsArg,
    user: UserOpt = None,
    json: JsonOpt = False,
    event: EventOpt = None,
    by: ByOpt = None,
) -> Output:
    """Turn the user's live locks into bookings (all or nothing).

    Confirming a seat the user has already booked changes nothing and succeeds.

    Examples:
      seatctl confirm 3 4 --user alice
      seatctl confirm A12 --user bob --event gala --json
    """
    views = ctx.obj.venue(json).confirm(
        seat, user_name(ctx, user), event_name(ctx, event), by_name(ctx, by)
    )
    return render.SeatChange("booked", views)


def release(
    ctx: typer.Context,
    seat: SeatsArg,
    user: UserOpt = None,
    json: JsonOpt = False,
    event: EventOpt = None,
    by: ByOpt = None,
) -> Output:
    """Give up the user's live locks; the seats are available at once.

    A booking cannot be released: the box office cancels one ('seatctl cancel').

    Examples:
      seatctl release 3 --user alice
      seatctl release A12 A13 --user bob --event gala
    """
    views = ctx.obj.venue(json).release(
        seat, user_name(ctx, user), event_name(ctx, event), by_name(ctx, by)
    )
    return render.SeatChange("released", views)


def block(
    ctx: typer.Context,
    seat: SeatsArg,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why (kept in the history)."),
    ] = None,
    json: JsonOpt = False,
    event: EventOpt = None,
    by: ByOpt = None,
) -> Output:
    """Take seats off sale in an event (all or nothing).

    Refused for seats that are locked or booked; blocking a blocked seat again is fine.

    Examples:
      seatctl block 7 8 --reason "camera platform"
      seatctl block A1 --event gala --json
    """
    views = ctx.obj.venue(json).block(seat, reason, event_name(ctx, event), by_name(ctx, by))
    return render.SeatChange("blocked", views)


def unblock(
    ctx: typer.Context,
    seat: SeatsArg,
    json: JsonOpt = False,
    event: EventOpt = None,
    by: ByOpt = None,
) -> Output:
    """Put blocked seats back on sale in an event (all or nothing).

    A seat that is not blocked is left as it is ("seat 7 was not blocked"), with no history.

    Examples:
      seatctl unblock 7 8
      seatctl unblock A1 --event gala
    """
    venue = ctx.obj.venue(json)
    views, not_blocked = venue.unblocking(seat, event_name(ctx, event), by_name(ctx, by))
    return render.SeatChange("unblocked", views, frozenset(not_blocked))


def cancel(
    ctx: typer.Context,
    seat: SeatsArg,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why (kept in the history)."),
    ] = None,
    json: JsonOpt = False,
    event: EventOpt = None,
    by: ByOpt = None,
) -> Output:
    """Cancel bookings: the seats are available again (all or nothing).

    The history records `cancel` with the customer, the reason and --by. A seat that is
    not booked is refused (exit 5, not_booked); nothing else changes.

    Examples:
      seatctl cancel 7 --reason "refund, order 1234"
      seatctl cancel A1 A2 --event gala --by clerk1 --json
    """
    views = ctx.obj.venue(json).cancel(seat, reason, event_name(ctx, event), by_name(ctx, by))
    return render.SeatChange("cancelled", views)

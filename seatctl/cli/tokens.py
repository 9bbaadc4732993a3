"""`seatctl token`: the bearer tokens of `seatctl serve`."""

# Annotations are evaluated here, once (no `from __future__ import annotations`): as strings,
# Typer would compile each of the running command's twice, on every run.

from typing import Annotated

import typer

from seatctl.cli import token_output
from seatctl.cli.common import JsonOpt
from seatctl.cli.formatting import SeatctlGroup, SeatctlTyper
from seatctl.cli.output import Output
from seatctl.cli.reports import Message

token_app: SeatctlTyper = SeatctlTyper(
    name="token",
    help="""Manage the bearer tokens of 'seatctl serve'.

Examples:
  seatctl token add alice --expires-in 86400
  seatctl token list
  seatctl token revoke 3""",
    rich_markup_mode=None,
    no_args_is_help=True,
    cls=SeatctlGroup,
)


@token_app.command("add")
def token_add(
    ctx: typer.Context,
    user: Annotated[
        str, typer.Argument(metavar="USER", show_default=False, help="Who the token acts as.")
    ],
    expires_in: Annotated[
        int | None,
        typer.Option(
            "--expires-in",
            metavar="SECONDS",
            help="Expire after this long (1 to 315360000; default: never).",
        ),
    ] = None,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="buyer (acts only as USER, sees no one else's names) or staff (the box"
            " office: sees everything, acts for customers, blocks and cancels).",
        ),
    ] = "buyer",
    json: JsonOpt = False,
) -> Output:
    """Make a token for USER and print it, this once; only its hash is stored.

    Examples:
      seatctl token add alice
      seatctl token add ci-bot --expires-in 3600 --json
      seatctl token add clerk1 --role staff
    """
    token, record = ctx.obj.venue(json).add_token(user, expires_in, role)
    return token_output.NewToken(token, record)


@token_app.command("list")
def token_list(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """List the tokens: id, user, role, created, expires, last used (never the token).

    Examples:
      seatctl token list
      seatctl token list --json
    """
    return token_output.TokenList(ctx.obj.venue(json).tokens())


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[
        int, typer.Argument(metavar="ID", show_default=False, help="The id 'token list' shows.")
    ],
    json: JsonOpt = False,
) -> Output:
    """Revoke a token at once: requests bearing it get 401.

    Examples:
      seatctl token revoke 3
    """
    ctx.obj.venue(json).revoke_token(token_id)
    return Message(f"revoked token {token_id}", {"id": token_id})

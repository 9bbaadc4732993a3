"""What the commands share: one run's state (`Invocation`), the options many commands take,
and the reading of the user, the event and instants from the command line or the environment."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, Any

import typer

from seatctl.cli.parsing import from_environment
from seatctl.core import validate
from seatctl.core.clock import parse_instant
from seatctl.core.errors import SeatctlError, usage_error
from seatctl.core.model import DEFAULT_SHOW
from seatctl.service import Venue


class Invocation:
    """One run's shared state: the database (opened once, also across `batch` lines) and
    whether errors should be reported as JSON."""

    def __init__(self, commands: Callable[[str], Any] | None = None) -> None:
        self.db: str | None = None
        # A command name -> its parsed command, for `batch` lines (see parsing.Parsers).
        self.commands = commands
        self.json = False
        self.opened: Venue | None = None

    def database(self, creating: bool = False) -> str:
        if self.db is not None:  # even "" (an unset variable?): the API refuses it, exit 2
            return self.db
        app_dir = typer.get_app_dir("seatctl")
        if creating:
            os.makedirs(app_dir, mode=0o700, exist_ok=True)  # owner-only, as the database
        return os.path.join(app_dir, "seatctl.db")

    def venue(self, want_json: bool) -> Venue:
        self.json = want_json
        if self.opened is None:
            self.opened = Venue.open(self.database())
        return self.opened

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()
            self.opened = None


SeatsArg = Annotated[
    list[str],
    typer.Argument(
        metavar="SEAT...",
        show_default=False,
        help="Seat labels, such as 3 or A12.",
    ),
]

UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user",
        metavar="USER",
        envvar="SEATCTL_USER",
        show_envvar=True,
        help="Who holds or books the seats.",
    ),
]

ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        metavar="NAME",
        envvar="SEATCTL_BY",
        show_envvar=True,
        help="Who is making the change (an operator acting for USER): kept in the history.",
    ),
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (errors go to stderr as JSON).")]

EventOpt = Annotated[
    str | None,
    typer.Option(
        "--event",
        metavar="NAME",
        envvar="SEATCTL_EVENT",
        show_envvar=True,
        help="The event (show) to act on (default: the event named 'default').",
    ),
]

TtlOpt = Annotated[
    int | None,
    typer.Option("--ttl", metavar="SECONDS", help="Lock duration, 1 to 86400 seconds."),
]


def event_name(ctx: typer.Context, name: str | None) -> str:
    if name is None:
        return DEFAULT_SHOW
    if from_environment(ctx, "event"):
        _check_variable("SEATCTL_EVENT", name, validate.event_name)
    return name


def user_name(ctx: typer.Context, user: str | None) -> str:
    if user is None:
        if os.environ.get("SEATCTL_USER") == "":  # set but empty: an unset variable's value?
            raise usage_error("SEATCTL_USER is empty: set it to a user name, or give --user USER")
        raise usage_error("--user USER is required (or set SEATCTL_USER)")
    if from_environment(ctx, "user"):
        _check_variable("SEATCTL_USER", user, validate.user)
    return user


def by_name(ctx: typer.Context, by: str | None) -> str | None:
    """The operator making a change (`--by`, else $SEATCTL_BY); None without either (an empty
    variable counts as unset: nobody is named)."""
    if by is None or (by == "" and from_environment(ctx, "by")):
        return None
    if from_environment(ctx, "by"):
        _check_variable("SEATCTL_BY", by, validate.user)
    return validate.user(by)


def _check_variable(variable: str, value: str, check: Callable[[str], object]) -> None:
    """A bad value from the environment is named by its variable: the command line the user
    is looking at does not show it."""
    try:
        check(value)
    except SeatctlError as error:
        raise usage_error(f"{variable}: {error.message}") from None


def instant(text: str | None, option: str = "--since") -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise usage_error(f"invalid {option} {text!r}: {exc}") from None

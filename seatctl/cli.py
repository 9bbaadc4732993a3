"""The command line: parse arguments, call the Python API, print, exit with the right code.

`main()` is the one place where errors become output and exit codes.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import typer

from seatctl import __version__, render
from seatctl.errors import ExitCode, Reason, SeatctlError, usage_error
from seatctl.model import Status
from seatctl.venue import Venue

EXIT_CODES = """\b
Exit codes:
  0  success
  2  usage error: bad option, label, user, ttl or SEATCTL_NOW
  3  a named seat does not exist
  4  lock refused: seat booked, or locked by another user
  5  confirm/release refused: you hold no live lock on the seat
  6  database problem: not initialised, not a seatctl database,
     newer schema, read-only, or still busy after waiting"""

app = typer.Typer(
    add_completion=False,
    invoke_without_command=True,
    rich_markup_mode=None,
    help="Hold and book seats from a shell, a script or a CI job, without double-booking.",
    epilog=EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class StatusChoice(StrEnum):
    available = "available"
    locked = "locked"
    booked = "booked"


@dataclass
class Invocation:
    """What `main()` needs to know to report an error the way the command was asked to."""

    db: str | None = None
    json: bool = False

    def database(self, creating: bool = False) -> str:
        if self.db:
            return self.db
        app_dir = typer.get_app_dir("seatctl")
        if creating:
            os.makedirs(app_dir, exist_ok=True)
        return os.path.join(app_dir, "seatctl.db")

    def venue(self, want_json: bool) -> Venue:
        self.json = want_json
        return Venue.open(self.database())


SeatsArg = Annotated[list[str], typer.Argument(metavar="SEAT...", show_default=False)]
UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user", envvar="SEATCTL_USER", show_envvar=True, help="Who holds or books the seats."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (errors go to stderr as JSON).")]
TtlOpt = Annotated[
    int | None,
    typer.Option("--ttl", metavar="SECONDS", help="Lock duration, 1 to 86400 seconds."),
]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"seatctl {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="PATH",
            envvar="SEATCTL_DB",
            show_envvar=True,
            help="Database file, or a postgresql:// URL"
            " (default: seatctl.db in the user's application directory).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(ExitCode.USAGE)
    ctx.obj.db = db


@app.command()
def init(
    ctx: typer.Context,
    labels: Annotated[
        list[str] | None, typer.Argument(metavar="[LABEL...]", show_default=False)
    ] = None,
    seats: Annotated[
        int | None, typer.Option("--seats", metavar="N", help="Add seats 1..N (0 to 100000).")
    ] = None,
    ttl: Annotated[
        int | None,
        typer.Option("--ttl", metavar="SECONDS", help="Set the default lock duration (60)."),
    ] = None,
) -> None:
    """Create the database if missing and add seats; never changes existing seats."""
    result = Venue.init(ctx.obj.database(creating=True), seats=seats, labels=labels or [], ttl=ttl)
    typer.echo(render.init_summary(result))


@app.command()
def seats(
    ctx: typer.Context,
    status: Annotated[
        StatusChoice | None, typer.Option("--status", help="Only seats in this state.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Only seats this user holds a live lock on or has booked."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """List every seat and its state."""
    with ctx.obj.venue(json) as venue:
        views = venue.seats(status=Status(status.value) if status else None, user=user)
    typer.echo(render.seats_json(views) if json else render.seats_table(views, _colour()))


@app.command()
def lock(
    ctx: typer.Context,
    seat: SeatsArg,
    user: UserOpt = None,
    ttl: TtlOpt = None,
    json: JsonOpt = False,
) -> None:
    """Hold seats for a user until the lock expires; the holder may lock again to extend."""
    with ctx.obj.venue(json) as venue:
        views = venue.lock(seat, _required(user), ttl=ttl)
    typer.echo(render.changed_json(views) if json else render.change_lines("locked", views))


@app.command()
def confirm(
    ctx: typer.Context, seat: SeatsArg, user: UserOpt = None, json: JsonOpt = False
) -> None:
    """Turn the user's live locks into bookings."""
    with ctx.obj.venue(json) as venue:
        views = venue.confirm(seat, _required(user))
    typer.echo(render.changed_json(views) if json else render.change_lines("booked", views))


@app.command()
def release(
    ctx: typer.Context, seat: SeatsArg, user: UserOpt = None, json: JsonOpt = False
) -> None:
    """Give up the user's live locks; the seats are available at once."""
    with ctx.obj.venue(json) as venue:
        views = venue.release(seat, _required(user))
    typer.echo(render.changed_json(views) if json else render.change_lines("released", views))


@app.command()
def history(
    ctx: typer.Context,
    seat: Annotated[
        list[str] | None, typer.Argument(metavar="[SEAT...]", show_default=False)
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's events.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="INSTANT", help="Only events at or after this instant."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", help="Only the last N matching events.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Show the audit history, oldest first."""
    with ctx.obj.venue(json) as venue:
        events = venue.history(seat or [], user=user, since=_instant(since), limit=limit)
    typer.echo(render.events_json(events) if json else render.events_table(events))


@app.command()
def check(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Verify the database: SQLite's integrity check and every booking invariant."""
    with ctx.obj.venue(json) as venue:
        problems = venue.check()
    typer.echo(render.check_json(problems) if json else render.check_lines(problems))
    if problems:
        raise SeatctlError(
            Reason.INCONSISTENT,
            f"check found {len(problems)} problem{'s' if len(problems) > 1 else ''}",
            ExitCode.DATABASE,
        )


@app.command()
def backup(
    ctx: typer.Context,
    dest: Annotated[str, typer.Argument(metavar="DEST", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Overwrite DEST if it exists.")] = False,
) -> None:
    """Write a consistent copy of the database to DEST, safe while others keep writing."""
    with ctx.obj.venue(False) as venue:
        venue.backup(dest, force=force)
    typer.echo(render.printable(f"backed up {ctx.obj.database()} to {dest}"))


def _instant(text: str | None) -> int | None:
    from seatctl.clock import parse_instant

    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise usage_error(f"--since: {exc}") from None


def _required(user: str | None) -> str:
    if user is None:
        raise usage_error("--user is required (or set SEATCTL_USER)")
    return user


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    invocation = Invocation()
    try:
        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="seatctl", obj=invocation, standalone_mode=False)
        return result if isinstance(result, int) else ExitCode.OK
    except SeatctlError as error:
        out = render.error_json(error) if invocation.json else render.error_line(error.message)
        typer.echo(out, err=True)
        return error.exit_code
    except typer.Abort:
        return 130
    except typer.TyperException as error:  # the option parser's complaints
        message = f"{error.format_message()} (see 'seatctl --help')"
        typer.echo(render.error_line(message), err=True)
        return ExitCode.USAGE
    except BrokenPipeError:
        # The reader went away (`seatctl seats | head`); stay quiet like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK


def run() -> None:
    sys.exit(main())

"""The command line: parse arguments, call the Python API, print, exit with the right code.

This module holds the Typer app with its global options and the list of its commands (each
defined in the module of its group: admin, listing, booking, serve, tokens, events), and
`main()`: the one place where errors become output and exit codes.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Annotated, Any

import typer

from seatctl import __version__, wire
from seatctl.cli import output as render
from seatctl.cli.common import Invocation
from seatctl.cli.formatting import SeatctlGroup, SeatctlTyper
from seatctl.cli.output import Output
from seatctl.cli.parsing import Parsers, globals_first, subcommand_name
from seatctl.cli.streams import ErrorStream, OutputLost, ReportStream
from seatctl.core.errors import ExitCode, Reason, SeatctlError, SeatctlWarning

EXIT_CODES = """\b
Exit codes:
  0  success
  2  usage error: bad option, label, user, ttl or SEATCTL_NOW
  3  a named seat or event does not exist
  4  lock refused: seat booked, blocked, or locked by another
     user, the hold at its max-hold, or the user at max-seats-
     per-user; lock --best: not enough seats; block refused:
     seat booked or locked
  5  confirm/release refused: you hold no live lock on the seat;
     cancel refused: the seat is not booked
  6  database problem: not initialised, not a seatctl database,
     a damaged record, newer schema, read-only, or still busy
     after waiting; check found problems; backup failed; the
     clock is more than 5 s behind a named seat's history
  7  done, but the output could not be written (stdout closed
     or full): a change the command made is committed
  130  interrupted (Ctrl-C): a change not committed was undone"""

ENVIRONMENT = """\b
Environment:
  SEATCTL_DB     the database when --db is not given
  SEATCTL_USER   the user when --user is not given
  SEATCTL_BY     who makes a change when --by is not given
                 (an operator acting for the user: history)
  SEATCTL_EVENT  the event when --event is not given (else
                 the event named 'default')
  SEATCTL_NOW    "now" for one run: an instant such as
                 2026-01-01T12:00:00Z or @1767268800 (tests,
                 rehearsals); empty or unset: the system clock
  NO_COLOR       set: no colour on a terminal"""

_APP_SETTINGS: dict[str, Any] = {
    "add_completion": False,  # the full parser adds it: see Parsers.command_for
    "invoke_without_command": True,
    "rich_markup_mode": None,
    "cls": SeatctlGroup,
    "help": """Hold and book seats from a shell, a script or a CI job, without double-booking.

Global options (--db) may also follow the command. Completion for bash, zsh and fish:
seatctl --install-completion.

Examples:
  seatctl --db venue.db init --seats 100
  seatctl lock 3 4 --user alice --ttl 300
  seatctl confirm 3 4 --user alice""",
    "epilog": f"{ENVIRONMENT}\n\n{EXIT_CODES}",
    "context_settings": {"help_option_names": ["-h", "--help"]},
}

# The app without its commands: `Parsers` adds those a run needs (`app` below: all of them).
root = SeatctlTyper(**_APP_SETTINGS)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"seatctl {__version__}")
        raise typer.Exit()


@root.callback()
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


# The commands, in the order `seatctl --help` lists them: name -> (module of seatctl.cli, the
# command's function or the group's Typer). A run imports only the module of its command.
COMMANDS = {
    "init": ("admin", "init"),
    "settings": ("admin", "settings"),
    "seats": ("listing", "seats"),
    "lock": ("booking", "lock"),
    "confirm": ("booking", "confirm"),
    "release": ("booking", "release"),
    "block": ("booking", "block"),
    "unblock": ("booking", "unblock"),
    "cancel": ("booking", "cancel"),
    "history": ("listing", "history"),
    "watch": ("listing", "watch"),
    "summary": ("listing", "summary"),
    "map": ("listing", "seat_map"),
    "check": ("admin", "check"),
    "backup": ("admin", "backup"),
    "batch": ("admin", "batch"),
    "serve": ("serve", "serve"),
    "token": ("tokens", "token_app"),
    "event": ("events", "event_app"),
}
parsers = Parsers(root, _APP_SETTINGS, "seatctl.cli", COMMANDS)


def __getattr__(name: str) -> typer.Typer:
    """`app`: the whole Typer app, every command registered (built when first asked for)."""
    if name == "app":
        return parsers.whole_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    # Everything printed in this run, Typer's help included, goes through these guards.
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = ReportStream(stdout), ErrorStream(stderr)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SeatctlWarning)
            warnings.showwarning = _warning_printer(warnings.showwarning)
            return _main(argv, Invocation(parsers.subcommand))
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _warning_printer(fallback: Callable[..., None]) -> Callable[..., None]:
    """seatctl's warnings as one `warning: ...` line on stderr, each once per run (a batch
    may repeat one on every line); any other warning as Python shows it."""
    shown: set[str] = set()

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if not issubclass(category, SeatctlWarning):
            fallback(message, category, *args, **kwargs)
        elif str(message) not in shown:
            shown.add(str(message))
            typer.echo(f"warning: {wire.printable(str(message))}", err=True)

    return show


def _main(argv: list[str], invocation: Invocation) -> int:
    result: Output | None = None
    try:
        try:
            parser = parsers.parser_for(argv)
            result = parser.main(
                args=globals_first(argv, parser),
                prog_name="seatctl",
                obj=invocation,
                standalone_mode=False,
            )
            if isinstance(result, int) or result is None:  # --help, --version, batch
                return result or ExitCode.OK
            if invocation.json:
                result.write_json(sys.stdout)
            else:
                result.write_text(sys.stdout, _colour())
            sys.stdout.flush()
        except OutputLost as lost:
            if lost.reader_left and not _committed(result, argv):
                return ExitCode.OK  # `seatctl seats | head`: quiet, like other Unix tools
            _report(_unreported(lost, result, argv), invocation)
            if result is None or not result.error():
                return ExitCode.UNREPORTED
        error = result.error()
        if error:
            raise error
        return ExitCode.OK
    except SeatctlError as error:
        _report(error, invocation)
        return error.exit_code
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C: the transaction was rolled back
        return 130
    except typer.TyperException as error:  # the option parser's complaints
        from seatctl.cli.messages import locate

        locate(error, parsers.command_for(subcommand_name(argv)), argv)  # built already, or cheap
        typer.echo(render.error_line(usage_message(error)), err=True)
        return ExitCode.USAGE
    except SystemExit as done:  # Typer's completion: a shell's request, or --show-completion
        return done.code if isinstance(done.code, int) else ExitCode.OK
    finally:
        invocation.close()


def _report(error: SeatctlError, invocation: Invocation) -> None:
    error = render.as_options(error)
    out = wire.error_json(error) if invocation.json else render.error_line(error.message)
    typer.echo(out, err=True)


def _committed(result: Output | None, argv: list[str]) -> bool:
    """Whether the output that was lost reported a committed change (a batch may have)."""
    return result.committed if result is not None else subcommand_name(argv) == "batch"


def _unreported(lost: OutputLost, result: Output | None, argv: list[str]) -> SeatctlError:
    if result is None and _committed(result, argv):
        what = "batch stopped: its output could not be written ({}); the lines it ran are done"
    elif _committed(result, argv):
        what = "done, but the output could not be written ({}): the change is committed"
    else:
        what = "the output could not be written ({}); nothing was changed"
    return SeatctlError(Reason.OUTPUT_LOST, what.format(lost.why), ExitCode.UNREPORTED)


def usage_message(error: typer.TyperException) -> str:
    from seatctl.cli.messages import help_pointer

    return f"{parser_message(error)} ({help_pointer(error)})"


def parser_message(error: typer.TyperException) -> str:
    """What the option parser found wrong, on one line, in seatctl's words."""
    from seatctl.cli.messages import rewrite

    return rewrite(error)


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")

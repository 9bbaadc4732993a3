"""The command line: parse arguments, call the Python API, print, exit with the right code.

`main()` is the one place where errors become output and exit codes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Annotated, Any

import typer

from seatctl import __version__, render
from seatctl.clock import parse_instant
from seatctl.errors import ExitCode, Reason, SeatctlError, SeatctlWarning, usage_error
from seatctl.model import DEFAULT_SHOW, Status
from seatctl.render import Output
from seatctl.storage import count_statuses
from seatctl.streams import ErrorStream, OutputLost, ReportStream
from seatctl.venue import Venue

EXIT_CODES = """\b
Exit codes:
  0  success
  2  usage error: bad option, label, user, ttl or SEATCTL_NOW
  3  a named seat or event does not exist
  4  lock refused: seat booked, blocked, or locked by another
     user; lock --best: not enough seats; block refused: seat
     booked or locked
  5  confirm/release refused: you hold no live lock on the seat
  6  database problem: not initialised, not a seatctl database,
     a damaged record, newer schema, read-only, or still busy
     after waiting; check found problems; backup failed; the
     clock is more than 5 s behind a named seat's history
  7  done, but the output could not be written (stdout closed
     or full): a change the command made is committed
  130  interrupted (Ctrl-C): a change not committed was undone"""

_APP_SETTINGS: dict[str, Any] = {
    "add_completion": False,
    "invoke_without_command": True,
    "rich_markup_mode": None,
    "help": "Hold and book seats from a shell, a script or a CI job, without double-booking.",
    "epilog": EXIT_CODES,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}
app = typer.Typer(**_APP_SETTINGS)


class StatusChoice(StrEnum):
    available = "available"
    locked = "locked"
    booked = "booked"
    blocked = "blocked"


class Invocation:
    """One run's shared state: the database (opened once, also across `batch` lines) and
    whether errors should be reported as JSON."""

    def __init__(self) -> None:
        self.db: str | None = None
        self.json = False
        self.opened: Venue | None = None

    def database(self, creating: bool = False) -> str:
        if self.db is not None:  # even "" (an unset variable?): the API refuses it, exit 2
            return self.db
        app_dir = typer.get_app_dir("seatctl")
        if creating:
            os.makedirs(app_dir, exist_ok=True)
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


SeatsArg = Annotated[list[str], typer.Argument(metavar="SEAT...", show_default=False)]
UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user", envvar="SEATCTL_USER", show_envvar=True, help="Who holds or books the seats."
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
    seat_map: Annotated[
        str | None,
        typer.Option(
            "--map",
            metavar="FILE",
            help="Add the seats of a seat-map file (CSV with a header row, or JSON lines):"
            " label, section, row, number, category; best sections and rows first.",
        ),
    ] = None,
) -> Output:
    """Create the database if missing and add seats; never changes existing seats."""
    ctx.obj.close()  # init opens the database its own way: it may create it
    result = Venue.init(
        ctx.obj.database(creating=True),
        seats=seats,
        labels=labels or [],
        ttl=ttl,
        seat_map=seat_map,
    )
    seats_word = "seat" if result.added == 1 else "seats"
    return render.Message(
        f"initialised {result.location}: added {result.added} {seats_word}"
        f" ({result.total} in all); locks last {result.default_ttl} s unless --ttl says otherwise",
        {"added": result.added, "total": result.total, "ttl": result.default_ttl},
    )


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
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
    nl: Annotated[
        bool, typer.Option("--nl", help="Print one JSON seat object per line (streamed).")
    ] = False,
    event: EventOpt = None,
) -> Output:
    """List every seat and its state."""
    if json + csv + nl > 1:
        raise usage_error("choose one of --json, --csv and --nl")
    views = ctx.obj.venue(json or nl).iter_seats(
        status=Status(status.value) if status else None, user=user, event=_event(event)
    )
    return render.SeatList(views, "csv" if csv else "nl" if nl else "table")


@app.command()
def lock(
    ctx: typer.Context,
    seat: Annotated[
        list[str] | None, typer.Argument(metavar="[SEAT...]", show_default=False)
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
        typer.Option("--section", metavar="S", help="With --best: only this section (repeatable)."),
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category", metavar="C", help="With --best: only this category (repeatable)."
        ),
    ] = None,
    split: Annotated[
        bool,
        typer.Option("--split", help="With --best: take single seats if no block is together."),
    ] = False,
) -> Output:
    """Hold seats for a user until the lock expires; the holder may lock again to extend.
    With --best N, choose the best N available seats and lock them in one transaction."""
    ctx.obj.json = json  # the usage errors below are reported as JSON with --json too
    if best is None:
        if section or category or split:
            raise usage_error("--section, --category and --split go with --best N")
        views = ctx.obj.venue(json).lock(seat or [], _required(user), ttl=ttl, event=_event(event))
        return render.SeatChange("locked", views)
    if seat:
        raise usage_error("give either seat labels or --best N, not both")
    if best < 1:
        raise usage_error(f"invalid --best {best}: use a whole number from 1")
    views = ctx.obj.venue(json).lock_best(
        best,
        _required(user),
        sections=section or [],
        categories=category or [],
        split=split,
        ttl=ttl,
        event=_event(event),
    )
    return render.SeatChange("locked", views)


@app.command()
def confirm(
    ctx: typer.Context,
    seat: SeatsArg,
    user: UserOpt = None,
    json: JsonOpt = False,
    event: EventOpt = None,
) -> Output:
    """Turn the user's live locks into bookings."""
    views = ctx.obj.venue(json).confirm(seat, _required(user), event=_event(event))
    return render.SeatChange("booked", views)


@app.command()
def release(
    ctx: typer.Context,
    seat: SeatsArg,
    user: UserOpt = None,
    json: JsonOpt = False,
    event: EventOpt = None,
) -> Output:
    """Give up the user's live locks; the seats are available at once."""
    views = ctx.obj.venue(json).release(seat, _required(user), event=_event(event))
    return render.SeatChange("released", views)


@app.command()
def block(
    ctx: typer.Context,
    seat: SeatsArg,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why (kept in the history)."),
    ] = None,
    json: JsonOpt = False,
    event: EventOpt = None,
) -> Output:
    """Take seats off sale in an event (all or nothing); refused for locked or booked seats."""
    views = ctx.obj.venue(json).block(seat, reason=reason, event=_event(event))
    return render.SeatChange("blocked", views)


@app.command()
def unblock(
    ctx: typer.Context, seat: SeatsArg, json: JsonOpt = False, event: EventOpt = None
) -> Output:
    """Put blocked seats back on sale in an event (all or nothing)."""
    views = ctx.obj.venue(json).unblock(seat, event=_event(event))
    return render.SeatChange("unblocked", views)


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
    event: EventOpt = None,
) -> Output:
    """Show the audit history of an event, oldest first."""
    venue = ctx.obj.venue(json)
    events = venue.history(seat or [], user, _instant(since), limit, event=_event(event))
    return render.EventList(events)


@app.command()
def watch(ctx: typer.Context, json: JsonOpt = False, event: EventOpt = None) -> int:
    """Print each change of an event's seats as it happens, until Ctrl-C.

    \b
    Text: first a line on stderr saying what is watched, then on stdout one
    line per change: its instant, the seat, and what the seat is now.
    --json: first a snapshot object (every seat now), then one object per
    change: {"type": "seat" or "expire", "id", "at", "seat": seat object}.
    Changes by any process count; a lock that runs out is printed as an
    `expire` within a second of its deadline. Ctrl-C or SIGTERM ends it: exit 0.
    """
    venue = ctx.obj.venue(json)
    show = _event(event)
    from seatctl.changefeed import Item

    with _ended_by_signals():
        for told in venue.watch(show):
            if isinstance(told, Item):
                if json:
                    line = render.watch_object(told.kind, told.id_text, told.at, told.seat)
                else:
                    line = render.watch_line(told.kind, told.at, told.seat)
                typer.echo(line)
            elif json:
                seats = [render.seat_object(seat.view(told.now)) for seat in told.seats]
                start_id = f"{told.newest_id}:{told.now}"
                typer.echo(render.watch_snapshot_object(show, start_id, told.now, seats))
            else:
                counts = count_statuses(seat.status(told.now) for seat in told.seats)
                typer.echo(render.watch_start_line(show, venue.location, counts), err=True)
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


@app.command()
def summary(
    ctx: typer.Context,
    by: Annotated[
        Grouping | None, typer.Option("--by", help="Also count each section, row or category.")
    ] = None,
    json: JsonOpt = False,
    event: EventOpt = None,
) -> Output:
    """Count an event's seats by status, with its occupancy (booked / total)."""
    show = _event(event)
    counts, groups = ctx.obj.venue(json).summary(show, by.value if by else None)
    return render.Summary(show, counts, by.value if by else None, groups)


@app.command("map")
def seat_map(
    ctx: typer.Context,
    section: Annotated[
        str | None, typer.Option("--section", metavar="S", help="Only this section.")
    ] = None,
    event: EventOpt = None,
) -> Output:
    """Draw an event's seats in the terminal, one line per row, one character per seat.

    . available, L locked, B booked, X blocked; coloured on a terminal unless NO_COLOR."""
    import shutil

    cells = ctx.obj.venue(False).map_cells(_event(event), section)
    # The terminal's width ($COLUMNS first), else 80.
    return render.SeatMap(cells, shutil.get_terminal_size((80, 24)).columns)


@app.command()
def check(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """Verify the database: its integrity check and every booking invariant."""
    return render.CheckReport(ctx.obj.venue(json).check())


@app.command()
def backup(
    ctx: typer.Context,
    dest: Annotated[str, typer.Argument(metavar="DEST", show_default=False)],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite DEST if it is an existing regular file.")
    ] = False,
) -> Output:
    """Write a consistent copy of the database to DEST, safe while others keep writing."""
    ctx.obj.venue(False).backup(dest, force=force)
    return render.Message(f"backed up {ctx.obj.database()} to {dest}")


@app.command()
def batch(ctx: typer.Context) -> None:
    """Run commands from stdin, one per line (as on the command line, without 'seatctl');
    print one JSON result per line. Blank lines and # comments are skipped."""
    from seatctl.batch import run_lines

    # Bytes, decoded line by line in run_lines: one undecodable line must not end the batch.
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    code = run_lines(stdin, sys.stdout, ctx.obj, _subcommand, sys.stdin.encoding or "utf-8")
    if code:
        raise typer.Exit(code)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless you mean it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).")] = 8000,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="Trust the user named in each request, as the prototype did (loopback only).",
        ),
    ] = False,
) -> int:
    """Serve the HTTP API (the prototype's endpoints and /v1) until SIGINT or SIGTERM."""
    from seatctl.server import serve as run_server  # the server stack: only this command

    return run_server(ctx.obj.database(), host, port, auth=not no_auth)


token_app = typer.Typer(
    name="token",
    help="Manage the bearer tokens of 'seatctl serve'.",
    rich_markup_mode=None,
    no_args_is_help=True,
)
app.add_typer(token_app)


@token_app.command("add")
def token_add(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(metavar="USER", show_default=False)],
    expires_in: Annotated[
        int | None,
        typer.Option(
            "--expires-in", metavar="SECONDS", help="Expire after this long (default: never)."
        ),
    ] = None,
    json: JsonOpt = False,
) -> Output:
    """Make a token for USER and print it, this once; only its hash is stored."""
    token, record = ctx.obj.venue(json).add_token(user, expires_in)
    return render.NewToken(token, record)


@token_app.command("list")
def token_list(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """List the tokens: id, user, created, expires, last used (never the token)."""
    return render.TokenList(ctx.obj.venue(json).tokens())


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(metavar="ID", show_default=False)],
    json: JsonOpt = False,
) -> Output:
    """Revoke a token at once: requests bearing it get 401."""
    ctx.obj.venue(json).revoke_token(token_id)
    return render.Message(f"revoked token {token_id}", {"id": token_id})


event_app = typer.Typer(
    name="event",
    help="Manage the events (shows): each has its own seat states and history.",
    rich_markup_mode=None,
    no_args_is_help=True,
)
app.add_typer(event_app)


@event_app.command("add")
def event_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False)],
    title: Annotated[
        str | None, typer.Option("--title", metavar="TEXT", help="What the event is called.")
    ] = None,
    starts: Annotated[
        str | None,
        typer.Option("--starts", metavar="INSTANT", help="When it starts (an ISO 8601 instant)."),
    ] = None,
    json: JsonOpt = False,
) -> Output:
    """Add an event: every seat of the map is available in it."""
    starts_at = _instant(starts, "--starts")
    show = ctx.obj.venue(json).add_event(name, title=title, starts_at=starts_at)
    return render.Message(f"added event {show.name}", render.show_object(show))


@event_app.command("list")
def event_list(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """List the events, in the order added, with their seats counted by status."""
    return render.ShowList(ctx.obj.venue(json).events())


def _event(name: str | None) -> str:
    return name if name is not None else DEFAULT_SHOW


def _subcommand(name: str) -> typer.core.TyperCommand | None:
    """A command for a `batch` line (batches do not nest, nor serve)."""
    if name in ("batch", "serve") or name not in _COMMAND_NAMES:
        return None  # known without building a parser: junk names must not each cost one
    return _command_for(name).commands.get(name)


def _instant(text: str | None, option: str = "--since") -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise usage_error(f"{option}: {exc}") from None


def _required(user: str | None) -> str:
    if user is None:
        raise usage_error("--user is required (or set SEATCTL_USER)")
    return user


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _command_for(name: str | None) -> typer.core.TyperGroup:
    """The command-line parser, with only the named subcommand built when there is one.

    Typer turns every command's signature into options on each run; building just the one
    that runs saves several milliseconds of start-up (the same idea as click's lazy groups).
    """
    key = name if name in _COMMAND_NAMES else None  # one whole parser serves every other name
    if key not in _built:
        if key is None:
            _built[key] = typer.main.get_command(app)
        else:
            lazy = typer.Typer(**_APP_SETTINGS)
            lazy.registered_callback = app.registered_callback
            lazy.registered_commands = [c for c in app.registered_commands if _name(c) == key]
            lazy.registered_groups = [g for g in app.registered_groups if _group_name(g) == key]
            _built[key] = typer.main.get_command(lazy)
    return _built[key]


def _name(command: typer.models.CommandInfo) -> str | None:
    if command.name:  # a command named other than its function (map)
        return command.name
    return command.callback.__name__ if command.callback else None


def _group_name(group: typer.models.TyperInfo) -> str | None:
    return group.typer_instance.info.name if group.typer_instance else None


_COMMAND_NAMES = frozenset(
    [*(_name(c) for c in app.registered_commands), *map(_group_name, app.registered_groups)]
) - {None}
_built: dict[str | None, typer.core.TyperGroup] = {}
_VALUE_OPTIONS = {"--db"}


def _subcommand_name(argv: list[str]) -> str | None:
    """The first argument that is neither a global option nor an option's value."""
    args = iter(argv)
    for arg in args:
        if arg in _VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    # Everything printed in this run, Typer's help included, goes through these guards.
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = ReportStream(stdout), ErrorStream(stderr)  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SeatctlWarning)
            warnings.showwarning = _warning_printer(warnings.showwarning)
            return _main(argv, Invocation())
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
            typer.echo(f"warning: {render.printable(str(message))}", err=True)

    return show


def _main(argv: list[str], invocation: Invocation) -> int:
    result: Output | None = None
    try:
        try:
            result = _command_for(_subcommand_name(argv)).main(
                args=argv, prog_name="seatctl", obj=invocation, standalone_mode=False
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
        typer.echo(render.error_line(usage_message(error)), err=True)
        return ExitCode.USAGE
    finally:
        invocation.close()


def _report(error: SeatctlError, invocation: Invocation) -> None:
    out = render.error_json(error) if invocation.json else render.error_line(error.message)
    typer.echo(out, err=True)


def _committed(result: Output | None, argv: list[str]) -> bool:
    """Whether the output that was lost reported a committed change (a batch may have)."""
    return result.committed if result is not None else _subcommand_name(argv) == "batch"


def _unreported(lost: OutputLost, result: Output | None, argv: list[str]) -> SeatctlError:
    if result is None and _committed(result, argv):
        what = "batch stopped: its output could not be written ({}); the lines it ran are done"
    elif _committed(result, argv):
        what = "done, but the output could not be written ({}): the change is committed"
    else:
        what = "the output could not be written ({}); nothing was changed"
    return SeatctlError(Reason.OUTPUT_LOST, what.format(lost.why), ExitCode.UNREPORTED)


def usage_message(error: typer.TyperException) -> str:
    return f"{parser_message(error)} (see 'seatctl --help')"


def parser_message(error: typer.TyperException) -> str:
    """What the option parser found wrong, on one line. A group named without one of its
    commands (`seatctl token`) would otherwise answer with its whole help as the message."""
    ctx = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError" and ctx is not None:  # Typer's own click
        names = ", ".join(ctx.command.list_commands(ctx))  # type: ignore[attr-defined]
        return f"'{ctx.command_path}' needs a command: {names}"
    return error.format_message()


def run() -> None:
    """The console script of seatctl 0.2.0.dev0 and earlier installs; see `seatctl.__main__`."""
    from seatctl.__main__ import run

    run()

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
from typer._click import Command

from seatctl import __version__, render, validate
from seatctl.cli_format import SeatctlGroup, SeatctlTyper
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
     user, the hold at its max-hold, or the user at max-seats-
     per-user; lock --best: not enough seats; block refused:
     seat booked or locked
  5  confirm/release refused: you hold no live lock on the seat
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
  SEATCTL_EVENT  the event when --event is not given (else
                 the event named 'default')
  SEATCTL_NOW    "now" for one run: an instant such as
                 2026-01-01T12:00:00Z or @1767268800 (tests,
                 rehearsals); empty or unset: the system clock
  NO_COLOR       set: no colour on a terminal"""

_APP_SETTINGS: dict[str, Any] = {
    "add_completion": False,  # the full parser adds it: see _command_for
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
app = SeatctlTyper(**_APP_SETTINGS)


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
        if creating:  # owner-only, as the database in it (an existing one is left alone)
            os.makedirs(app_dir, mode=0o700, exist_ok=True)
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
    return render.Message(
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


@app.command()
def settings(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """Show the settings: default lock duration, max-hold, max-seats-per-user (0: no cap).

    'seatctl init' changes them: --ttl, --max-hold and --max-seats-per-user.

    Examples:
      seatctl settings
      seatctl --db venue.db settings --json
    """
    return render.SettingsReport(ctx.obj.venue(json).settings())


@app.command()
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
        status=Status(status.value) if status else None, user=user, event=_event(ctx, event)
    )
    return render.SeatList(views, "csv" if csv else "nl" if nl else "table")


@app.command()
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
            seat or [], _user(ctx, user), ttl=ttl, event=_event(ctx, event)
        )
        return render.SeatChange("locked", views)
    if seat:
        raise usage_error("give either seat labels or --best N, not both")
    if best < 1:
        raise usage_error(f"invalid --best {best}: use a whole number from 1")
    views = ctx.obj.venue(json).lock_best(
        best,
        _user(ctx, user),
        sections=section or [],
        categories=category or [],
        split=split,
        ttl=ttl,
        event=_event(ctx, event),
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
    """Turn the user's live locks into bookings (all or nothing).

    Confirming a seat the user has already booked changes nothing and succeeds.

    Examples:
      seatctl confirm 3 4 --user alice
      seatctl confirm A12 --user bob --event gala --json
    """
    views = ctx.obj.venue(json).confirm(seat, _user(ctx, user), event=_event(ctx, event))
    return render.SeatChange("booked", views)


@app.command()
def release(
    ctx: typer.Context,
    seat: SeatsArg,
    user: UserOpt = None,
    json: JsonOpt = False,
    event: EventOpt = None,
) -> Output:
    """Give up the user's live locks; the seats are available at once.

    A booking cannot be released: seatctl has no command that undoes one.

    Examples:
      seatctl release 3 --user alice
      seatctl release A12 A13 --user bob --event gala
    """
    views = ctx.obj.venue(json).release(seat, _user(ctx, user), event=_event(ctx, event))
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
    """Take seats off sale in an event (all or nothing).

    Refused for seats that are locked or booked; blocking a blocked seat again is fine.

    Examples:
      seatctl block 7 8 --reason "camera platform"
      seatctl block A1 --event gala --json
    """
    views = ctx.obj.venue(json).block(seat, reason=reason, event=_event(ctx, event))
    return render.SeatChange("blocked", views)


@app.command()
def unblock(
    ctx: typer.Context, seat: SeatsArg, json: JsonOpt = False, event: EventOpt = None
) -> Output:
    """Put blocked seats back on sale in an event (all or nothing).

    Examples:
      seatctl unblock 7 8
      seatctl unblock A1 --event gala
    """
    views = ctx.obj.venue(json).unblock(seat, event=_event(ctx, event))
    return render.SeatChange("unblocked", views)


@app.command()
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
) -> Output:
    """Show the audit history of an event, oldest first.

    An instant is written like 2026-01-01T12:00:00Z, 2026-01-01T13:00:00+01:00 or
    @1767268800; a date alone (2026-01-01) is the start of that day in UTC.

    Examples:
      seatctl history 3
      seatctl history --user alice --since 2026-01-01 --json
      seatctl history --limit 20 --event gala
    """
    venue = ctx.obj.venue(json)
    events = venue.history(seat or [], user, _instant(since), limit, event=_event(ctx, event))
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

    Examples:
      seatctl watch
      seatctl watch --event gala --json
    """
    venue = ctx.obj.venue(json)
    show = _event(ctx, event)
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
    show = _event(ctx, event)
    counts, groups = ctx.obj.venue(json).summary(show, by.value if by else None)
    return render.Summary(show, counts, by.value if by else None, groups)


@app.command("map")
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

    cells = ctx.obj.venue(json).map_cells(_event(ctx, event), section)
    # The terminal's width ($COLUMNS first), else 80.
    return render.SeatMap(cells, shutil.get_terminal_size((80, 24)).columns)


@app.command()
def check(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """Verify the database: its integrity check and every booking invariant.

    Examples:
      seatctl check
      seatctl --db venue.db check --json
    """
    venue = ctx.obj.venue(json)
    report = render.CheckReport(venue.check())
    if _readable_by_others(venue.location) and venue.tokens():
        print(
            f"warning: {render.printable(venue.location)} holds API tokens and other users may"
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


@app.command()
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
    return render.Message(f"backed up {source} to {dest}", {"database": source, "dest": dest})


@app.command()
def batch(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Run commands from stdin, one per line, and print one JSON result per line.

    Each line is written as on the command line, without 'seatctl'; blank lines and
    # comments are skipped. The output is always JSON lines; --json makes the batch's own
    errors JSON too.

    Examples:
      seatctl batch < commands.txt
      seatctl --db venue.db batch < commands.txt
    """
    from seatctl.batch import run_lines

    ctx.obj.json = json
    # Bytes, decoded line by line in run_lines: one undecodable line must not end the batch.
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    code = run_lines(stdin, sys.stdout, ctx.obj, _subcommand, sys.stdin.encoding or "utf-8")
    if code:
        raise typer.Exit(code)


@app.command()
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
    certfile: Annotated[
        str | None, typer.Option(metavar="FILE", help="Serve HTTPS: the certificate (PEM).")
    ] = None,
    keyfile: Annotated[
        str | None, typer.Option(metavar="FILE", help="Serve HTTPS: its private key (PEM).")
    ] = None,
    max_header_bytes: Annotated[
        int, typer.Option(metavar="BYTES", help="Request line and headers at most (431).")
    ] = 16384,
    header_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Time to send a request's headers (408).")
    ] = 15.0,
    max_connections: Annotated[
        int, typer.Option(metavar="N", help="Open connections at most (503 past it).")
    ] = 1000,
    max_client_connections: Annotated[
        int, typer.Option(metavar="N", help="Open connections per client address (0: no limit).")
    ] = 100,
    max_streams: Annotated[
        int, typer.Option(metavar="N", help="Open /v1/stream answers at most (429).")
    ] = 500,
    max_token_streams: Annotated[
        int, typer.Option(metavar="N", help="Open /v1/stream answers per token (429).")
    ] = 10,
    stream_buffer: Annotated[
        int, typer.Option(metavar="BYTES", help="Unsent bytes a stream may hold.")
    ] = 65536,
    stream_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Drop a stream whose client stops reading.")
    ] = 30.0,
    json: JsonOpt = False,
) -> int:
    """Serve the HTTP API (the prototype's endpoints and /v1) until SIGINT or SIGTERM.

    Requests act as the user of their bearer token ('seatctl token add'). With --json, an
    error that stops serve is JSON on stderr. The limits are described in
    docs/http-api.md (Security).

    Examples:
      seatctl serve
      seatctl serve --port 0 --no-auth
      seatctl serve --host 0.0.0.0 --port 8443 --certfile cert.pem --keyfile key.pem
    """
    from seatctl.server import serve as run_server  # the server stack: only this command
    from seatctl.server.limits import Limits

    ctx.obj.json = json
    limits = Limits(
        max_header_bytes,
        header_timeout,
        max_connections,
        max_client_connections,
        max_streams,
        max_token_streams,
        stream_buffer,
        stream_timeout,
    )
    db = ctx.obj.database()
    return run_server(db, host, port, not no_auth, limits, certfile, keyfile)


token_app = SeatctlTyper(
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
app.add_typer(token_app)


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
    json: JsonOpt = False,
) -> Output:
    """Make a token for USER and print it, this once; only its hash is stored.

    Examples:
      seatctl token add alice
      seatctl token add ci-bot --expires-in 3600 --json
    """
    token, record = ctx.obj.venue(json).add_token(user, expires_in)
    return render.NewToken(token, record)


@token_app.command("list")
def token_list(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """List the tokens: id, user, created, expires, last used (never the token).

    Examples:
      seatctl token list
      seatctl token list --json
    """
    return render.TokenList(ctx.obj.venue(json).tokens())


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
    return render.Message(f"revoked token {token_id}", {"id": token_id})


event_app = SeatctlTyper(
    name="event",
    help="""Manage the events (shows): each has its own seat states and history.

Examples:
  seatctl event add gala --title "Gala night" --starts 2026-12-31T20:00:00Z
  seatctl event list""",
    rich_markup_mode=None,
    no_args_is_help=True,
    cls=SeatctlGroup,
)
app.add_typer(event_app)


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
      seatctl event add gala --title "Gala night" --starts 2026-12-31T20:00:00Z
      seatctl event add matinee --json
    """
    starts_at = _instant(starts, "--starts")
    show = ctx.obj.venue(json).add_event(name, title=title, starts_at=starts_at)
    return render.Message(f"added event {show.name}", render.show_object(show))


@event_app.command("list")
def event_list(ctx: typer.Context, json: JsonOpt = False) -> Output:
    """List the events, in the order added, with their seats counted by status.

    Examples:
      seatctl event list
      seatctl event list --json
    """
    return render.ShowList(ctx.obj.venue(json).events())


def _event(ctx: typer.Context, name: str | None) -> str:
    if name is None:
        return DEFAULT_SHOW
    if _from_environment(ctx, "event"):
        _check_variable("SEATCTL_EVENT", name, validate.event_name)
    return name


def _user(ctx: typer.Context, user: str | None) -> str:
    if user is None:
        if os.environ.get("SEATCTL_USER") == "":  # set but empty: an unset variable's value?
            raise usage_error("SEATCTL_USER is empty: set it to a user name, or give --user USER")
        raise usage_error("--user USER is required (or set SEATCTL_USER)")
    if _from_environment(ctx, "user"):
        _check_variable("SEATCTL_USER", user, validate.user)
    return user


def _from_environment(ctx: typer.Context, name: str) -> bool:
    from typer._click.core import ParameterSource

    return ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT


def _check_variable(variable: str, value: str, check: Callable[[str], object]) -> None:
    """A bad value from the environment is named by its variable: the command line the user
    is looking at does not show it."""
    try:
        check(value)
    except SeatctlError as error:
        raise usage_error(f"{variable}: {error.message}") from None


def _subcommand(name: str) -> Command | None:
    """A command (or a command group) for a `batch` line (batches do not nest, serve or watch:
    those never end)."""
    if name in ("batch", "serve", "watch") or name not in _COMMAND_NAMES:
        return None  # known without building a parser: junk names must not each cost one
    return _command_for(name).commands.get(name)


def _instant(text: str | None, option: str = "--since") -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise usage_error(f"invalid {option} {text!r}: {exc}") from None


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _command_for(name: str | None, completion: bool = False) -> typer.core.TyperGroup:
    """The command-line parser, with only the named subcommand built when there is one.

    Typer turns every command's signature into options on each run; building just the one
    that runs saves several milliseconds of start-up (the same idea as click's lazy groups).
    With `completion`, the whole parser has the completion options (--install-completion,
    --show-completion) and answers a shell's completion request; building those options
    inspects a function of Typer's, which other runs need not pay for.
    """
    # One whole parser serves every other name; `_NO_COMMAND` has none (`seatctl --version`).
    key = name if name in _COMMAND_NAMES or name == _NO_COMMAND else None
    completion = completion and key is None
    if (key, completion) not in _built:
        lazy = SeatctlTyper(**{**_APP_SETTINGS, "add_completion": completion})
        lazy.registered_callback = app.registered_callback
        lazy.registered_commands = [
            c for c in app.registered_commands if key is None or _name(c) == key
        ]
        lazy.registered_groups = [
            g for g in app.registered_groups if key is None or _group_name(g) == key
        ]
        group = typer.main.get_command(lazy)
        assert isinstance(group, typer.core.TyperGroup)  # a callback makes it a group
        if completion:
            from seatctl.completion import complete_from_the_database

            complete_from_the_database(group)
        _built[key, completion] = group
    return _built[key, completion]


_NO_COMMAND = "--version"  # not a command name: the key of the parser without commands


def _parser_for(argv: list[str]) -> typer.core.TyperGroup:
    """The least parser that can run `argv`."""
    name, completion = _subcommand_name(argv), _completion_wanted(argv)
    if name is None and "--version" in argv and not completion:
        return _command_for(_NO_COMMAND)  # builds no command at all
    return _command_for(name, completion)


_COMPLETION_OPTIONS = frozenset({"-h", "--help", "--install-completion", "--show-completion"})


def _completion_wanted(argv: list[str]) -> bool:
    """Whether this run may need the completion options: a shell's completion request, or
    the top-level help (which lists them), or the options themselves."""
    return not argv or "_SEATCTL_COMPLETE" in os.environ or not _COMPLETION_OPTIONS.isdisjoint(argv)


def _name(command: typer.models.CommandInfo) -> str | None:
    if command.name:  # a command named other than its function (map)
        return command.name
    return command.callback.__name__ if command.callback else None


def _group_name(group: typer.models.TyperInfo) -> str | None:
    return group.typer_instance.info.name if group.typer_instance else None


_COMMAND_NAMES = frozenset(
    [*(_name(c) for c in app.registered_commands), *map(_group_name, app.registered_groups)]
) - {None}
_built: dict[tuple[str | None, bool], typer.core.TyperGroup] = {}
_GLOBAL_VALUE_OPTIONS = {"--db"}  # the global options that take a value


def _subcommand_name(argv: list[str]) -> str | None:
    """The first argument that is neither a global option nor an option's value."""
    at = _subcommand_index(argv)
    return argv[at] if at is not None else None


def _subcommand_index(argv: list[str]) -> int | None:
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in _GLOBAL_VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return index
    return None


def _globals_first(argv: list[str], parser: typer.core.TyperGroup) -> list[str]:
    """`seatctl seats --db x.db` as `seatctl --db x.db seats`: people put global options
    after the command too. Only the command's own arguments are looked at, skipping the
    values of its options and everything after `--`; the last --db given wins."""
    at = _subcommand_index(argv)
    if at is None or "--db" not in "\0".join(argv[at + 1 :]):
        return argv
    command = parser.commands.get(argv[at])
    if command is None:
        return argv
    takes_value = _value_options(command)
    moved: list[str] = []
    rest: list[str] = []
    args = iter(argv[at + 1 :])
    for arg in args:
        if arg == "--":
            rest += [arg, *args]
        elif arg == "--db":
            value = next(args, None)
            if value is None:  # moved before the command, it would take the command as its value
                raise usage_error("--db needs a value (PATH) (see 'seatctl --help')")
            moved += [arg, value]
        elif arg.startswith("--db="):
            moved.append(arg)
        elif arg in takes_value:
            value = next(args, None)
            rest += [arg] if value is None else [arg, value]
        else:
            rest.append(arg)
    return [*argv[:at], *moved, argv[at], *rest]


def _value_options(command: Any) -> set[str]:
    """The options (of the command, or of any command of a group) that take a value."""
    commands = getattr(command, "commands", {}).values() or [command]
    return {
        opt
        for each in commands
        for param in each.params
        if param.param_type_name == "option" and not param.is_flag
        for opt in param.opts
    }


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
            parser = _parser_for(argv)
            result = parser.main(
                args=_globals_first(argv, parser),
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
        from seatctl.cli_messages import locate

        locate(error, _command_for(_subcommand_name(argv)), argv)  # built already, or cheap
        typer.echo(render.error_line(usage_message(error)), err=True)
        return ExitCode.USAGE
    except SystemExit as done:  # Typer's completion: a shell's request, or --show-completion
        return done.code if isinstance(done.code, int) else ExitCode.OK
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
    from seatctl.cli_messages import help_pointer

    return f"{parser_message(error)} ({help_pointer(error)})"


def parser_message(error: typer.TyperException) -> str:
    """What the option parser found wrong, on one line, in seatctl's words."""
    from seatctl.cli_messages import rewrite

    return rewrite(error)


def run() -> None:
    """The console script of seatctl 0.2.0.dev0 and earlier installs; see `seatctl.__main__`."""
    from seatctl.__main__ import run

    run()

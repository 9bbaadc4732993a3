"""Shell completion from the database in use: seat labels, users, events, sections, categories.

Typer's mechanism does the rest (`seatctl --install-completion`, `--show-completion`): the
shell runs seatctl with `_SEATCTL_COMPLETE` set and the words typed so far, and seatctl prints
the candidates. Commands, options and the values of `--status` and `--by` come from the
parser; the rest comes from here. Imported only when a shell asks.

Completion runs at a prompt: whatever goes wrong (no database yet, a damaged one, a bad
`--event`), it offers nothing rather than print an error or a traceback there.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from seatctl.core.model import DEFAULT_SHOW, SeatView, Status
from seatctl.service import Venue

# Which seats are worth offering to each command: the ones it can act on.
_SEATS_FOR = {
    "lock": (Status.AVAILABLE, Status.LOCKED),
    "confirm": (Status.LOCKED,),
    "release": (Status.LOCKED,),
    "block": (Status.AVAILABLE,),
    "unblock": (Status.BLOCKED,),
}
# The variables Typer's completion scripts pass the words in (bash; zsh, fish, PowerShell).
_WORDS_VARIABLES = ("COMP_WORDS", "_TYPER_COMPLETE_ARGS")


# The parameters completed from the database, by name (`seat` is SEAT..., the rest options):
# a new command's `--user` or SEAT... completes with no more code.
KINDS = frozenset({"seat", "user", "event", "section", "category"})


def completer(kind: str) -> Callable[[Any, Any, str], list[str]]:
    """The completion function of a parameter of `kind` (one of KINDS); parsing.py hooks it
    into the parser that answers a shell."""

    def complete(ctx: Any, param: Any, incomplete: str) -> list[str]:
        return candidates(kind, ctx, incomplete)

    return complete


def candidates(kind: str, ctx: Any, incomplete: str) -> list[str]:
    """The values of `kind` ("seat", "user", "event", "section", "category") that start with
    what has been typed, in the order seatctl lists them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning would land in the shell's prompt
            with Venue.open(database(ctx)) as venue:
                found = _FINDERS[kind](venue, ctx)
                return [name for name in _unique(found) if name.startswith(incomplete)]
    except Exception:  # a prompt is no place for an error: offer nothing
        return []


def database(ctx: Any) -> str:
    """The database the completed command would use: --db (before or after the command),
    else $SEATCTL_DB, else the default."""
    given = ctx.find_root().params.get("db") or _db_in_words() or os.environ.get("SEATCTL_DB")
    if given:
        return str(given)
    import typer

    return os.path.join(typer.get_app_dir("seatctl"), "seatctl.db")


def _db_in_words() -> str | None:
    """A --db typed after the command (the parser of a completion does not move it)."""
    import shlex

    for variable in _WORDS_VARIABLES:
        try:
            words = shlex.split(os.environ.get(variable, ""))
        except ValueError:  # an open quote: the word being typed
            continue
        for word, following in itertools.pairwise(words):
            if word == "--db":
                return following
            if word.startswith("--db="):
                return word.removeprefix("--db=")
    return None


def _event(ctx: Any) -> str:
    return str(ctx.params.get("event") or os.environ.get("SEATCTL_EVENT") or DEFAULT_SHOW)


def _seats(venue: Venue, ctx: Any) -> Iterable[str]:
    wanted = _SEATS_FOR.get(ctx.info_name or "")
    views = venue.iter_seats(event=_event(ctx))
    return (view.seat for view in views if wanted is None or view.status in wanted)


def _users(venue: Venue, ctx: Any) -> Iterable[str]:
    """Whoever holds a lock or a booking in the event: the users a command is about."""
    for view in venue.iter_seats(event=_event(ctx)):
        holder = view.locked_by or view.booked_by
        if holder:
            yield holder


def _events(venue: Venue, ctx: Any) -> Iterable[str]:
    return (show.name for show, _ in venue.events())


def _place(part: str) -> Callable[[Venue, Any], Iterable[str]]:
    def find(venue: Venue, ctx: Any) -> Iterable[str]:
        for view in venue.iter_seats(event=_event(ctx)):
            value = _part(view, part)
            if value:
                yield value

    return find


def _part(view: SeatView, part: str) -> str | None:
    return view.section if part == "section" else view.category


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


_FINDERS: dict[str, Callable[[Venue, Any], Iterable[str]]] = {
    "seat": _seats,
    "user": _users,
    "event": _events,
    "section": _place("section"),
    "category": _place("category"),
}

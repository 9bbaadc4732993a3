"""What the service's modules share: the event a call names, its busy seats, a name shown,
who acts (`by`) and the lock rule."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from seatctl.core import rules, validate
from seatctl.core.clock import Instant
from seatctl.core.errors import ExitCode, FieldError, Reason, SeatctlError, busy_error
from seatctl.core.model import Seat, Show
from seatctl.storage import Transaction


def shown(text: str) -> str:
    return text if text.isprintable() else repr(text)


def operator(by: str | None) -> str | None:
    """The user making a change for another (`by`), checked as any user name."""
    return validate.user(by) if by is not None else None


def existing_show(tx: Transaction, show: str) -> Show:
    """The event named `show`; exit 3 `not_found` naming it if there is none."""
    found = tx.show(show)
    if found is None:
        # The command line points at its listing; the HTTP API and Python name no command.
        raise FieldError(
            "event",
            show,
            lambda name: (
                f"event {show} does not exist"
                + (" (see 'seatctl event list')" if name("event") == "--event" else "")
            ),
            Reason.NOT_FOUND,
            ExitCode.NOT_FOUND,
        )
    return found


class naming_busy_seats:  # lower case: used as a function, `with naming_busy_seats(...):`
    """A backend that locks the whole database (SQLite) cannot tell which seats it waited
    for: then every seat the command names is one it could not get. (A class: it wraps
    every request of the server, and costs less than a generator.)"""

    __slots__ = ("_labels", "_location")

    def __init__(self, location: str, labels: list[str]) -> None:
        self._location, self._labels = location, labels

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if isinstance(error, SeatctlError) and error.reason is Reason.BUSY and not error.seats:
            raise busy_error(self._location, self._labels) from None


Rule = Callable[[Seat], rules.Decision]
RuleAt = Callable[[Transaction, Instant], Rule]  # the rule for one transaction acting at an instant


def lock_rule(user: str, ttl: int | None) -> RuleAt:
    """The lock rule for one transaction: its lock duration (the venue's default unless
    `ttl`) and the venue's max-hold."""

    def rule_for(tx: Transaction, now: Instant) -> Rule:
        settings = tx.settings()
        lifetime = ttl if ttl is not None else settings.ttl
        return partial(rules.lock, user=user, now=now, ttl=lifetime, max_hold=settings.max_hold)

    return rule_for

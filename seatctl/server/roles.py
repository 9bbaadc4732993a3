"""Who may do what over HTTP: the one place that reads a request's role.

A buyer's token acts only as its user and sees other people's seats without their names; a
staff token (the box office) sees everything, acts for any customer it names and reaches the
staff endpoints. Without tokens (`--no-auth`) every request is trusted as the prototype
trusted it: it names its user, sees every name and may do what staff do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from seatctl.core import validate
from seatctl.core.errors import Reason, SeatctlError, SeatRefusal, usage_error
from seatctl.core.tokens import Principal, forbidden
from seatctl.server.worker import Worker
from seatctl.venue import Venue

# A principal of None: the server runs without tokens.
Caller = Principal | None


def viewer(caller: Caller) -> str | None:
    """The user whose eyes an answer is for (see `wire.redacted_seat`); None sees all."""
    return None if caller is None or caller.staff else caller.user


def reading_as(caller: Caller, named: str | None) -> str | None:
    """For a read: the user to filter by, if one is named. A buyer may name only itself."""
    user = validate.user(named) if named is not None else None
    if caller is not None and not caller.staff and user is not None and user != caller.user:
        raise forbidden(f"this token acts for {caller.user}, not for {named}")
    return user


def acting_as(caller: Caller, named: str | None) -> tuple[str, str | None]:
    """For a change: the user it is made for, and who made it (`by`, recorded in the
    history when that is someone else). Staff act for the customer they name."""
    if caller is None:
        if named is None:
            raise usage_error("name the user: without tokens the server trusts the request")
        return validate.user(named), None
    user = reading_as(caller, named)
    return (user if user is not None else caller.user), caller.user


def me(caller: Caller, named: str | None) -> dict[str, Any]:
    """`GET /v1/me` with a token: who it acts for and its role (`?user=` as any read's)."""
    assert caller is not None  # tokens are required
    reading_as(caller, named)
    return {"user": caller.user, "auth": "tokens", "role": caller.role.value}


def staff_only(caller: Caller, what: str) -> str | None:
    """For a staff endpoint: who acts (`by`); 403 `forbidden` for a buyer's token."""
    if caller is None:
        return None
    if not caller.staff:
        raise forbidden(f"{what} is for staff tokens; this token is a buyer's ({caller.user})")
    return caller.user


def authenticated(venue: Venue, token: str | None, auth: bool) -> Caller:
    return venue.principal(token or "") if auth else None


async def run_as(
    worker: Worker,
    auth: bool,
    token: str | None,
    work: Callable[[Venue, Caller], Any],
    write: bool = False,
    pick: bool = False,
) -> Any:
    """Run `work` on the database thread as the token's caller (None without tokens); a
    refusal is worded for that caller (a buyer's does not name other users)."""
    seen: list[Caller] = []

    def run(venue: Venue) -> Any:
        seen.append(authenticated(venue, token, auth))
        return work(venue, seen[0])

    try:
        return await (worker.write(run, pick=pick) if write else worker.read(run))
    except SeatctlError as error:
        raise (as_seen(error, seen[0]) if seen else error) from None


# A refusal names the user holding a seat; a buyer is told only that someone does.
_REWORDED = {
    Reason.LOCKED: "is locked by another user",
    Reason.NOT_HOLDER: "is locked by another user",
    Reason.BOOKED: "is booked by another user",
}


def as_seen(error: SeatctlError, caller: Caller) -> SeatctlError:
    """`error` as the caller may read it: for a buyer, a refusal about another user's seat
    does not name that user."""
    who = viewer(caller)
    if who is None or not error.seats:
        return error
    refusals = [_reworded(r, who) for r in error.seats]
    if refusals == error.seats:
        return error
    message = "; ".join(r.message for r in refusals)
    return SeatctlError(error.reason, message, error.exit_code, refusals)


def _reworded(refusal: SeatRefusal, who: str) -> SeatRefusal:
    what = _REWORDED.get(refusal.reason)
    if what is None or re.search(f"by {re.escape(who)}(:| |$)", refusal.message):
        return refusal  # about the buyer's own seat (or naming nobody)
    return refusal._replace(message=f"seat {refusal.seat} {what}")

"""How `seatctl watch` prints: a first line on what it watches, then one line (or one JSON
object) per change."""

from __future__ import annotations

from typing import Any

from seatctl.core.clock import Instant, format_instant
from seatctl.core.model import Status, StatusCounts
from seatctl.wire import dumps, printable


def watch_start_line(event: str, location: str, counts: StatusCounts) -> str:
    """What `watch` says first (on stderr as text): what it watches, and the seats now."""
    return (
        f"watching event {printable(event)} of {printable(location)}: {counts.total} seats"
        f" ({counts.available} available, {counts.locked} locked, {counts.booked} booked,"
        f" {counts.blocked} blocked); Ctrl-C to stop"
    )


# Why a seat became available, by the action that made it so. Issue 21's `cancel` (a booking
# cancelled) is here already: once such a change reaches the stream, `watch` says so.
_WHY_AVAILABLE = {"release": "released", "unblock": "unblocked", "cancel": "booking cancelled"}


def watch_line(kind: str, at: Instant, seat: dict[str, Any], action: str | None = None) -> str:
    """One change as a line: when, the seat, and what it is now (an available seat with why:
    released, unblocked, lock expired)."""
    status = seat["status"]
    if status == Status.LOCKED:
        what = f"locked by {seat['locked_by']} until {seat['expires_at']}"
    elif status == Status.BOOKED:
        what = f"booked by {seat['booked_by']}"
    elif kind == "expire":
        what = "available (lock expired)"
    elif status == Status.AVAILABLE and (action or kind) in _WHY_AVAILABLE:
        what = f"available ({_WHY_AVAILABLE[action or kind]})"
    else:
        what = str(status)
    label, name = seat["seat"], seat.get("name")
    shown = label if name in (None, label) else f"{name} ({label})"  # as `seat_phrase` says
    return f"{format_instant(at)}  seat {shown}  {what}"


def watch_object(kind: str, id_text: str, at: Instant, seat: dict[str, Any]) -> str:
    """One change as a JSON line: its kind (`seat`, `cancel` or `expire`), its stream id, its
    instant (an expiry's is the deadline), and the seat object after it."""
    return dumps({"type": kind, "id": id_text, "at": format_instant(at), "seat": seat})


def watch_snapshot_object(
    event: str, id_text: str, now: Instant, seats: list[dict[str, Any]]
) -> str:
    return dumps(
        {
            "type": "snapshot",
            "id": id_text,
            "event": event,
            "now": format_instant(now),
            "seats": seats,
        }
    )

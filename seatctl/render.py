"""How results and errors look: aligned text for people, fixed JSON shapes for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from seatctl.clock import Instant, format_instant
from seatctl.errors import SeatctlError
from seatctl.model import SeatView, Status
from seatctl.venue import InitResult

_STATUS_COLOURS = {Status.AVAILABLE: "green", Status.LOCKED: "yellow", Status.BOOKED: "red"}


def _instant(value: Instant | None) -> str | None:
    return None if value is None else format_instant(value)


def seat_object(view: SeatView) -> dict[str, str | None]:
    return {
        "seat": view.seat,
        "status": view.status.value,
        "locked_by": view.locked_by,
        "expires_at": _instant(view.expires_at),
        "booked_by": view.booked_by,
        "booked_at": _instant(view.booked_at),
    }


def seats_json(views: Sequence[SeatView]) -> str:
    return json.dumps([seat_object(v) for v in views])


def changed_json(views: Sequence[SeatView]) -> str:
    return json.dumps({"seats": [seat_object(v) for v in views]})


def error_json(error: SeatctlError) -> str:
    return json.dumps(
        {
            "error": error.reason.value,
            "message": error.message,
            "seats": [{"seat": r.seat, "reason": r.reason.value} for r in error.seats],
        }
    )


def seats_table(views: Sequence[SeatView], colour: bool) -> str:
    rows = [("SEAT", "STATUS", "HOLDER", "UNTIL")]
    rows += [
        (v.seat, v.status.value, v.locked_by or v.booked_by or "", _instant(v.expires_at) or "")
        for v in views
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for number, (seat, status, holder, until) in enumerate(rows):
        shown_status = status.ljust(widths[1])
        if colour and number:
            shown_status = _style(shown_status, _STATUS_COLOURS[Status(status)])
        line = f"{seat.ljust(widths[0])}  {shown_status}  {holder.ljust(widths[2])}  {until}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def change_lines(verb: str, views: Sequence[SeatView]) -> str:
    return "\n".join(_change_line(verb, v) for v in views)


def _change_line(verb: str, view: SeatView) -> str:
    if view.status is Status.LOCKED:
        return f"locked seat {view.seat} for {view.locked_by} until {_instant(view.expires_at)}"
    if view.status is Status.BOOKED:
        return f"booked seat {view.seat} for {view.booked_by} at {_instant(view.booked_at)}"
    return f"{verb} seat {view.seat}"


def init_summary(result: InitResult) -> str:
    seats = "seat" if result.added == 1 else "seats"
    return (
        f"initialised {result.location}: added {result.added} {seats} ({result.total} in all);"
        f" locks last {result.default_ttl} s unless --ttl says otherwise"
    )


def error_line(error: SeatctlError) -> str:
    return f"error: {error.message}"


def _style(text: str, colour: str) -> str:
    from typer import style

    return style(text, fg=colour)

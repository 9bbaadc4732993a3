"""How results and errors look: aligned text for people, fixed JSON shapes for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from seatctl.clock import Instant, format_instant
from seatctl.errors import SeatctlError
from seatctl.model import Event, SeatView, Status
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
    where = printable(result.location)
    return (
        f"initialised {where}: added {result.added} {seats} ({result.total} in all);"
        f" locks last {result.default_ttl} s unless --ttl says otherwise"
    )


def event_object(event: Event) -> dict[str, str | None]:
    return {
        "at": format_instant(event.at),
        "seat": event.seat,
        "action": event.action.value,
        "user": event.user,
        "expires_at": _instant(event.expires_at),
    }


def events_json(events: Sequence[Event]) -> str:
    return json.dumps([event_object(e) for e in events])


def events_table(events: Sequence[Event]) -> str:
    rows = [("AT", "SEAT", "ACTION", "USER", "EXPIRES")]
    rows += [
        (format_instant(e.at), e.seat, e.action.value, e.user or "", _instant(e.expires_at) or "")
        for e in events
    ]
    return _aligned(rows)


def check_json(problems: Sequence[str]) -> str:
    return json.dumps({"ok": not problems, "problems": list(problems)})


def check_lines(problems: Sequence[str]) -> str:
    return "\n".join(problems) if problems else "ok"


def _aligned(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in rows
    )


def error_line(message: str) -> str:
    return f"error: {printable(message)}"


def printable(text: str) -> str:
    """`text` with control characters (terminal escapes, newlines) shown as escapes, so that
    whatever a user passed in cannot reach the terminal raw or break the one-line format."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _style(text: str, colour: str) -> str:
    from typer import style

    return style(text, fg=colour)

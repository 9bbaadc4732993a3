"""The JSON shapes seatctl speaks: the seat object, a history entry, an event (show), the
counts, a token, an error object and the change stream's messages.

One definition for every shell: the CLI's `--json`, the HTTP API and the change stream all
write these, so a script that reads one reads them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from seatctl.core.clock import Instant, format_instant
from seatctl.core.errors import SeatctlError
from seatctl.core.model import HistoryEntry, SeatView, Settings, Show, Stage, StatusCounts, Token
from seatctl.core.names import seat_name

if TYPE_CHECKING:  # the change stream's and summary's modules load with what uses them
    from seatctl.core.changefeed import Item, StreamState
    from seatctl.core.venue_map import Counts

SEAT_FIELDS = (  # the seat object's keys, in order (JSON, CSV, the HTTP API's schema)
    "seat",
    "status",
    "locked_by",
    "expires_at",
    "booked_by",
    "booked_at",
    "section",
    "row",
    "number",
    "category",
    "held_since",  # new columns go last: CSV readers that count columns keep their places
    "name",  # the seat as people read it ("Stalls B3"; the label without a place)
    "x",  # the position on the hall's plan, in the map's unit (null: none given)
    "y",
)


def dumps(value: Any) -> str:
    import json  # only the JSON outputs pay for it

    return json.dumps(value)


def instant(value: Instant | None) -> str | None:
    return None if value is None else format_instant(value)


def seat_object(view: SeatView) -> dict[str, str | int | float | None]:
    return {
        "seat": view.seat,
        "status": view.status.value,
        "locked_by": view.locked_by,
        "expires_at": instant(view.expires_at),
        "booked_by": view.booked_by,
        "booked_at": instant(view.booked_at),
        "section": view.section,
        "row": view.row,
        "number": view.number,
        "category": view.category,
        "held_since": instant(view.held_since),
        "name": seat_name(view.seat, view.section, view.row, view.number),
        "x": view.x,
        "y": view.y,
    }


def prototype_seat(view: SeatView, viewer: str | None = None) -> dict[str, Any]:
    """A seat as the prototype's `GET /seats` shows it (a buyer sees only their own name)."""
    shown = viewer is None or view.belongs_to(viewer)
    return {"status": view.status.value, "lockedBy": view.locked_by if shown else None}


def history_object(event: HistoryEntry) -> dict[str, str | int | None]:
    return {
        "at": format_instant(event.at),
        "seat": event.seat or None,  # a `settings` or token event names no seat
        "action": event.action.value,
        "user": event.user,
        "expires_at": instant(event.expires_at),
        "event": event.show,
        "reason": event.reason,
        "by": event.by,
        "token": event.token,  # a token event's token id (never the token itself)
    }


def counts_object(counts: StatusCounts) -> dict[str, int]:
    """The count fields of `event list` (and `summary`)."""
    return {
        "available": counts.available,
        "locked": counts.locked,
        "booked": counts.booked,
        "blocked": counts.blocked,
        "total": counts.total,
    }


def stage_object(stage: Stage | None) -> dict[str, float] | None:
    """The stage on the hall's plan (`init --stage`), in the seats' `x`, `y` unit, or null."""
    if stage is None:
        return None
    return {"x": stage.x, "y": stage.y, "width": stage.width, "height": stage.height}


def events_objects(
    shows: Iterable[tuple[Show, StatusCounts]], stage: Stage | None
) -> list[dict[str, Any]]:
    """`event list --json` and `GET /v1/events`: each event, its counts and the hall's stage
    (the seat-map page draws it)."""
    staged = {"stage": stage_object(stage)}
    return [show_object(show, counts) | staged for show, counts in shows]


def show_object(show: Show, counts: StatusCounts | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "event": show.name,
        "title": show.title,
        "starts_at": instant(show.starts_at),
    }
    return shown | (summary_counts(counts).as_dict() if counts is not None else {})


def summary_counts(counts: StatusCounts) -> Counts:
    """The counts as `summary` gives them (occupancy included), so both always agree."""
    from seatctl.core.venue_map import Counts, occupancy

    return Counts(
        counts.available,
        counts.locked,
        counts.booked,
        counts.blocked,
        counts.total,
        occupancy(counts.booked, counts.total),
    )


def summary_object(
    event: str, counts: Counts, groups: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`summary --json` (and `GET /v1/summary`): the event's counts, and its groups if asked."""
    shown: dict[str, Any] = {"event": event, **counts.as_dict()}
    if groups is not None:
        shown["groups"] = list(groups)
    return shown


def settings_object(settings: Settings) -> dict[str, int]:
    return {
        "ttl": settings.ttl,
        "max_hold": settings.max_hold,
        "max_seats_per_user": settings.max_seats_per_user,
    }


def error_json(error: SeatctlError) -> str:
    return dumps(error_fields(error))


def error_fields(error: SeatctlError) -> dict[str, Any]:
    return {
        "error": error.reason.value,
        "message": error.message,
        "seats": [{"seat": r.seat, "reason": r.reason.value} for r in error.seats],
    }


def token_object(token: Token) -> dict[str, Any]:
    """A stored token as `token list` shows it: never the token, nor its hash."""
    return {
        "id": token.id,
        "user": token.user,
        "created": format_instant(token.created_at),
        "expires": instant(token.expires_at),
        "last_used": instant(token.last_used_at),
        "role": token.role.value,
    }


# --- what a buyer may see ------------------------------------------------------------------
# A viewer is the user a buyer's token acts as; None sees everything (staff, --no-auth, the
# command line). Redaction works on the JSON objects, so one answer built for staff (or kept
# in a cache) is redacted for each buyer as it goes out.

_NAMES = ("locked_by", "booked_by", "held_since")  # what a seat object says about its holder


def redacted_seat(seat: dict[str, Any], viewer: str | None) -> dict[str, Any]:
    """The seat object as `viewer` may see it: another user's seat names nobody (nor when
    its hold began); the viewer's own seats, and every seat for staff, are as they are."""
    if viewer is None or viewer in (seat["locked_by"], seat["booked_by"]):
        return seat
    if seat["locked_by"] is None and seat["booked_by"] is None and seat["held_since"] is None:
        return seat
    return seat | dict.fromkeys(_NAMES)


def redacted_seats(seats: list[dict[str, Any]], viewer: str | None) -> list[dict[str, Any]]:
    return seats if viewer is None else [redacted_seat(seat, viewer) for seat in seats]


def redacted_history(entry: dict[str, Any], viewer: str | None) -> dict[str, Any]:
    """A history entry as `viewer` may see it (a buyer is shown only their own): who made a
    change for them, a clerk, is not named."""
    if viewer is None or entry["by"] in (None, viewer):
        return entry
    return entry | {"by": None}


def printable(text: str) -> str:
    """`text` with control characters (terminal escapes, newlines) shown as escapes, so that
    whatever a user passed in cannot reach the terminal raw or break the one-line format."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


# --- the change stream (`GET /v1/stream`) as Server-Sent Events -----------------------------


def snapshot_message(event: str, state: StreamState, viewer: str | None = None) -> bytes:
    """The snapshot, then an `id`-only message (no data: EventSource dispatches nothing) that
    records the instant it was read, so that a resume does not repeat the expiries it showed.
    `viewer`: the buyer it is for (see `redacted_seat`)."""
    data = {
        "event": event,
        "now": format_instant(state.now),
        "seats": [redacted_seat(seat_object(s.view(state.now)), viewer) for s in state.seats],
    }
    return (
        sse("snapshot", str(state.newest_id), data)
        + f"id: {state.newest_id}:{state.now}\n\n".encode()
    )


class SharedSnapshot:
    """A snapshot message read once and shared by the streams that start together: kept with
    nobody's name (`anonymous`), plus where each holder's own seats lie in it. A buyer's copy
    is the anonymous one with their seats spliced back in, staff's with everyone's (made once,
    when first asked for): one copy of the bytes, no JSON work on the server's loop."""

    def __init__(self, anonymous: bytes, own: dict[str, list[tuple[int, int, bytes]]]) -> None:
        self.anonymous = anonymous
        self.own = own  # user -> (start, end, their seat as JSON), in order
        self._whole: bytes | None = None

    def for_viewer(self, viewer: str | None) -> bytes:
        if viewer is None:
            if self._whole is None:
                every = sorted(spot for spots in self.own.values() for spot in spots)
                self._whole = self._spliced(list(dict.fromkeys(every)))
            return self._whole
        return self._spliced(self.own.get(viewer, []))

    def _spliced(self, spots: list[tuple[int, int, bytes]]) -> bytes:
        if not spots:
            return self.anonymous
        parts, at = [], 0
        for start, end, named in spots:
            parts += [self.anonymous[at:start], named]
            at = end
        parts.append(self.anonymous[at:])
        return b"".join(parts)


def shared_snapshot(event: str, state: StreamState) -> SharedSnapshot:
    """`snapshot_message` for everyone at once (see `SharedSnapshot`): for each viewer, the
    same bytes as `snapshot_message(event, state, viewer)`."""
    import json

    def encoded(value: dict[str, Any]) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    head = encoded({"event": event, "now": format_instant(state.now), "seats": []})[:-2]
    head = f"event: snapshot\nid: {state.newest_id}\ndata: ".encode() + head
    tail = f"]}}\n\nid: {state.newest_id}:{state.now}\n\n".encode()
    pieces: list[bytes] = []
    own: dict[str, list[tuple[int, int, bytes]]] = {}
    at = len(head)
    for seat in state.seats:
        view = seat.view(state.now)
        shown = seat_object(view)
        hidden = redacted_seat(shown, "")  # nobody's: every name hidden
        plain = encoded(hidden)
        if pieces:
            at += 1  # the comma before it
        if hidden is not shown:
            named = encoded(shown)
            for holder in {view.locked_by, view.booked_by} - {None}:
                assert holder is not None
                own.setdefault(holder, []).append((at, at + len(plain), named))
        pieces.append(plain)
        at += len(plain)
    return SharedSnapshot(head + b",".join(pieces) + tail, own)


def item_message(item: Item, viewer: str | None = None) -> bytes:
    return sse(item.kind, item.id_text, redacted_seat(seat_object(item.view), viewer))


def sees_whole(item: Item, viewer: str | None) -> bool:
    """Whether `viewer` sees `item` as staff do (so the message built once for all serves)."""
    view = item.view
    return (
        viewer is None
        or (view.locked_by is None and view.booked_by is None and view.held_since is None)
        or view.belongs_to(viewer)
    )


def sse(kind: str, id_text: str, data: dict[str, Any]) -> bytes:
    import json

    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\nid: {id_text}\ndata: {body}\n\n".encode()


KEEP_ALIVE = b": keep-alive\n\n"

"""How the server answers: JSON bodies, and the one table from a typed error to its status.

Every route answers through these, so an error means the same status and headers on every
endpoint, and no answer names the database (the log may).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.responses import Response

from seatctl import wire
from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.core.model import SeatView
from seatctl.server.guard import RETRY_AFTER_SECONDS as STREAM_RETRY_SECONDS

log = logging.getLogger("seatctl.serve")


# The one table: (status on /v1, status on the prototype's endpoints). The prototype answered
# every refusal with 400, and its clients may test for it; /v1 says 409 Conflict.
_BY_REASON: dict[str, tuple[int, int]] = {
    Reason.UNAUTHORIZED: (401, 401),
    Reason.FORBIDDEN: (403, 403),
    Reason.BUSY: (503, 503),
    # The database could not be reached, or the link broke before COMMIT: nothing was done.
    Reason.UNAVAILABLE: (503, 503),
    # The link broke during COMMIT: re-read before retrying (the change may have been made).
    Reason.COMMIT_UNKNOWN: (503, 503),
    # The server's clock reads before a seat's newest event (it was stepped back): retrying
    # succeeds once it has caught up, so this is "try again", not a broken database.
    Reason.CLOCK_BEHIND: (503, 503),
    Reason.TOO_LARGE: (413, 413),
    Reason.TOO_MANY: (429, 429),
    Reason.UNSUPPORTED: (415, 415),
}
_BY_EXIT_CODE: dict[int, tuple[int, int]] = {
    ExitCode.USAGE: (400, 400),
    ExitCode.NOT_FOUND: (404, 404),
    ExitCode.LOCK_REFUSED: (409, 400),
    ExitCode.NOT_HOLDER: (409, 400),
    ExitCode.DATABASE: (500, 500),
}
RETRY_AFTER_SECONDS = "1"


def status_for(error: SeatctlError, prototype: bool = False) -> int:
    statuses = _BY_REASON.get(error.reason) or _BY_EXIT_CODE.get(error.exit_code, (500, 500))
    return statuses[1] if prototype else statuses[0]


def json_answer(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return raw_answer(encoded(value), status, headers)


def raw_answer(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An answer whose JSON is already encoded (a cached listing, say)."""
    answer = Response(body, status, headers, media_type="application/json")
    answer.raw_headers.append(_NO_STORE_HEADER)
    return answer


def encoded(value: Any) -> bytes:
    """Compact UTF-8 JSON, as `json.dumps(value, ensure_ascii=False, separators=(",", ":"))`
    writes it, in about a tenth of its time."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


_NO_STORE_HEADER = (b"cache-control", b"no-store")


def error_response(error: SeatctlError, prototype: bool) -> Response:
    status = status_for(error, prototype)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif status == 503:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    elif status == 429:
        headers["Retry-After"] = str(STREAM_RETRY_SECONDS)
    message = error.message
    if error.reason is Reason.BUSY:  # its message names the database
        message = "the database is busy; try again"
    elif status == 500:
        log.error("database problem: %s", wire.printable(error.message))
        message = "the server met a database problem; its log has the details"
    if prototype:
        return json_answer({"error": message, "reason": str(error.reason)}, status, headers)
    fields = wire.error_fields(error)
    fields["message"] = message
    return json_answer(fields, status, headers)


# --- the seat listings, encoded once (the read cache keeps them) ---------------------------


def _proto_seat(view: SeatView) -> dict[str, Any]:
    return {"status": view.status.value, "lockedBy": view.locked_by}


def proto_listing(views: list[SeatView]) -> bytes:  # GET /seats: an object keyed by label
    return encoded({v.seat: _proto_seat(v) for v in views})


def seat_listing(views: list[SeatView]) -> bytes:  # GET /v1/seats: a list of seat objects
    return encoded([wire.seat_object(v) for v in views])

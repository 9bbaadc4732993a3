"""Reading a request: its JSON body within the size and time limits, its query parameters,
and each field's type; every problem a `usage` error (400) or `too_large` (413)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request

from seatctl.core import validate
from seatctl.core.clock import parse_instant
from seatctl.core.errors import ExitCode, Reason, SeatctlError, usage_error
from seatctl.core.model import DEFAULT_SHOW

MAX_BODY = 64 * 1024  # bytes: far more than any list of seats a request may name
BODY_TIMEOUT = 30.0  # seconds a client may take to send its body


async def _body(
    request: Request, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Any]:
    """The request's JSON object, within the size and time limits, with exactly these keys."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    try:
        async with asyncio.timeout(BODY_TIMEOUT):  # unlike wait_for, no task per request
            raw = await _read_limited(request)
    except TimeoutError:
        raise usage_error(f"the request body took longer than {BODY_TIMEOUT:g} s") from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise usage_error("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise usage_error("the request body must be a JSON object")
    missing = [key for key in required if key not in body]
    if missing:
        raise usage_error(f"the request body lacks {missing[0]!r}")
    unknown = [key for key in body if key not in required + optional]
    if unknown:
        raise usage_error(f"unknown field {_shown(unknown[0])} in the request body")
    return body


async def _read_limited(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> SeatctlError:
    return SeatctlError(
        Reason.TOO_LARGE,
        f"the request body is larger than {MAX_BODY} bytes",
        ExitCode.USAGE,
    )


def _seat_id(value: Any) -> str:
    """The prototype's seatId: a whole number or a string."""
    if isinstance(value, str):
        return validate.labels([value])[0]
    whole = _whole_number(value)
    if whole is None:
        raise usage_error(f"invalid seatId {_shown(str(value))}: use a whole number or a label")
    return validate.labels([str(whole)])[0]


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise usage_error("seats must be a non-empty array of seat labels (strings)")
    return validate.labels(value)


def _ttl(value: Any) -> int | None:
    if value is None:
        return None
    whole = _whole_number(value)
    if whole is None:
        raise usage_error("ttl must be a whole number of seconds")
    return validate.ttl(whole)


def _best(value: Any) -> int:
    whole = _whole_number(value)
    if whole is None:
        raise usage_error("best must be a whole number from 1")
    return validate.best(whole)


def _names(body: dict[str, Any], key: str) -> list[str]:
    """A list of section or category names; absent means every one."""
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise usage_error(f"{key} must be an array of names (strings)")
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise usage_error(f"{key} must be true or false")
    return value


def _whole_number(value: Any) -> int | None:
    """An integer as JSON means it: 3 and 3.0 alike (JSON Schema agrees); never true/false."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def _event(name: str | None) -> str:
    """The event a request names, else `default` (checked by the API: exit 2 or 3 there)."""
    return name if name is not None else DEFAULT_SHOW


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise usage_error(f"{key} must be a string")
    return value


def _one_query(request: Request, key: str, allowed: frozenset[str]) -> str | None:
    if not request.scope.get("query_string"):  # the usual case: skip parsing nothing
        return None
    _known_query(request, allowed)
    values = request.query_params.getlist(key)
    if len(values) > 1:
        raise usage_error(f"give {key} at most once")
    return values[0] if values else None


def _known_query(request: Request, allowed: frozenset[str]) -> None:
    unknown = [key for key in request.query_params if key not in allowed]
    if unknown:
        raise usage_error(f"unknown query parameter {_shown(unknown[0])}")


def _no_query(request: Request) -> None:
    if request.scope.get("query_string"):
        _known_query(request, frozenset())


def _since(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise usage_error(f"invalid since {_shown(text)}: {exc}") from None


def _limit(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise usage_error(f"invalid limit {_shown(text)}: use a whole number from 0")
    return int(text)


def _shown(text: str) -> str:
    """Echoed input, cut to a short prefix: an answer never carries a client's whole input."""
    return repr(text[:SHOWN] + ("…" if len(text) > SHOWN else ""))


SHOWN = 40

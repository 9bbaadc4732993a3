"""Reading a request: its JSON body (within the size and time limits, with exactly the keys
an endpoint takes) and the fields and queries the endpoints share.

Every refusal is a sentence about the request's field with its value shown as the client
sent it (`invalid ttl 1e308: ...`, `invalid seatId ["SD1"]: ...`), cut if long: never a
Python value (None, 'inf', a list's repr) and never a command-line flag.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from typing import Any

from starlette.requests import ClientDisconnect, Request

from seatctl.core import validate
from seatctl.core.clock import parse_instant
from seatctl.core.errors import ExitCode, Reason, SeatctlError, usage_error
from seatctl.core.model import DEFAULT_SHOW
from seatctl.server.limits import BODY_RECEIVED

MAX_BODY = 64 * 1024  # bytes: far more than any list of seats a request may name
BODY_TIMEOUT = 30.0  # seconds a client may take to send its body
SHOWN_LENGTH = 40  # characters of a value an error shows before it cuts it ("…")
_LABEL_RULE = "use 1 to 32 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"


# The query parameters each endpoint takes: any other is refused, as unknown body fields are.
PROTO_SEATS_QUERY = frozenset({"userId"})
SEATS_QUERY = frozenset({"status", "user", "event"})
HISTORY_QUERY = frozenset({"seat", "user", "since", "limit", "event", "by"})
SUMMARY_QUERY = frozenset({"event", "by"})
STREAM_QUERY = frozenset({"event", "user"})
USER_QUERY = frozenset({"user"})


class JsonNumber(float):
    """A number with a fraction or exponent as the body wrote it: a float to the code, its
    text to an error message (1e400 is `1e400`, not `inf`; 1e308 is not 309 digits)."""

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


async def body(
    request: Request, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Any]:
    """The request's JSON object, within the size and time limits, with exactly these keys."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large()
    if request.scope.get(BODY_RECEIVED):  # all here already (the usual case): no wait
        raw = await read_limited(request)
    else:
        try:
            async with asyncio.timeout(BODY_TIMEOUT):  # unlike wait_for, no task per request
                raw = await read_limited(request)
        except TimeoutError:
            raise usage_error(f"the request body took longer than {BODY_TIMEOUT:g} s") from None
    try:
        body = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (ValueError, RecursionError):
        raise usage_error("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise usage_error("the request body must be a JSON object")
    missing = [key for key in required if key not in body]
    if missing:
        raise usage_error(f"the request body lacks the field {missing[0]}")
    unknown = [key for key in body if key not in required + optional]
    if unknown:
        raise usage_error(f"unknown field {shown(unknown[0])} in the request body")
    return body


# One decoder for every request: `json.loads` with these arguments makes a new one each time.
# NaN and Infinity are not JSON: read as numbers here, they are refused by the field.
_DECODER = json.JSONDecoder(parse_float=JsonNumber, parse_constant=JsonNumber)


async def read_limited(request: Request) -> bytes:
    """The body, from the ASGI messages themselves (`request.stream()` would add an
    asynchronous generator to every request)."""
    chunks, size = [], 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def too_large() -> SeatctlError:
    return SeatctlError(
        Reason.TOO_LARGE,
        f"the request body is larger than {MAX_BODY} bytes",
        ExitCode.USAGE,
    )


def shown(value: Any) -> str:
    """A value as the client sent it, in JSON (a string in double quotes), cut if long."""
    if isinstance(value, JsonNumber):
        text = value.text
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = str(value)
    if len(text) > SHOWN_LENGTH:
        text = text[:SHOWN_LENGTH] + "\u2026"
    # Control characters (a newline, a terminal escape) never reach a log or a terminal raw.
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def invalid(field: str, value: Any, rule: str) -> SeatctlError:
    """`invalid FIELD VALUE: RULE`, the value as sent."""
    return usage_error(f"invalid {field} {shown(value)}: {rule}")


def seat_id(value: Any) -> str:
    """The prototype's seatId: a whole number or a string."""
    if isinstance(value, str):
        return label("seatId", value)
    whole = whole_number(value)
    rule = "use a seat label (a string) or a whole number"
    if whole is None or not validate.LABEL_PATTERN.fullmatch(str(whole)):
        raise invalid("seatId", value, rule)
    return validate.labels([str(whole)])[0]


def label(field: str, value: str) -> str:
    """One seat label of the field, checked as `validate.labels` does."""
    if not validate.LABEL_PATTERN.fullmatch(unicodedata.normalize("NFC", value)):
        raise invalid(field, value, _LABEL_RULE)
    return validate.labels([value])[0]


def labels(value: Any, field: str = "seats") -> list[str]:
    """The seat labels of a body's array (or a query's repeated parameter)."""
    rule = "use a non-empty array of seat labels (strings)"
    if not isinstance(value, list) or not value:
        raise invalid(field, value, rule)
    for item in value:
        if not isinstance(item, str):
            raise usage_error(f"invalid seat {shown(item)} in {field}: {rule}")
        if not validate.LABEL_PATTERN.fullmatch(unicodedata.normalize("NFC", item)):
            raise usage_error(f"invalid seat label {shown(item)} in {field}: {_LABEL_RULE}")
    return validate.labels(value)


def ttl(value: Any) -> int | None:
    if value is None:
        return None
    whole = whole_number(value)
    rule = f"use whole seconds from {validate.MIN_TTL} to {validate.MAX_TTL}"
    if whole is None or not validate.MIN_TTL <= whole <= validate.MAX_TTL:
        raise invalid("ttl", value, rule)
    return validate.ttl(whole)


def best(value: Any) -> int:
    whole = whole_number(value)
    if whole is None or not 1 <= whole <= validate.MAX_SEATS:
        raise invalid("best", value, f"use a whole number from 1 to {validate.MAX_SEATS}")
    return validate.best(whole)


def names(body: dict[str, Any], key: str) -> list[str]:
    """A list of section or category names; absent means every one."""
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(key, value, "use an array of names (strings)")
    if not all(value):
        raise usage_error(f'invalid name "" in {key}: a name is not empty')
    return value


def flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise invalid(key, value, "use true or false")
    return value


def whole_number(value: Any) -> int | None:
    """An integer as JSON means it: 3 and 3.0 alike (JSON Schema agrees); never true/false,
    never a number too large to be one (1e400 reads as infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():  # NaN and infinities too
        return None
    return int(value)


def event(name: str | None) -> str:
    """The event a request names, else `default` (an unknown one is exit 3 in the API)."""
    if name is None:
        return DEFAULT_SHOW
    if not validate.LABEL_PATTERN.fullmatch(unicodedata.normalize("NFC", name)):
        raise invalid("event", name, _LABEL_RULE)
    return name


def text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(key, value, "use a string")
    return value


def user(value: str | None, field: str = "user") -> str | None:
    """A user name of a field or query, checked as `validate.user` does, worded as sent."""
    if value is None:
        return None
    try:
        return validate.user(value)
    except SeatctlError:
        rule = f"use 1 to {validate.MAX_USER_LENGTH} printable characters"
        raise invalid(field, value, rule) from None


def one_query(request: Request, key: str, allowed: frozenset[str]) -> str | None:
    """The query parameter `key` given at most once; any parameter not in `allowed` is 400,
    as an unknown body field is."""
    if not request.scope.get("query_string"):  # the usual case: skip parsing nothing
        return None
    known_query(request, allowed)
    values = request.query_params.getlist(key)
    if len(values) > 1:
        raise usage_error(f"give {key} at most once")
    return values[0] if values else None


def known_query(request: Request, allowed: frozenset[str]) -> None:
    unknown = [key for key in request.query_params if key not in allowed]
    if unknown:
        raise usage_error(f"unknown query parameter {shown(unknown[0])}")


def no_query(request: Request) -> None:
    if request.scope.get("query_string"):
        known_query(request, frozenset())


def since(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise invalid("since", text, str(exc)) from None


def limit(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise invalid("limit", text, "use a whole number from 0")
    return int(text)

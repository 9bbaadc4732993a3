"""`GET /openapi.json`: an OpenAPI 3.1 description of every endpoint, body, answer and error.

Built from a few shared pieces so that it stays in step with seatctl/server/app.py; the
Schemathesis test in tests/test_serve_openapi.py checks the server against it.
"""

from __future__ import annotations

from typing import Any

from seatctl import __version__
from seatctl.core import validate
from seatctl.core.model import Action, Role, Status
from seatctl.server.openapi_answers import CHANGE, READ, WRITE, errors, without_tokens
from seatctl.wire import SEAT_FIELDS

LABEL = {"type": "string", "pattern": f"^{validate.LABEL_PATTERN.pattern}$"}
# The server takes any printable name of up to 64 characters (surrounding whitespace dropped);
# the document promises the ASCII part of that, which every client can rely on. (A pattern of
# every printable Unicode character is a class of about 700 ranges, which Hypothesis, and so
# Schemathesis, expands one code point at a time: seconds for each request it generates.)
USER = {"type": "string", "pattern": "^[!-~]([ -~]{0,62}[!-~])?$"}
# Section and category names: printable, not empty (the ASCII part again).
NAME = {"type": "string", "pattern": "^[ -~]+$"}
# A block's reason or an event's title, for the bodies that take one: up to 200 printable
# characters (the ASCII part; blank means none).
TEXT = {"type": "string", "pattern": f"^[ -~]{{0,{validate.MAX_REASON_LENGTH}}}$"}
SINCE = {
    "anyOf": [
        {"type": "string", "pattern": "^@[0-9]{1,11}$"},
        {
            "type": "string",
            "pattern": "^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
            "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$",
        },
    ]
}
INSTANT = {"type": "string", "format": "date-time", "examples": ["2026-01-01T12:00:00Z"]}
NULLABLE_INSTANT = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_USER = {"type": ["string", "null"]}
STATUS = {"type": "string", "enum": [status.value for status in Status]}
NULLABLE_TEXT = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}
_SIDES = {key: {"type": "number"} for key in ("x", "y", "width", "height")}  # in x, y's unit
STAGE = {"type": ["object", "null"], "required": [*_SIDES], "properties": _SIDES}  # --stage
TTL = {"type": "integer", "minimum": validate.MIN_TTL, "maximum": validate.MAX_TTL}

SCHEMAS: dict[str, Any] = {
    "Seat": {
        "type": "object",
        "description": "A seat as `seatctl seats --json` shows it.",
        "required": list(SEAT_FIELDS),
        "properties": {
            "seat": {"type": "string"},
            "status": STATUS,
            "locked_by": NULLABLE_USER,
            "expires_at": NULLABLE_INSTANT,
            "booked_by": NULLABLE_USER,
            "booked_at": NULLABLE_INSTANT,
            "section": NULLABLE_TEXT,
            "row": NULLABLE_TEXT,
            "number": {"type": ["integer", "null"]},
            "category": NULLABLE_TEXT,
            "held_since": {
                **NULLABLE_INSTANT,
                "description": "When the current live hold began (relocks keep it).",
            },
            "name": {
                "type": "string",
                "description": "From the map (`Stalls B3`), else the label.",
            },
            **{axis: NULLABLE_NUMBER for axis in ("x", "y")},  # on the plan, in the map's unit
        },
    },
    "Event": {
        "type": "object",
        "description": "One history event as `seatctl history --json` shows it.",
        "required": [
            "at",
            "seat",
            "action",
            "user",
            "expires_at",
            "event",
            "reason",
            "by",
            "token",
        ],
        "properties": {
            "at": INSTANT,
            "seat": {
                "type": ["string", "null"],
                "description": "null for `settings` and the token events (`token_add`,"
                " `token_revoke`, `token_expired`).",
            },
            "action": {
                "type": "string",
                "enum": [action.value for action in Action],
            },
            "user": NULLABLE_USER,
            "expires_at": NULLABLE_INSTANT,
            "event": NULLABLE_TEXT,
            "reason": NULLABLE_TEXT,
            "by": {
                **NULLABLE_USER,
                "description": "Who made the change for `user` (a clerk, an operator); null"
                " when `user` made it. Always null for a buyer's token.",
            },
            "token": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "The id of the API token a token event is about (as `seatctl"
                " token list` shows it; never the token); null for every other event, and for"
                " a `token_add` recorded before schema 7.",
            },
        },
    },
    "BoxOffice": {
        "type": "object",
        "description": "Seats to block or cancel (staff only), all or nothing; `reason` is"
        " kept in the history.",
        "required": ["seats"],
        "additionalProperties": False,
        "properties": {
            "seats": {"type": "array", "minItems": 1, "items": LABEL},
            "reason": {
                "type": "string",
                "pattern": f"^[ -~]{{0,{validate.MAX_REASON_LENGTH}}}$",
                "description": "Printable text, kept in the history.",
            },
            "event": {**LABEL, "description": "The event (show); default: `default`."},
        },
    },
    "Unblock": {
        "type": "object",
        "description": "Seats to put back on sale (staff only), all or nothing.",
        "required": ["seats"],
        "additionalProperties": False,
        "properties": {
            "seats": {"type": "array", "minItems": 1, "items": LABEL},
            "event": {**LABEL, "description": "The event (show); default: `default`."},
        },
    },
    "Summary": {
        "type": "object",
        "description": "An event's seats counted by status, as `seatctl summary --json`;"
        " `groups` (with `by`) counts each section, row or category, in map order.",
        "required": ["event", "total", "available", "locked", "booked", "blocked", "occupancy"],
        "properties": {
            "event": {"type": "string"},
            **{
                key: {"type": "integer", "minimum": 0}
                for key in ("total", "available", "locked", "booked", "blocked")
            },
            "occupancy": {"type": "number", "minimum": 0, "maximum": 100},
            "groups": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Error": {
        "type": "object",
        "description": "The CLI's JSON error object: a reason code, a sentence, and the"
        " seats refused (with their own reasons) when seats were.",
        "required": ["error", "message", "seats"],
        "properties": {
            "error": {"type": "string", "examples": ["locked", "usage", "unauthorized"]},
            "message": {"type": "string"},
            "seats": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["seat", "reason"],
                    "properties": {"seat": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
        },
    },
    "Change": {
        "type": "object",
        "description": "Seats to lock, confirm or release, all or nothing.",
        "required": ["seats"],
        "additionalProperties": False,
        "properties": {
            "seats": {"type": "array", "minItems": 1, "items": LABEL},
            "user": {**USER, "description": "Only with --no-auth, or the token's own user."},
            "event": {**LABEL, "description": "The event (show); default: `default`."},
        },
    },
    "LockChange": {
        "description": "Named seats, or the best N available together.",
        "oneOf": [
            {"$ref": "#/components/schemas/LockSeats"},
            {"$ref": "#/components/schemas/LockBest"},
        ],
    },
    "LockSeats": {
        "type": "object",
        "description": "Seats to lock, all or nothing, for `ttl` seconds (default: the venue's).",
        "required": ["seats"],
        "additionalProperties": False,
        "properties": {
            "seats": {"type": "array", "minItems": 1, "items": LABEL},
            "user": {**USER, "description": "Only with --no-auth, or the token's own user."},
            "ttl": TTL,
            "event": {**LABEL, "description": "The event (show); default: `default`."},
        },
    },
    "LockBest": {
        "type": "object",
        "description": "The best `best` available seats, chosen and locked in one transaction"
        " (as `seatctl lock --best N`): a block together in one row, or with `split` single"
        " seats when no block exists; only in the sections and categories given (default:"
        " all). 409 `not_enough` when there is no such choice.",
        "required": ["best"],
        "additionalProperties": False,
        "properties": {
            "best": {"type": "integer", "minimum": 1, "maximum": 100_000},
            "section": {"type": "array", "items": NAME},
            "category": {"type": "array", "items": NAME},
            "split": {"type": "boolean"},
            "user": {**USER, "description": "Only with --no-auth, or the token's own user."},
            "ttl": TTL,
            "event": {**LABEL, "description": "The event (show); default: `default`."},
        },
    },
    "Me": {
        "type": "object",
        "required": ["user", "auth", "role"],
        "properties": {
            "user": {**NULLABLE_USER, "description": "The token's user; null without tokens."},
            "auth": {"type": "string", "enum": ["tokens", "none"]},
            "role": {
                "type": "string",
                "enum": [role.value for role in Role],
                "description": "What the token may do; `staff` without tokens (every request"
                " is trusted).",
            },
        },
    },
    "Show": {
        "type": "object",
        "description": "An event (show) as `seatctl event list --json` shows it.",
        "required": [
            "event",
            "title",
            "starts_at",
            "total",
            "available",
            "locked",
            "booked",
            "blocked",
            "occupancy",
            "stage",
        ],
        "properties": {
            "event": {"type": "string"},
            "title": NULLABLE_TEXT,
            "starts_at": NULLABLE_INSTANT,
            **{
                key: {"type": "integer", "minimum": 0}
                for key in ("total", "available", "locked", "booked", "blocked")
            },
            "occupancy": {"type": "number", "minimum": 0, "maximum": 100},
            "stage": STAGE,
        },
    },
    "Changed": {
        "type": "object",
        "required": ["seats"],
        "properties": {"seats": {"type": "array", "items": {"$ref": "#/components/schemas/Seat"}}},
    },
    "PrototypeSeat": {
        "type": "object",
        "required": ["status", "lockedBy"],
        "properties": {"status": STATUS, "lockedBy": NULLABLE_USER},
    },
    "PrototypeChange": {
        "type": "object",
        "required": ["seatId"],
        "additionalProperties": False,
        "properties": {
            "seatId": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 2**53 - 1}, LABEL]},
            "userId": {**USER, "description": "Only with --no-auth, or the token's own user."},
        },
    },
    "PrototypeChanged": {
        "type": "object",
        "required": ["message", "seat"],
        "properties": {
            "message": {"type": "string", "examples": ["Seat 3 locked by alice"]},
            "seat": {"$ref": "#/components/schemas/Seat"},
        },
    },
    "PrototypeError": {
        "type": "object",
        "required": ["error", "reason"],
        "properties": {
            "error": {"type": "string", "description": "A sentence for people."},
            "reason": {"type": "string", "description": "The reason code, as in Error."},
        },
    },
}

_STREAM = """Messages (SSE framing; every `data` is one line of JSON):

- `event: snapshot`, `id: N` (the newest history event id), data `{"event", "now", "seats":
  [seat objects as GET /v1/seats returns them, in map order]}`; then a message with only
  `id: N:T` (T: the epoch second the snapshot was read), which EventSource dispatches to no
  listener but keeps as the id to resume from.
- `event: seat`, `id: N` (the change's history event id), data: the seat object after it.
- `event: cancel`, as `seat`, for a cancelled booking: the seat object, available again.
- `event: expire`, `id: N:T:LABEL` (T: the lock's deadline), data: the seat object, now
  available. Nothing is written when a lock runs out; `history` shows the same `expire`.
- `: keep-alive` comment lines every 15 s.

Resuming with `Last-Event-ID` sends exactly the messages after that one. A buyer's token sees
other people's seats without their names (`locked_by`, `booked_by`, `held_since` null)."""


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


_READY = {
    "type": "object",
    "required": ["ready", "version"],
    "properties": {"ready": {"type": "boolean"}, "version": {"type": "string"}},
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _v1_change(verb: str, summary: str, auth: bool) -> dict[str, Any]:
    body = _ref("LockChange" if verb == "lock" else "Change")
    return {
        "post": {
            "summary": summary,
            "operationId": f"v1_{verb}",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": _json(_ref("Changed"), "Every seat after the change."),
                **errors(CHANGE, auth),
            },
        }
    }


def _box_office(verb: str, summary: str, auth: bool) -> dict[str, Any]:
    body = _ref("Unblock" if verb == "unblock" else "BoxOffice")
    return {
        "post": {
            "summary": f"{summary} Staff tokens only (403 for a buyer's).",
            "operationId": f"v1_{verb}",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": _json(_ref("Changed"), "Every seat after the change."),
                **errors(CHANGE, auth),
            },
        }
    }


def _prototype_change(verb: str, done: str, auth: bool) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"The prototype's /{verb}: one seat, {done} for the acting user.",
            "operationId": f"prototype_{verb}",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("PrototypeChange")}},
            },
            "responses": {
                "200": _json(_ref("PrototypeChanged"), f"`Seat N {done} by USER`."),
                # The prototype answered every refusal with 400; its clients may rely on it.
                **errors(WRITE, auth, prototype=True),
            },
        }
    }


def document(auth: bool = True) -> dict[str, Any]:
    """The document of a server with tokens, or (`auth` False) of `serve --no-auth`."""
    user_query = _query("user", USER, "Only the seats this user holds a live lock on or booked.")
    own_user = _query("user", USER, "The token's own user (another is 403); no filter.")
    if not auth:
        own_user = _query("user", USER, "A user name, checked; no filter.")
    event_query = _query("event", LABEL, "The event (show); default: `default`.")
    built: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "seatctl serve",
            "version": __version__,
            "description": "Hold and book seats over HTTP without double-booking: the"
            " prototype's endpoints and the versioned /v1 API, over the same rules as the CLI.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `seatctl token add USER` (stk_...).",
                }
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/seats": {
                "get": {
                    "summary": "The prototype's listing: every seat keyed by label.",
                    "operationId": "prototype_seats",
                    "parameters": [_query("userId", USER, "Only this user's seats.")],
                    "responses": {
                        "200": _json(
                            {"type": "object", "additionalProperties": _ref("PrototypeSeat")},
                            "Every seat, in natural label order.",
                        ),
                        **errors(READ, auth, prototype=True),
                    },
                }
            },
            "/lock": _prototype_change("lock", "locked", auth),
            "/confirm": _prototype_change("confirm", "booked", auth),
            "/release": _prototype_change("release", "released", auth),
            "/v1/seats": {
                "get": {
                    "summary": "Every seat, as `seatctl seats --json`.",
                    "operationId": "v1_seats",
                    "parameters": [
                        _query("status", STATUS, "Only seats in this state."),
                        user_query,
                        event_query,
                    ],
                    "responses": {
                        "200": _json({"type": "array", "items": _ref("Seat")}, "The seats."),
                        **errors([*READ, "404"], auth),
                    },
                }
            },
            "/v1/lock": _v1_change(
                "lock", "Lock the named seats, or the best N together, for the acting user.", auth
            ),
            "/v1/confirm": _v1_change("confirm", "Book the acting user's locked seats.", auth),
            "/v1/release": _v1_change("release", "Release the acting user's locks.", auth),
            "/v1/history": {
                "get": {
                    "summary": "The history, as `seatctl history --json`.",
                    "operationId": "v1_history",
                    "parameters": [
                        {
                            **_query(
                                "seat", {"type": "array", "items": LABEL}, "Only these seats."
                            ),
                            "style": "form",
                            "explode": True,
                        },
                        _query("user", USER, "Only this user's events."),
                        _query("by", USER, "Only the changes this user made for another."),
                        _query(
                            "since",
                            SINCE,
                            "Only events at or after this instant (ISO 8601 or @EPOCH).",
                        ),
                        _query(
                            "limit",
                            {"type": "integer", "minimum": 0, "maximum": 999_999_999},
                            "Only the last N events.",
                        ),
                        event_query,
                    ],
                    "responses": {
                        "200": _json({"type": "array", "items": _ref("Event")}, "The events."),
                        **errors([*READ, "404"], auth),
                    },
                }
            },
            "/v1/stream": {
                "get": {
                    "summary": "Server-Sent Events: the event's seats, then every change as it"
                    " happens (expiries included).",
                    "description": _STREAM,
                    "operationId": "v1_stream",
                    "parameters": [
                        event_query,
                        own_user,
                        {
                            "name": "Last-Event-ID",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 80},
                            "description": "Resume after this message's `id` (no snapshot);"
                            " an id that means nothing here gets a fresh snapshot.",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "An endless `text/event-stream`.",
                            "headers": {"Cache-Control": {"schema": {"const": "no-store"}}},
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **errors([*READ, "404", "429"], auth),
                    },
                }
            },
            "/v1/block": _box_office("block", "Take seats off sale, as `seatctl block`.", auth),
            "/v1/unblock": _box_office("unblock", "Put seats back on sale.", auth),
            "/v1/cancel": _box_office(
                "cancel", "Cancel bookings: each seat is available again (409 `not_booked`).", auth
            ),
            "/v1/summary": {
                "get": {
                    "summary": "The event's counts, as `seatctl summary --json`. Staff only.",
                    "operationId": "v1_summary",
                    "parameters": [
                        event_query,
                        _query(
                            "by",
                            {"type": "string", "enum": ["section", "row", "category"]},
                            "Count each group too.",
                        ),
                    ],
                    "responses": {
                        "200": _json(_ref("Summary"), "The counts."),
                        **errors([*READ, "404"], auth),
                    },
                }
            },
            "/v1/me": {
                "get": {
                    "summary": "Who the token acts for (the seat-map page asks this).",
                    "operationId": "v1_me",
                    "parameters": [own_user],
                    "responses": {
                        "200": _json(_ref("Me"), "The acting user."),
                        **errors(READ, auth),
                    },
                }
            },
            "/v1/events": {
                "get": {
                    "summary": "Every event, as `seatctl event list --json`.",
                    "operationId": "v1_events",
                    "parameters": [own_user],
                    "responses": {
                        "200": _json({"type": "array", "items": _ref("Show")}, "The events."),
                        **errors(READ, auth),
                    },
                }
            },
            "/": {
                "get": {
                    "summary": "The seat-map page (HTML); it asks for a token itself.",
                    "operationId": "page",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The page, with its CSS and JavaScript inline.",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        },
                        **errors(["405"], auth),
                    },
                }
            },
            "/v1/health": {
                "get": {
                    "summary": "Is the server up? No token needed.",
                    "operationId": "v1_health",
                    "security": [],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["ok", "version"],
                                "properties": {
                                    "ok": {"const": True},
                                    "version": {"type": "string"},
                                },
                            },
                            "Up.",
                        ),
                        **errors(["400", "405"], auth),
                    },
                }
            },
            "/v1/ready": {
                "get": {
                    "summary": "Readiness for load balancers: does the database answer within"
                    " 1 s? 200 if so, else 503. No token needed.",
                    "operationId": "v1_ready",
                    "security": [],
                    "responses": {
                        **errors(["400", "405"], auth),
                        "200": _json(_READY, "Ready: the database answered within 1 s."),
                        "503": _json(
                            _READY,
                            "Not ready: the database cannot be reached or did not answer within"
                            " 1 s (Retry-After says when to ask again).",
                        ),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {
                        "200": _json({"type": "object"}, "OpenAPI 3.1."),
                        **errors(["405"], auth),
                    },
                }
            },
        },
    }
    return built if auth else _without_tokens(built)


def _without_tokens(built: dict[str, Any]) -> dict[str, Any]:
    """The document of `serve --no-auth`: no security requirement anywhere, and the request
    bodies that name their user must (`openapi_answers.without_tokens`)."""
    del built["security"], built["components"]["securitySchemes"]
    built["components"]["schemas"] = without_tokens(built["components"]["schemas"])
    for operations in built["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    built["info"]["description"] += (
        " Served with --no-auth: no token; each request names the user it acts for."
    )
    return built

"""What each operation of `GET /openapi.json` can answer besides success, in both modes.

One table (`WHY`) says what every error status means; an operation lists the statuses its own
handler can give (`READ`, `WRITE` and `CHANGE` cover the usual ones) and `errors` adds those
every endpoint can give, from the connection limits (408, 431, 503) and, with `--no-auth`, the
Host/Origin check (403). A new endpoint names its statuses and gets the rest.

The document `serve --no-auth` serves differs only in what tokens did: `errors(auth=False)`
gives no 401 but 415 for a body not sent as JSON, and 403 everywhere (the Host/Origin check);
`without_tokens` makes a request body that can name its user (`user`, or the prototype's
`userId`) name it.
"""

from __future__ import annotations

import copy
from typing import Any

WHY = {
    "400": "Bad request: malformed JSON, wrong types, missing or unknown fields or query"
    " parameters, invalid labels, names or values, a body that took over 30 s.",
    "401": "No valid bearer token (missing, unknown, revoked or expired).",
    "403": "A buyer's token names a user other than its own, or calls a staff endpoint (with"
    " --no-auth: the request names another Host, or comes from a page of another origin).",
    "404": "A named seat or event does not exist.",
    "405": "The path does not take this method (`Allow` lists those it takes).",
    "408": "The request line and headers took longer than --header-timeout (15 s): no body,"
    " the connection is closed.",
    "409": "Refused: a seat is booked, blocked or locked by another user, or not locked by you;"
    " a lock past the venue's caps; or (best) no such choice of seats is available; or (cancel)"
    " a seat is not booked.",
    "413": "The request body is larger than 64 KiB.",
    "415": "With --no-auth: the body is not sent as Content-Type: application/json.",
    "429": "Too many open streams (for this token, or in all); retry after Retry-After seconds.",
    "431": "The request line and headers are over --max-header-bytes (16 KiB): no body, the"
    " connection is closed.",
    "500": "A database problem; the details are in the server's log.",
    "503": "Retry after Retry-After seconds: the request's deadline (--request-timeout, 10 s)"
    " passed while the database stayed busy or did not answer (busy), could not be reached"
    " (unavailable), the link broke during COMMIT (commit_unknown: re-read before retrying),"
    " or the server's clock reads before the seat's last change."
    " Past --max-connections (or --max-client-connections) a new connection gets 503"
    " without a body and is closed.",
}
# The prototype answered every refusal with 400, and its clients may test for it.
PROTOTYPE_400 = (
    f"{WHY['400']} Also, as the prototype answered them, refusals (409 on /v1): a seat is"
    " booked, blocked or locked by another user, or not locked by you; a lock past the"
    " venue's caps."
)

# Answered before the request reaches an endpoint (seatctl.server.limits): by every one.
CONNECTION = ["408", "431", "503"]
# The statuses the usual handlers give themselves (500: the database).
READ = ["400", "401", "403", "405", "500", "503"]
WRITE = ["400", "401", "403", "404", "405", "413", "415", "500", "503"]
CHANGE = [*WRITE, "409"]  # /v1: a refusal is 409
NO_BODY = {"408", "431"}  # a status line and `connection: close`, nothing else
TOKENS_ONLY = {"401"}
NO_AUTH_ONLY = {"415"}

_HEADERS: dict[str, dict[str, Any]] = {
    "401": {"WWW-Authenticate": {"schema": {"const": "Bearer"}}},
    "429": {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}},
    "503": {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}


def errors(codes: list[str], auth: bool, prototype: bool = False) -> dict[str, Any]:
    """The error answers of an operation whose handler can give `codes` (in either mode), with
    those every endpoint can give, each with its body and headers."""
    schema = {"$ref": "#/components/schemas/" + ("PrototypeError" if prototype else "Error")}
    given = {*codes, *CONNECTION, *(() if auth else ("403",))}
    given -= NO_AUTH_ONLY if auth else TOKENS_ONLY
    answers: dict[str, Any] = {}
    for code in sorted(given):
        answer: dict[str, Any] = {"description": WHY[code]}
        if code == "400" and prototype:
            answer["description"] = PROTOTYPE_400
        if code not in NO_BODY:
            answer["content"] = {"application/json": {"schema": schema}}
        if code in _HEADERS:
            answer["headers"] = _HEADERS[code]
        answers[code] = answer
    return answers


ACTING_FIELDS = ("user", "userId")


def without_tokens(schemas: dict[str, Any]) -> dict[str, Any]:
    """The component schemas as `--no-auth` takes them: a request body (one that allows no
    other fields) that can name its acting user must name it, since no token does."""
    schemas = copy.deepcopy(schemas)
    for schema in schemas.values():
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            continue
        for field in ACTING_FIELDS:
            if field in properties:
                schema["required"] = [*schema.get("required", []), field]
                properties[field]["description"] = (
                    "The user the request acts for: without tokens the server trusts it."
                )
    return schemas

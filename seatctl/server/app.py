"""The HTTP routes: parse the request, call the Python API in the database thread, answer.

No booking rule lives here. Failures are `SeatctlError`s like everywhere else; `status_for`
is the one table from their exit codes (and the few reasons HTTP tells apart) to statuses.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from seatctl import __version__, wire
from seatctl.core import changefeed, validate
from seatctl.core.clock import parse_instant
from seatctl.core.errors import ExitCode, Reason, SeatctlError, usage_error
from seatctl.core.model import DEFAULT_SHOW, SeatView, Status
from seatctl.core.tokens import forbidden, unauthorized
from seatctl.server.cache import ReadCache
from seatctl.server.live import Hub, Watcher
from seatctl.server.worker import Worker
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")

MAX_BODY = 64 * 1024  # bytes: far more than any list of seats a request may name
BODY_TIMEOUT = 30.0  # seconds a client may take to send its body

# The one table: (status on /v1, status on the prototype's endpoints). The prototype answered
# every refusal with 400, and its clients may test for it; /v1 says 409 Conflict.
_BY_REASON: dict[str, tuple[int, int]] = {
    Reason.UNAUTHORIZED: (401, 401),
    Reason.FORBIDDEN: (403, 403),
    Reason.BUSY: (503, 503),
    # The server's clock reads before a seat's newest event (it was stepped back): retrying
    # succeeds once it has caught up, so this is "try again", not a broken database.
    Reason.CLOCK_BEHIND: (503, 503),
    Reason.TOO_LARGE: (413, 413),
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


class Api:
    """The routes, bound to one database worker and one authentication mode."""

    def __init__(self, worker: Worker, auth: bool, hub: Hub) -> None:
        self.worker = worker
        self.auth = auth
        self.hub = hub
        self.cache = ReadCache(worker.db)

    # --- the prototype's endpoints --------------------------------------------------------

    async def proto_seats(self, request: Request) -> Response:
        named = _one_query(request, "userId")
        token = self._token(request)

        check = partial(self._acting, token=token, named=named) if self.auth else None
        body = await self.cache.listing(
            self.worker, ("proto", named), named, check, None, DEFAULT_SHOW, _proto_seats
        )
        return _raw(body)

    async def proto_change(self, request: Request, verb: str) -> Response:
        body = await _body(request, required=("seatId",), optional=("userId",))
        label = _seat_id(body["seatId"])
        named = _text(body, "userId")
        token = self._token(request)

        def work(venue: Venue) -> dict[str, Any]:
            user = self._acting(venue, token, named)
            view = _CHANGES[verb](venue, [label], user, None, DEFAULT_SHOW)[0]
            return {
                "message": f"Seat {label} {_DONE[verb]} by {user}",
                "seat": wire.seat_object(view),  # the seat object, as `seats --json`
            }

        return _json(await self.worker.write(work))

    # --- /v1 ------------------------------------------------------------------------------

    async def seats(self, request: Request) -> Response:
        status = _one_query(request, "status")
        named = _one_query(request, "user")
        event = _event(_one_query(request, "event"))
        if status is not None and status not in Status.__members__.values():
            raise usage_error(
                f"invalid status {status!r}: use available, locked, booked or blocked"
            )
        token = self._token(request)

        key, chosen = ("v1", status, named, event), Status(status) if status else None
        check = partial(self._acting, token=token, named=named) if self.auth else None
        return _raw(await self.cache.listing(self.worker, key, named, check, chosen, event, _seats))

    async def change(self, request: Request, verb: str) -> Response:
        body = await _body(request, required=("seats",), optional=("user", "event"))
        return await self._change(request, body, verb)

    async def lock(self, request: Request) -> Response:
        """Named seats (`seats`) as the other changes, or the best N together (`best`)."""
        body = await _body(request, required=(), optional=_LOCK_FIELDS)
        if "best" not in body:
            extra = [key for key in _BEST_ONLY if key in body]
            if extra:
                raise usage_error(f"{extra[0]!r} goes with 'best' (the best N seats)")
            if "seats" not in body:
                raise usage_error("the request body lacks 'seats' (or 'best')")
            return await self._change(request, body, "lock")
        if "seats" in body:
            raise usage_error("give either 'seats' or 'best', not both")
        count = _best(body["best"])
        sections = _names(body, "section")
        categories = _names(body, "category")
        split = _flag(body, "split")
        ttl = _ttl(body.get("ttl"))
        named = _text(body, "user")
        event = _event(_text(body, "event"))
        token = self._token(request)

        def work(venue: Venue) -> dict[str, Any]:
            user = self._acting(venue, token, named)
            views = venue.lock_best(count, user, sections, categories, split, ttl, event)
            return {"seats": [wire.seat_object(v) for v in views]}

        return _json(await self.worker.write(work))

    async def _change(self, request: Request, body: dict[str, Any], verb: str) -> Response:
        labels = _labels(body["seats"])
        ttl = _ttl(body.get("ttl"))
        named = _text(body, "user")
        event = _event(_text(body, "event"))
        token = self._token(request)

        def work(venue: Venue) -> dict[str, Any]:
            user = self._acting(venue, token, named)
            views = _CHANGES[verb](venue, labels, user, ttl, event)
            return {"seats": [wire.seat_object(v) for v in views]}

        return _json(await self.worker.write(work))

    async def me(self, request: Request) -> Response:
        """Who the token acts for (null without tokens: then each request names its user)."""
        token = self._token(request)
        if not self.auth:
            return _json({"user": None, "auth": "none"})
        user = await self.worker.read(lambda venue: venue.authenticate(token or ""))
        return _json({"user": user, "auth": "tokens"})

    async def events(self, request: Request) -> Response:
        token = self._token(request)

        def work(venue: Venue) -> list[dict[str, Any]]:
            self._filter(venue, token, None)
            return [wire.show_object(show, counts) for show, counts in venue.events()]

        return _json(await self.worker.read(work))

    async def history(self, request: Request) -> Response:
        labels = request.query_params.getlist("seat")
        named = _one_query(request, "user")
        since = _since(_one_query(request, "since"))
        limit = _limit(_one_query(request, "limit"))
        event = _event(_one_query(request, "event"))
        token = self._token(request)

        def work(venue: Venue) -> list[dict[str, Any]]:
            user = self._filter(venue, token, named)
            events = venue.history(labels, user, since, limit, event)
            return [wire.history_object(e) for e in events]

        return _json(await self.worker.read(work))

    async def stream(self, request: Request) -> Response:
        """Server-Sent Events: a snapshot (or, with Last-Event-ID, what the client missed),
        then every change of the event (`seatctl.server.live`)."""
        event = _event(_one_query(request, "event"))
        given = changefeed.parse_cursor(request.headers.get("last-event-id"))
        token = self._token(request)

        def check(venue: Venue) -> None:  # refusals answer as JSON, before the stream starts
            self._filter(venue, token, None)
            venue.event(event)

        await self.worker.read(check)
        if self.hub.closed:
            raise SeatctlError(Reason.BUSY, "the server is shutting down", ExitCode.DATABASE)
        feed = await self.hub.subscribe(validate.event_name(event))
        watcher = Watcher(self.hub, self.worker, feed, feed.show)
        try:
            first = await watcher.start(given)
        except BaseException:
            self.hub.unsubscribe(feed)
            raise
        return StreamingResponse(
            watcher.messages(first),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def health(self, request: Request) -> Response:
        return _json({"ok": True, "version": __version__})

    async def page(self, request: Request) -> Response:
        """The seat-map page: static, so it needs no token (it asks for one itself)."""
        from seatctl.server import page

        return page.response()

    async def openapi(self, request: Request) -> Response:
        from seatctl.server.openapi import document

        return _json(document())

    # --- who is acting --------------------------------------------------------------------

    def _token(self, request: Request) -> str | None:
        """The bearer token; without one, a request to a guarded endpoint stops here."""
        if not self.auth:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("send 'Authorization: Bearer TOKEN' (see 'seatctl token add')")
        return token.strip()

    def _filter(self, venue: Venue, token: str | None, named: str | None) -> str | None:
        """For a read: check the token (if any); the user to filter by, if one is named."""
        if self.auth:
            self._acting(venue, token, named)  # a token may only name its own user
        return validate.user(named) if named is not None else None

    def _acting(self, venue: Venue, token: str | None, named: str | None) -> str:
        """The user a request acts as: the token's, or (with --no-auth) the one it names."""
        if not self.auth:
            if named is None:
                raise usage_error("name the user: without tokens the server trusts the request")
            return validate.user(named)
        user = venue.authenticate(token or "")
        if named is not None and validate.user(named) != user:
            raise forbidden(f"this token acts for {user}, not for {named}")
        return user


_DONE = {"lock": "locked", "confirm": "booked", "release": "released"}
Change = Callable[[Venue, list[str], str, int | None, str], list[SeatView]]
_CHANGES: dict[str, Change] = {
    "lock": lambda venue, labels, user, ttl, event: venue.lock(labels, user, ttl, event),
    "confirm": lambda venue, labels, user, ttl, event: venue.confirm(labels, user, event),
    "release": lambda venue, labels, user, ttl, event: venue.release(labels, user, event),
}


_LOCK_FIELDS = ("seats", "user", "ttl", "event", "best", "section", "category", "split")
_BEST_ONLY = ("section", "category", "split")


def _proto_seat(view: SeatView) -> dict[str, Any]:
    return {"status": view.status.value, "lockedBy": view.locked_by}


def _proto_seats(views: list[SeatView]) -> bytes:  # GET /seats: an object keyed by label
    return _encoded({v.seat: _proto_seat(v) for v in views})


def _seats(views: list[SeatView]) -> bytes:  # GET /v1/seats: a list of seat objects
    return _encoded([wire.seat_object(v) for v in views])


# --- parsing requests ---------------------------------------------------------------------


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


def _one_query(request: Request, key: str) -> str | None:
    if not request.scope.get("query_string"):  # the usual case: skip parsing nothing
        return None
    values = request.query_params.getlist(key)
    if len(values) > 1:
        raise usage_error(f"give {key} at most once")
    return values[0] if values else None


def _since(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise usage_error(f"invalid since {text!r}: {exc}") from None


def _limit(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise usage_error(f"invalid limit {_shown(text)}: use a whole number from 0")
    return int(text)


def _shown(text: str) -> str:
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


# --- answers ------------------------------------------------------------------------------


def _encoded(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _raw(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status, headers, media_type="application/json")


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _raw(_encoded(value), status, headers)


def _error_response(error: SeatctlError, prototype: bool) -> Response:
    status = status_for(error, prototype)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif status == 503:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    message = error.message
    if status == 500:
        log.error("database problem: %s", wire.printable(error.message))
        message = "the server met a database problem; its log has the details"
    if prototype:
        return _json({"error": message, "reason": str(error.reason)}, status, headers)
    fields = wire.error_fields(error)
    fields["message"] = message
    return _json(fields, status, headers)


PROTOTYPE_PATHS = frozenset({"/seats", *(f"/{verb}" for verb in _DONE)})


def _guarded(
    handler: Callable[[Request], Awaitable[Response]], prototype: bool
) -> Callable[[Request], Awaitable[Response]]:
    """Every failure of a route becomes its JSON answer; nothing else reaches the client."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except SeatctlError as error:
            return _error_response(error, prototype)
        except Exception as exc:
            log.error("internal error on %s %s: %s", request.method, request.url.path, exc)
            internal = SeatctlError(Reason.BAD_DATABASE, "internal server error", ExitCode.DATABASE)
            return _error_response(internal, prototype)

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in the API's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        reason, message = Reason.NOT_FOUND, f"no such endpoint: {request.url.path}"
    elif exc.status_code == 405:
        reason, message = Reason.USAGE, f"{request.method} is not allowed on {request.url.path}"
    else:
        reason, message = Reason.USAGE, str(exc.detail)
    if request.url.path in PROTOTYPE_PATHS:  # a prototype client reads `error` as a sentence
        body: dict[str, Any] = {"error": message, "reason": reason.value}
    else:
        body = {"error": reason.value, "message": message, "seats": []}
    return _json(body, exc.status_code, dict(exc.headers or {}))


class App(Starlette):
    """Starlette, with a shortcut for the API's own routes.

    A request whose method and exact path name one of our routes goes straight to its guarded
    endpoint: Starlette's middleware, exception handlers and route matching cost about as much
    CPU as the endpoint itself, and the endpoint already turns every failure into its answer.
    Anything else (unknown paths and methods, HEAD, lifespan) takes Starlette's own way, so
    404 and 405 keep their one handler.
    """

    def __init__(self, routes: list[Route]) -> None:
        super().__init__(routes=routes, exception_handlers={HTTPException: _http_error})
        self._direct = {
            (method, route.path): route.endpoint
            for route in routes
            for method in route.methods or ()
            if method != "HEAD"
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            endpoint = self._direct.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["app"] = self
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(worker: Worker, auth: bool = True, hub: Hub | None = None) -> App:
    """The application; `hub` (made here if not given) serves /v1/stream, and whoever runs
    the application closes it at shutdown so that open streams end."""
    api = Api(worker, auth, hub if hub is not None else Hub(worker.db, worker))

    def route(path: str, handler: Any, method: str, prototype: bool = False) -> Route:
        return Route(path, _guarded(handler, prototype), methods=[method])

    routes = [
        route("/seats", api.proto_seats, "GET", prototype=True),
        # The verb is bound here: reading it from request.url would cost ~17 us a request.
        *(route(f"/{v}", partial(api.proto_change, verb=v), "POST", prototype=True) for v in _DONE),
        route("/v1/seats", api.seats, "GET"),
        route("/v1/lock", api.lock, "POST"),
        *(route(f"/v1/{v}", partial(api.change, verb=v), "POST") for v in ("confirm", "release")),
        route("/v1/history", api.history, "GET"),
        route("/v1/stream", api.stream, "GET"),
        route("/v1/me", api.me, "GET"),
        route("/v1/events", api.events, "GET"),
        route("/v1/health", api.health, "GET"),
        route("/", api.page, "GET"),
        route("/openapi.json", api.openapi, "GET"),
    ]
    return App(routes)

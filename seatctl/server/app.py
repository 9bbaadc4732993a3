"""The HTTP routes: parse the request, call the Python API in the database thread, answer.

No booking rule lives here. Failures are `SeatctlError`s like everywhere else; `status_for`
is the one table from their exit codes (and the few reasons HTTP tells apart) to statuses.
"""

from __future__ import annotations

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
from seatctl.core.errors import ExitCode, Reason, SeatctlError, usage_error
from seatctl.core.model import DEFAULT_SHOW, Place, SeatView, Status
from seatctl.core.names import seat_phrase
from seatctl.core.tokens import forbidden, unauthorized
from seatctl.server import parsing
from seatctl.server.live import Hub, Watcher
from seatctl.server.worker import Worker
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")


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

    # --- the prototype's endpoints --------------------------------------------------------

    async def proto_seats(self, request: Request) -> Response:
        named = parsing.one_query(request, "userId")
        token = self._token(request)

        def work(venue: Venue) -> dict[str, Any]:
            user = self._filter(venue, token, named)
            return {v.seat: _proto_seat(v) for v in venue.iter_seats(user=user)}

        return _json(await self.worker.read(work))

    async def proto_change(self, request: Request, verb: str) -> Response:
        body = await parsing.body(request, required=("seatId",), optional=("userId",))
        label = parsing.seat_id(body["seatId"])
        named = parsing.text(body, "userId")
        token = self._token(request)

        def work(venue: Venue) -> dict[str, Any]:
            user = self._acting(venue, token, named)
            view = _CHANGES[verb](venue, [label], user, None, DEFAULT_SHOW)[0]
            return {
                "message": f"Seat {_phrase(view)} {_DONE[verb]} by {user}",
                "seat": wire.seat_object(view),  # the seat object, as `seats --json`
            }

        return _json(await self.worker.write(work))

    # --- /v1 ------------------------------------------------------------------------------

    async def seats(self, request: Request) -> Response:
        status = parsing.one_query(request, "status")
        named = parsing.one_query(request, "user")
        event = parsing.event(parsing.one_query(request, "event"))
        if status is not None and status not in Status.__members__.values():
            raise parsing.invalid("status", status, "use available, locked, booked or blocked")
        token = self._token(request)

        def work(venue: Venue) -> list[dict[str, Any]]:
            user = self._filter(venue, token, named)
            views = venue.iter_seats(Status(status) if status else None, user, event)
            return [wire.seat_object(v) for v in views]

        return _json(await self.worker.read(work))

    async def change(self, request: Request, verb: str) -> Response:
        body = await parsing.body(request, required=("seats",), optional=("user", "event"))
        return await self._change(request, body, verb)

    async def lock(self, request: Request) -> Response:
        """Named seats (`seats`) as the other changes, or the best N together (`best`)."""
        body = await parsing.body(request, required=(), optional=_LOCK_FIELDS)
        if "best" not in body:
            extra = [key for key in _BEST_ONLY if key in body]
            if extra:
                raise usage_error(f"the field {extra[0]} goes with best (the best N seats)")
            if "seats" not in body:
                raise usage_error("the request body lacks the field seats (or best)")
            return await self._change(request, body, "lock")
        if "seats" in body:
            raise usage_error("give either the field seats or best, not both")
        count = parsing.best(body["best"])
        sections = parsing.names(body, "section")
        categories = parsing.names(body, "category")
        split = parsing.flag(body, "split")
        ttl = parsing.ttl(body.get("ttl"))
        named = parsing.text(body, "user")
        event = parsing.event(parsing.text(body, "event"))
        token = self._token(request)

        def work(venue: Venue) -> dict[str, Any]:
            user = self._acting(venue, token, named)
            views = venue.lock_best(count, user, sections, categories, split, ttl, event)
            return {"seats": [wire.seat_object(v) for v in views]}

        return _json(await self.worker.write(work))

    async def _change(self, request: Request, body: dict[str, Any], verb: str) -> Response:
        labels = parsing.labels(body["seats"])
        ttl = parsing.ttl(body.get("ttl"))
        named = parsing.text(body, "user")
        event = parsing.event(parsing.text(body, "event"))
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
            return wire.events_objects(venue.events(), venue.stage())

        return _json(await self.worker.read(work))

    async def history(self, request: Request) -> Response:
        labels = request.query_params.getlist("seat")
        if labels:
            labels = parsing.labels(labels, "seat")
        named = parsing.one_query(request, "user")
        since = parsing.since(parsing.one_query(request, "since"))
        limit = parsing.limit(parsing.one_query(request, "limit"))
        event = parsing.event(parsing.one_query(request, "event"))
        token = self._token(request)

        def work(venue: Venue) -> list[dict[str, Any]]:
            user = self._filter(venue, token, named)
            events = venue.history(labels, user, since, limit, event)
            return [wire.history_object(e) for e in events]

        return _json(await self.worker.read(work))

    async def stream(self, request: Request) -> Response:
        """Server-Sent Events: a snapshot (or, with Last-Event-ID, what the client missed),
        then every change of the event (`seatctl.server.live`)."""
        event = parsing.event(parsing.one_query(request, "event"))
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
        return parsing.user(named)

    def _acting(self, venue: Venue, token: str | None, named: str | None) -> str:
        """The user a request acts as: the token's, or (with --no-auth) the one it names."""
        if not self.auth:
            if named is None:
                raise usage_error(
                    "name the user (the field user): without tokens the server trusts the request"
                )
            return parsing.user(named) or named
        user = venue.authenticate(token or "")
        if named is not None and parsing.user(named) != user:
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


def _phrase(view: SeatView) -> str:
    """The seat as a sentence names it: "Stalls B3 (30)", or the label without a place."""
    return seat_phrase(view.seat, Place(view.section, view.row, view.number))


def _proto_seat(view: SeatView) -> dict[str, Any]:
    return {"status": view.status.value, "lockedBy": view.locked_by}


# --- answers ------------------------------------------------------------------------------


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status, headers, media_type="application/json")


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

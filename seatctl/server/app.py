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
from seatctl.core.model import DEFAULT_SHOW, SeatView, Status
from seatctl.core.tokens import unauthorized
from seatctl.server import parsing, roles
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

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            user, who = roles.reading_as(caller, named), roles.viewer(caller)
            return {v.seat: _proto_seat(v, who) for v in venue.iter_seats(user=user)}

        return _json(await self._as(token, work))

    async def proto_change(self, request: Request, verb: str) -> Response:
        body = await parsing.body(request, required=("seatId",), optional=("userId",))
        label = parsing.seat_id(body["seatId"])
        named = parsing.text(body, "userId")
        token = self._token(request)

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            user, by = roles.acting_as(caller, named)
            view = _CHANGES[verb](venue, [label], user, None, DEFAULT_SHOW, by)[0]
            return {
                "message": f"Seat {label} {_DONE[verb]} by {user}",
                "seat": wire.seat_object(view),  # the seat object, as `seats --json`
            }

        return _json(await self._as(token, work, write=True))

    # --- /v1 ------------------------------------------------------------------------------

    async def seats(self, request: Request) -> Response:
        status = parsing.one_query(request, "status")
        named = parsing.one_query(request, "user")
        event = parsing.event(parsing.one_query(request, "event"))
        if status is not None and status not in Status.__members__.values():
            raise usage_error(
                f"invalid status {status!r}: use available, locked, booked or blocked"
            )
        token = self._token(request)

        def work(venue: Venue, caller: roles.Caller) -> list[dict[str, Any]]:
            user, who = roles.reading_as(caller, named), roles.viewer(caller)
            views = venue.iter_seats(Status(status) if status else None, user, event)
            return [wire.redacted_seat(wire.seat_object(v), who) for v in views]

        return _json(await self._as(token, work))

    async def change(self, request: Request, verb: str) -> Response:
        body = await parsing.body(request, required=("seats",), optional=("user", "event"))
        return await self._change(request, body, verb)

    async def lock(self, request: Request) -> Response:
        """Named seats (`seats`) as the other changes, or the best N together (`best`)."""
        body = await parsing.body(request, required=(), optional=_LOCK_FIELDS)
        if "best" not in body:
            extra = [key for key in _BEST_ONLY if key in body]
            if extra:
                raise usage_error(f"{extra[0]!r} goes with 'best' (the best N seats)")
            if "seats" not in body:
                raise usage_error("the request body lacks 'seats' (or 'best')")
            return await self._change(request, body, "lock")
        if "seats" in body:
            raise usage_error("give either 'seats' or 'best', not both")
        count = parsing.best(body["best"])
        sections = parsing.names(body, "section")
        categories = parsing.names(body, "category")
        split = parsing.flag(body, "split")
        ttl = parsing.ttl(body.get("ttl"))
        named = parsing.text(body, "user")
        event = parsing.event(parsing.text(body, "event"))
        token = self._token(request)

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            user, by = roles.acting_as(caller, named)
            views = venue.lock_best(count, user, sections, categories, split, ttl, event, by)
            return {"seats": [wire.seat_object(v) for v in views]}

        return _json(await self._as(token, work, write=True))

    async def _change(self, request: Request, body: dict[str, Any], verb: str) -> Response:
        labels = parsing.labels(body["seats"])
        ttl = parsing.ttl(body.get("ttl"))
        named = parsing.text(body, "user")
        event = parsing.event(parsing.text(body, "event"))
        token = self._token(request)

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            user, by = roles.acting_as(caller, named)
            views = _CHANGES[verb](venue, labels, user, ttl, event, by)
            return {"seats": [wire.seat_object(v) for v in views]}

        return _json(await self._as(token, work, write=True))

    async def box_office(self, request: Request, verb: str) -> Response:
        """Staff only: block, unblock or cancel seats (`reason` with block and cancel)."""
        optional = ("event",) if verb == "unblock" else ("reason", "event")
        body = await parsing.body(request, required=("seats",), optional=optional)
        labels = parsing.labels(body["seats"])
        reason = parsing.text(body, "reason")
        event = parsing.event(parsing.text(body, "event"))
        token = self._token(request)

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            by = roles.staff_only(caller, f"POST /v1/{verb}")
            if verb == "unblock":
                views = venue.unblock(labels, event, by)
            else:
                views = getattr(venue, verb)(labels, reason, event, by)
            return {"seats": [wire.seat_object(v) for v in views]}

        return _json(await self._as(token, work, write=True))

    async def summary(self, request: Request) -> Response:
        """Staff only: the event's counts, by group with `by`, as `summary --json`."""
        event = parsing.event(parsing.one_query(request, "event"))
        by = parsing.one_query(request, "by")
        token = self._token(request)

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            roles.staff_only(caller, "GET /v1/summary")
            counts, groups = venue.summary(event, by)
            return wire.summary_object(event, counts, groups)

        return _json(await self._as(token, work))

    async def me(self, request: Request) -> Response:
        """Who the token acts for and its role (no user without tokens: then each request
        names its user, and may do what staff may)."""
        token = self._token(request)
        if not self.auth:
            return _json({"user": None, "auth": "none", "role": "staff"})
        caller = await self.worker.read(lambda venue: venue.principal(token or ""))
        return _json({"user": caller.user, "auth": "tokens", "role": caller.role.value})

    async def events(self, request: Request) -> Response:
        token = self._token(request)

        def work(venue: Venue, caller: roles.Caller) -> list[dict[str, Any]]:
            return [wire.show_object(show, counts) for show, counts in venue.events()]

        return _json(await self._as(token, work))

    async def history(self, request: Request) -> Response:
        labels = request.query_params.getlist("seat")
        named = parsing.one_query(request, "user")
        since = parsing.since(parsing.one_query(request, "since"))
        limit = parsing.limit(parsing.one_query(request, "limit"))
        event = parsing.event(parsing.one_query(request, "event"))
        by = parsing.one_query(request, "by")
        token = self._token(request)

        def work(venue: Venue, caller: roles.Caller) -> list[dict[str, Any]]:
            user, who = roles.reading_as(caller, named), roles.viewer(caller)
            # A buyer reads only their own entries; staff the whole history.
            events = venue.history(labels, who or user, since, limit, event, by)
            return [wire.redacted_history(wire.history_object(e), who) for e in events]

        return _json(await self._as(token, work))

    async def stream(self, request: Request) -> Response:
        """Server-Sent Events: a snapshot (or, with Last-Event-ID, what the client missed),
        then every change of the event (`seatctl.server.live`)."""
        event = parsing.event(parsing.one_query(request, "event"))
        given = changefeed.parse_cursor(request.headers.get("last-event-id"))
        token = self._token(request)

        def check(venue: Venue, caller: roles.Caller) -> str | None:
            venue.event(event)  # refusals answer as JSON, before the stream starts
            return roles.viewer(caller)

        who = await self._as(token, check)
        if self.hub.closed:
            raise SeatctlError(Reason.BUSY, "the server is shutting down", ExitCode.DATABASE)
        feed = await self.hub.subscribe(validate.event_name(event))
        watcher = Watcher(self.hub, self.worker, feed, feed.show, who)
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

    async def _as(
        self, token: str | None, work: Callable[[Venue, roles.Caller], Any], write: bool = False
    ) -> Any:
        """Run `work` on the database thread as the token's caller (None without tokens); a
        refusal is worded for that caller (a buyer's does not name other users)."""
        seen: list[roles.Caller] = []

        def run(venue: Venue) -> Any:
            seen.append(roles.authenticated(venue, token, self.auth))
            return work(venue, seen[0])

        try:
            return await (self.worker.write(run) if write else self.worker.read(run))
        except SeatctlError as error:
            raise (roles.as_seen(error, seen[0]) if seen else error) from None


_DONE = {"lock": "locked", "confirm": "booked", "release": "released"}
Change = Callable[[Venue, list[str], str, int | None, str, str | None], list[SeatView]]
_CHANGES: dict[str, Change] = {
    "lock": lambda venue, labels, user, ttl, event, by: venue.lock(labels, user, ttl, event, by),
    "confirm": lambda venue, labels, user, ttl, event, by: venue.confirm(labels, user, event, by),
    "release": lambda venue, labels, user, ttl, event, by: venue.release(labels, user, event, by),
}


_BOX_OFFICE = ("block", "unblock", "cancel")  # staff only
_LOCK_FIELDS = ("seats", "user", "ttl", "event", "best", "section", "category", "split")
_BEST_ONLY = ("section", "category", "split")


def _proto_seat(view: SeatView, viewer: str | None) -> dict[str, Any]:
    shown = viewer is None or view.belongs_to(viewer)  # a buyer sees only their own name
    return {"status": view.status.value, "lockedBy": view.locked_by if shown else None}


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
        *(route(f"/v1/{v}", partial(api.box_office, verb=v), "POST") for v in _BOX_OFFICE),
        route("/v1/summary", api.summary, "GET"),
        route("/v1/history", api.history, "GET"),
        route("/v1/stream", api.stream, "GET"),
        route("/v1/me", api.me, "GET"),
        route("/v1/events", api.events, "GET"),
        route("/v1/health", api.health, "GET"),
        route("/", api.page, "GET"),
        route("/openapi.json", api.openapi, "GET"),
    ]
    return App(routes)

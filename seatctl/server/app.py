"""The HTTP routes: parse the request, call the Python API in the database thread, answer.

No booking rule lives here. Failures are `SeatctlError`s like everywhere else; `answers.status_for`
is the one table from their exit codes (and the few reasons HTTP tells apart) to statuses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from seatctl import __version__, wire
from seatctl.core import changefeed, validate
from seatctl.core.errors import ExitCode, Reason, SeatctlError, usage_error
from seatctl.core.model import DEFAULT_SHOW, Place, SeatView, Status
from seatctl.core.names import seat_phrase
from seatctl.core.tokens import forbidden, unauthorized
from seatctl.server import parsing, roles
from seatctl.server.answers import (
    RETRY_AFTER_SECONDS,
    error_response,
    json_answer,
    proto_listing,
    raw_answer,
    seat_listing,
)
from seatctl.server.cache import ReadCache
from seatctl.server.guard import StreamAnswer, StreamGuard, counted
from seatctl.server.limits import Limits
from seatctl.server.live import Hub, Watcher
from seatctl.server.local import Local
from seatctl.server.worker import Worker
from seatctl.venue import Venue

log = logging.getLogger("seatctl.serve")


class Api:
    """The routes, bound to one database worker and one authentication mode."""

    def __init__(self, worker: Worker, auth: bool, hub: Hub, limits: Limits) -> None:
        self.worker = worker
        self.auth = auth
        self.hub = hub
        self.limits = limits
        self.guard = StreamGuard(worker, limits, auth)
        self.cache = ReadCache(worker.db)  # --no-auth: everyone reads every name alike
        self.run = partial(roles.run_as, worker, auth)  # work as the request's caller

    # --- the prototype's endpoints --------------------------------------------------------

    async def proto_seats(self, request: Request) -> Response:
        token = self._token(request)
        async with self._parsing(token):
            named = parsing.one_query(request, "userId", parsing.PROTO_SEATS_QUERY)

        if not self.auth:  # one answer for every caller: kept until a change
            body = await self.cache.listing(
                self.worker, ("proto", named), named, None, None, DEFAULT_SHOW, proto_listing
            )
            return raw_answer(body)

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            user, who = roles.reading_as(caller, named), roles.viewer(caller)
            return {v.seat: wire.prototype_seat(v, who) for v in venue.iter_seats(user=user)}

        return json_answer(await self.run(token, work))

    async def proto_change(self, request: Request, verb: str) -> Response:
        token = self._token(request)
        async with self._parsing(token):
            parsing.no_query(request)
            body = await self._body(request, required=("seatId",), optional=("userId",))
            label = parsing.seat_id(body["seatId"])
            named = parsing.text(body, "userId")

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            user, by = roles.acting_as(caller, named)
            view = _CHANGES[verb](venue, [label], user, None, DEFAULT_SHOW, by)[0]
            named_seat = seat_phrase(view.seat, Place(view.section, view.row, view.number))
            return {
                "message": f"Seat {named_seat} {_DONE[verb]} by {user}",
                "seat": wire.seat_object(view),  # the seat object, as `seats --json`
            }

        return json_answer(await self.run(token, work, write=True))

    # --- /v1 ------------------------------------------------------------------------------

    async def seats(self, request: Request) -> Response:
        token = self._token(request)
        async with self._parsing(token):
            status = parsing.one_query(request, "status", parsing.SEATS_QUERY)
            named = parsing.one_query(request, "user", parsing.SEATS_QUERY)
            event = parsing.event(parsing.one_query(request, "event", parsing.SEATS_QUERY))
            if status is not None and status not in Status.__members__.values():
                raise parsing.invalid("status", status, "use available, locked, booked or blocked")

        if not self.auth:  # one answer for every caller: kept until a change
            key, chosen = ("v1", status, named, event), Status(status) if status else None
            body = await self.cache.listing(
                self.worker, key, named, None, chosen, event, seat_listing
            )
            return raw_answer(body)

        def work(venue: Venue, caller: roles.Caller) -> list[dict[str, Any]]:
            user, who = roles.reading_as(caller, named), roles.viewer(caller)
            views = venue.iter_seats(Status(status) if status else None, user, event)
            return [wire.redacted_seat(wire.seat_object(v), who) for v in views]

        return json_answer(await self.run(token, work))

    async def change(self, request: Request, verb: str) -> Response:
        token = self._token(request)
        async with self._parsing(token):
            parsing.no_query(request)
            body = await self._body(request, required=("seats",), optional=("user", "event"))
            labels = parsing.labels(body["seats"])
            named = parsing.text(body, "user")
            event = parsing.event(parsing.text(body, "event"))
        return await self._change(token, labels, None, named, event, verb)

    async def lock(self, request: Request) -> Response:
        """Named seats (`seats`) as the other changes, or the best N together (`best`)."""
        token = self._token(request)
        async with self._parsing(token):
            parsing.no_query(request)
            body = await self._body(request, required=(), optional=_LOCK_FIELDS)
            ttl = parsing.ttl(body.get("ttl"))
            named = parsing.text(body, "user")
            event = parsing.event(parsing.text(body, "event"))
            if "best" not in body:
                extra = [key for key in _BEST_ONLY if key in body]
                if extra:
                    raise usage_error(f"the field {extra[0]} goes with best (the best N seats)")
                if "seats" not in body:
                    raise usage_error("the request body lacks the field seats (or best)")
                labels = parsing.labels(body["seats"])
            else:
                if "seats" in body:
                    raise usage_error("give either the field seats or best, not both")
                count = parsing.best(body["best"])
                sections = parsing.names(body, "section")
                categories = parsing.names(body, "category")
                split = parsing.flag(body, "split")
        if "best" not in body:
            return await self._change(token, labels, ttl, named, event, "lock")

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            user, by = roles.acting_as(caller, named)
            views = venue.lock_best(count, user, sections, categories, split, ttl, event, by)
            return {"seats": [wire.seat_object(v) for v in views]}

        return json_answer(await self.run(token, work, write=True, pick=True))

    async def _change(
        self,
        token: str | None,
        labels: list[str],
        ttl: int | None,
        named: str | None,
        event: str,
        verb: str,
    ) -> Response:
        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            user, by = roles.acting_as(caller, named)
            views = _CHANGES[verb](venue, labels, user, ttl, event, by)
            return {"seats": [wire.seat_object(v) for v in views]}

        return json_answer(await self.run(token, work, write=True))

    async def box_office(self, request: Request, verb: str) -> Response:
        """Staff only: block, unblock or cancel seats (`reason` with block and cancel)."""
        token = self._token(request)
        async with self._parsing(token):
            parsing.no_query(request)
            optional = ("event",) if verb == "unblock" else ("reason", "event")
            body = await self._body(request, required=("seats",), optional=optional)
            labels, reason = parsing.labels(body["seats"]), parsing.text(body, "reason")
            event = parsing.event(parsing.text(body, "event"))

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            by = roles.staff_only(caller, f"POST /v1/{verb}")
            if verb == "unblock":
                views = venue.unblock(labels, event, by)
            else:
                views = getattr(venue, verb)(labels, reason, event, by)
            return {"seats": [wire.seat_object(v) for v in views]}

        return json_answer(await self.run(token, work, write=True))

    async def summary(self, request: Request) -> Response:
        """Staff only: the event's counts, by group with `by`, as `summary --json`."""
        token = self._token(request)
        async with self._parsing(token):
            event = parsing.event(parsing.one_query(request, "event", parsing.SUMMARY_QUERY))
            by = parsing.one_query(request, "by", parsing.SUMMARY_QUERY)

        def work(venue: Venue, caller: roles.Caller) -> dict[str, Any]:
            roles.staff_only(caller, "GET /v1/summary")
            counts, groups = venue.summary(event, by)
            return wire.summary_object(event, counts, groups)

        return json_answer(await self.run(token, work))

    async def me(self, request: Request) -> Response:
        """Who the token acts for and its role (no user without tokens: then each request
        names its user, and may do what staff may)."""
        token = self._token(request)
        async with self._parsing(token):
            named = parsing.one_query(request, "user", parsing.USER_QUERY)
        if not self.auth:
            if named is not None:
                parsing.user(named)  # a bad name is 400 here too, as on every endpoint
            return json_answer({"user": None, "auth": "none", "role": "staff"})
        return json_answer(await self.run(token, lambda venue, caller: roles.me(caller, named)))

    async def events(self, request: Request) -> Response:
        token = self._token(request)
        async with self._parsing(token):
            named = parsing.one_query(request, "user", parsing.USER_QUERY)

        def work(venue: Venue, caller: roles.Caller) -> list[dict[str, Any]]:
            roles.reading_as(caller, named)
            return wire.events_objects(venue.events(), venue.stage())

        return json_answer(await self.run(token, work))

    async def history(self, request: Request) -> Response:
        token = self._token(request)
        async with self._parsing(token):
            named = parsing.one_query(request, "user", parsing.HISTORY_QUERY)
            labels = request.query_params.getlist("seat")
            if labels:
                labels = parsing.labels(labels, "seat")
            since = parsing.since(parsing.one_query(request, "since", parsing.HISTORY_QUERY))
            limit = parsing.limit(parsing.one_query(request, "limit", parsing.HISTORY_QUERY))
            event = parsing.event(parsing.one_query(request, "event", parsing.HISTORY_QUERY))
            by = parsing.one_query(request, "by", parsing.HISTORY_QUERY)

        def work(venue: Venue, caller: roles.Caller) -> list[dict[str, Any]]:
            user, who = roles.reading_as(caller, named), roles.viewer(caller)
            # A buyer reads only their own entries; staff the whole history.
            events = venue.history(labels, who or user, since, limit, event, by)
            return [wire.redacted_history(wire.history_object(e), who) for e in events]

        return json_answer(await self.run(token, work))

    async def stream(self, request: Request) -> Response:
        """Server-Sent Events: a snapshot (or, with Last-Event-ID, what the client missed),
        then every change of the event (`seatctl.server.live`)."""
        token = self._token(request)
        async with self._parsing(token):
            event = parsing.event(parsing.one_query(request, "event", parsing.STREAM_QUERY))
            named = parsing.one_query(request, "user", parsing.STREAM_QUERY)
            given = changefeed.parse_cursor(request.headers.get("last-event-id"))

        def check(venue: Venue, caller: roles.Caller) -> str | None:
            roles.reading_as(caller, named)
            venue.event(event)  # refusals answer as JSON, before the stream starts
            return roles.viewer(caller)

        who = await self.run(token, check)
        if self.hub.closed:
            raise SeatctlError(Reason.BUSY, "the server is shutting down", ExitCode.DATABASE)
        key = token or ""  # --no-auth: one key, only the limit in all applies
        self.guard.admit(key)
        watcher = None
        try:
            feed = await self.hub.subscribe(validate.event_name(event))
            watcher = Watcher(self.hub, self.worker, feed, feed.show, who)
            try:
                first = await watcher.start(given)
            except BaseException:
                self.hub.unsubscribe(feed)
                raise
            self.guard.watch(key, watcher)
        except BaseException:
            self.guard.leave(key, watcher)
            raise
        return StreamAnswer(
            counted(watcher.messages(first), partial(self.guard.leave, key, watcher)),
            self.limits,
            headers={**NO_STORE, "X-Accel-Buffering": "no"},
        )

    async def health(self, request: Request) -> Response:
        parsing.no_query(request)
        return json_answer({"ok": True, "version": __version__})

    async def ready(self, request: Request) -> Response:
        """For load balancers: 200 while the database answers within a second, else 503."""
        parsing.no_query(request)
        if await self.worker.ready():
            return json_answer({"ready": True, "version": __version__})
        headers = {"Retry-After": RETRY_AFTER_SECONDS}
        return json_answer({"ready": False, "version": __version__}, 503, headers)

    async def page(self, request: Request) -> Response:
        """The seat-map page: static, so it needs no token (it asks for one itself)."""
        from seatctl.server import page

        return page.response()

    async def openapi(self, request: Request) -> Response:
        from seatctl.server.openapi import document

        return json_answer(document(self.auth))

    # --- who is acting --------------------------------------------------------------------

    def _parsing(self, token: str | None) -> _Parsing:
        """Around reading a request's query and body: a client whose token is not valid learns
        that (401), never what was wrong with the rest of its request. A valid token's request
        is checked once, in its database work, so this costs a read only on a bad request."""
        return _Parsing(self, token)

    async def _body(
        self, request: Request, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any]:
        if not self.auth:  # a browser sends JSON across origins only after a preflight
            kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
            if kind != "application/json":
                raise SeatctlError(
                    Reason.UNSUPPORTED,
                    "send the request body as Content-Type: application/json",
                    ExitCode.USAGE,
                )
        return await parsing.body(request, required, optional)

    def _token(self, request: Request) -> str | None:
        """The bearer token; without one, a request to a guarded endpoint stops here."""
        if not self.auth:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("send 'Authorization: Bearer TOKEN' (see 'seatctl token add')")
        return token.strip()


class _Parsing:
    """`Api._parsing`: a class, as cheaper on every request than a generator-based one."""

    __slots__ = ("_api", "_token")

    def __init__(self, api: Api, token: str | None) -> None:
        self._api, self._token = api, token

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if isinstance(error, SeatctlError) and self._api.auth:
            token = self._token or ""
            await self._api.worker.read(lambda venue: venue.authenticate(token))


_DONE = {"lock": "locked", "confirm": "booked", "release": "released"}
Change = Callable[[Venue, list[str], str, int | None, str, str | None], list[SeatView]]
_CHANGES: dict[str, Change] = {
    "lock": lambda venue, labels, user, ttl, event, by: venue.lock(labels, user, ttl, event, by),
    "confirm": lambda venue, labels, user, ttl, event, by: venue.confirm(labels, user, event, by),
    "release": lambda venue, labels, user, ttl, event, by: venue.release(labels, user, event, by),
}


NO_STORE = {"Cache-Control": "no-store"}


_BOX_OFFICE = ("block", "unblock", "cancel")  # staff only
_LOCK_FIELDS = ("seats", "user", "ttl", "event", "best", "section", "category", "split")
_BEST_ONLY = ("section", "category", "split")


PROTOTYPE_PATHS = frozenset({"/seats", *(f"/{verb}" for verb in _DONE)})


def _guarded(
    handler: Callable[[Request], Awaitable[Response]], prototype: bool
) -> Callable[[Request], Awaitable[Response]]:
    """Every failure of a route becomes its JSON answer; nothing else reaches the client."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except SeatctlError as error:
            return error_response(error, prototype)
        except Exception as exc:
            log.error("internal error on %s %s: %s", request.method, request.url.path, exc)
            internal = SeatctlError(Reason.BAD_DATABASE, "internal server error", ExitCode.DATABASE)
            return error_response(internal, prototype)

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in the API's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        reason, message = Reason.NOT_FOUND, "no such endpoint"
    elif exc.status_code == 405:
        reason, message = Reason.USAGE, f"{request.method[:10]} is not allowed on this endpoint"
    else:
        reason, message = Reason.USAGE, str(exc.detail)
    if request.url.path in PROTOTYPE_PATHS:  # a prototype client reads `error` as a sentence
        body: dict[str, Any] = {"error": message, "reason": reason.value}
    else:
        body = {"error": reason.value, "message": message, "seats": []}
    return json_answer(body, exc.status_code, dict(exc.headers or {}))


class App(Starlette):
    """Starlette, with a shortcut for the API's own routes.

    A request whose method and exact path name one of our routes goes straight to its guarded
    endpoint: Starlette's middleware, exception handlers and route matching cost about as much
    CPU as the endpoint itself, and the endpoint already turns every failure into its answer.
    Anything else (unknown paths and methods, HEAD, lifespan) takes Starlette's own way, so
    404 and 405 keep their one handler.
    """

    def __init__(self, routes: list[Route], local: Local | None = None) -> None:
        super().__init__(routes=routes, exception_handlers={HTTPException: _http_error})
        # A redirect to the same path with(out) its slash would be built from the client's
        # Host: an unknown path is 404, whatever it ends with.
        self.router.redirect_slashes = False
        self._local = local
        self._direct = {
            (method, route.path): route.endpoint
            for route in routes
            for method in route.methods or ()
            if method != "HEAD"
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._local is not None and scope["type"] == "http":
            refusal = self._local.refusal(scope)
            if refusal is not None:
                prototype = scope["path"] in PROTOTYPE_PATHS
                await error_response(forbidden(refusal), prototype)(scope, receive, send)
                return
        if scope["type"] == "http" and not scope.get("root_path"):
            endpoint = self._direct.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["app"] = self
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    worker: Worker,
    auth: bool = True,
    hub: Hub | None = None,
    limits: Limits | None = None,
    local: Local | None = None,
) -> App:
    """The application; `hub` (made here if not given) serves /v1/stream, and whoever runs
    the application closes it at shutdown so that open streams end. Without `auth`, `local`
    says which Host and Origin the requests must name (by default, 127.0.0.1:8000)."""
    if not auth and local is None:
        local = Local(["127.0.0.1"], 8000)
    hub = hub if hub is not None else Hub(worker.db, worker)
    api = Api(worker, auth, hub, limits or Limits())

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
        route("/v1/ready", api.ready, "GET"),
        route("/", api.page, "GET"),
        route("/openapi.json", api.openapi, "GET"),
    ]
    return App(routes, None if auth else local)

"""`seatctl serve` through Starlette's test client: every endpoint, status and authentication
case (the group commits on both backends). tests/test_serve_process.py runs the real server
process."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import START, booking_state, frozen, seat_object
from seatctl import Venue
from seatctl.core.clock import parse_instant

pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's note about httpx's successor
    from starlette.testclient import TestClient

from seatctl.server.app import create_app
from seatctl.server.worker import Worker
from seatctl.storage.sql import SqlTransaction

LATER = "2026-01-01T12:00:30Z"
LOCAL = "http://127.0.0.1:8000"  # what a --no-auth server on its default port accepts


@pytest.fixture
def api(worker: Worker) -> TestClient:
    """The API with tokens required (the default)."""
    return TestClient(create_app(worker, auth=True))


@pytest.fixture
def open_api(worker: Worker) -> TestClient:
    """The API as `serve --no-auth` runs it: the request names the user."""
    return TestClient(create_app(worker, auth=False), base_url=LOCAL)


def token_for(
    db: str, user: str, expires_in: int | None = None, role: str = "buyer"
) -> dict[str, str]:
    with Venue.open(db) as venue:
        token, _ = venue.add_token(user, expires_in, role)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def alice(venue_db: str) -> dict[str, str]:
    return token_for(venue_db, "alice")


@pytest.fixture
def bob(venue_db: str) -> dict[str, str]:
    return token_for(venue_db, "bob")


@pytest.fixture
def clerk(venue_db: str) -> dict[str, str]:
    """A staff token: the box office, who sees the whole history."""
    return token_for(venue_db, "clerk", role="staff")


# --- the prototype's endpoints ------------------------------------------------------------


def test_get_seats_is_an_object_keyed_by_label_in_natural_order(api, alice, venue_db):
    Venue.init(venue_db, labels=["10", "A2"])
    with Venue.open(venue_db) as venue:
        venue.lock(["2"], "alice")
    seats = api.get("/seats", headers=alice).json()
    assert list(seats) == ["1", "2", "3", "4", "5", "10", "A2"]
    assert seats["1"] == {"status": "available", "lockedBy": None}
    assert seats["2"] == {"status": "locked", "lockedBy": "alice"}


def test_get_seats_with_user_id_lists_only_that_users_seats(api, alice, venue_db):
    with Venue.open(venue_db) as venue:
        venue.lock(["2", "4"], "alice")
        venue.confirm(["4"], "alice")
        venue.lock(["3"], "bob")
    seats = api.get("/seats", params={"userId": "alice"}, headers=alice).json()
    assert seats == {
        "2": {"status": "locked", "lockedBy": "alice"},
        "4": {"status": "booked", "lockedBy": None},
    }


def test_prototype_lock_confirm_release_answer_message_and_the_cli_seat_object(api, alice, cli):
    # `seat` is the seat object of `seats --json` (the prototype answered `message` alone).
    with frozen(START):
        locked = api.post("/lock", json={"seatId": 3, "userId": "alice"}, headers=alice)
        assert locked.status_code == 200
        assert locked.json() == {
            "message": "Seat 3 locked by alice",
            "seat": seat_object(
                "3",
                "locked",
                locked_by="alice",
                expires_at="2026-01-01T12:01:00Z",
                held_since="2026-01-01T12:00:00Z",
            ),
        }
        booked = api.post("/confirm", json={"seatId": "3"}, headers=alice)
        assert booked.json()["message"] == "Seat 3 booked by alice"
        assert booked.json()["seat"] == cli("seats", "--json").json()[2]
        api.post("/lock", json={"seatId": 4}, headers=alice)
        released = api.post("/release", json={"seatId": 4}, headers=alice)
    assert released.json()["message"] == "Seat 4 released by alice"
    assert released.json()["seat"]["status"] == "available"


@pytest.mark.parametrize("seat_id", [3, "3", 3.0])
def test_prototype_seat_id_is_a_number_or_a_string(api, alice, seat_id):
    answer = api.post("/lock", json={"seatId": seat_id}, headers=alice)
    assert answer.status_code == 200
    assert answer.json()["message"] == "Seat 3 locked by alice"


def test_prototype_refusals_are_400_with_error_and_reason(api, alice, bob):
    api.post("/lock", json={"seatId": 3}, headers=bob)
    refused = api.post("/lock", json={"seatId": 3}, headers=alice)
    assert refused.status_code == 400
    assert refused.json()["reason"] == "locked"
    assert "locked by another user" in refused.json()["error"]  # a buyer is not told who
    not_holder = api.post("/confirm", json={"seatId": 3}, headers=alice)
    assert (not_holder.status_code, not_holder.json()["reason"]) == (400, "not_holder")


def test_prototype_unknown_seat_is_404(api, alice):
    answer = api.post("/lock", json={"seatId": 99}, headers=alice)
    assert answer.status_code == 404
    assert answer.json() == {"error": "seat 99 does not exist", "reason": "not_found"}


def test_prototype_without_auth_trusts_the_named_user(open_api):
    answer = open_api.post("/lock", json={"seatId": 1, "userId": "carol"})
    assert answer.json()["message"] == "Seat 1 locked by carol"
    assert open_api.get("/seats").json()["1"] == {"status": "locked", "lockedBy": "carol"}


def test_prototype_without_auth_needs_a_user_id_to_change_a_seat(open_api, venue_db):
    before = booking_state(venue_db)
    answer = open_api.post("/lock", json={"seatId": 1})
    assert (answer.status_code, answer.json()["reason"]) == (400, "usage")
    assert booking_state(venue_db) == before


def test_me_without_auth_refuses_an_invalid_user_name_as_every_endpoint_does(open_api):
    # Found by Schemathesis: /v1/me alone took `?user=` unchecked with --no-auth.
    answer = open_api.get("/v1/me", params={"user": ""})
    assert (answer.status_code, answer.json()["error"]) == (400, "usage")


# --- /v1 ----------------------------------------------------------------------------------


def test_v1_seats_is_the_cli_json_array(api, alice, cli):
    with frozen(LATER):
        api.post("/v1/lock", json={"seats": ["2"]}, headers=alice)
        assert api.get("/v1/seats", headers=alice).json() == cli("seats", "--json").json()


def test_v1_seats_filters_by_status_and_user(api, alice, venue_db):
    with Venue.open(venue_db) as venue:
        venue.lock(["2"], "alice")
        venue.lock(["3"], "bob")
    locked = api.get("/v1/seats", params={"status": "locked"}, headers=alice).json()
    assert [s["seat"] for s in locked] == ["2", "3"]
    mine = api.get("/v1/seats", params={"user": "alice"}, headers=alice).json()
    assert [s["seat"] for s in mine] == ["2"]


def test_v1_lock_is_all_or_nothing_and_answers_the_seats(api, alice, bob, venue_db):
    with frozen(START):
        locked = api.post("/v1/lock", json={"seats": ["3", "4"], "ttl": 120}, headers=alice)
        assert locked.status_code == 200
        assert [(s["seat"], s["locked_by"], s["expires_at"]) for s in locked.json()["seats"]] == [
            ("3", "alice", "2026-01-01T12:02:00Z"),
            ("4", "alice", "2026-01-01T12:02:00Z"),
        ]
        before = booking_state(venue_db)
        refused = api.post("/v1/lock", json={"seats": ["1", "4"]}, headers=bob)
    assert refused.status_code == 409
    assert refused.json()["error"] == "locked"
    assert refused.json()["seats"] == [{"seat": "4", "reason": "locked"}]
    assert booking_state(venue_db) == before


def test_v1_confirm_and_release(api, alice):
    api.post("/v1/lock", json={"seats": ["1", "2"]}, headers=alice)
    booked = api.post("/v1/confirm", json={"seats": ["1"]}, headers=alice)
    assert booked.json()["seats"][0]["booked_by"] == "alice"
    released = api.post("/v1/release", json={"seats": ["2"]}, headers=alice)
    assert released.json()["seats"][0]["status"] == "available"


def test_v1_refused_confirm_and_release_are_409(api, alice):
    for verb in ("confirm", "release"):
        answer = api.post(f"/v1/{verb}", json={"seats": ["1"]}, headers=alice)
        assert (answer.status_code, answer.json()["error"]) == (409, "not_holder"), verb


def test_v1_unknown_seat_is_404(api, alice):
    answer = api.post("/v1/lock", json={"seats": ["99"]}, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (404, "not_found")


def test_v1_history_is_the_cli_history(api, alice, clerk, cli):
    api.post("/v1/lock", json={"seats": ["2"]}, headers=alice)
    assert api.get("/v1/history", headers=clerk).json() == cli("history", "--json").json()
    filtered = api.get(
        "/v1/history", params={"seat": "2", "user": "alice", "limit": "1"}, headers=alice
    ).json()
    assert [(e["seat"], e["action"]) for e in filtered] == [("2", "lock")]


def test_v1_history_since_filters_by_instant(api, alice):
    with frozen(LATER):
        api.post("/v1/lock", json={"seats": ["2"]}, headers=alice)
        events = api.get("/v1/history", params={"since": LATER, "seat": "2"}, headers=alice)
    assert [e["action"] for e in events.json()] == ["lock"]


def test_v1_health_needs_no_token(api):
    from seatctl import __version__

    answer = api.get("/v1/health")
    assert (answer.status_code, answer.json()) == (200, {"ok": True, "version": __version__})


def test_v1_without_auth_takes_the_user_from_the_body(open_api):
    answer = open_api.post("/v1/lock", json={"seats": ["1"], "user": "carol"})
    assert answer.json()["seats"][0]["locked_by"] == "carol"


# --- authentication -----------------------------------------------------------------------

GUARDED = [
    ("GET", "/seats", None),
    ("POST", "/lock", {"seatId": 1}),
    ("POST", "/confirm", {"seatId": 1}),
    ("POST", "/release", {"seatId": 1}),
    ("GET", "/v1/seats", None),
    ("POST", "/v1/lock", {"seats": ["1"]}),
    ("POST", "/v1/confirm", {"seats": ["1"]}),
    ("POST", "/v1/release", {"seats": ["1"]}),
    ("GET", "/v1/history", None),
    ("GET", "/v1/me", None),
    ("GET", "/v1/events", None),
    ("POST", "/v1/lock", {"best": 2}),
]


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
def test_every_endpoint_but_health_needs_a_token(api, venue_db, method, path, body):
    before = booking_state(venue_db)
    answer = api.request(method, path, json=body)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    reason = answer.json().get("reason") or answer.json().get("error")
    assert reason == "unauthorized"
    assert booking_state(venue_db) == before


@pytest.mark.parametrize(
    "header", ["Bearer stk_not-a-real-token", "Basic YWxpY2U6cHc=", "Bearer", "stk_x"]
)
def test_unknown_or_malformed_tokens_are_401(api, header):
    answer = api.get("/v1/seats", headers={"Authorization": header})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_is_401_at_once(api, venue_db):
    headers = token_for(venue_db, "alice")
    assert api.get("/v1/seats", headers=headers).status_code == 200
    with Venue.open(venue_db) as venue:
        venue.revoke_token(venue.tokens()[-1].id)
    assert api.get("/v1/seats", headers=headers).status_code == 401


def test_an_expired_token_is_401(api, venue_db):
    with frozen(START):
        headers = token_for(venue_db, "alice", expires_in=60)
    with frozen("2026-01-01T12:00:59Z"):
        assert api.get("/v1/seats", headers=headers).status_code == 200
    with frozen("2026-01-01T12:01:00Z"):
        answer = api.get("/v1/seats", headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (401, "unauthorized")
    assert "expired" in answer.json()["message"]


@pytest.mark.backend  # recorded in a write group's savepoint, then refused: kept on both
def test_an_expired_token_presented_twice_is_recorded_once_and_answered_401_alike(api, venue_db):
    with frozen(START):
        headers = token_for(venue_db, "alice", expires_in=60)
    with frozen("2026-01-01T12:01:00Z"):  # first to a write (a group), then to a read
        first = api.post("/v1/lock", json={"seats": ["1"]}, headers=headers)
    with frozen("2026-01-01T12:02:00Z"):
        second = api.get("/v1/seats", headers=headers)
    assert [first.status_code, second.status_code] == [401, 401]
    assert first.json() == second.json()
    assert first.headers["WWW-Authenticate"] == second.headers["WWW-Authenticate"] == "Bearer"
    with Venue.open(venue_db) as venue:
        expired = [(e.at, e.user, e.token) for e in venue.history() if e.action == "token_expired"]
    assert expired == [(parse_instant("2026-01-01T12:01:00Z"), "alice", 1)]


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("POST", "/lock", {"seatId": 1, "userId": "bob"}, None),
        ("POST", "/confirm", {"seatId": 1, "userId": "bob"}, None),
        ("POST", "/release", {"seatId": 1, "userId": "bob"}, None),
        ("POST", "/v1/lock", {"seats": ["1"], "user": "bob"}, None),
        ("POST", "/v1/confirm", {"seats": ["1"], "user": "bob"}, None),
        ("POST", "/v1/release", {"seats": ["1"], "user": "bob"}, None),
        ("GET", "/seats", None, {"userId": "bob"}),
        ("GET", "/v1/seats", None, {"user": "bob"}),
        ("GET", "/v1/history", None, {"user": "bob"}),
    ],
)
def test_naming_another_user_is_403_forbidden(api, alice, venue_db, method, path, body, params):
    before = booking_state(venue_db)
    answer = api.request(method, path, json=body, params=params, headers=alice)
    assert answer.status_code == 403
    reason = answer.json().get("reason") or answer.json().get("error")
    assert reason == "forbidden"
    assert booking_state(venue_db) == before


def test_naming_ones_own_user_is_allowed(api, alice):
    answer = api.post("/v1/lock", json={"seats": ["1"], "user": "alice"}, headers=alice)
    assert answer.status_code == 200


def test_the_acting_user_is_the_tokens_user(api, bob):
    answer = api.post("/lock", json={"seatId": 2}, headers=bob)
    assert answer.json()["seat"]["locked_by"] == "bob"


def test_using_a_token_records_when_it_was_last_used(api, alice, venue_db):
    with frozen(LATER):
        api.get("/v1/seats", headers=alice)
    with Venue.open(venue_db) as venue:
        assert venue.tokens()[0].last_used_at == 1767268830


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/lock", b"{"),
        ("/v1/lock", b"[1, 2]"),
        ("/v1/lock", b'{"seats": "3"}'),
        ("/v1/lock", b'{"seats": []}'),
        ("/v1/lock", b'{"seats": [3]}'),
        ("/v1/lock", b'{"seats": ["3"], "ttl": "60"}'),
        ("/v1/lock", b'{"seats": ["3"], "ttl": 0}'),
        ("/v1/lock", b'{"seats": ["3"], "ttl": true}'),
        ("/v1/lock", b'{"seats": ["3"], "colour": "red"}'),
        ("/v1/confirm", b'{"seats": ["3"], "ttl": 60}'),
        ("/v1/lock", b"{}"),
        ("/v1/lock", b'{"seats": ["' + b"9" * 100 + b'"]}'),
        ("/v1/lock", b'{"seats": ["a b"]}'),
        ("/v1/lock", b"\xff\xfe"),
        ("/v1/lock", b"[" * 60000),
        ("/lock", b'{"userId": "alice"}'),
        ("/lock", b'{"seatId": true}'),
        ("/lock", b'{"seatId": 2.5}'),
        ("/lock", b'{"seatId": 1e300}'),
        ("/lock", b'{"seatId": {"a": 1}}'),
        ("/lock", b'{"seatId": 1, "userId": 7}'),
    ],
)
def test_bad_bodies_are_400_and_change_nothing(api, alice, venue_db, path, body):
    before = booking_state(venue_db)
    answer = api.post(path, content=body, headers=alice)
    assert answer.status_code == 400, answer.text
    reason = answer.json().get("reason") or answer.json().get("error")
    assert reason == "usage"
    assert booking_state(venue_db) == before


@pytest.mark.parametrize(
    "params",
    [{"status": "gone"}, {"limit": "-1"}, {"limit": "x"}, {"since": "yesterday"}, {"seat": "a b"}],
)
def test_bad_queries_are_400(api, alice, params):
    path = "/v1/history" if set(params) & {"limit", "since", "seat"} else "/v1/seats"
    answer = api.get(path, params=params, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (400, "usage")


def test_a_body_over_the_limit_is_413(api, alice, venue_db):
    before = booking_state(venue_db)
    answer = api.post("/v1/lock", content=b" " * (65 * 1024), headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")
    assert booking_state(venue_db) == before


def test_a_streamed_body_over_the_limit_is_413(api, alice):
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    answer = api.post("/v1/lock", content=chunks(), headers=alice)
    assert answer.status_code == 413


def test_a_body_that_stalls_past_the_time_limit_is_400_and_changes_nothing(
    worker, alice, venue_db, monkeypatch
):
    import asyncio
    import json

    from seatctl.server import parsing

    monkeypatch.setattr(parsing, "BODY_TIMEOUT", 0.05)
    before = booking_state(venue_db)
    sent: list[dict] = []
    parts = [{"type": "http.request", "body": b'{"seats": ["1"', "more_body": True}]

    async def receive() -> dict:
        if parts:
            return parts.pop()
        await asyncio.Event().wait()  # the rest of the body never comes
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/lock",
        "raw_path": b"/v1/lock",
        "query_string": b"",
        "headers": [(b"authorization", alice["Authorization"].encode())],
    }
    asyncio.run(create_app(worker)(scope, receive, send))
    assert sent[0]["status"] == 400
    answer = json.loads(sent[1]["body"])
    assert answer["error"] == "usage" and "longer than" in answer["message"]
    assert booking_state(venue_db) == before


def test_unknown_paths_are_404_and_wrong_methods_405(api, alice):
    missing = api.get("/v2/seats", headers=alice)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = api.delete("/v1/seats", headers=alice)
    assert (wrong.status_code, wrong.json()["error"]) == (405, "usage")


def test_requests_off_the_direct_routes_still_take_starlettes_way(api, alice):
    # The API's own method+path pairs skip Starlette's middleware; HEAD, a trailing slash
    # and unknown paths must still get Starlette's answers, not a shortcut's.
    direct = api.get("/v1/seats", headers=alice)
    head = api.head("/v1/seats", headers=alice)
    assert (direct.status_code, head.status_code) == (200, 200)
    assert head.headers["content-type"] == direct.headers["content-type"] == "application/json"


def test_a_wrong_method_on_a_prototype_endpoint_answers_in_the_prototypes_shape(api, alice):
    # As /openapi.json documents it: a prototype client reads `error` as a sentence.
    answer = api.get("/lock", headers=alice)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"
    assert answer.json() == {"error": "GET is not allowed on this endpoint", "reason": "usage"}


def test_a_busy_database_is_503_with_retry_after(api, alice, monkeypatch):
    from seatctl.core.errors import Reason, database_error
    from seatctl.venue import Venue as VenueClass

    def busy(*args, **kwargs):
        raise database_error(Reason.BUSY, "venue.db is still busy after waiting; try again")

    monkeypatch.setattr(VenueClass, "lock", busy)
    answer = api.post("/v1/lock", json={"seats": ["1"]}, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (503, "busy")
    assert answer.headers["Retry-After"] == "1"


def test_a_clock_behind_the_seats_history_is_503_with_retry_after(api, alice, bob, monkeypatch):
    monkeypatch.setenv("SEATCTL_NOW", "2026-01-01T13:00:00Z")
    assert api.post("/v1/lock", json={"seats": ["1"]}, headers=alice).status_code == 200
    monkeypatch.setenv("SEATCTL_NOW", "2026-01-01T12:30:00Z")
    answer = api.post("/v1/lock", json={"seats": ["1"]}, headers=bob)
    assert (answer.status_code, answer.json()["error"]) == (503, "clock_behind")
    assert answer.headers["Retry-After"] == "1"


def test_other_database_problems_are_500_with_a_generic_message(api, alice, monkeypatch, caplog):
    from seatctl.core.errors import Reason, database_error
    from seatctl.venue import Venue as VenueClass

    def broken(*args, **kwargs):
        raise database_error(Reason.BAD_DATABASE, "secret detail of /srv/venue.db")

    monkeypatch.setattr(VenueClass, "lock", broken)
    answer = api.post("/v1/lock", json={"seats": ["1"]}, headers=alice)
    assert answer.status_code == 500
    assert "secret detail" not in answer.text
    assert "Traceback" not in answer.text


def test_a_bug_in_a_request_is_a_500_and_the_next_request_is_served(api, alice, monkeypatch):
    from seatctl.venue import Venue as VenueClass

    monkeypatch.setattr(VenueClass, "release", lambda *a, **k: 1 / 0)
    answer = api.post("/v1/release", json={"seats": ["1"]}, headers=alice)
    assert answer.status_code == 500
    assert "Traceback" not in answer.text
    assert api.get("/v1/seats", headers=alice).status_code == 200


def test_the_server_reconnects_after_postgresql_drops_its_connection(pg_url):
    """A restarted or failed-over PostgreSQL server (here: its backends terminated while idle)
    costs no request anything: the server sees the connections are gone and opens new ones
    before it uses them."""
    import psycopg

    Venue.init(pg_url)
    name = f"seatctl_serve_{secrets.token_hex(4)}"  # finds this server's connection only
    url = f"{pg_url}&application_name={name}"
    headers = token_for(url, "alice")
    running = Worker(url)
    running.start()
    try:
        api = TestClient(create_app(running))
        assert api.get("/v1/seats", headers=headers).status_code == 200
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (name,),
            )
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline
                and admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = %s", (name,)
                ).fetchall()
            ):
                time.sleep(0.01)  # until the backends have gone
        again = api.post("/v1/lock", json={"seats": ["1"]}, headers=headers)
        assert again.status_code == 200
        assert api.get("/seats", headers=headers).json()["1"]["lockedBy"] == "alice"
    finally:
        running.stop()


# --- group commit -------------------------------------------------------------------------


@pytest.mark.backend  # each backend's savepoints
def test_writes_committed_together_stay_all_or_nothing_each(venue_db):
    with Venue.open(venue_db) as venue:
        with venue.grouped():
            venue.lock(["1", "2"], "alice")
            with pytest.raises(Exception):  # noqa: B017
                venue.lock(["3", "1"], "bob")  # refused: seat 1 is alice's
            venue.lock(["3"], "carol")
        holders = {s.seat: s.locked_by for s in venue.seats()}
        assert holders == {"1": "alice", "2": "alice", "3": "carol", "4": None, "5": None}
        assert venue.check() == []


@pytest.mark.backend  # each backend's savepoints (PostgreSQL keeps them until the COMMIT)
def test_a_write_that_fails_after_saving_in_a_group_is_undone_alone(venue_db, monkeypatch):
    record = SqlTransaction.record

    def failing_for_bob(self, seats, show, events):
        record(self, seats, show, events)  # the seats' states and their history are written
        if any(event.user == "bob" for event in events):
            raise RuntimeError("the write failed after saving")

    monkeypatch.setattr(SqlTransaction, "record", failing_for_bob)
    with Venue.open(venue_db) as venue:
        with venue.grouped():
            venue.lock(["1"], "alice")
            with pytest.raises(RuntimeError):
                venue.lock(["2"], "bob")
            venue.lock(["3"], "carol")
            with pytest.raises(RuntimeError):
                venue.lock(["4"], "bob")
        holders = {s.seat: s.locked_by for s in venue.seats()}
        assert holders == {"1": "alice", "2": None, "3": "carol", "4": None, "5": None}
        assert [(e.user, e.seat) for e in venue.history() if e.action == "lock"] == [
            ("alice", "1"),
            ("carol", "3"),
        ]
        assert venue.check() == []


@pytest.mark.backend  # each backend's transactions
def test_in_a_group_a_write_may_not_act_before_an_earlier_write_on_its_seat(venue_db):
    # On PostgreSQL a group's history is written at its end: the clock rule must still see it.
    from seatctl.core.errors import SeatctlError

    start = parse_instant(START)
    with Venue.open(venue_db) as venue, venue.grouped():
        with frozen(start + 3600):
            venue.lock(["1"], "alice")
        with frozen(start), pytest.raises(SeatctlError) as behind:
            venue.release(["1"], "alice")
    assert behind.value.reason == "clock_behind"
    with Venue.open(venue_db) as venue:
        assert venue.check() == []


@pytest.mark.backend  # each backend's transactions
def test_a_failed_group_commits_none_of_its_writes(venue_db):
    before = booking_state(venue_db)
    with Venue.open(venue_db) as venue, pytest.raises(KeyboardInterrupt), venue.grouped():
        venue.lock(["1"], "alice")
        raise KeyboardInterrupt
    assert booking_state(venue_db) == before


def test_a_whole_number_written_with_a_fraction_is_a_whole_number(api, alice):
    # JSON Schema (and JavaScript) make no difference between 120 and 120.0.
    answer = api.post("/v1/lock", json={"seats": ["1"], "ttl": 120.0}, headers=alice)
    assert answer.status_code == 200


# --- /v1 and events -----------------------------------------------------------------------


def test_v1_lock_takes_an_event_and_other_events_are_untouched(api, alice, venue_db):
    with Venue.open(venue_db) as venue:
        venue.add_event("gala")
    locked = api.post("/v1/lock", json={"seats": ["2"], "event": "gala"}, headers=alice)
    assert locked.status_code == 200
    gala = api.get("/v1/seats", params={"event": "gala", "status": "locked"}, headers=alice)
    assert [s["seat"] for s in gala.json()] == ["2"]
    default = api.get("/v1/seats", params={"status": "locked"}, headers=alice)
    assert default.json() == []


def test_v1_history_takes_an_event(api, alice, clerk, venue_db):
    with Venue.open(venue_db) as venue:
        venue.add_event("gala")
    api.post("/v1/lock", json={"seats": ["2"], "event": "gala"}, headers=alice)
    events = api.get("/v1/history", params={"event": "gala", "seat": "2"}, headers=clerk).json()
    assert [(e["action"], e["event"]) for e in events] == [("add", "gala"), ("lock", "gala")]


def test_v1_unknown_event_is_404_and_changes_nothing(api, alice, venue_db):
    before = booking_state(venue_db)
    answer = api.post("/v1/lock", json={"seats": ["1"], "event": "nope"}, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (404, "not_found")
    listing = api.get("/v1/seats", params={"event": "nope"}, headers=alice)
    assert listing.status_code == 404
    assert booking_state(venue_db) == before


def test_v1_seat_objects_carry_the_map_fields(api, alice):
    seat = api.get("/v1/seats", headers=alice).json()[0]
    fields = ["section", "row", "number", "category", "held_since", "name", "x", "y"]
    assert list(seat)[-8:] == fields


def test_v1_events_carry_the_stage(api, alice):
    assert [event["stage"] for event in api.get("/v1/events", headers=alice).json()] == [None]


def test_the_worker_answers_requests_from_several_event_loops(worker):
    # The worker wakes each loop once per batch with its own requests' answers (no request
    # may get another loop's answer, or none).
    def reads_on_a_loop(tag: int) -> list[tuple[int, int]]:
        async def many() -> list[tuple[int, int]]:
            return await asyncio.gather(*(worker.read(lambda v, i=i: (tag, i)) for i in range(40)))

        return asyncio.run(many())

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(reads_on_a_loop, range(3)))
    assert answers == [[(tag, i) for i in range(40)] for tag in range(3)]


def test_a_request_cancelled_while_its_work_runs_leaves_the_worker_serving(worker):
    started, release = threading.Event(), threading.Event()

    def slow(venue: Venue) -> str:
        started.set()
        release.wait(10)
        return "late"

    async def scenario() -> str:
        waiting = asyncio.ensure_future(worker.read(slow))
        await asyncio.to_thread(started.wait, 10)
        waiting.cancel()  # the client went away
        release.set()
        return await worker.read(lambda venue: "next")

    assert asyncio.run(scenario()) == "next"


def test_a_refused_write_keeps_nothing_its_work_held_while_it_is_answered(worker: Worker):
    # A refusal's frames would hold what the work had in hand (a pick's list of the hall's
    # free seats) until the cyclic garbage collector ran: under an on-sale's refusals, megabytes.
    import gc
    import weakref

    from seatctl.core.errors import SeatctlError

    class Held:
        pass

    held: list[weakref.ref[Held]] = []

    def work(venue: Venue) -> object:
        in_hand = Held()
        held.append(weakref.ref(in_hand))
        return venue.lock(["no-such-seat"], "alice")

    gc.disable()
    try:
        with pytest.raises(SeatctlError) as refusal:
            asyncio.run(worker.write(work))
        assert refusal.value.reason == "not_found"
        assert held[0]() is None
    finally:
        gc.enable()


def test_a_group_that_waited_too_long_at_its_end_has_its_writes_retried_alone(pg_url, monkeypatch):
    # Its history's lock, taken last, timed out: nothing of the group happened, and each of
    # its writes still has time to be done alone, as one that waited in the group would.
    from seatctl.core.errors import busy_error
    from seatctl.storage.postgres import PostgresStore

    Venue.init(pg_url)
    write_last = PostgresStore._write_deferred
    failed: list[bool] = []

    def times_out_once(self: PostgresStore) -> None:
        if not failed:
            failed.append(True)
            raise busy_error(self.location, [])
        write_last(self)

    monkeypatch.setattr(PostgresStore, "_write_deferred", times_out_once)
    running = Worker(pg_url)
    running.start()
    try:
        views = asyncio.run(running.write(lambda venue: venue.lock(["1"], "alice")))
    finally:
        running.stop()
    assert failed and [view.seat for view in views] == ["1"]
    with Venue.open(pg_url) as venue:
        assert [(e.action, e.seat) for e in venue.history() if e.user == "alice"] == [("lock", "1")]

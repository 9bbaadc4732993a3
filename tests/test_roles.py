"""Roles over HTTP (issue 21), on both backends: a buyer sees other people's seats without
their names on every read and on the change stream, staff see everything, act for customers
(`user` and `by` in the history), block, unblock, cancel and read the summary; a buyer is
403 on the staff endpoints; `--no-auth` keeps the prototype's trust."""

from __future__ import annotations

import asyncio
import json
import warnings

import pytest

from helpers import dump, frozen, seat_object
from seatctl import Venue

pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's note about httpx's successor
    from starlette.testclient import TestClient

from seatctl.server.app import create_app
from seatctl.server.live import Hub
from seatctl.server.worker import Worker

# Roles are read from each backend's tokens table, and `by` is stored in each one's history.
pytestmark = pytest.mark.backend

NOW = "2026-01-01T12:00:10Z"
LOCAL = "http://127.0.0.1:8000"  # without tokens the server answers only its own address


@pytest.fixture
def api(worker: Worker) -> TestClient:
    return TestClient(create_app(worker, auth=True))


def bearer(db: str, user: str, role: str = "buyer") -> dict[str, str]:
    with Venue.open(db) as venue:
        token, _ = venue.add_token(user, role=role)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def alice(venue_db: str) -> dict[str, str]:
    return bearer(venue_db, "alice")


@pytest.fixture
def clerk(venue_db: str) -> dict[str, str]:
    return bearer(venue_db, "clerk", "staff")


@pytest.fixture
def sold(venue_db: str) -> str:
    """Seat 1 locked by alice, seat 2 locked by bob, seat 3 booked by bob (at START + 10 s)."""
    with frozen(NOW), Venue.open(venue_db) as venue:
        venue.lock(["1"], "alice", ttl=60)
        venue.lock(["2", "3"], "bob", ttl=60)
        venue.confirm(["3"], "bob")
    return venue_db


def booking_state(db: str):
    """The database but its tokens (whose "last used" any authenticated request may stamp)."""
    state = dump(db)
    if isinstance(state, dict):
        return {table: rows for table, rows in state.items() if table != "tokens"}
    return [line for line in state if not line.startswith('INSERT INTO "tokens"')]


def by_label(seats: list[dict]) -> dict[str, dict]:
    return {seat["seat"]: seat for seat in seats}


# --- what a buyer sees -------------------------------------------------------------------


@frozen(NOW)
def test_a_buyer_sees_other_peoples_seats_without_names_on_v1_seats(api, alice, sold):
    seats = by_label(api.get("/v1/seats", headers=alice).json())
    assert seats["2"] == seat_object("2", "locked", expires_at="2026-01-01T12:01:10Z")
    assert seats["3"] == seat_object("3", "booked", booked_at=NOW)


@frozen(NOW)
def test_a_buyer_still_sees_their_own_seat_named(api, alice, sold):
    seats = by_label(api.get("/v1/seats", headers=alice).json())
    assert seats["1"] == seat_object(
        "1", "locked", locked_by="alice", expires_at="2026-01-01T12:01:10Z", held_since=NOW
    )


@frozen(NOW)
def test_a_buyer_sees_no_other_name_on_the_prototype_seats(api, alice, sold):
    seats = api.get("/seats", headers=alice).json()
    assert seats["1"] == {"status": "locked", "lockedBy": "alice"}
    assert seats["2"] == {"status": "locked", "lockedBy": None}


@frozen(NOW)
def test_staff_see_every_name(api, clerk, sold):
    seats = by_label(api.get("/v1/seats", headers=clerk).json())
    assert (seats["2"]["locked_by"], seats["3"]["booked_by"]) == ("bob", "bob")
    assert api.get("/seats", headers=clerk).json()["2"]["lockedBy"] == "bob"


@frozen(NOW)
def test_without_tokens_every_name_is_shown(worker, sold):
    open_api = TestClient(create_app(worker, auth=False), base_url=LOCAL)
    assert by_label(open_api.get("/v1/seats").json())["3"]["booked_by"] == "bob"


@frozen(NOW)
def test_a_buyer_reads_only_their_own_history(api, alice, sold):
    entries = api.get("/v1/history", headers=alice).json()
    assert {entry["user"] for entry in entries} == {"alice"}
    assert [e["action"] for e in entries if e["seat"] == "1"] == ["lock"]


@frozen(NOW)
def test_a_buyer_naming_another_user_in_the_history_is_403(api, alice, sold):
    answer = api.get("/v1/history", params={"user": "bob"}, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")


@frozen(NOW)
def test_a_buyer_is_not_told_who_holds_a_seat_it_cannot_lock(api, alice, sold):
    refused = api.post("/v1/lock", json={"seats": ["2"]}, headers=alice)
    assert refused.status_code == 409
    assert "bob" not in refused.text


# --- the change stream -------------------------------------------------------------------


def stream_scope(headers: dict[str, str]) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": "/v1/stream",
        "raw_path": b"/v1/stream",
        "query_string": b"",
        "headers": [(b"authorization", headers["Authorization"].encode())],
    }


def messages(chunks: list[bytes]) -> list[tuple[str, dict]]:
    """The (event, data) of every SSE message with data."""
    found = []
    for block in b"".join(chunks).decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            found.append((lines.get("event", "message"), json.loads(lines["data"])))
    return found


def watch(worker: Worker, headers: dict[str, str], then, count: int) -> list[tuple[str, dict]]:
    """Open a stream, call `then()` once the snapshot has come, and return the messages once
    `count` of them have come."""
    hub = Hub(worker.db, worker)
    chunks: list[bytes] = []
    gone, enough, started = asyncio.Event(), asyncio.Event(), asyncio.Event()
    requested: list[bool] = []

    async def receive() -> dict:
        if not requested:
            requested.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            chunks.append(message["body"])
            started.set()
            if len(messages(chunks)) >= count:
                enough.set()

    async def run() -> None:
        app = create_app(worker, auth=True, hub=hub)
        task = asyncio.create_task(app(stream_scope(headers), receive, send))
        try:
            await asyncio.wait_for(started.wait(), 30)
            await asyncio.to_thread(then)
            await asyncio.wait_for(enough.wait(), 30)
        finally:
            gone.set()
            await asyncio.wait_for(task, 30)

    try:
        asyncio.run(run())
    finally:
        hub.close()
    return messages(chunks)


def test_the_stream_snapshot_hides_other_names_from_a_buyer(worker, alice, venue_db):
    with Venue.open(venue_db) as venue:  # on the real clock, as the stream reads it
        venue.lock(["1"], "alice", ttl=3600)
        venue.lock(["2", "3"], "bob", ttl=3600)
        venue.confirm(["3"], "bob")
    (kind, snapshot), *_ = watch(worker, alice, lambda: None, 1)
    seats = by_label(snapshot["seats"])
    assert kind == "snapshot"
    assert (seats["1"]["locked_by"], seats["2"]["locked_by"], seats["3"]["booked_by"]) == (
        "alice",
        None,
        None,
    )


def test_the_streams_changes_hide_other_names_from_a_buyer(worker, alice, venue_db):
    def changes() -> None:
        with Venue.open(venue_db) as venue:
            venue.lock(["4"], "bob")
            venue.lock(["5"], "alice")

    _, bobs, alices = watch(worker, alice, changes, 3)
    assert (bobs[1]["seat"], bobs[1]["status"], bobs[1]["locked_by"]) == ("4", "locked", None)
    assert (alices[1]["seat"], alices[1]["locked_by"]) == ("5", "alice")


def test_the_stream_shows_staff_every_name(worker, clerk, venue_db):
    def changes() -> None:
        with Venue.open(venue_db) as venue:
            venue.lock(["4"], "bob")

    _, (_, seat) = watch(worker, clerk, changes, 2)
    assert seat["locked_by"] == "bob"


def test_the_stream_tells_a_cancellation_as_cancel(worker, clerk, venue_db):
    with Venue.open(venue_db) as venue:
        venue.lock(["4"], "bob")
        venue.confirm(["4"], "bob")

    def cancel() -> None:
        with Venue.open(venue_db) as venue:
            venue.cancel(["4"], "refund")

    _, (kind, seat) = watch(worker, clerk, cancel, 2)
    assert (kind, seat["seat"], seat["status"]) == ("cancel", "4", "available")


# --- staff acting for a customer -----------------------------------------------------------


def test_staff_sell_a_seat_for_a_customer_and_the_history_names_both(api, clerk):
    api.post("/v1/lock", json={"seats": ["2"], "user": "carol"}, headers=clerk)
    booked = api.post("/v1/confirm", json={"seats": ["2"], "user": "carol"}, headers=clerk)
    assert booked.json()["seats"][0]["booked_by"] == "carol"
    history = api.get("/v1/history", params={"seat": "2"}, headers=clerk).json()
    assert [(e["action"], e["user"], e["by"]) for e in history] == [
        ("add", None, None),
        ("lock", "carol", "clerk"),
        ("confirm", "carol", "clerk"),
    ]


def test_staff_acting_as_themselves_record_no_by(api, clerk):
    api.post("/v1/lock", json={"seats": ["2"]}, headers=clerk)
    history = api.get("/v1/history", params={"seat": "2", "user": "clerk"}, headers=clerk)
    assert [(e["user"], e["by"]) for e in history.json()] == [("clerk", None)]


def test_a_buyer_acting_for_another_user_is_403(api, alice, venue_db):
    before = booking_state(venue_db)
    answer = api.post("/v1/lock", json={"seats": ["2"], "user": "carol"}, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")
    assert booking_state(venue_db) == before


# --- the staff endpoints -------------------------------------------------------------------

STAFF_CALLS = [
    ("POST", "/v1/block", {"seats": ["2"]}),
    ("POST", "/v1/unblock", {"seats": ["2"]}),
    ("POST", "/v1/cancel", {"seats": ["3"]}),
    ("GET", "/v1/summary", None),
]


@pytest.mark.parametrize(("method", "path", "body"), STAFF_CALLS)
def test_a_buyer_calling_a_staff_endpoint_is_403_and_changes_nothing(
    api, alice, sold, method, path, body
):
    before = booking_state(sold)
    answer = api.request(method, path, json=body, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")
    assert booking_state(sold) == before


def test_staff_block_and_unblock_a_seat(api, clerk):
    blocked = api.post("/v1/block", json={"seats": ["2"], "reason": "camera"}, headers=clerk)
    assert blocked.json()["seats"][0]["status"] == "blocked"
    unblocked = api.post("/v1/unblock", json={"seats": ["2"]}, headers=clerk)
    assert unblocked.json()["seats"][0]["status"] == "available"
    history = api.get("/v1/history", params={"seat": "2"}, headers=clerk).json()
    assert [(e["action"], e["reason"], e["by"]) for e in history[1:]] == [
        ("block", "camera", "clerk"),
        ("unblock", None, "clerk"),
    ]


@frozen(NOW)
def test_blocking_a_locked_seat_over_http_is_409(api, clerk, sold):
    answer = api.post("/v1/block", json={"seats": ["2"]}, headers=clerk)
    assert (answer.status_code, answer.json()["error"]) == (409, "locked")


def test_staff_cancel_a_booking_and_the_seat_is_available(api, clerk, sold):
    answer = api.post(
        "/v1/cancel", json={"seats": ["3"], "reason": "refund", "event": "default"}, headers=clerk
    )
    assert answer.status_code == 200
    assert answer.json()["seats"][0]["status"] == "available"
    last = api.get("/v1/history", params={"seat": "3"}, headers=clerk).json()[-1]
    assert (last["action"], last["user"], last["by"], last["reason"]) == (
        "cancel",
        "bob",
        "clerk",
        "refund",
    )


def test_cancelling_a_seat_that_is_not_booked_is_409_not_booked(api, clerk, sold):
    before = booking_state(sold)
    answer = api.post("/v1/cancel", json={"seats": ["3", "2"]}, headers=clerk)
    assert (answer.status_code, answer.json()["error"]) == (409, "not_booked")
    assert answer.json()["seats"] == [{"seat": "2", "reason": "not_booked"}]
    assert booking_state(sold) == before


def test_cancelling_an_unknown_seat_is_404(api, clerk):
    answer = api.post("/v1/cancel", json={"seats": ["99"]}, headers=clerk)
    assert (answer.status_code, answer.json()["error"]) == (404, "not_found")


def test_unblock_takes_no_reason(api, clerk):
    answer = api.post("/v1/unblock", json={"seats": ["2"], "reason": "x"}, headers=clerk)
    assert (answer.status_code, answer.json()["error"]) == (400, "usage")


@frozen(NOW)
def test_the_summary_answers_as_summary_json(api, clerk, sold, cli):
    assert api.get("/v1/summary", headers=clerk).json() == cli("summary", "--json").json()
    by_row = api.get("/v1/summary", params={"by": "row"}, headers=clerk).json()
    assert by_row == cli("summary", "--by", "row", "--json").json()


def test_an_unknown_summary_grouping_is_400(api, clerk):
    answer = api.get("/v1/summary", params={"by": "colour"}, headers=clerk)
    assert (answer.status_code, answer.json()["error"]) == (400, "usage")


# --- who am I -----------------------------------------------------------------------------


def test_me_says_a_buyers_role(api, alice):
    assert api.get("/v1/me", headers=alice).json() == {
        "user": "alice",
        "auth": "tokens",
        "role": "buyer",
    }


def test_me_says_a_staff_role(api, clerk):
    assert api.get("/v1/me", headers=clerk).json()["role"] == "staff"


def test_without_tokens_every_request_may_use_the_box_office(worker, sold):
    open_api = TestClient(create_app(worker, auth=False), base_url=LOCAL)
    assert open_api.get("/v1/me").json() == {"user": None, "auth": "none", "role": "staff"}
    assert open_api.post("/v1/cancel", json={"seats": ["3"]}).status_code == 200

"""GET /v1/stream against the real `seatctl serve` process, on both backends: the snapshot,
changes by other processes within 0.5 s, expiries within 1 s of their deadline (with nothing
written), resuming after a cut connection with nothing lost or repeated, and refusals."""

from __future__ import annotations

import queue
import random
import signal
import threading
import time
from datetime import datetime

import pytest

from helpers import dump, run_process
from seatctl import Venue
from serving import EventStream, ServerProcess

# The backend's part: changes reach the stream through each backend's notifications.
pytestmark = pytest.mark.backend

pytest.importorskip("uvicorn")

OTHER_PROCESS_BOUND = 0.5  # seconds: the promise for a change by another process
EXPIRY_BOUND = 1.0  # seconds after a lock's deadline
STREAM_START_BOUND = 0.15  # seconds from asking for a stream to its snapshot


def new_token(db: str, user: str) -> str:
    with Venue.open(db) as venue:
        return venue.add_token(user)[0]


def epoch(instant: str) -> float:
    return datetime.fromisoformat(instant).timestamp()


@pytest.fixture
def alice(venue_db: str) -> str:
    return new_token(venue_db, "alice")


@pytest.fixture
def server(venue_db: str):
    with ServerProcess(venue_db) as running:
        yield running


def test_the_stream_starts_with_a_snapshot_of_every_seat_as_v1_seats_shows_them(server, alice):
    with EventStream(server.port, alice) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        snapshot = stream.next()
        assert snapshot.event == "snapshot" and snapshot.id is not None
        assert snapshot.data["event"] == "default"
        assert snapshot.data["seats"] == server.request("GET", "/v1/seats", token=alice)[1]


@pytest.mark.alone  # timed: STREAM_START_BOUND
def test_a_new_stream_gets_its_snapshot_without_waiting_out_the_watchers_polls(server, alice):
    """Not after the server's change watcher has waited out its 0.1 s poll, once for the
    event's feed and once for the snapshot (0.13-0.2 s): a page goes live, or back to live, at
    once (0.03-0.07 s here)."""
    with EventStream(server.port, alice) as first:
        first.next()  # the watcher has its connection from here on
    for _ in range(3):  # each a new feed: the one before had no watcher left
        asked = time.time()
        with EventStream(server.port, alice) as stream:
            snapshot = stream.next()
        assert snapshot.event == "snapshot"
        assert snapshot.arrived - asked < STREAM_START_BOUND


@pytest.mark.alone  # timed: nothing else may load the machine
def test_a_change_by_another_process_arrives_within_half_a_second(server, alice, venue_db):
    with EventStream(server.port, alice) as stream:
        stream.next()  # the snapshot: the stream is running
        done = run_process("--db", venue_db, "lock", "3", "--user", "bob")
        committed = time.time()  # the command has exited: its transaction is committed
        assert done.code == 0
        change = stream.next(timeout=OTHER_PROCESS_BOUND + 5)
    assert change.event == "seat"
    # alice's token is a buyer's: bob's lock reaches her without his name.
    assert change.data["seat"] == "3" and change.data["status"] == "locked"
    assert change.data["locked_by"] is None
    assert change.arrived - committed <= OTHER_PROCESS_BOUND


def test_a_change_through_the_api_carries_its_history_event_id(server, alice):
    with EventStream(server.port, alice) as stream:
        snapshot = stream.next()
        status, answer = server.request("POST", "/v1/lock", {"seats": ["2"]}, token=alice)
        assert status == 200
        change = stream.next()
    assert change.event == "seat" and int(change.id) > int(snapshot.id)
    assert change.data == answer["seats"][0]


@pytest.mark.alone  # timed: nothing else may load the machine
def test_an_expiry_arrives_within_a_second_of_its_deadline_and_writes_nothing(
    server, alice, venue_db
):
    with EventStream(server.port, alice) as stream:
        stream.next()
        status, answer = server.request("POST", "/v1/lock", {"seats": ["4"], "ttl": 1}, token=alice)
        assert status == 200
        assert stream.next().event == "seat"
        before = dump(venue_db)
        expired = stream.next(timeout=EXPIRY_BOUND + 5)
    deadline = epoch(answer["seats"][0]["expires_at"])
    assert expired.event == "expire"
    assert expired.data["seat"] == "4" and expired.data["status"] == "available"
    assert deadline <= expired.arrived <= deadline + EXPIRY_BOUND
    assert dump(venue_db) == before  # lazy: nothing was written when the lock ran out


def test_the_expiry_matches_the_expire_event_history_shows(server, alice):
    with EventStream(server.port, alice) as stream:
        stream.next()
        server.request("POST", "/v1/lock", {"seats": ["1"], "ttl": 1}, token=alice)
        stream.next()
        expired = stream.next(timeout=EXPIRY_BOUND + 5)
    history = server.request("GET", "/v1/history?seat=1", token=alice)[1]
    assert history[-1]["action"] == "expire"
    assert expired.id is not None and expired.id.endswith(":1")
    assert int(expired.id.split(":")[1]) == epoch(history[-1]["at"])


def test_a_lock_made_before_the_stream_started_is_told_when_it_expires(server, alice):
    server.request("POST", "/v1/lock", {"seats": ["5"], "ttl": 2}, token=alice)
    with EventStream(server.port, alice) as stream:
        assert stream.next().data["seats"][4]["status"] == "locked"
        expired = stream.next(timeout=EXPIRY_BOUND + 10)
    assert (expired.event, expired.data["seat"]) == ("expire", "5")


def state_from(messages: list, start: list[dict]) -> dict[str, dict]:
    """The seats a page would show after applying the messages to the snapshot."""
    seats = {seat["seat"]: seat for seat in start}
    for message in messages:
        if message.event == "snapshot":
            seats = {seat["seat"]: seat for seat in message.data["seats"]}
        else:
            seats[message.data["seat"]] = message.data
    return seats


def test_a_reconnect_resumes_after_the_last_id_with_nothing_lost_or_repeated(
    server, alice, venue_db
):
    """Cut the connection twice while a writer is busy; reconnect with Last-Event-ID."""
    rng = random.Random(11)
    writing_done = threading.Event()

    def writer() -> None:
        for _ in range(150):
            seat = str(rng.randint(1, 5))
            verb = rng.choice(["lock", "lock", "release"])
            body = (
                {"seats": [seat], "ttl": rng.choice([1, 30])}
                if verb == "lock"
                else {"seats": [seat]}
            )
            server.request("POST", f"/v1/{verb}", body, token=alice)  # refusals are fine
        writing_done.set()

    received = []
    stream = EventStream(server.port, alice)
    snapshot = stream.next()
    first_id = int(snapshot.id)
    thread = threading.Thread(target=writer)
    thread.start()
    for _cut in range(2):
        for _ in range(25):
            received.append(stream.next())
        stream.kill()
        stream = EventStream(server.port, alice, last_id=stream.last_id)
    writing_done.wait(120)
    thread.join()
    with Venue.open(venue_db) as venue:
        history = venue.stream_state(after=first_id).events
    # Read on until every lock of the load has run out and been told (1 s bound), then
    # until the stream is quiet.
    last_deadline = max(
        e.expires_at or 0 for e in history if e.expires_at and e.expires_at < time.time() + 5
    )
    until = last_deadline + EXPIRY_BOUND + 0.5
    while True:
        try:
            received.append(stream.next(timeout=max(0.5, until - time.time())))
        except queue.Empty:
            break
    stream.kill()

    assert all(m.event in ("seat", "expire") for m in received), "no snapshot after a resume"
    seat_ids = [int(m.id) for m in received if m.event == "seat"]
    committed = [e.id for e in history if e.action.value not in ("add", "expire")]
    assert seat_ids == committed  # every change once, in commit order
    expire_ids = [m.id for m in received if m.event == "expire"]
    assert len(expire_ids) == len(set(expire_ids))
    seats_now = server.request("GET", "/v1/seats", token=alice)[1]
    assert state_from(received, snapshot.data["seats"]) == {s["seat"]: s for s in seats_now}


def test_a_last_event_id_from_nowhere_gets_a_fresh_snapshot(server, alice):
    for given in ("99999", "not-an-id", "3:x"):
        with EventStream(server.port, alice, last_id=given) as stream:
            assert stream.next().event == "snapshot"


def test_resuming_from_the_newest_id_sends_nothing_until_something_changes(server, alice):
    with EventStream(server.port, alice) as stream:
        stream.next()
        stream.next(everything=True)  # the id-only message after the snapshot
        last = stream.last_id
    with EventStream(server.port, alice, last_id=last) as stream:
        server.request("POST", "/v1/lock", {"seats": ["1"]}, token=alice)
        change = stream.next()
    assert change.event == "seat" and change.data["seat"] == "1"


def test_the_stream_needs_a_token(server):
    stream = EventStream(server.port)
    assert stream.status == 401 and stream.error["error"] == "unauthorized"


def test_an_unknown_event_is_404_not_found(server, alice):
    stream = EventStream(server.port, alice, query="?event=gala")
    assert stream.status == 404 and stream.error["error"] == "not_found"


def test_each_event_has_its_own_stream(server, alice, venue_db):
    assert run_process("--db", venue_db, "event", "add", "gala").code == 0
    with EventStream(server.port, alice, query="?event=gala") as gala:
        assert gala.next().data["event"] == "gala"
        server.request("POST", "/v1/lock", {"seats": ["1"]}, token=alice)  # default
        server.request("POST", "/v1/lock", {"seats": ["2"], "event": "gala"}, token=alice)
        change = gala.next()
    assert change.data["seat"] == "2"


def test_sigterm_ends_open_streams_and_the_server_exits_0(server, alice):
    stream = EventStream(server.port, alice)
    stream.next()
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 20  # well before the 30 s graceful-shutdown limit
    with pytest.raises(AssertionError, match="the stream ended"):
        stream.next(timeout=10)
    assert "Traceback" not in server.all_stderr()


@pytest.mark.alone  # timed: nothing else may load the machine
@pytest.mark.parametrize("db_path", ["postgres"], indirect=True)
def test_a_change_through_a_second_server_on_postgresql_arrives_within_half_a_second(
    venue_db, alice
):
    with (
        ServerProcess(venue_db) as watched,
        ServerProcess(venue_db) as other,
        EventStream(watched.port, alice) as stream,
    ):
        stream.next()
        status, _ = other.request("POST", "/v1/lock", {"seats": ["2"]}, token=alice)
        committed = time.time()  # answered only after its COMMIT
        assert status == 200
        change = stream.next(timeout=OTHER_PROCESS_BOUND + 5)
    assert change.data["seat"] == "2"
    assert change.arrived - committed <= OTHER_PROCESS_BOUND

"""The read cache of `GET /seats` and `GET /v1/seats` (`seatctl.server.cache`): a read never
shows a state older than a change committed before it arrived, by any process, and never
shows a lapsed lock as held."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import pytest

from helpers import START, frozen, run_cli
from seatctl.core.clock import parse_instant
from serving import ServerProcess

pytestmark = pytest.mark.backend  # each backend has its own change marker
pytest.importorskip("starlette")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's note about httpx's successor
    from starlette.testclient import TestClient

from seatctl.server.app import create_app  # noqa: E402
from seatctl.server.local import Local  # noqa: E402
from seatctl.server.worker import Worker  # noqa: E402

LATER = parse_instant(START) + 100


@pytest.fixture
def client(venue_db: str) -> Iterator[TestClient]:
    worker = Worker(venue_db)
    worker.start()
    # The test client names its server `testserver` (port 80): --no-auth must accept it.
    yield TestClient(create_app(worker, auth=False, local=Local(["testserver"], 80)))
    worker.stop()


def status_of(client: TestClient, seat: str, query: str = "") -> str:
    return next(s["status"] for s in client.get(f"/v1/seats{query}").json() if s["seat"] == seat)


def test_a_lock_by_another_process_between_two_reads_shows_at_once(client, venue_db):
    assert status_of(client, "3") == "available"  # read, and kept
    assert run_cli("--db", venue_db, "lock", "3", "--user", "bob").code == 0
    assert status_of(client, "3") == "locked"


def test_a_prototype_read_shows_a_lock_by_another_process_at_once(client, venue_db):
    assert client.get("/seats").json()["3"] == {"status": "available", "lockedBy": None}
    assert run_cli("--db", venue_db, "lock", "3", "--user", "bob").code == 0
    assert client.get("/seats").json()["3"] == {"status": "locked", "lockedBy": "bob"}


def test_a_lock_shows_as_held_until_its_deadline_and_lapsed_at_it(client):
    with frozen(LATER) as clock:
        lock = {"seats": ["2"], "user": "alice", "ttl": 10}
        assert client.post("/v1/lock", json=lock).status_code == 200
        assert status_of(client, "2") == "locked"
        clock.tick(9)
        assert status_of(client, "2") == "locked"
        clock.tick(1)
        assert status_of(client, "2") == "available"


def test_a_filtered_read_shows_a_seat_whose_lock_lapsed_at_its_deadline(client):
    with frozen(LATER) as clock:
        lock = {"seats": ["2"], "user": "alice", "ttl": 10}
        assert client.post("/v1/lock", json=lock).status_code == 200
        shown = [s["seat"] for s in client.get("/v1/seats?status=available").json()]
        assert "2" not in shown  # read, and kept
        clock.tick(10)
        shown = [s["seat"] for s in client.get("/v1/seats?status=available").json()]
        assert "2" in shown


def test_every_worker_shows_a_lock_made_through_another_at_once(venue_db):
    with ServerProcess(venue_db, "--no-auth", "--workers", "2") as server:
        for _ in range(5):  # every worker reads (and keeps) the listing
            assert server.request("GET", "/v1/seats")[0] == 200
        body = {"seats": ["4"], "user": "carol"}
        assert server.request("POST", "/v1/lock", body)[0] == 200
        for _ in range(10):  # fresh connections: both workers answer some of them
            seats = server.request("GET", "/v1/seats")[1]
            assert json.dumps(seats[3]).count('"locked_by": "carol"') == 1
        assert server.stop() == 0

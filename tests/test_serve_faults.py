"""`seatctl serve` through slow and failing databases (issue 18, items 2 to 5): no request
stalls another, one deadline per request, outages answered 503 with Retry-After, readiness
that follows the database, a frozen database answered within the deadline.

The outage tests stop and freeze a PostgreSQL cluster of their own (`ThrowawayCluster`), never
the shared server."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import WAITING, ThrowawayCluster, named, new_token, sql, wait_until, with_search_path
from seatctl import Venue
from serving import ServerProcess

pytest.importorskip("uvicorn")

BUDGET = 10.0  # the documented busy budget of a request, by default
TIMEOUT = 1.0  # the --request-timeout of the servers whose tests wait out the deadline
ANSWERED_BESIDE = 0.5  # a request for a free seat while another waits


class Pending:
    """A request in a thread of its own: its answer, and how long it took."""

    def __init__(self, server: ServerProcess, method: str, path: str, body: Any, token: str):
        self.answer: tuple[int, Any] | None = None
        self.headers: dict[str, str] = {}
        self.took = 0.0
        self._thread = threading.Thread(target=self._run, args=(server, method, path, body, token))
        self._thread.start()

    def _run(self, server: ServerProcess, method: str, path: str, body: Any, token: str) -> None:
        started = time.monotonic()
        self.answer, self.headers = request(server, method, path, body, token)
        self.took = time.monotonic() - started

    def result(self, timeout: float = 60.0) -> tuple[int, Any]:
        self._thread.join(timeout)
        assert self.answer is not None, "no answer"
        return self.answer


def request(
    server: ServerProcess, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[tuple[int, Any], dict[str, str]]:
    """The status and JSON body, and the headers (lower-cased names)."""
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        answer = conn.getresponse()
        found = {k.lower(): v for k, v in answer.getheaders()}
        return (answer.status, json.loads(answer.read() or b"null")), found
    finally:
        conn.close()


def timed(server: ServerProcess, method: str, path: str, body: Any = None, token: str = ""):
    started = time.monotonic()
    answer, headers = request(server, method, path, body, token)
    return answer, headers, time.monotonic() - started


# --- item 2: no head-of-line blocking ------------------------------------------------------


@pytest.fixture
def held_rows(pg_url: str) -> Iterator[Any]:
    """Hold seats' rows locked from connections of their own (another host mid-command)."""
    import psycopg

    holders: list[Any] = []

    def hold(*labels: str) -> Any:
        holder = psycopg.connect(pg_url)
        for label in labels:
            holder.execute("SELECT * FROM seats WHERE label = %s FOR UPDATE", (label,))
        holders.append(holder)
        return holder

    yield hold
    for holder in holders:
        holder.rollback()
        holder.close()


def served_on(pg_url: str, *args: str) -> Iterator[tuple[ServerProcess, str, str]]:
    """A server (`serve ARGS`) on a 20-seat venue on PostgreSQL: (the server, a token, its
    connections' application_name)."""
    Venue.init(pg_url, seats=20)
    url, name = named(pg_url)
    token = new_token(pg_url, "alice")
    with ServerProcess(url, *args) as server:
        yield server, token, name
        server.stop()


@pytest.fixture
def pg_served(pg_url: str) -> Iterator[tuple[ServerProcess, str, str]]:
    yield from served_on(pg_url)


@pytest.fixture
def pg_served_timeout(pg_url: str) -> Iterator[tuple[ServerProcess, str, str]]:
    """As `pg_served`, with `--request-timeout TIMEOUT`."""
    yield from served_on(pg_url, "--request-timeout", f"{TIMEOUT:g}")


@pytest.mark.alone  # timed: nothing else may load the machine
def test_a_free_seat_is_answered_within_half_a_second_while_another_request_waits(
    pg_served, pg_url, held_rows
):
    server, token, name = pg_served
    holder = held_rows("15")
    waiting = Pending(server, "POST", "/v1/lock", {"seats": ["15"]}, token)
    wait_until(lambda: sql(pg_url, WAITING, name))
    answer, _, took = timed(server, "POST", "/v1/lock", {"seats": ["12"]}, token)
    read, _, read_took = timed(server, "GET", "/v1/seats", None, token)
    holder.rollback()
    assert (answer[0], took < ANSWERED_BESIDE) == (200, True)
    assert (read[0], read_took < ANSWERED_BESIDE) == (200, True)
    assert waiting.result()[0] == 200


@pytest.mark.alone  # timed, and waits the whole --request-timeout
def test_requests_waiting_for_held_rows_get_503_busy_within_their_one_deadline(
    pg_served_timeout, pg_url, held_rows
):
    server, token, name = pg_served_timeout
    held_rows("15", "16")
    first = Pending(server, "POST", "/v1/lock", {"seats": ["15"]}, token)
    wait_until(lambda: sql(pg_url, WAITING, name))
    second = Pending(server, "POST", "/v1/lock", {"seats": ["16"]}, token)
    free, _, took = timed(server, "POST", "/v1/lock", {"seats": ["12"]}, token)
    for pending in (first, second):
        status, body = pending.result()
        assert (status, body["error"]) == (503, "busy")
        assert pending.headers["retry-after"] == "1"
        assert TIMEOUT - 0.5 <= pending.took <= TIMEOUT + 0.5
    assert (free[0], took < ANSWERED_BESIDE) == (200, True)


def test_a_request_answered_busy_past_its_deadline_does_not_name_the_database(venue_db):
    token = new_token(venue_db, "alice")
    with ServerProcess(venue_db, "--request-timeout", "0.5") as server:
        assert request(server, "GET", "/v1/me", None, token)[0][0] == 200  # its first use
        blocker = sqlite3.connect(venue_db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            (status, body), _ = request(server, "POST", "/v1/lock", {"seats": ["1"]}, token)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert (status, body["error"]) == (503, "busy")
    assert body["message"] == "the database is busy; try again"


def test_reads_are_answered_while_a_write_waits_for_sqlite_s_write_lock(venue_db):
    token = new_token(venue_db, "alice")
    with ServerProcess(venue_db) as server:
        # A token's first use is recorded (a write, at most once a minute): done before.
        assert request(server, "GET", "/v1/me", None, token)[0][0] == 200
        blocker = sqlite3.connect(venue_db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            waiting = Pending(server, "POST", "/v1/lock", {"seats": ["1"]}, token)
            seats, _, took = timed(server, "GET", "/v1/seats", None, token)
            history, _, history_took = timed(server, "GET", "/v1/history", None, token)
            still_waiting = waiting.answer is None
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert waiting.result() == (200, ANY), waiting.answer
    assert still_waiting
    assert (seats[0], took < ANSWERED_BESIDE) == (200, True)
    assert (history[0], history_took < ANSWERED_BESIDE) == (200, True)


# --- item 3: outages are 503, not 500 ------------------------------------------------------


def test_a_request_whose_backend_is_terminated_mid_wait_gets_503_unavailable(
    pg_served, pg_url, held_rows
):
    server, token, name = pg_served
    held_rows("15")
    waiting = Pending(server, "POST", "/v1/lock", {"seats": ["15"]}, token)
    # Past its first short try in a group: waiting alone, on a connection of its own.
    wait_until(lambda: sql(pg_url, WAITING_LONG, name))
    sql(pg_url, f"SELECT pg_terminate_backend(pid) FROM ({WAITING_LONG}) AS w", name)
    status, body = waiting.result()
    assert (status, body["error"]) == (503, "unavailable")
    assert waiting.headers["retry-after"] == "1"
    assert request(server, "POST", "/v1/lock", {"seats": ["14"]}, token)[0][0] == 200


WAITING_LONG = WAITING + " AND clock_timestamp() - query_start > interval '200 ms'"


# --- a cluster of our own: stopped, frozen ---------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    pytest.importorskip("psycopg")
    try:
        made = ThrowawayCluster()
    except (RuntimeError, AssertionError) as exc:
        pytest.skip(f"cannot make a PostgreSQL cluster here: {exc}")
    yield made
    made.remove()


def served_on_cluster(
    cluster: ThrowawayCluster, *args: str
) -> Iterator[tuple[ServerProcess, str, str]]:
    """A server (`serve ARGS`) on a 20-seat venue in a schema of its own on `cluster`: (the
    server, a token, the database URL)."""
    import psycopg

    schema = f"seatctl_test_{secrets.token_hex(6)}"
    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    url = with_search_path(cluster.url, schema)
    Venue.init(url, seats=20)
    token = new_token(url, "alice")
    with ServerProcess(url, *args) as server:
        yield server, token, url
        server.stop()


@pytest.fixture
def on_cluster(cluster: ThrowawayCluster) -> Iterator[tuple[ServerProcess, str, str]]:
    yield from served_on_cluster(cluster)


@pytest.fixture
def on_cluster_timeout(cluster: ThrowawayCluster) -> Iterator[tuple[ServerProcess, str, str]]:
    """As `on_cluster`, with `--request-timeout TIMEOUT`."""
    yield from served_on_cluster(cluster, "--request-timeout", f"{TIMEOUT:g}")


@pytest.mark.alone  # stops the cluster
def test_a_stopped_server_is_503_unavailable_and_not_ready_then_recovers(cluster, on_cluster):
    server, token, _ = on_cluster
    assert request(server, "GET", "/v1/ready")[0] == (200, {"ready": True, "version": ANY})
    cluster.stop()
    try:
        (status, body), headers, _ = timed(server, "POST", "/v1/lock", {"seats": ["1"]}, token)
        assert (status, body["error"], headers["retry-after"]) == (503, "unavailable", "1")
        read = request(server, "GET", "/v1/seats", None, token)[0]
        assert (read[0], read[1]["error"]) == (503, "unavailable")
        ready, ready_headers, ready_took = timed(server, "GET", "/v1/ready")
        assert (ready[0], ready[1]["ready"], ready_headers["retry-after"]) == (503, False, "1")
        assert ready_took < 1.5
        assert request(server, "GET", "/v1/health")[0][0] == 200  # alive all the same
    finally:
        cluster.start()
    started = time.monotonic()
    assert request(server, "POST", "/v1/lock", {"seats": ["1"]}, token)[0][0] == 200
    assert time.monotonic() - started < 0.5
    assert request(server, "GET", "/v1/ready")[0][0] == 200


@pytest.mark.alone  # freezes the cluster, waits the whole --request-timeout
def test_a_frozen_database_is_answered_within_the_deadline(cluster, on_cluster_timeout):
    import psycopg

    server, token, _ = on_cluster_timeout
    assert request(server, "GET", "/v1/seats", None, token)[0][0] == 200
    admin = psycopg.connect(cluster.url, autocommit=True)  # made before the freeze
    cluster.freeze()
    try:
        # Its connections end, and new ones hang: the postmaster answers nobody.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'seatctl' AND pid <> pg_backend_pid()"
        )
        # All at once: readiness is asked on a connection of its own, beside the requests.
        ready = Pending(server, "GET", "/v1/ready", None, "")
        answers = [
            Pending(server, "POST", "/v1/lock", {"seats": [label]}, token) for label in "123"
        ] + [Pending(server, "GET", "/v1/seats", None, token)]
        for pending in answers:
            status, body = pending.result()
            assert (status, body["error"]) in ((503, "unavailable"), (503, "busy"))
            assert pending.headers["retry-after"] == "1"
            assert pending.took <= TIMEOUT + 0.5
        assert (ready.result()[0], ready.took < 1.5) == (503, True)
    finally:
        cluster.thaw()
        admin.close()
    wait_until(lambda: request(server, "GET", "/v1/ready")[0][0] == 200, timeout=BUDGET * 3)
    assert request(server, "POST", "/v1/lock", {"seats": ["4"]}, token)[0][0] == 200


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY = _Any()

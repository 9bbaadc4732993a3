"""The real `seatctl serve` process: ready line, requests over TCP, signals, the CLI beside it,
races with CLI processes, SIGKILL in the middle of a load, and clients that misbehave."""

from __future__ import annotations

import http.client
import random
import signal
import socket
import sys
import threading
import time
from collections import defaultdict

import pytest

from helpers import dump, run_process
from seatctl import Venue
from serving import ServerProcess

pytest.importorskip("uvicorn")


def new_token(db: str, user: str) -> str:
    with Venue.open(db) as venue:
        return venue.add_token(user)[0]


@pytest.fixture
def alice(venue_db: str) -> str:
    return new_token(venue_db, "alice")


def test_serve_says_when_it_is_ready_and_answers_over_tcp(venue_db, alice):
    with ServerProcess(venue_db) as server:
        assert server.ready_line.endswith("(auth: tokens)\n")
        assert server.request("GET", "/v1/health")[0] == 200
        status, seats = server.request("GET", "/seats", token=alice)
        assert status == 200 and list(seats) == ["1", "2", "3", "4", "5"]
        status, answer = server.request("POST", "/lock", {"seatId": 2}, token=alice)
        assert (status, answer["message"]) == (200, "Seat 2 locked by alice")
        assert server.stop(signal.SIGTERM) == 0
        err = server.all_stderr()
    assert err == server.ready_line  # one line, then nothing: no traceback, no token
    assert alice not in err


def test_sigint_shuts_down_cleanly_with_exit_0(venue_db, alice):
    with ServerProcess(venue_db) as server:
        assert server.request("GET", "/v1/seats", token=alice)[0] == 200
        assert server.stop(signal.SIGINT) == 0
        assert "Traceback" not in server.all_stderr()


@pytest.mark.alone  # timed: the bound is a tenth of a second
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_server_with_nothing_in_flight_stops_at_once(venue_db, alice, sig):
    """Not after uvicorn's checks for a signal and for open connections, each 0.1 s apart
    (an operator's restart waited 0.2-0.3 s for them)."""
    with ServerProcess(venue_db) as server:
        assert server.request("GET", "/v1/seats", token=alice)[0] == 200
        signalled = time.monotonic()
        assert server.stop(sig) == 0
        assert time.monotonic() - signalled < 0.1


def test_no_auth_serves_without_tokens_on_loopback(venue_db):
    with ServerProcess(venue_db, "--no-auth") as server:
        assert server.ready_line.endswith("(auth: none)\n")
        status, answer = server.request("POST", "/lock", {"seatId": 1, "userId": "carol"})
        assert (status, answer["message"]) == (200, "Seat 1 locked by carol")
        assert server.stop() == 0


def refuses_connections(port: int) -> bool:
    """No new connection gets in: refused, or reset as the listener closes with it waiting."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_request_in_flight_when_the_signal_comes_is_answered_then_exit_0(venue_db, alice, sig):
    body = b'{"seats": ["5"]}'
    with ServerProcess(venue_db) as server:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        client.sendall(
            b"POST /v1/lock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + alice.encode() + b"\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        # "100 Continue" comes when the route starts reading the body: the request is in flight.
        assert client.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        server.proc.send_signal(sig)
        deadline = time.monotonic() + 60
        while not refuses_connections(server.port):  # shutting down: no new connections
            assert time.monotonic() < deadline, "the server never began to shut down"
            time.sleep(0.02)  # polling for the state above, not waiting out a race
        client.sendall(body)
        answer = client.makefile("rb").read()  # the whole answer, then the server closes
        client.close()
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        assert b'"locked_by":"alice"' in answer
        assert server.stop() == 0
        assert server.all_stderr() == server.ready_line
    with Venue.open(venue_db) as venue:
        assert venue.seats()[4].locked_by == "alice"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "example.com", "::"])
def test_no_auth_is_refused_unless_the_host_is_loopback(venue_db, host):
    before = dump(venue_db)
    run = run_process("--db", venue_db, "serve", "--host", host, "--no-auth")
    assert run.code == 2
    assert run.err.startswith("error: --no-auth") and "loopback" in run.err
    assert len(run.err.splitlines()) == 1
    assert dump(venue_db) == before


LOCALHOST_ELSEWHERE = """
import socket, sys
create = socket.create_server
def misconfigured(address, *args, **kwargs):  # as if a hosts file mapped localhost to 0.0.0.0
    host, port = address
    return create(("0.0.0.0" if host == "localhost" else host, port), *args, **kwargs)
socket.create_server = misconfigured
from seatctl.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.sqlite_only
def test_no_auth_is_refused_when_localhost_does_not_resolve_to_loopback(venue_db):
    import subprocess

    serve = ["serve", "--no-auth", "--host", "localhost", "--port", "0"]
    done = subprocess.run(
        [sys.executable, "-c", LOCALHOST_ELSEWHERE, "--db", venue_db, *serve],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --no-auth") and "0.0.0.0" in done.stderr
    assert len(done.stderr.splitlines()) == 1


MISSING_EXTRA = """
import sys
sys.modules["starlette"] = None  # as if the server extra were not installed
from seatctl.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.sqlite_only
def test_without_the_server_extra_serve_names_it_and_exits_2(venue_db):
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", MISSING_EXTRA, "--db", venue_db, "serve"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: serve needs the server extra (starlette): pip install 'seatctl[server]'\n"
    )


LOG_PROBE = """
import logging, threading
from seatctl.server import _quiet_logging
_quiet_logging()
try:
    1 / 0
except ZeroDivisionError:  # as the event loop reports a failed callback
    logging.getLogger("asyncio").exception("Exception in callback %s", "cb")
logging.getLogger("some.library").warning("a warning\\nover two lines")
worker = threading.Thread(target=lambda: 1 / 0, name="seatctl-db")
worker.start()
worker.join()
"""


def test_the_server_log_has_one_line_per_problem_and_never_a_traceback():
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", LOG_PROBE], capture_output=True, text=True, timeout=60
    )
    lines = done.stderr.splitlines()
    assert len(lines) == 3, done.stderr
    assert all(line.startswith("seatctl serve: ") for line in lines), done.stderr
    assert "Traceback" not in done.stderr
    assert "ZeroDivisionError" in lines[2]  # what failed, still named


AFTERMATH_PROBE = """
import logging
from seatctl.server import _quiet_logging
_quiet_logging()
psycopg = logging.getLogger("psycopg")
# What psycopg logs when a pipelined statement failed (a lock wait ran out) and ending the
# pipeline failed too; the first error is seatctl's to answer.
psycopg.warning("error ignored terminating %r: %s", "<psycopg.Pipeline [INERROR]>", "aborted")
psycopg.warning("some other warning")
"""


def test_the_server_log_leaves_out_the_aftermath_of_a_failed_pipelined_statement():
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", AFTERMATH_PROBE], capture_output=True, text=True, timeout=60
    )
    assert done.stderr == "seatctl serve: some other warning\n"


def test_serve_on_a_missing_database_is_exit_6_before_listening(db_path):
    run = run_process("--db", db_path, "serve", "--port", "0")
    assert run.code == 6
    assert run.err.startswith("error: ") and "init" in run.err
    assert len(run.err.splitlines()) == 1


@pytest.mark.sqlite_only
def test_a_port_in_use_is_a_clear_error(venue_db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = run_process("--db", venue_db, "serve", "--port", str(port))
    assert run.code == 2
    assert run.err.startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_the_cli_and_the_server_see_each_others_changes_at_once(venue_db, alice):
    with ServerProcess(venue_db) as server:
        assert run_process("--db", venue_db, "lock", "3", "--user", "bob").code == 0
        # alice's token is a buyer's: bob's lock is shown, his name is not
        assert server.request("GET", "/seats", token=alice)[1]["3"] == {
            "status": "locked",
            "lockedBy": None,
        }
        assert server.request("POST", "/v1/lock", {"seats": ["4"]}, token=alice)[0] == 200
        seats = run_process("--db", venue_db, "seats", "--json").json()
        assert seats[3]["locked_by"] == "alice"
        assert server.stop() == 0


# --- a mixed race -------------------------------------------------------------------------

ROUNDS = 12


@pytest.mark.backend  # a race, settled by the backend's locks
def test_http_clients_and_cli_processes_racing_never_double_book(venue_db):
    """4 HTTP clients and 4 CLI processes lock and confirm the same 5 seats: each seat is
    booked at most once, by whoever got the 2xx or exit 0 for it, and `check` passes."""
    tokens = {f"h{n}": new_token(venue_db, f"h{n}") for n in range(4)}
    confirmed: dict[str, list[str]] = defaultdict(list)
    guard = threading.Lock()

    with ServerProcess(venue_db) as server:

        def http_client(user: str, seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(ROUNDS):
                seat = str(rng.randint(1, 5))
                status, _ = server.request("POST", "/v1/lock", {"seats": [seat]}, tokens[user])
                if status == 200 and rng.random() < 0.5:
                    status, _ = server.request("POST", "/confirm", {"seatId": seat}, tokens[user])
                    if status == 200:
                        with guard:
                            confirmed[seat].append(user)

        def cli_client(user: str, seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(ROUNDS // 3):
                seat = str(rng.randint(1, 5))
                locked = run_process("--db", venue_db, "lock", seat, "--user", user).code == 0
                if (
                    locked
                    and run_process("--db", venue_db, "confirm", seat, "--user", user).code == 0
                ):
                    with guard:
                        confirmed[seat].append(user)

        threads = [threading.Thread(target=http_client, args=(f"h{n}", n)) for n in range(4)]
        threads += [threading.Thread(target=cli_client, args=(f"c{n}", 10 + n)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert server.stop() == 0

    with Venue.open(venue_db) as venue:
        booked = {s.seat: s.booked_by for s in venue.seats() if s.booked_by}
        assert venue.check() == []
    assert all(len(users) == 1 for users in confirmed.values()), confirmed
    assert booked == {seat: users[0] for seat, users in confirmed.items()}


@pytest.mark.backend  # each event's picks queue on the database's lock for that event
def test_two_servers_selling_two_events_by_best_seats_answer_every_buyer(db_path):
    """Two servers on one database (two hosts, on PostgreSQL) and 8 buyers taking the best 2
    seats of two events at once, confirming each pick, until neither has two seats together
    left: every pick is answered 200 or then 409 (never busy, never an error), and the seats
    booked are exactly the seats picked, each by the buyer who picked it."""
    Venue.init(db_path, seats=40)
    with Venue.open(db_path) as venue:
        venue.add_event("gala")
        tokens = [venue.add_token(f"b{n}")[0] for n in range(8)]
    picked: dict[tuple[str, str], list[str]] = defaultdict(list)
    unexpected: list[tuple[int, object]] = []
    guard = threading.Lock()

    with ServerProcess(db_path) as one, ServerProcess(db_path) as two:

        def buyer(n: int) -> None:
            server, open_events = (one, two)[n % 2], ["default", "gala"]
            while open_events:
                event = open_events[n % len(open_events)]
                body = {"best": 2, "event": event}
                status, answer = server.request("POST", "/v1/lock", body, tokens[n])
                if status == 409:
                    open_events.remove(event)
                    continue
                seats = [seat["seat"] for seat in answer["seats"]] if status == 200 else []
                body = {"seats": seats, "event": event}
                if (
                    status != 200
                    or server.request("POST", "/v1/confirm", body, tokens[n])[0] != 200
                ):
                    with guard:
                        unexpected.append((status, answer))
                    return
                with guard:
                    for seat in seats:
                        picked[(event, seat)].append(f"b{n}")

        threads = [threading.Thread(target=buyer, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert one.stop() == 0 and two.stop() == 0

    assert unexpected == []
    assert all(len(buyers) == 1 for buyers in picked.values()), picked
    with Venue.open(db_path) as venue:
        seats = [(event, s) for event in ("default", "gala") for s in venue.seats(event=event)]
        assert venue.check() == []
    booked = {(event, s.seat): s.booked_by for event, s in seats if s.booked_by}
    assert booked == {key: buyers[0] for key, buyers in picked.items()}
    left = {(event, int(s.seat)) for event, s in seats if s.status == "available"}
    assert not any((event, number + 1) in left for event, number in left)  # no two together


# --- durability ---------------------------------------------------------------------------


def test_every_write_answered_2xx_survives_sigkill(db_path):
    """Writers lock and confirm distinct seats as fast as they can; the server is killed
    mid-load. Every lock and confirm that got a 2xx is in the database afterwards."""
    Venue.init(db_path, seats=400)
    tokens = {f"w{n}": new_token(db_path, f"w{n}") for n in range(6)}
    answered: list[tuple[str, str, str]] = []  # (action, seat, user) that got a 2xx
    guard = threading.Lock()
    enough = threading.Event()

    with ServerProcess(db_path) as server:

        def writer(n: int) -> None:
            user = f"w{n}"
            for seat in range(n + 1, 401, 6):
                try:
                    for verb in ("lock", "confirm"):
                        status, _ = server.request(
                            "POST", f"/v1/{verb}", {"seats": [str(seat)]}, tokens[user], timeout=30
                        )
                        if status != 200:
                            return
                        with guard:
                            answered.append((verb, str(seat), user))
                            if len(answered) >= 120:
                                enough.set()
                except (OSError, http.client.HTTPException):  # the server is gone, perhaps
                    return  # mid-answer (IncompleteRead): such a write does not count

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        assert enough.wait(timeout=120), "the load never got going"
        server.proc.kill()  # SIGKILL, in the middle of the load
        server.proc.wait(timeout=60)
        for thread in threads:
            thread.join()

    with Venue.open(db_path) as venue:
        seats = {s.seat: s for s in venue.seats()}
        events = {(e.action.value, e.seat, e.user) for e in venue.history()}
        assert venue.check() == []
    assert len(answered) >= 120
    for verb, seat, user in answered:
        assert (verb, seat, user) in events, (verb, seat, user)
        if verb == "confirm":
            assert seats[seat].booked_by == user
    with ServerProcess(db_path) as again:  # and it serves again
        status, listing = again.request("GET", "/v1/seats", token=tokens["w0"])
        assert status == 200 and len(listing) == 400
        assert again.stop() == 0


# --- misbehaving clients ------------------------------------------------------------------


def test_a_stalled_client_does_not_stop_the_server(venue_db, alice):
    with ServerProcess(venue_db) as server:
        slow_headers = socket.create_connection(("127.0.0.1", server.port))
        slow_headers.sendall(b"GET /v1/seats HTTP/1.1\r\nHost: x\r\n")  # never finished
        slow_body = socket.create_connection(("127.0.0.1", server.port))
        slow_body.sendall(
            b"POST /v1/lock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + alice.encode() + b"\r\nContent-Length: 100\r\n\r\n{"
        )
        try:
            assert server.request("GET", "/v1/seats", token=alice)[0] == 200
            assert server.request("POST", "/v1/lock", {"seats": ["1"]}, token=alice)[0] == 200
        finally:
            slow_headers.close()
            slow_body.close()
        assert server.request("GET", "/v1/health")[0] == 200
        assert server.stop() == 0


def test_garbage_on_the_wire_is_answered_or_dropped_and_the_server_goes_on(venue_db, alice):
    with ServerProcess(venue_db) as server:
        for junk in (b"\x00\xff garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"A" * 70000):
            with socket.create_connection(("127.0.0.1", server.port), timeout=60) as raw:
                raw.sendall(junk)
                raw.shutdown(socket.SHUT_WR)
                answer = raw.recv(100)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
        status, _ = server.request("POST", "/v1/lock", {"seats": ["2"]}, token=alice)
        assert status == 200
        assert server.stop() == 0
        assert "Traceback" not in server.all_stderr()

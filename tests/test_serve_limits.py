"""What one client may cost the real `seatctl serve` process, driven over real sockets: the
head of a request (size and time), connections in all and per client, streams per token and in
all, and a stream whose client does not read. Memory is the server's RSS, from /proc."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

import pytest

from seatctl import Venue
from serving import EventStream, ServerProcess

pytest.importorskip("uvicorn")
pytestmark = pytest.mark.sqlite_only  # the limits are the server's; the backend plays no part

MB = 1024 * 1024


def rss(pid: int) -> int:
    """The process's resident memory, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def new_token(db: str, user: str) -> str:
    with Venue.open(db) as venue:
        return venue.add_token(user)[0]


def connect(port: int, source: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout, (source, 0))


def health(sock: socket.socket) -> bytes:
    """One kept-alive `GET /v1/health` on `sock`: its status line."""
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head.split(b"\r\n", 1)[0]


def read_to_end(sock: socket.socket, most: int = 64 * MB, within: float = 60.0) -> bytes:
    """Everything the server sends until it closes (or resets) the connection; a server that
    keeps it open past `within` seconds fails the test instead of hanging it."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + within
    try:
        while size < most and (chunk := sock.recv(65536)):
            assert time.monotonic() < deadline, f"the connection was still open after {within} s"
            chunks.append(chunk)
            size += len(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


@pytest.fixture
def alice(venue_db: str) -> str:
    return new_token(venue_db, "alice")


# --- the head of a request ------------------------------------------------------------------


def test_a_head_over_16_kib_is_431(venue_db):
    with ServerProcess(venue_db) as server, connect(server.port) as sock:
        filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + filler * 17 + b"\r\n")
        assert read_to_end(sock).startswith(b"HTTP/1.1 431 ")


def test_a_head_just_under_16_kib_is_served(venue_db):
    with ServerProcess(venue_db) as server, connect(server.port) as sock:
        filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + filler * 15 + b"\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_endless_headers_on_four_connections_leave_the_servers_memory_flat(venue_db):
    with ServerProcess(venue_db) as server:
        before = rss(server.proc.pid)
        line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        closed = 0
        for _ in range(4):
            with connect(server.port) as sock:
                sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
                try:
                    for _ in range(128):  # 8 MB of headers that never end
                        sock.sendall(line * 64)
                except OSError:  # the server closed it: what it had is gone
                    closed += 1
        grown = rss(server.proc.pid) - before
        assert server.request("GET", "/v1/health")[0] == 200
    assert grown < 16 * MB, f"the server grew by {grown / MB:.0f} MB"
    assert closed == 4


def test_the_header_limit_is_an_option(venue_db):
    with (
        ServerProcess(venue_db, "--max-header-bytes", "2048") as server,
        connect(server.port) as sock,
    ):
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 3000 + b"\r\n\r\n")
        assert read_to_end(sock).startswith(b"HTTP/1.1 431 ")


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(venue_db):
    with ServerProcess(venue_db, "--header-timeout", "1") as server, connect(server.port) as sock:
        started = time.monotonic()
        answer = read_to_end(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 0.9 < waited < 5


def test_a_half_sent_head_is_closed_after_the_header_timeout_even_if_it_trickles(venue_db):
    with ServerProcess(venue_db, "--header-timeout", "1") as server, connect(server.port) as sock:
        started = time.monotonic()
        try:
            for byte in b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
                sock.sendall(bytes([byte]))  # a byte every 0.1 s: never a whole head
                time.sleep(0.1)
        except OSError:
            pass
        answer = read_to_end(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert waited < 5


def test_a_kept_alive_connection_gets_the_header_timeout_for_its_next_request(venue_db):
    with ServerProcess(venue_db, "--header-timeout", "1") as server, connect(server.port) as sock:
        assert health(sock) == b"HTTP/1.1 200 OK"
        sock.sendall(b"GET /v1/health HTTP/1.1\r\n")  # and no more
        started = time.monotonic()
        answer = read_to_end(sock)
        assert time.monotonic() - started < 5
    assert answer.startswith(b"HTTP/1.1 408 ")


# --- connections ----------------------------------------------------------------------------


def test_past_the_connection_limit_a_connection_is_503_and_closed(venue_db):
    args = ("--max-connections", "3", "--max-client-connections", "0")
    with ServerProcess(venue_db, *args) as server:
        held = [connect(server.port) for _ in range(3)]
        try:
            assert [health(sock) for sock in held] == [b"HTTP/1.1 200 OK"] * 3
            with connect(server.port) as extra:
                answer = read_to_end(extra)
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b"retry-after: 1" in answer.lower()
        finally:
            for sock in held:
                sock.close()


def test_past_the_per_client_limit_that_client_is_refused_and_others_are_served(venue_db):
    with ServerProcess(venue_db, "--max-client-connections", "2") as server:
        held = [connect(server.port) for _ in range(2)]
        try:
            assert [health(sock) for sock in held] == [b"HTTP/1.1 200 OK"] * 2
            with connect(server.port) as extra:
                assert read_to_end(extra).startswith(b"HTTP/1.1 503 ")
            with connect(server.port, source="127.0.0.2") as other:
                assert health(other) == b"HTTP/1.1 200 OK"
        finally:
            for sock in held:
                sock.close()


def test_idle_connections_do_not_lock_everyone_out(venue_db):
    # The report: 300 idle connections to a server under `ulimit -n 256` left no descriptor
    # for anyone. Now they are timed out, and the cap keeps them under the descriptor limit.
    args = ("--header-timeout", "1", "--max-client-connections", "0", "--max-connections", "50")
    with ServerProcess(venue_db, *args) as server:
        idle = [connect(server.port) for _ in range(60)]
        try:
            for sock in idle:
                read_to_end(sock)  # each one 408 after a second, or 503 at once
            assert server.request("GET", "/v1/health", timeout=5)[0] == 200
        finally:
            for sock in idle:
                sock.close()


# --- streams --------------------------------------------------------------------------------


def test_past_the_streams_per_token_a_stream_is_429_with_retry_after(venue_db, alice):
    bob = new_token(venue_db, "bob")
    with (
        ServerProcess(venue_db, "--max-token-streams", "2") as server,
        EventStream(server.port, alice),
        EventStream(server.port, alice),
    ):
        with EventStream(server.port, alice) as third:
            assert third.status == 429
            assert third.headers["retry-after"].isdigit()
            assert third.error["error"] == "too_many"
        with EventStream(server.port, bob) as others:
            assert others.status == 200


def test_without_tokens_only_the_limit_in_all_applies(venue_db):
    with (
        ServerProcess(venue_db, "--no-auth", "--max-token-streams", "1") as server,
        EventStream(server.port) as first,
        EventStream(server.port) as second,
    ):
        assert (first.status, second.status) == (200, 200)


def test_past_the_streams_in_all_a_stream_is_429(venue_db, alice):
    bob, carol = new_token(venue_db, "bob"), new_token(venue_db, "carol")
    with (
        ServerProcess(venue_db, "--max-streams", "2") as server,
        EventStream(server.port, alice),
        EventStream(server.port, bob),
        EventStream(server.port, carol) as third,
    ):
        assert third.status == 429


def test_a_closed_stream_no_longer_counts(venue_db, alice):
    with ServerProcess(venue_db, "--max-token-streams", "1") as server:
        with EventStream(server.port, alice) as first:
            first.next()
        deadline = time.monotonic() + 10  # the server learns of the close asynchronously
        while True:
            with EventStream(server.port, alice) as again:
                if again.status == 200 or time.monotonic() > deadline:
                    break
        assert again.status == 200


@pytest.fixture
def large_venue(db_path: str) -> Iterator[str]:
    """20,000 seats: a snapshot of about 3.6 MB."""
    Venue.init(db_path, seats=20_000)
    yield db_path


def unread_stream(port: int, token: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # takes next to nothing
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        b"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\n\r\n"
    )
    return sock


def test_streams_that_never_read_are_dropped_and_cost_no_memory_nor_others_time(large_venue):
    token = new_token(large_venue, "alice")
    args = ("--stream-timeout", "1", "--max-token-streams", "100")
    with ServerProcess(large_venue, *args) as server:
        before = rss(server.proc.pid)
        socks = [unread_stream(server.port, token) for _ in range(60)]
        try:
            started = time.monotonic()
            status, me = server.request("GET", "/v1/me", token=token, timeout=30)
            me_took = time.monotonic() - started
            assert (status, me["user"]) == (200, "alice")
            time.sleep(3)  # the clients read nothing for 3 s, past the stream timeout
            held = rss(server.proc.pid)
            # Each connection was dropped by the server: what it got is far from a snapshot.
            received = [len(read_to_end(sock)) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        after = rss(server.proc.pid)
        assert server.request("GET", "/v1/health")[0] == 200
    assert held - before < 30 * MB, f"grew by {(held - before) / MB:.0f} MB"
    assert after - before < 30 * MB
    assert max(received) < 2 * MB, received
    assert me_took < 2.0, f"GET /v1/me took {me_took:.1f} s"


def test_a_stream_that_reads_gets_the_whole_large_snapshot(large_venue):
    token = new_token(large_venue, "alice")
    with (
        ServerProcess(large_venue, "--stream-buffer", "65536") as server,
        EventStream(server.port, token) as stream,
    ):
        snapshot = stream.next(timeout=60)
    assert snapshot.event == "snapshot"
    assert len(snapshot.data["seats"]) == 20_000


# --- the token of an open stream -----------------------------------------------------------


def test_an_open_stream_ends_within_seconds_of_its_tokens_revocation(venue_db):
    with Venue.open(venue_db) as venue:
        token, record = venue.add_token("alice")
    with ServerProcess(venue_db) as server, EventStream(server.port, token) as stream:
        assert stream.next().event == "snapshot"
        with Venue.open(venue_db) as venue:
            venue.revoke_token(record.id)
        revoked = time.monotonic()
        last = stream.next(timeout=10)
        assert time.monotonic() - revoked < 5
        assert last.event == "end"
        assert last.data["error"] == "unauthorized"
        assert "revoked" in last.data["message"]
        assert stream.messages.get(timeout=10) is None  # and then the stream ends
        assert server.request("GET", "/v1/me", token=token)[0] == 401


def test_an_open_stream_ends_within_seconds_of_its_tokens_expiry(venue_db):
    with Venue.open(venue_db) as venue:
        token, record = venue.add_token("alice", expires_in=2)
    with ServerProcess(venue_db) as server, EventStream(server.port, token) as stream:
        assert stream.next().event == "snapshot"
        last = stream.next(timeout=15)
        assert time.time() - (record.expires_at or 0) < 5
        assert (last.event, last.data["error"]) == ("end", "unauthorized")
        assert "expired" in last.data["message"]
        assert stream.messages.get(timeout=10) is None


def test_other_streams_go_on_when_one_token_is_revoked(venue_db):
    with Venue.open(venue_db) as venue:
        token, record = venue.add_token("alice")
        kept = venue.add_token("bob")[0]
    with (
        ServerProcess(venue_db) as server,
        EventStream(server.port, token) as gone,
        EventStream(server.port, kept) as stays,
    ):
        gone.next(), stays.next()
        with Venue.open(venue_db) as venue:
            venue.revoke_token(record.id)
        assert gone.next(timeout=10).event == "end"
        server.request("POST", "/v1/lock", {"seats": ["1"]}, token=kept)
        assert stays.next(timeout=10).event == "seat"


# --- TLS -------------------------------------------------------------------------------------


OPENSSL = ("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1")
OPENSSL += ("-subj", "/CN=127.0.0.1")


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    import subprocess

    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(
        [*OPENSSL, "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_certfile_and_keyfile_serve_https(venue_db, certificate):
    import ssl

    cert, key = certificate
    with ServerProcess(venue_db, "--certfile", cert, "--keyfile", key) as server:
        assert "on https://127.0.0.1:" in server.ready_line
        context = ssl.create_default_context(cafile=cert)
        context.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=30)
        conn.request("GET", "/v1/health")
        assert conn.getresponse().status == 200
        conn.close()

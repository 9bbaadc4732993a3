"""What the server answers a client that probes it (issue 19): `--no-auth` against other
origins, the token checked before anything else, answers that name no path, no redirect
built from `Host`, unknown query parameters, other users in the query, and `no-store`."""

from __future__ import annotations

import warnings

import pytest

from helpers import booking_state, run_process
from seatctl import Venue

pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's note about httpx's successor
    from starlette.testclient import TestClient


from seatctl.server.app import create_app
from seatctl.server.worker import Worker

pytestmark = pytest.mark.sqlite_only  # the server's own rules: the backend plays no part
LOCAL = "http://127.0.0.1:8000"  # the address a --no-auth app made without one accepts


@pytest.fixture
def api(worker: Worker) -> TestClient:
    return TestClient(create_app(worker, auth=True))


@pytest.fixture
def open_api(worker: Worker) -> TestClient:
    return TestClient(create_app(worker, auth=False), base_url=LOCAL)


@pytest.fixture
def alice(venue_db: str) -> dict[str, str]:
    with Venue.open(venue_db) as venue:
        return {"Authorization": f"Bearer {venue.add_token('alice')[0]}"}


BAD_TOKEN = {"Authorization": "Bearer stk_not-a-real-token"}

# --- --no-auth: only this machine's own pages -------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/seats", "/seats", "/v1/history", "/", "/v1/health"])
def test_no_auth_refuses_a_foreign_host_on_every_endpoint_reads_too(open_api, path):
    answer = open_api.get(path, headers={"Host": "evil.example:8000"})
    assert answer.status_code == 403
    assert "evil" not in answer.text


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST:8000"])
def test_no_auth_serves_its_own_loopback_names(open_api, host):
    assert open_api.get("/v1/seats", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1:9999", "http://localhost"]
)
def test_no_auth_refuses_a_foreign_origin_on_reads_and_changes(open_api, venue_db, origin):
    before = booking_state(venue_db)
    read = open_api.get("/v1/seats", headers={"Origin": origin})
    change = open_api.post(
        "/lock", json={"seatId": 1, "userId": "victim"}, headers={"Origin": origin}
    )
    assert (read.status_code, change.status_code) == (403, 403)
    assert booking_state(venue_db) == before


def test_no_auth_serves_a_page_of_its_own_origin(open_api):
    answer = open_api.post(
        "/v1/lock", json={"seats": ["1"], "user": "carol"}, headers={"Origin": LOCAL}
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_no_auth_refuses_a_change_not_sent_as_json(open_api, venue_db, content_type):
    # What a cross-origin form or a `fetch` with mode "no-cors" can send without a preflight.
    before = booking_state(venue_db)
    headers = {"Content-Type": content_type} if content_type else {}
    answer = open_api.post("/lock", content=b'{"seatId": 1, "userId": "victim"}', headers=headers)
    assert answer.status_code == 415
    assert booking_state(venue_db) == before


def test_no_auth_takes_json_with_a_charset(open_api):
    headers = {"Content-Type": "application/json; charset=utf-8"}
    answer = open_api.post("/lock", content=b'{"seatId": 1, "userId": "carol"}', headers=headers)
    assert answer.status_code == 200


def test_no_auth_refuses_a_dns_rebinding_host_on_the_real_server(venue_db):
    import http.client

    from serving import ServerProcess

    with ServerProcess(venue_db, "--no-auth") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", "/v1/history", headers={"Host": f"rebound.example:{server.port}"})
        assert conn.getresponse().status == 403
        conn.close()
        assert server.request("GET", "/v1/history")[0] == 200


# --- the token before anything else ---------------------------------------------------------


@pytest.mark.parametrize("token", [BAD_TOKEN, {}], ids=["unknown token", "no token"])
@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", "/v1/lock", b"not json"),
        ("POST", "/v1/lock", b'{"seats": ["1"], "tll": 5}'),
        ("POST", "/v1/lock", b'{"seats": ["' + b"1" * 100_000 + b'"]}'),
        ("POST", "/lock", b'{"seatId": []}'),
        ("GET", "/v1/seats?status=bogus", None),
        ("GET", "/v1/seats?sattus=booked", None),
        ("GET", "/v1/history?since=yesterday", None),
        ("GET", "/v1/history?limit=-1", None),
        ("GET", "/v1/stream?event=a&event=b", None),
        ("GET", "/v1/me?x=1", None),
    ],
)
def test_a_request_without_a_valid_token_is_401_whatever_else_is_wrong(
    api, token, method, path, content
):
    headers = {**token, "Content-Type": "application/json"}
    answer = api.request(method, path, content=content, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_a_valid_token_still_gets_the_400_of_a_bad_body(api, alice):
    answer = api.post("/v1/lock", content=b"not json", headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (400, "usage")


# --- answers name no path and echo little -------------------------------------------------


def test_a_busy_answer_does_not_name_the_database(api, alice, monkeypatch, venue_db):
    from seatctl.core.errors import Reason, database_error
    from seatctl.venue import Venue as VenueClass

    def busy(*args, **kwargs):
        raise database_error(Reason.BUSY, f"{venue_db} is still busy after waiting; try again")

    monkeypatch.setattr(VenueClass, "lock", busy)
    answer = api.post("/v1/lock", json={"seats": ["1"]}, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (503, "busy")
    assert venue_db not in answer.text and "venue.db" not in answer.text


def test_an_unknown_path_is_404_without_echoing_it(api, alice):
    answer = api.get("/v1/<script>alert(1)</script>", headers=alice)
    assert answer.status_code == 404
    assert "script" not in answer.text


def test_an_over_long_since_is_echoed_cut_short(api, alice):
    since = "2026-" + "9" * 5000
    answer = api.get("/v1/history", params={"since": since}, headers=alice)
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert "9" * 41 not in message and "…" in message
    assert len(message) < 200


def test_an_unknown_query_parameter_is_echoed_cut_short(api, alice):
    answer = api.get("/v1/seats", params={"x" * 1000: "1"}, headers=alice)
    assert answer.status_code == 400
    assert len(answer.json()["message"]) < 200


# --- no redirect from Host ------------------------------------------------------------------


def test_a_trailing_slash_is_404_not_a_redirect_to_the_clients_host(api, alice):
    headers = {**alice, "Host": "evil.example"}
    answer = api.get("/v1/seats/", headers=headers, follow_redirects=False)
    assert answer.status_code == 404
    assert "location" not in answer.headers


# --- query parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/seats?sattus=booked",
        "/v1/history?limt=1",
        "/seats?event=fri",
        "/v1/events?event=default",
        "/v1/me?usr=alice",
        "/v1/stream?evnt=default",
        "/v1/health?x=1",
    ],
)
def test_an_unknown_query_parameter_is_400(api, alice, path):
    answer = api.get(path, headers=alice)
    assert answer.status_code == 400
    body = answer.json()
    assert "unknown query parameter" in (body.get("message") or body.get("error"))


@pytest.mark.parametrize("path", ["/v1/lock?ttl=5", "/lock?x=1"])
def test_a_query_on_a_change_is_400_and_changes_nothing(api, alice, venue_db, path):
    before = booking_state(venue_db)
    body = {"seats": ["1"]} if path.startswith("/v1") else {"seatId": 1}
    assert api.post(path, json=body, headers=alice).status_code == 400
    assert booking_state(venue_db) == before


@pytest.mark.parametrize("path", ["/v1/me", "/v1/events", "/v1/stream"])
def test_naming_another_user_in_the_query_is_403_on_every_endpoint(api, alice, path):
    answer = api.get(path, params={"user": "bob"}, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")


@pytest.mark.parametrize("path", ["/v1/me", "/v1/events"])
def test_naming_ones_own_user_in_the_query_is_allowed(api, alice, path):
    assert api.get(path, params={"user": "alice"}, headers=alice).status_code == 200


# --- caching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"), [("/v1/seats", 200), ("/seats", 200), ("/v1/nothing", 404)]
)
def test_api_answers_are_not_stored_by_caches(api, alice, path, status):
    answer = api.get(path, headers=alice)
    assert answer.status_code == status
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_401_is_not_stored_either(api):
    assert api.get("/v1/seats").headers["Cache-Control"] == "no-store"


# --- TLS --------------------------------------------------------------------------------------


def test_a_certificate_without_its_key_is_exit_2(venue_db, tmp_path):
    done = run_process("--db", venue_db, "serve", "--port", "0", "--certfile", "cert.pem")
    assert done.code == 2
    assert "--keyfile" in done.err


def test_an_unreadable_certificate_is_exit_2_before_listening(venue_db, tmp_path):
    missing = str(tmp_path / "none.pem")
    args = ("--certfile", missing, "--keyfile", missing)
    done = run_process("--db", venue_db, "serve", "--port", "0", *args)
    assert done.code == 2
    assert "cannot use --certfile/--keyfile" in done.err
    assert "Traceback" not in done.err


def test_plain_http_on_a_network_address_is_warned_about():
    from seatctl.server import plain_http_warning

    assert "plain HTTP" in (plain_http_warning("192.0.2.7", tls=False) or "")
    assert plain_http_warning("192.0.2.7", tls=True) is None
    assert plain_http_warning("127.0.0.1", tls=False) is None
    assert plain_http_warning("::1", tls=False) is None


@pytest.mark.parametrize(
    "option", ["--max-header-bytes", "--max-connections", "--max-streams", "--stream-timeout"]
)
def test_a_limit_out_of_range_is_exit_2(venue_db, option):
    done = run_process("--db", venue_db, "serve", "--port", "0", option, "0")
    assert done.code == 2
    assert option in done.err


def test_a_timeout_out_of_range_says_its_seconds_may_have_a_fraction(venue_db):
    done = run_process("--db", venue_db, "serve", "--port", "0", "--header-timeout", "4000.5")
    said = "error: invalid --header-timeout 4000.5: use more than 0, at most 3600\n"
    assert (done.code, done.err) == (2, said)


@pytest.mark.parametrize("seconds", ["0", "-1", "3601"])
def test_a_request_timeout_out_of_range_is_exit_2_with_one_line(venue_db, seconds):
    done = run_process("--db", venue_db, "serve", "--port", "0", "--request-timeout", seconds)
    said = f"error: invalid --request-timeout {seconds}: use more than 0, at most 3600\n"
    assert (done.code, done.err) == (2, said)

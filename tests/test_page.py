"""The seat-map page's server side: `GET /` serves one self-contained page
under a policy that runs only its own code; `GET /v1/me`, `GET /v1/events` and best available
over `POST /v1/lock` are the API it uses. tests/test_page_browser.py drives the page itself."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import START, booking_state, frozen
from seatctl import Venue

pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's note about httpx's successor
    from starlette.testclient import TestClient

from seatctl.server.app import create_app
from seatctl.server.worker import Worker

HALL = """\
label,section,row,number,category
S-A1,Stalls,A,1,premium
S-A2,Stalls,A,2,premium
S-A3,Stalls,A,3,premium
C-A1,Circle,A,1,standard
C-A2,Circle,A,2,standard
C-A3,Circle,A,3,standard
"""
LATER = "2026-01-01T12:00:10Z"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hall(db_path: str, tmp_path: Path) -> str:
    path = tmp_path / "hall.csv"
    path.write_text(HALL)
    with frozen(START):
        Venue.init(db_path, seat_map=str(path))
    return db_path


@pytest.fixture
def served(hall: str) -> Iterator[Worker]:
    running = Worker(hall)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def api(served: Worker) -> TestClient:
    return TestClient(create_app(served, auth=True))


@pytest.fixture
def alice(hall: str) -> dict[str, str]:
    with Venue.open(hall) as venue:
        return {"Authorization": f"Bearer {venue.add_token('alice')[0]}"}


# --- the page ---------------------------------------------------------------------------


def test_the_page_is_html_served_without_a_token(api):
    answer = api.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Seat map - seatctl</title>" in answer.text


def test_the_page_loads_nothing_from_another_host(api):
    page = api.get("/").text
    assert re.findall(r"(?:src|href)\s*=\s*[\"']?(?!data:)[a-z]+:", page) == []
    assert "@import" not in page and "@font-face" not in page
    assert "//" not in "".join(re.findall(r"url\(([^)]*)\)", page))
    assert re.findall(r"https?://", page) == []


def test_the_pages_policy_runs_only_its_own_inline_script_and_style(api):
    answer = api.get("/")
    policy = dict(
        part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    for kind in ("script", "style"):
        blocks = re.findall(rf"<{kind}>(.*?)</{kind}>", answer.text, re.DOTALL)
        assert len(blocks) == 1
        digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
        assert policy[f"{kind}-src"] == f"'sha256-{digest}'"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_the_page_reads_the_token_from_session_storage_and_sends_it_only_in_a_header(api):
    page = api.get("/").text
    assert "sessionStorage" in page and "localStorage" not in page
    assert "new EventSource" not in page
    assert '"Bearer " + state.token' in page
    assert "token=" not in page  # never a query parameter


def test_the_page_is_package_data_of_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = config["tool"]["setuptools"]["package-data"]["seatctl.server"]
    page = ROOT / "seatctl" / "server" / "static" / "seatmap.html"
    assert any(page.match(f"seatctl/server/{pattern}") for pattern in shipped)


# --- who am I, which events --------------------------------------------------------------


def test_me_names_the_tokens_user(api, alice):
    answer = api.get("/v1/me", headers=alice)
    expected = {"user": "alice", "auth": "tokens", "role": "buyer"}
    assert (answer.status_code, answer.json()) == (200, expected)


def test_me_without_a_token_is_401(api):
    answer = api.get("/v1/me")
    assert (answer.status_code, answer.json()["error"]) == (401, "unauthorized")


def test_me_on_a_server_without_tokens_names_nobody(served):
    answer = TestClient(create_app(served, auth=False), base_url="http://127.0.0.1:8000").get(
        "/v1/me"
    )
    expected = {"user": None, "auth": "none", "role": "staff"}  # every request is trusted
    assert (answer.status_code, answer.json()) == (200, expected)


def test_events_are_the_cli_event_list(api, alice, cli):
    assert cli("event", "add", "gala", "--title", "Gala night").code == 0
    answer = api.get("/v1/events", headers=alice)
    assert answer.status_code == 200
    assert answer.json() == cli("event", "list", "--json").json()
    assert [event["event"] for event in answer.json()] == ["default", "gala"]


def test_events_need_a_token(api):
    assert api.get("/v1/events").status_code == 401


# --- best available ----------------------------------------------------------------------


@frozen(LATER)
def test_lock_best_locks_the_seats_the_cli_would_choose(api, alice):
    answer = api.post("/v1/lock", json={"best": 2}, headers=alice)
    assert answer.status_code == 200, answer.text
    seats = answer.json()["seats"]
    assert [seat["seat"] for seat in seats] == ["S-A1", "S-A2"]
    assert {(seat["status"], seat["locked_by"]) for seat in seats} == {("locked", "alice")}


@frozen(LATER)
def test_lock_best_keeps_to_the_sections_and_categories_given(api, alice):
    answer = api.post(
        "/v1/lock", json={"best": 2, "section": ["Circle"], "category": ["standard"]}, headers=alice
    )
    assert [seat["seat"] for seat in answer.json()["seats"]] == ["C-A1", "C-A2"]


@frozen(LATER)
def test_lock_best_takes_a_ttl_and_an_event(api, alice, cli):
    assert cli("event", "add", "gala").code == 0
    answer = api.post("/v1/lock", json={"best": 1, "ttl": 5, "event": "gala"}, headers=alice)
    seat = answer.json()["seats"][0]
    assert seat["expires_at"] == "2026-01-01T12:00:15Z"
    assert (
        cli("seats", "--event", "gala", "--status", "locked", "--json").json()[0]["seat"]
        == (seat["seat"])
    )


@frozen(LATER)
def test_lock_best_split_takes_single_seats_when_no_block_is_together(api, alice, cli):
    assert cli("lock", "S-A2", "C-A2", "--user", "bob").code == 0
    together = api.post("/v1/lock", json={"best": 2, "section": ["Stalls"]}, headers=alice)
    assert (together.status_code, together.json()["error"]) == (409, "not_enough")
    apart = api.post(
        "/v1/lock", json={"best": 2, "section": ["Stalls"], "split": True}, headers=alice
    )
    assert sorted(seat["seat"] for seat in apart.json()["seats"]) == ["S-A1", "S-A3"]


@frozen(LATER)
def test_lock_best_without_such_seats_is_409_not_enough_and_changes_nothing(api, alice, hall):
    before = booking_state(hall)
    answer = api.post("/v1/lock", json={"best": 4}, headers=alice)
    assert answer.status_code == 409
    assert answer.json()["error"] == "not_enough"
    assert "largest block together is 3" in answer.json()["message"]
    assert booking_state(hall) == before


@pytest.mark.parametrize(
    "body",
    [
        {"best": 0},
        {"best": -1},
        {"best": "2"},
        {"best": True},
        {"best": 1.5},
        {"best": 2, "seats": ["S-A1"]},
        {"seats": ["S-A1"], "section": ["Stalls"]},
        {"seats": ["S-A1"], "split": True},
        {"best": 2, "section": "Stalls"},
        {"best": 2, "category": [1]},
        {"best": 2, "split": "yes"},
        {"best": 2, "ttl": 0},
        {"best": 2, "sections": ["Stalls"]},
        {"section": ["Stalls"]},
    ],
)
def test_bad_best_bodies_are_400_and_change_nothing(api, alice, hall, body):
    before = booking_state(hall)
    answer = api.post("/v1/lock", json=body, headers=alice)
    assert (answer.status_code, answer.json()["error"]) == (400, "usage"), answer.text
    assert booking_state(hall) == before


def test_lock_without_seats_or_best_says_what_is_missing(api, alice):
    answer = api.post("/v1/lock", json={}, headers=alice)
    assert answer.status_code == 400
    assert answer.json()["message"] == "the request body lacks the field seats (or best)"

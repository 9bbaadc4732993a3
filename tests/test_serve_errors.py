"""What the HTTP API says about a bad request: a sentence about the request's field with its
value shown as the client sent it (cut if long), never a Python value or a command-line flag;
and an unknown section or category for `best` is 404 with the known names."""

from __future__ import annotations

import warnings

import pytest

from helpers import START, dump, frozen
from seatctl import Venue

pytest.importorskip("starlette")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's note about httpx's successor
    from starlette.testclient import TestClient

from seatctl.server.app import create_app
from seatctl.server.local import Local
from seatctl.server.worker import Worker

SEAT_ID_RULE = ": use a seat label (a string) or a whole number"
HALL = "label,section,row,number,category\n1,Stalls,A,1,premium\n2,Stalls,A,2,premium\n"


@pytest.fixture
def api(worker: Worker) -> TestClient:
    # The test client names its server `testserver` (port 80): --no-auth must accept it.
    return TestClient(create_app(worker, auth=False, local=Local(["testserver"], 80)))


def message(api: TestClient, path: str, body: bytes) -> str:
    answer = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    return answer.json().get("message") or answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"seatId": null}', "invalid seatId null" + SEAT_ID_RULE),
        (
            b'{"seatId": ["SD1"]}',
            'invalid seatId ["SD1"]' + SEAT_ID_RULE,
        ),
        (
            b'{"seatId": 1e400}',
            "invalid seatId 1e400" + SEAT_ID_RULE,
        ),
        (b'{"seatId": true}', "invalid seatId true" + SEAT_ID_RULE),
        (b'{"seatId": NaN}', "invalid seatId NaN" + SEAT_ID_RULE),
    ],
)
def test_a_bad_seat_id_is_shown_as_sent(api, body, expected):
    assert message(api, "/lock", body[:-1] + b', "userId": "alice"}') == expected


def test_a_huge_ttl_is_a_short_sentence_with_the_value_as_sent(api):
    said = message(api, "/v1/lock", b'{"seats": ["1"], "user": "alice", "ttl": 1e308}')
    assert said == "invalid ttl 1e308: use whole seconds from 1 to 86400"


def test_a_long_value_is_cut(api):
    ttl = "9" * 60
    said = message(api, "/v1/lock", f'{{"seats": ["1"], "user": "alice", "ttl": {ttl}}}'.encode())
    assert said == f"invalid ttl {'9' * 40}\u2026: use whole seconds from 1 to 86400"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"seats": "1"}', 'invalid seats "1": use a non-empty array of seat labels (strings)'),
        (
            b'{"seats": [1]}',
            "invalid seat 1 in seats: use a non-empty array of seat labels (strings)",
        ),
        (b'{"seats": ["a b"]}', 'invalid seat label "a b" in seats: use 1 to 32 characters'),
        (b'{"seats": ["1"], "ttl": "60"}', 'invalid ttl "60": use whole seconds from 1 to 86400'),
        (b'{"seats": ["1"], "ttl": 1.5}', "invalid ttl 1.5: use whole seconds from 1 to 86400"),
        (b'{"seats": ["1"], "event": "a b"}', 'invalid event "a b": use 1 to 32 characters'),
        (b'{"best": null}', "invalid best null: use a whole number from 1 to 100000"),
        (b'{"best": 2, "split": "yes"}', 'invalid split "yes": use true or false'),
        (b'{"best": 2, "section": "Stalls"}', 'invalid section "Stalls": use an array of names'),
        (b'{"seats": ["1"], "colour": "red"}', 'unknown field "colour" in the request body'),
        (b'{"user": "alice"}', "the request body lacks the field seats (or best)"),
        (b'{"seats": ["1"], "split": true}', "the field split goes with best (the best N seats)"),
    ],
)
def test_a_bad_field_is_a_sentence_about_it_with_its_value_as_sent(api, body, expected):
    with_user = body if b'"user"' in body else body[:-1] + b', "user": "alice"}'
    assert message(api, "/v1/lock", with_user).startswith(expected)


def test_no_error_shows_a_python_value_or_a_flag(api):
    for body in (b'{"seatId": null}', b'{"seatId": [1]}', b'{"seatId": 1e400}'):
        said = message(api, "/lock", body)
        assert not any(word in said for word in ("None", "'", "inf", "--"))


def test_a_bad_query_value_is_shown_as_sent(api):
    answer = api.get("/v1/seats", params={"status": "gone"})
    assert answer.json()["message"] == (
        'invalid status "gone": use available, locked, booked or blocked'
    )
    answer = api.get("/v1/history", params={"seat": "a b"})
    assert answer.json()["message"].startswith('invalid seat label "a b" in seat:')


@pytest.mark.backend  # the names come from each backend's map
def test_best_in_an_unknown_section_or_category_is_404_with_the_names(db_path, tmp_path):
    path = tmp_path / "hall.csv"
    path.write_text(HALL)
    with frozen(START):
        Venue.init(db_path, seat_map=str(path))
    running = Worker(db_path)
    running.start()
    try:
        api = TestClient(create_app(running, auth=False, local=Local(["testserver"], 80)))
        before = dump(db_path)
        for field, value, said in (
            ("section", "stalls", "section stalls does not exist in the seat map: did you mean"),
            ("category", "vip", "category vip does not exist in the seat map: the categories"),
        ):
            body = {"best": 2, "user": "alice", field: [value]}
            answer = api.post("/v1/lock", json=body)
            assert (answer.status_code, answer.json()["error"]) == (404, "not_found")
            assert answer.json()["message"].startswith(said)
        assert dump(db_path) == before
    finally:
        running.stop()


def test_an_unknown_event_is_404_without_a_command_line_hint(api):
    answer = api.get("/v1/seats", params={"event": "nope"})
    assert (answer.status_code, answer.json()["message"]) == (404, "event nope does not exist")

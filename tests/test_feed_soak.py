"""Soak: several writers on two servers sharing one PostgreSQL database, over a thousand changes;
every server's stream and `seatctl watch --json` tell exactly the history, in its order
(issue 18, item 1): nothing missing, nothing repeated, nothing out of order."""

from __future__ import annotations

import http.client
import json
import queue
import random
import threading
import time
from typing import Any

import pytest

from helpers import SOAK, sql
from seatctl import Venue
from serving import EventStream, JsonWatch, ServerProcess

pytest.importorskip("uvicorn")
pytest.importorskip("psycopg")

WRITERS = 6
REQUESTS = 250 * SOAK  # per writer: 1,500 in all, over a thousand of them changes
SEATS = 200


def write_for(port: int, user: str, requests: int, rng: random.Random) -> int:
    """`requests` random locks and releases as `user`; how many were answered 2xx."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    held: list[str] = []
    done = 0
    try:
        for _ in range(requests):
            if held and rng.random() < 0.5:
                path, seats = "/v1/release", [held.pop(rng.randrange(len(held)))]
            else:
                path, seats = "/v1/lock", [str(rng.randint(1, SEATS))]
            body = json.dumps({"seats": seats, "user": user})
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
            if answer.status == 200:
                done += 1
                if path == "/v1/lock":
                    held.append(seats[0])
    finally:
        conn.close()
    return done


def told_ids(source: queue.Queue[Any], newest: int, timeout: float = 60.0) -> list[int]:
    """The history ids of the seat changes told, until `newest` is (or time is up)."""
    ids: list[int] = []
    deadline = time.monotonic() + timeout
    while (not ids or ids[-1] < newest) and (left := deadline - time.monotonic()) > 0:
        try:
            item = source.get(timeout=left)
        except queue.Empty:
            break
        if item is None:
            break
        kind = item.event if hasattr(item, "event") else item.get("type")
        if kind == "seat":
            ids.append(int(item.id if hasattr(item, "id") else item["id"]))
    return ids


@pytest.mark.backend
@pytest.mark.parametrize("db_path", ["postgres"], indirect=True)
def test_every_stream_tells_the_whole_history_in_order_under_load(db_path):
    Venue.init(db_path, seats=SEATS)
    with (
        ServerProcess(db_path, "--no-auth") as one,
        ServerProcess(db_path, "--no-auth") as two,
        EventStream(one.port) as first,
        EventStream(two.port) as second,
        JsonWatch(db_path) as watch,
    ):
        start = max(int(first.next().id.split(":")[0]), int(second.next().id.split(":")[0]))
        assert watch.objects.get(timeout=60)["type"] == "snapshot"
        results: list[int] = []
        writers = [
            threading.Thread(
                target=lambda i=i: results.append(
                    write_for((one, two)[i % 2].port, f"u{i}", REQUESTS, random.Random(i))
                )
            )
            for i in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        history = [
            row[0]
            for row in sql(
                db_path,
                "SELECT id FROM events WHERE id > %s AND action <> 'expire' ORDER BY id",
                start,
            )
        ]
        newest = history[-1]
        streams = {
            "server one": told_ids(first.messages, newest),
            "server two": told_ids(second.messages, newest),
            "watch": told_ids(watch.objects, newest),
        }
    assert sum(results) == len(history) > 1000
    for name, ids in streams.items():
        assert ids == history, f"{name}: {len(set(history) - set(ids))} missing"

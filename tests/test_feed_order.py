"""The change feed in commit order on PostgreSQL (issue 18, item 1): a change whose history
id was drawn before another's, but which commits after it, still reaches every stream and
`seatctl watch`, exactly once and in commit order."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from helpers import WAITING, named, new_token, sql, wait_until
from seatctl import Venue
from serving import EventStream, JsonWatch, Message, ServerProcess

pytestmark = pytest.mark.backend
pytest.importorskip("uvicorn")
psycopg = pytest.importorskip("psycopg")

ON_POSTGRES = pytest.mark.parametrize("db_path", ["postgres"], indirect=True)


def changed_seats(source: queue.Queue[Any], wanted: int, timeout: float = 10.0) -> list[str]:
    """The seats of the next `wanted` changes (fewer if they do not come in time)."""
    seats: list[str] = []
    deadline = time.monotonic() + timeout
    while len(seats) < wanted and (left := deadline - time.monotonic()) > 0:
        try:
            item = source.get(timeout=left)
        except queue.Empty:
            break
        seat = _seat_of(item)
        if seat is not None:
            seats.append(seat)
    return seats


def _seat_of(item: Any) -> str | None:
    if isinstance(item, Message):
        return item.data["seat"] if item.event == "seat" else None
    if item is not None and item.get("type") == "seat":
        return str(item["seat"]["seat"])
    return None


@ON_POSTGRES
def test_a_change_that_commits_after_a_higher_id_reaches_the_stream_and_watch(db_path):
    # The scenario: a group commit locks seat 1 (drawing a history id), then waits for
    # seat 5's row, held from another connection; meanwhile another command locks seat 9.
    Venue.init(db_path, seats=9)
    token = new_token(db_path, "u1")
    group_url, group_name = named(db_path)
    cli_url, cli_name = named(db_path)
    with (
        ServerProcess(db_path) as server,
        EventStream(server.port, token) as stream,
        JsonWatch(db_path) as watch,
    ):
        assert stream.next().event == "snapshot"
        assert watch.objects.get(timeout=60)["type"] == "snapshot"
        holder = psycopg.connect(db_path)
        holder.execute("SELECT * FROM seats WHERE label = '5' FOR UPDATE")

        def grouped() -> None:
            with Venue.open(group_url) as venue, venue.grouped():
                venue.lock(["1"], "u1")
                venue.lock(["5"], "u2")

        group = threading.Thread(target=grouped)
        group.start()
        wait_until(lambda: sql(db_path, WAITING, group_name))

        def lock_nine() -> None:
            with Venue.open(cli_url) as venue:
                venue.lock(["9"], "u3")

        cli = threading.Thread(target=lock_nine)
        cli.start()
        # Either seat 9's change is out (its id is past seat 1's, not yet committed) or its
        # command waits for the group to commit first.
        early: list[Any] = []

        def nine_is_told_or_waits() -> bool:
            while not stream.messages.empty():
                early.append(stream.messages.get())
            return "9" in [_seat_of(m) for m in early] or bool(sql(db_path, WAITING, cli_name))

        wait_until(nine_is_told_or_waits)
        holder.rollback()
        holder.close()
        group.join(timeout=30)
        cli.join(timeout=30)
        for item in early:
            stream.messages.put(item)
        told = changed_seats(stream.messages, 3)
        watched = changed_seats(watch.objects, 3)
    history = sql(db_path, "SELECT seat FROM events WHERE action = 'lock' ORDER BY id")
    assert (told, watched) == ([seat for (seat,) in history],) * 2

"""The change stream's core (`seatctl.core.changefeed`) over a real database on both backends, with
the clock frozen: what is told, in which order, and that resuming from any id a watcher was
given tells exactly the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpers import START, frozen
from seatctl import Venue, wire
from seatctl.core.changefeed import (
    Cursor,
    GivenCursor,
    Item,
    Kind,
    parse_cursor,
    resume,
    tracker_at,
)

# The backend's part: the feed reads the history through each backend's queries.
pytestmark = pytest.mark.backend


class Live:
    """A watcher that started with a snapshot and reads the database as the server does."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        state = venue.stream_state()
        self.ids = [str(state.newest_id), f"{state.newest_id}:{state.now}"]
        self.tracker = tracker_at(state)
        self.items: list[Item] = []

    def read(self) -> list[Item]:
        now, events, places = self.venue.stream_changes("default", self.tracker.event_id)
        new = self.tracker.committed(events, places) + self.tracker.expired(now)
        self.items += new
        return new


def told(items: list[Item]) -> list[tuple[str, str, str, str]]:
    return [(i.kind.value, i.label, i.id_text, seat_of(i)["status"]) for i in items]


def test_a_change_is_told_with_the_seat_after_it_and_its_event_id(venue):
    with frozen(START):
        live = Live(venue)
        venue.lock(["2"], "alice", ttl=60)
        [item] = live.read()
        listed = wire.seat_object(venue.seats()[1])
    assert (item.kind, item.label, seat_of(item)["locked_by"]) == (Kind.SEAT, "2", "alice")
    assert seat_of(item) == listed  # as GET /v1/seats shows it
    assert item.id_text == str(venue.stream_state().newest_id)


def test_an_expiry_is_told_once_its_deadline_has_passed_not_before(venue):
    with frozen(START) as clock:
        live = Live(venue)
        venue.lock(["1"], "alice", ttl=10)
        live.read()
        clock.tick(timedelta(seconds=9))
        assert live.read() == []
        clock.tick(timedelta(seconds=1))
        [expired] = live.read()
    assert (expired.kind, expired.label, seat_of(expired)["status"]) == (
        Kind.EXPIRE,
        "1",
        "available",
    )


def test_an_expiry_comes_before_a_change_made_after_its_deadline(venue):
    with frozen(START) as clock:
        live = Live(venue)
        venue.lock(["1"], "alice", ttl=5)
        live.read()
        clock.tick(timedelta(seconds=6))
        venue.lock(["2"], "bob")  # the stream had not looked at the clock yet
        assert [(i.kind, i.label) for i in live.read()] == [(Kind.EXPIRE, "1"), (Kind.SEAT, "2")]


def test_a_relock_that_writes_the_expire_tells_the_expiry_once(venue):
    with frozen(START) as clock:
        live = Live(venue)
        venue.lock(["1"], "alice", ttl=5)
        live.read()
        clock.tick(timedelta(seconds=6))
        venue.lock(["1"], "bob")  # writes expire (alice) then lock (bob)
        items = live.read()
        written = venue.history(["1"])[-2]
    assert [(i.kind, seat_of(i)["locked_by"]) for i in items] == [
        (Kind.EXPIRE, None),
        (Kind.SEAT, "bob"),
    ]
    assert written.action.value == "expire"


def scripted_history(venue: Venue, clock) -> Live:
    """Locks that run out (and one a later lock writes the expiry of), extensions, bookings,
    releases and blocks, read by a live watcher at several points."""
    live = Live(venue)
    venue.lock(["1"], "alice", ttl=5)
    venue.lock(["2", "3"], "bob", ttl=5)
    live.read()
    clock.tick(timedelta(seconds=2))
    venue.lock(["3"], "bob", ttl=30)  # extend
    venue.confirm(["2"], "bob")
    clock.tick(timedelta(seconds=4))  # 1's lock has lapsed; nobody looked yet
    venue.lock(["4"], "carol", ttl=3)
    live.read()
    clock.tick(timedelta(seconds=1))
    venue.lock(["1"], "dave", ttl=3)  # after its expiry was told: the expire row is written
    venue.block(["5"], "broken")
    live.read()
    clock.tick(timedelta(seconds=5))  # 4's and 1's locks lapse
    live.read()
    venue.unblock(["5"])
    venue.release(["3"], "bob")
    live.read()
    return live


def test_the_scripted_history_tells_each_change_once_in_order(venue):
    with frozen(START) as clock:
        live = scripted_history(venue, clock)
    assert [(kind, label) for kind, label, _, _ in told(live.items)] == [
        ("seat", "1"),
        ("seat", "2"),
        ("seat", "3"),
        ("seat", "3"),
        ("seat", "2"),
        ("expire", "1"),
        ("seat", "4"),
        ("seat", "1"),
        ("seat", "5"),
        ("expire", "4"),
        ("expire", "1"),
        ("seat", "5"),
        ("seat", "3"),
    ]


def test_resuming_from_any_id_a_watcher_was_given_tells_exactly_the_rest(venue):
    with frozen(START) as clock:
        live = scripted_history(venue, clock)
        positions = [(live.ids[0], live.items), (live.ids[1], live.items)]
        positions += [(item.id_text, live.items[n + 1 :]) for n, item in enumerate(live.items)]
        for id_text, rest in positions:
            given = parse_cursor(id_text)
            assert given is not None
            start = resume(given, venue.stream_state(after=given.event_id))
            assert start.snapshot is None
            assert told(start.items) == told(rest), id_text


def test_a_resume_after_a_lock_tells_its_extension_with_the_holds_start(venue):
    with frozen(START) as clock:
        live = Live(venue)
        venue.lock(["1"], "alice", ttl=30)
        [locked] = live.read()
        clock.tick(timedelta(seconds=10))
        venue.lock(["1"], "alice", ttl=30)  # the same hold, extended
        [extended] = live.read()
        given = parse_cursor(locked.id_text)
        assert given is not None
        [resumed] = resume(given, venue.stream_state(after=given.event_id)).items
    assert seat_of(extended)["held_since"] == seat_of(locked)["held_since"] is not None
    assert seat_of(resumed) == seat_of(extended)


def test_a_shortened_lock_is_told_with_its_new_deadline_and_expires_at_it(venue):
    with frozen(START) as clock:
        live = Live(venue)
        venue.lock(["1"], "alice", ttl=60)
        [locked] = live.read()
        venue.lock(["1"], "alice", ttl=5)  # the holder shortens the hold's deadline
        [shortened] = live.read()
        clock.tick(timedelta(seconds=5))
        [expired] = live.read()
    assert seat_of(shortened)["expires_at"] < seat_of(locked)["expires_at"]
    assert seat_of(shortened)["held_since"] == seat_of(locked)["held_since"]
    assert (expired.kind, expired.label) == (Kind.EXPIRE, "1")


def test_resuming_between_two_expiries_of_one_instant_tells_only_the_second(venue):
    with frozen(START) as clock:
        live = Live(venue)
        venue.lock(["1", "2"], "alice", ttl=5)
        live.read()
        clock.tick(timedelta(seconds=6))
        first, second = live.read()  # both expire
        given = parse_cursor(first.id_text)
        assert given is not None
        start = resume(given, venue.stream_state(after=given.event_id))
    assert told(start.items) == told([second])


def test_an_id_newer_than_the_history_gets_a_fresh_snapshot(venue):
    state = venue.stream_state(after=10_000)
    start = resume(GivenCursor(10_000, None, None), state)
    assert start.snapshot is not None and start.items == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("12", GivenCursor(12, None, None)),
        ("12:1767268800", GivenCursor(12, 1767268800, None)),
        ("12:1767268800:A-7", GivenCursor(12, 1767268800, "A-7")),
        (" 12 ", GivenCursor(12, None, None)),
    ],
)
def test_a_cursor_is_read_back_from_its_id(text, expected):
    assert parse_cursor(text) == expected


@pytest.mark.parametrize("text", ["", "x", "-1", "1:2:3:4", "1:x", "1:2:bad label", "1" * 40])
def test_anything_else_is_not_a_cursor(text):
    assert parse_cursor(text) is None


def test_a_cursor_tells_apart_expiries_before_and_after_it():
    cursor = Cursor(10, 100, "5")
    seat: dict[str, str | None] = {}

    def expiry(deadline: int, label: str, lock: int) -> Item:
        return Item(Kind.EXPIRE, label, deadline, 10, lock, seat)

    assert cursor.told(expiry(100, "4", 3))
    assert cursor.told(expiry(99, "9", 10))
    assert not cursor.told(expiry(100, "6", 3))
    assert not cursor.told(expiry(101, "1", 3))
    assert not cursor.told(expiry(50, "1", 11))  # a lock the cursor has not seen


def test_after_a_resume_an_expiry_it_told_is_not_told_again_by_the_live_feed(venue):
    """The live feed knows locks older than its start only by an id bound: the resumed
    watcher's cursor must cover everything the resume read, not just what it sent."""
    with frozen(START) as clock:
        before = venue.stream_state().newest_id
        venue.lock(["1"], "alice", ttl=5)
        venue.add_event("gala")
        venue.lock(["2"], "bob", event="gala")  # the newest id is now another event's
        feed = tracker_at(venue.stream_state())  # a feed started while the lock was live
        clock.tick(timedelta(seconds=6))
        given = GivenCursor(before, None, None)  # a watcher coming back from before the lock
        state = venue.stream_state(after=before)
        start = resume(given, state)
        [expired] = feed.expired(state.now)
    assert [(i.kind, i.label) for i in start.items] == [(Kind.SEAT, "1"), (Kind.EXPIRE, "1")]
    assert start.cursor.told(expired)


def seat_of(item: Item) -> dict:
    """The seat object a watcher is sent with the item."""
    return wire.seat_object(item.view)

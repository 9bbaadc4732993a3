"""`check`'s history replay as a pure function: every event is judged by the booking rules as
they stood at that event's instant, and a seat's history never goes back in time."""

from __future__ import annotations

from seatctl.core.audit import history_problems
from seatctl.core.model import Action, HistoryEntry, Seat

T = 1_767_268_800  # 2026-01-01T12:00:00Z
ADD = HistoryEntry(T - 100, "1", Action.ADD)


def replay(*events: HistoryEntry, stored: Seat, seeded_through: int = 0) -> list[str]:
    """The problems `check` finds in `events` (numbered in commit order) for seat 1."""
    numbered = [e._replace(id=n) for n, e in enumerate([ADD, *events], 1)]
    return history_problems([stored], numbered, seeded_through)


def lock(user: str, at: int, until: int) -> HistoryEntry:
    return HistoryEntry(T + at, "1", Action.LOCK, user, T + until)


def extend(user: str, at: int, until: int) -> HistoryEntry:
    return HistoryEntry(T + at, "1", Action.EXTEND, user, T + until)


def confirm(user: str, at: int) -> HistoryEntry:
    return HistoryEntry(T + at, "1", Action.CONFIRM, user)


def release(user: str, at: int) -> HistoryEntry:
    return HistoryEntry(T + at, "1", Action.RELEASE, user)


def expire(user: str, at: int) -> HistoryEntry:
    return HistoryEntry(T + at, "1", Action.EXPIRE, user, T + at)


def booked(user: str, at: int) -> Seat:
    return Seat("1", booked_by=user, booked_at=T + at)


def test_a_history_the_rules_allow_replays_without_problems():
    problems = replay(
        lock("alice", 0, 60),
        expire("alice", 60),
        lock("bob", 70, 130),
        extend("bob", 80, 140),
        confirm("bob", 90),
        stored=booked("bob", 90),
    )
    assert problems == []


def test_a_lock_taken_over_a_live_lock_whose_expiry_was_committed_first_is_reported():
    # The history: alice's expiry is stamped 12:01:00 but committed before bob's lock
    # at 12:00:10, while her lock still stood.
    problems = replay(
        lock("alice", 0, 60),
        expire("alice", 60),
        lock("bob", 10, 70),
        confirm("bob", 11),
        stored=booked("bob", 11),
    )
    assert problems == [
        "seat 1: locked by bob while the lock of alice stood until 2026-01-01T12:01:00Z"
        " (event 4, 2026-01-01T12:00:10Z)"
    ]


def test_an_event_recorded_before_the_seats_previous_event_is_reported():
    problems = replay(lock("alice", 10, 70), release("alice", 5), stored=Seat("1"))
    assert problems == [
        "seat 1: release by alice is recorded after an event at 2026-01-01T12:00:10Z:"
        " the seat's history goes back in time (event 3, 2026-01-01T12:00:05Z)"
    ]


def test_a_backdated_confirm_before_the_lock_it_confirms_is_reported():
    problems = replay(lock("alice", 10, 70), confirm("alice", 5), stored=booked("alice", 5))
    assert problems == [
        "seat 1: confirm by alice is recorded after an event at 2026-01-01T12:00:10Z:"
        " the seat's history goes back in time (event 3, 2026-01-01T12:00:05Z)"
    ]


def test_a_confirm_at_or_after_the_deadline_is_reported():
    problems = replay(lock("alice", 0, 60), confirm("alice", 60), stored=booked("alice", 60))
    assert problems == [
        "seat 1: confirmed by alice after the lock expired at 2026-01-01T12:01:00Z"
        " (event 3, 2026-01-01T12:01:00Z)"
    ]


def test_a_release_after_the_deadline_is_reported():
    problems = replay(lock("alice", 0, 60), release("alice", 61), stored=Seat("1"))
    assert problems == [
        "seat 1: released by alice after the lock expired at 2026-01-01T12:01:00Z"
        " (event 3, 2026-01-01T12:01:01Z)"
    ]


def test_an_extend_after_the_deadline_is_reported():
    problems = replay(
        lock("alice", 0, 60),
        extend("alice", 65, 125),
        stored=Seat("1", locked_by="alice", lock_expires=T + 125),
    )
    assert problems == [
        "seat 1: extended by alice after the lock expired at 2026-01-01T12:01:00Z"
        " (event 3, 2026-01-01T12:01:05Z)"
    ]


def test_a_lock_whose_deadline_is_not_after_its_instant_is_reported():
    problems = replay(
        lock("alice", 10, 10), stored=Seat("1", locked_by="alice", lock_expires=T + 10)
    )
    assert problems == [
        "seat 1: locked by alice until 2026-01-01T12:00:10Z, not after the lock was taken"
        " (event 2, 2026-01-01T12:00:10Z)"
    ]


def test_an_expiry_before_the_locks_deadline_is_reported():
    problems = replay(lock("alice", 0, 60), expire("alice", 30), stored=Seat("1"))
    assert problems == [
        "seat 1: expiry of a lock alice did not hold until then (event 3, 2026-01-01T12:00:30Z)"
    ]


def test_an_expiry_recorded_after_a_later_event_on_the_seat_is_reported():
    # A lapsed lock's expiry is recorded at its deadline, before the next event on the seat.
    problems = replay(
        lock("alice", 0, 60),
        lock("bob", 70, 130),
        expire("alice", 60),
        stored=Seat("1", locked_by="bob", lock_expires=T + 130),
    )
    assert problems == [
        "seat 1: locked by bob over the lapsed lock of alice before its expiry was recorded"
        " (event 3, 2026-01-01T12:01:10Z)",
        "seat 1: expire by alice is recorded after an event at 2026-01-01T12:01:10Z:"
        " the seat's history goes back in time (event 4, 2026-01-01T12:01:00Z)",
    ]


def test_events_of_other_seats_do_not_count_as_the_seats_history():
    events = [
        HistoryEntry(T, "1", Action.ADD, id=1),
        HistoryEntry(T, "2", Action.ADD, id=2),
        HistoryEntry(T + 50, "2", Action.LOCK, "bob", T + 110, id=3),
        HistoryEntry(T + 10, "1", Action.LOCK, "alice", T + 70, id=4),
    ]
    stored = [
        Seat("1", locked_by="alice", lock_expires=T + 70),
        Seat("2", locked_by="bob", lock_expires=T + 110),
    ]
    assert history_problems(stored, events, 0) == []


def test_a_seeded_lapsed_lock_may_be_expired_at_its_earlier_deadline():
    # An upgrade seeds a lock at the upgrade's instant even when its deadline had passed.
    seeded = HistoryEntry(T + 100, "1", Action.LOCK, "alice", T + 60)
    problems = replay(
        seeded,
        expire("alice", 60),
        lock("bob", 120, 180),
        stored=Seat("1", locked_by="bob", lock_expires=T + 180),
        seeded_through=2,
    )
    assert problems == []


def test_a_stored_lock_the_history_does_not_explain_is_described_in_words():
    problems = replay(
        lock("alice", 0, 60), stored=Seat("1", locked_by="mallory", lock_expires=T + 90)
    )
    assert problems == [
        "seat 1: stored as locked by mallory until 2026-01-01T12:01:30Z, but its history"
        " replays to locked by alice until 2026-01-01T12:01:00Z"
    ]


def test_a_stored_booking_the_history_does_not_explain_is_described_in_words():
    problems = replay(lock("alice", 0, 60), confirm("alice", 30), stored=booked("bob", 30))
    assert problems == [
        "seat 1: stored as booked by bob at 2026-01-01T12:00:30Z, but its history"
        " replays to booked by alice at 2026-01-01T12:00:30Z"
    ]


def test_a_stored_seat_that_should_be_free_is_described_in_words():
    problems = replay(
        stored=Seat("1", locked_by="bob", lock_expires=T + 60, booked_by="bob", booked_at=T)
    )
    assert problems == [
        "seat 1: stored as booked by bob at 2026-01-01T12:00:00Z and locked by bob until"
        " 2026-01-01T12:01:00Z, but its history replays to available"
    ]

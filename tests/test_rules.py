"""The booking rules as pure functions: no database, no clock."""

from __future__ import annotations

from seatctl.core import rules
from seatctl.core.errors import ExitCode, Reason, SeatRefusal
from seatctl.core.model import Action, Seat, Status
from seatctl.core.rules import Change

NOW = 1_000_000
FREE = Seat("3")
LOCKED_BY_ALICE = Seat("3", locked_by="alice", lock_expires=NOW + 30, held_since=NOW - 30)
LAPSED_ALICE = Seat("3", locked_by="alice", lock_expires=NOW, held_since=NOW - 60)
BOOKED_BY_ALICE = Seat("3", booked_by="alice", booked_at=NOW - 5)


def refusal(decision) -> tuple[Reason, ExitCode]:
    assert isinstance(decision, SeatRefusal)
    return decision.reason, decision.exit_code


def test_lock_on_a_free_seat_holds_it_until_now_plus_ttl():
    decision = rules.lock(FREE, "alice", NOW, 60)
    locked = Seat("3", locked_by="alice", lock_expires=NOW + 60, held_since=NOW)
    assert decision == Change(locked, Action.LOCK)


def test_holder_locking_again_resets_the_deadline_and_keeps_the_holds_start():
    decision = rules.lock(LOCKED_BY_ALICE, "alice", NOW, 60)
    extended = Seat("3", locked_by="alice", lock_expires=NOW + 60, held_since=NOW - 30)
    assert decision == Change(extended, Action.EXTEND)


def test_lock_held_by_another_user_is_refused_as_locked():
    assert refusal(rules.lock(LOCKED_BY_ALICE, "bob", NOW, 60)) == (
        Reason.LOCKED,
        ExitCode.LOCK_REFUSED,
    )


def test_lock_on_a_booked_seat_is_refused_even_for_the_booker():
    for user in ("alice", "bob"):
        assert refusal(rules.lock(BOOKED_BY_ALICE, user, NOW, 60)) == (
            Reason.BOOKED,
            ExitCode.LOCK_REFUSED,
        )


def test_a_lock_is_over_exactly_at_its_deadline():
    assert LAPSED_ALICE.status(NOW) is Status.AVAILABLE
    assert LAPSED_ALICE.status(NOW - 1) is Status.LOCKED


def test_anyone_may_lock_a_seat_whose_lock_lapsed():
    decision = rules.lock(LAPSED_ALICE, "bob", NOW, 10)
    locked = Seat("3", locked_by="bob", lock_expires=NOW + 10, held_since=NOW)
    assert decision == Change(locked, Action.LOCK)


def test_former_holder_relocking_a_lapsed_lock_is_a_new_lock_not_an_extension():
    decision = rules.lock(LAPSED_ALICE, "alice", NOW, 10)
    assert isinstance(decision, Change)
    assert decision.action is Action.LOCK


def test_confirm_by_the_holder_books_the_seat_and_clears_the_lock():
    decision = rules.confirm(LOCKED_BY_ALICE, "alice", NOW)
    assert decision == Change(Seat("3", booked_by="alice", booked_at=NOW), Action.CONFIRM)


def test_confirming_ones_own_booking_again_succeeds_without_change():
    assert rules.confirm(BOOKED_BY_ALICE, "alice", NOW) == Change(BOOKED_BY_ALICE, None)


def test_confirm_refusals_name_their_reason():
    cases = {
        "never locked": (FREE, "alice", Reason.NOT_HOLDER),
        "locked by another": (LOCKED_BY_ALICE, "bob", Reason.NOT_HOLDER),
        "own lock expired": (LAPSED_ALICE, "alice", Reason.EXPIRED),
        "someone else's lock expired": (LAPSED_ALICE, "bob", Reason.NOT_HOLDER),
        "booked by another": (BOOKED_BY_ALICE, "bob", Reason.BOOKED),
    }
    for case, (seat, user, reason) in cases.items():
        assert refusal(rules.confirm(seat, user, NOW)) == (reason, ExitCode.NOT_HOLDER), case


def test_release_by_the_holder_frees_the_seat():
    assert rules.release(LOCKED_BY_ALICE, "alice", NOW) == Change(FREE, Action.RELEASE)


def test_release_refusals_name_their_reason():
    cases = {
        "never locked": (FREE, "alice", Reason.NOT_HOLDER),
        "locked by another": (LOCKED_BY_ALICE, "bob", Reason.NOT_HOLDER),
        "own lock expired": (LAPSED_ALICE, "alice", Reason.EXPIRED),
        "own booking": (BOOKED_BY_ALICE, "alice", Reason.BOOKED),
    }
    for case, (seat, user, reason) in cases.items():
        assert refusal(rules.release(seat, user, NOW)) == (reason, ExitCode.NOT_HOLDER), case


def test_an_expired_lock_is_shown_as_a_plain_available_seat():
    view = LAPSED_ALICE.view(NOW)
    assert (view.status, view.locked_by, view.expires_at) == (Status.AVAILABLE, None, None)


# --- The clock against a seat's history -------------------------------------------------------


def clock_refusals(decision) -> list[tuple[str, Reason, ExitCode]]:
    assert isinstance(decision, list), decision
    return [(r.seat, r.reason, r.exit_code) for r in decision]


def test_a_clock_at_or_after_every_seats_newest_event_acts_at_its_own_reading():
    assert rules.acting_instant(NOW, {"1": NOW, "2": NOW - 100}) == NOW


def test_a_clock_a_little_behind_a_seats_newest_event_acts_at_that_event():
    tolerance = rules.CLOCK_TOLERANCE
    assert rules.acting_instant(NOW, {"1": NOW + tolerance, "2": NOW + 1}) == NOW + tolerance


def test_a_clock_further_behind_a_seats_newest_event_is_refused_for_that_seat():
    newest = {"1": NOW + rules.CLOCK_TOLERANCE + 1, "2": NOW + 1, "3": NOW + 3600}
    assert clock_refusals(rules.acting_instant(NOW, newest)) == [
        ("1", Reason.CLOCK_BEHIND, ExitCode.DATABASE),
        ("3", Reason.CLOCK_BEHIND, ExitCode.DATABASE),
    ]


def test_a_clock_refusal_names_the_seats_newest_instant_and_the_clocks():
    [refusal] = rules.acting_instant(1_767_268_800, {"3": 1_767_269_100})
    assert refusal.message == (
        "seat 3 has history at 2026-01-01T12:05:00Z, more than 5 s after this clock's"
        " 2026-01-01T12:00:00Z: a seat's history cannot go back in time"
        " (check the clock, or SEATCTL_NOW)"
    )


def test_seats_without_history_leave_the_clock_alone():
    assert rules.acting_instant(NOW, {}) == NOW


def test_holder_locking_again_with_a_shorter_ttl_shortens_the_lock():
    decision = rules.lock(LOCKED_BY_ALICE, "alice", NOW, 10)  # NOW + 10 is before NOW + 30
    shortened = Seat("3", locked_by="alice", lock_expires=NOW + 10, held_since=NOW - 30)
    assert decision == Change(shortened, Action.SHORTEN)


def test_holder_locking_again_to_the_same_deadline_is_an_extend():
    decision = rules.lock(LOCKED_BY_ALICE, "alice", NOW, 30)
    same = Seat("3", locked_by="alice", lock_expires=NOW + 30, held_since=NOW - 30)
    assert decision == Change(same, Action.EXTEND)


def test_a_shorten_event_carries_the_new_deadline():
    change = rules.lock(LOCKED_BY_ALICE, "alice", NOW, 10)
    assert isinstance(change, Change)
    [event] = change.events(LOCKED_BY_ALICE, "alice", NOW)
    assert (event.action, event.expires_at) == (Action.SHORTEN, NOW + 10)


def test_releasing_ones_own_booking_says_a_booking_cannot_be_released():
    decision = rules.release(BOOKED_BY_ALICE, "alice", NOW)
    assert decision == SeatRefusal(
        "3",
        Reason.BOOKED,
        ExitCode.NOT_HOLDER,
        "seat 3 is booked by alice: a booking cannot be released"
        " (the box office cancels one: seatctl cancel)",
    )


def test_releasing_another_users_booking_just_says_whose_it_is():
    decision = rules.release(BOOKED_BY_ALICE, "bob", NOW)
    assert isinstance(decision, SeatRefusal)
    assert decision.message == "seat 3 is booked by alice"


# --- the fairness caps, as inputs like now and ttl ---------------------------------------------


def test_a_first_lock_never_lasts_past_max_hold():
    decision = rules.lock(FREE, "alice", NOW, 3600, max_hold=600)
    assert decision == Change(
        Seat("3", locked_by="alice", lock_expires=NOW + 600, held_since=NOW), Action.LOCK
    )


def test_a_relock_the_cap_limits_stops_at_the_holds_start_plus_max_hold():
    decision = rules.lock(LOCKED_BY_ALICE, "alice", NOW, 60, max_hold=80)
    assert isinstance(decision, Change)
    assert (decision.after.lock_expires, decision.after.held_since) == (NOW + 50, NOW - 30)


def test_a_relock_whose_deadline_stands_at_the_cap_is_refused_as_max_hold():
    at_cap = LOCKED_BY_ALICE._replace(lock_expires=NOW + 30)
    assert refusal(rules.lock(at_cap, "alice", NOW, 60, max_hold=60)) == (
        Reason.MAX_HOLD,
        ExitCode.LOCK_REFUSED,
    )


def test_a_relock_the_cap_does_not_limit_succeeds_even_if_the_deadline_stays():
    decision = rules.lock(LOCKED_BY_ALICE, "alice", NOW, 30, max_hold=600)
    assert isinstance(decision, Change)
    assert decision.after.lock_expires == LOCKED_BY_ALICE.lock_expires


def test_a_lapsed_holder_relocking_starts_a_new_hold_under_the_cap():
    decision = rules.lock(LAPSED_ALICE, "alice", NOW, 60, max_hold=60)
    assert isinstance(decision, Change)
    assert (decision.action, decision.after.held_since) == (Action.LOCK, NOW)


def test_max_hold_0_is_no_cap():
    decision = rules.lock(LOCKED_BY_ALICE, "alice", NOW, 86_400, max_hold=0)
    assert isinstance(decision, Change)
    assert decision.after.lock_expires == NOW + 86_400


def test_seats_cap_lets_a_lock_reach_the_cap():
    assert rules.seats_cap("alice", "default", 1, ["2", "3"], cap=3) is None


def test_seats_cap_refuses_a_lock_past_the_cap_naming_every_new_seat():
    error = rules.seats_cap("alice", "default", 2, ["3", "4"], cap=3)
    assert error is not None
    assert (error.reason, error.exit_code) == (Reason.MAX_SEATS, ExitCode.LOCK_REFUSED)
    assert [r.seat for r in error.seats] == ["3", "4"]
    assert "max-seats-per-user is 3: alice holds 2 seats in event default now" in error.message


def test_seats_cap_never_refuses_a_lock_that_adds_no_seat():
    assert rules.seats_cap("alice", "default", 5, [], cap=3) is None


def test_seats_cap_0_is_no_cap():
    assert rules.seats_cap("alice", "default", 500, ["1"], cap=0) is None

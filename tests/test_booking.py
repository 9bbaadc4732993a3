"""Lock, confirm and release through the CLI, with time frozen by freezegun."""

from __future__ import annotations

import pytest

from helpers import START, dump, frozen, seat_object

pytestmark = pytest.mark.usefixtures("venue_db")


def seat(cli, label: str) -> dict:
    return next(s for s in cli("seats", "--json").json() if s["seat"] == label)


@frozen(START)
def test_lock_holds_a_seat_for_the_default_60_seconds(cli):
    run = cli("lock", "3", "--user", "alice")
    assert run.code == 0
    assert run.out == "locked seat 3 for alice until 2026-01-01T12:01:00Z\n"
    assert seat(cli, "3")["status"] == "locked"


@frozen(START)
def test_lock_with_ttl_holds_for_that_many_seconds(cli):
    run = cli("lock", "3", "--user", "alice", "--ttl", "5", "--json")
    assert run.json()["seats"][0]["expires_at"] == "2026-01-01T12:00:05Z"


def test_holder_locking_again_resets_the_deadline(cli):
    with frozen(START) as clock:
        cli("lock", "3", "--user", "alice")
        clock.tick(50)
        run = cli("lock", "3", "--user", "alice", "--json")
    assert run.code == 0
    assert run.json()["seats"][0]["expires_at"] == "2026-01-01T12:01:50Z"


@frozen(START)
def test_another_user_cannot_lock_a_live_lock(cli):
    cli("lock", "3", "--user", "alice")
    run = cli("lock", "3", "--user", "bob")
    assert run.code == 4
    assert run.err == "error: seat 3 is locked by alice until 2026-01-01T12:01:00Z\n"


@frozen(START)
def test_nobody_can_lock_a_booked_seat(cli):
    cli("lock", "3", "--user", "alice")
    cli("confirm", "3", "--user", "alice")
    for user in ("alice", "bob"):
        run = cli("lock", "3", "--user", user, "--json")
        assert (run.code, run.error()["error"]) == (4, "booked")


def test_lock_is_available_again_exactly_at_its_deadline(cli):
    with frozen(START) as clock:
        cli("lock", "3", "--user", "alice", "--ttl", "10")
        clock.tick(9)
        assert seat(cli, "3")["status"] == "locked"
        clock.tick(1)
        assert seat(cli, "3") == seat_object("3")
        assert cli("lock", "3", "--user", "bob").code == 0


@frozen(START)
def test_confirm_turns_the_holders_lock_into_a_booking(cli):
    cli("lock", "3", "--user", "alice")
    run = cli("confirm", "3", "--user", "alice", "--json")
    assert run.code == 0
    assert run.json() == {
        "seats": [seat_object("3", "booked", booked_by="alice", booked_at="2026-01-01T12:00:00Z")]
    }


def test_confirming_again_succeeds_and_changes_nothing(cli, db_path):
    with frozen(START) as clock:
        cli("lock", "3", "--user", "alice")
        cli("confirm", "3", "--user", "alice")
        before = dump(db_path)
        clock.tick(300)
        run = cli("confirm", "3", "--user", "alice", "--json")
    assert run.code == 0
    assert run.json()["seats"][0]["booked_at"] == "2026-01-01T12:00:00Z"
    assert dump(db_path) == before


def test_confirm_after_the_lock_expired_is_refused_as_expired(cli):
    with frozen(START) as clock:
        cli("lock", "3", "--user", "alice", "--ttl", "10")
        clock.tick(10)
        run = cli("confirm", "3", "--user", "alice", "--json")
    assert run.code == 5
    assert run.error() == {
        "error": "expired",
        "message": "seat 3 is no longer locked by alice: the lock expired at 2026-01-01T12:00:10Z",
        "seats": [{"seat": "3", "reason": "expired"}],
    }


def test_others_see_a_lapsed_lock_as_not_theirs(cli):
    with frozen(START) as clock:
        cli("lock", "3", "--user", "alice", "--ttl", "10")
        clock.tick(11)
        run = cli("confirm", "3", "--user", "bob", "--json")
    assert (run.code, run.error()["error"]) == (5, "not_holder")


@frozen(START)
def test_confirm_without_any_lock_is_refused(cli):
    run = cli("confirm", "3", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (5, "not_holder")


@frozen(START)
def test_confirm_of_another_users_lock_is_refused(cli):
    cli("lock", "3", "--user", "alice")
    run = cli("confirm", "3", "--user", "bob", "--json")
    assert (run.code, run.error()["error"]) == (5, "not_holder")
    assert seat(cli, "3")["locked_by"] == "alice"


@frozen(START)
def test_confirm_of_a_seat_booked_by_another_is_refused_as_booked(cli):
    cli("lock", "3", "--user", "alice")
    cli("confirm", "3", "--user", "alice")
    run = cli("confirm", "3", "--user", "bob", "--json")
    assert (run.code, run.error()["error"]) == (5, "booked")


@frozen(START)
def test_release_frees_the_holders_seat_at_once(cli):
    cli("lock", "3", "--user", "alice")
    run = cli("release", "3", "--user", "alice")
    assert (run.code, run.out) == (0, "released seat 3\n")
    assert seat(cli, "3")["status"] == "available"
    assert cli("lock", "3", "--user", "bob").code == 0


@frozen(START)
def test_release_of_another_users_lock_is_refused(cli):
    cli("lock", "3", "--user", "alice")
    run = cli("release", "3", "--user", "bob", "--json")
    assert (run.code, run.error()["error"]) == (5, "not_holder")
    assert seat(cli, "3")["locked_by"] == "alice"


@frozen(START)
def test_a_booking_cannot_be_released(cli):
    cli("lock", "3", "--user", "alice")
    cli("confirm", "3", "--user", "alice")
    run = cli("release", "3", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (5, "booked")
    assert seat(cli, "3")["status"] == "booked"


@frozen(START)
def test_releasing_ones_own_booking_explains_that_bookings_cannot_be_released(cli):
    cli("lock", "3", "--user", "alice")
    cli("confirm", "3", "--user", "alice")
    run = cli("release", "3", "--user", "alice")
    assert (run.code, run.err) == (
        5,
        "error: seat 3 is booked by alice: a booking cannot be released"
        " (the box office cancels one: seatctl cancel)\n",
    )


def test_release_after_expiry_is_refused_as_expired(cli):
    with frozen(START) as clock:
        cli("lock", "3", "--user", "alice", "--ttl", "5")
        clock.tick(6)
        run = cli("release", "3", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (5, "expired")


@frozen(START)
def test_locking_several_seats_takes_all_of_them(cli):
    run = cli("lock", "3", "4", "5", "--user", "alice")
    assert run.code == 0
    assert run.out.splitlines() == [
        f"locked seat {n} for alice until 2026-01-01T12:01:00Z" for n in (3, 4, 5)
    ]


@frozen(START)
def test_a_multi_seat_lock_with_one_refusal_changes_nothing(cli, db_path):
    cli("lock", "4", "--user", "bob")
    before = dump(db_path)
    run = cli("lock", "3", "4", "5", "--user", "alice")
    assert run.code == 4
    assert dump(db_path) == before
    assert seat(cli, "3")["status"] == seat(cli, "5")["status"] == "available"


@frozen(START)
def test_a_multi_seat_refusal_names_every_refused_seat(cli):
    cli("lock", "2", "--user", "bob")
    cli("lock", "4", "--user", "bob")
    cli("confirm", "4", "--user", "bob")
    run = cli("lock", "1", "2", "4", "--user", "alice", "--json")
    assert run.code == 4
    assert run.error()["seats"] == [
        {"seat": "2", "reason": "locked"},
        {"seat": "4", "reason": "booked"},
    ]
    assert run.error()["error"] == "locked"


@frozen(START)
def test_the_lowest_exit_code_wins_and_names_the_error(cli):
    cli("lock", "2", "--user", "bob")
    run = cli("lock", "2", "99", "--user", "alice", "--json")
    assert run.code == 3
    assert run.error()["error"] == "not_found"
    assert run.error()["seats"] == [
        {"seat": "2", "reason": "locked"},
        {"seat": "99", "reason": "not_found"},
    ]


@frozen(START)
def test_multi_seat_confirm_and_release_are_all_or_nothing(cli, db_path):
    cli("lock", "1", "2", "--user", "alice")
    before = dump(db_path)
    assert cli("confirm", "1", "2", "3", "--user", "alice").code == 5
    assert cli("release", "1", "2", "3", "--user", "alice").code == 5
    assert dump(db_path) == before
    assert cli("confirm", "1", "2", "--user", "alice").code == 0


@frozen(START)
def test_a_label_repeated_in_one_command_counts_once(cli):
    run = cli("lock", "3", "3", "3", "--user", "alice", "--json")
    assert run.code == 0
    assert [s["seat"] for s in run.json()["seats"]] == ["3"]


@frozen(START)
def test_unknown_seat_is_exit_3(cli, db_path):
    before = dump(db_path)
    run = cli("lock", "42", "--user", "alice")
    assert (run.code, run.err) == (3, "error: seat 42 does not exist\n")
    assert dump(db_path) == before


@frozen(START)
def test_user_comes_from_seatctl_user_when_the_flag_is_absent(cli, monkeypatch):
    monkeypatch.setenv("SEATCTL_USER", "carol")
    assert cli("lock", "3").out == "locked seat 3 for carol until 2026-01-01T12:01:00Z\n"
    assert cli("lock", "3", "--user", "dave").code == 4


@frozen(START)
def test_surrounding_whitespace_in_a_user_name_is_ignored(cli):
    cli("lock", "3", "--user", "  alice ")
    assert cli("confirm", "3", "--user", "alice").code == 0

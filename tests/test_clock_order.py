"""A seat's history never goes back in time, whatever the clock does (an NTP step, or a
SEATCTL_NOW earlier than the last write): a write whose clock is at most 5 s behind the seat's
newest event acts at that event's instant; further behind, it is refused (exit 6,
`clock_behind`) and changes nothing. Reads are unaffected."""

from __future__ import annotations

import json

import pytest

from helpers import START, dump, frozen, run_process

# The backend's part: each backend reads a seat's newest event.
pytestmark = [pytest.mark.backend, pytest.mark.usefixtures("venue_db")]

T0 = "2026-01-01T12:10:00Z"  # well after the venue's `add` events at START


def events(cli, *args: str) -> list[tuple[str, str, str | None, str | None]]:
    history = cli("history", *args, "--json").json()
    return [(e["at"], e["action"], e["user"], e["expires_at"]) for e in history[1:]]


def test_a_write_up_to_5_s_behind_the_seats_history_acts_at_its_newest_instant(cli):
    with frozen(T0):
        cli("lock", "1", "--user", "alice", "--ttl", "60")
    with frozen("2026-01-01T12:09:55Z"):
        run = cli("lock", "1", "--user", "alice", "--ttl", "60", "--json")
        recorded = events(cli, "1")
    assert run.code == 0
    assert run.json()["seats"][0]["expires_at"] == "2026-01-01T12:11:00Z"
    assert recorded[-1] == (
        "2026-01-01T12:10:00Z",
        "extend",
        "alice",
        "2026-01-01T12:11:00Z",
    )


def test_a_write_further_behind_is_refused_naming_both_instants(cli, db_path):
    with frozen(T0):
        cli("lock", "1", "--user", "alice")
    before = dump(db_path)
    with frozen("2026-01-01T12:09:54Z"):
        run = cli("release", "1", "--user", "alice")
    assert run.code == 6
    assert run.err == (
        "error: seat 1 has history at 2026-01-01T12:10:00Z, more than 5 s after this clock's"
        " 2026-01-01T12:09:54Z: a seat's history cannot go back in time"
        " (check the clock, or SEATCTL_NOW)\n"
    )
    assert dump(db_path) == before


def test_a_clock_refusal_with_json_is_the_usual_error_object(cli):
    with frozen(T0):
        cli("lock", "1", "--user", "alice")
    with frozen(START):
        run = cli("lock", "1", "2", "--user", "bob", "--json")
    assert run.code == 6
    error = run.error()
    assert (error["error"], error["seats"]) == (
        "clock_behind",
        [{"seat": "1", "reason": "clock_behind"}],
    )


def test_a_backdated_confirm_is_refused_and_check_stays_ok(cli, db_path):
    with frozen(T0):
        cli("lock", "1", "--user", "alice", "--ttl", "60")
    before = dump(db_path)
    with frozen("2026-01-01T12:09:00Z"):
        assert cli("confirm", "1", "--user", "alice").code == 6
    assert dump(db_path) == before
    with frozen("2026-01-01T12:10:30Z"):
        assert cli("check").out == "ok\n"


def test_a_backdated_lock_cannot_slip_in_before_a_recorded_expiry(cli, db_path):
    # Replacing alice's lapsed lock records its expiry at 12:11:00; bob's clock, far behind,
    # must not then take the seat "at" 12:10:10, while her lock stood.
    with frozen(T0):
        cli("lock", "1", "--user", "alice", "--ttl", "60")
    with frozen("2026-01-01T12:11:30Z"):
        cli("lock", "1", "--user", "carol", "--ttl", "5")
        cli("release", "1", "--user", "carol")
    with frozen("2026-01-01T12:10:10Z"):
        assert cli("lock", "1", "--user", "bob").code == 6
    with frozen("2026-01-01T12:12:00Z"):
        assert cli("check").out == "ok\n"


def test_a_far_future_write_on_one_seat_does_not_freeze_the_others(cli):
    with frozen("2999-01-01T00:00:00Z"):
        assert cli("lock", "1", "--user", "mistake").code == 0
    with frozen(T0):
        assert cli("lock", "2", "--user", "alice").code == 0
        assert cli("confirm", "2", "--user", "alice").code == 0
        assert cli("lock", "1", "--user", "alice").code == 6


def test_a_multi_seat_write_acts_at_the_newest_instant_among_its_seats(cli):
    with frozen(T0):
        cli("lock", "1", "--user", "alice")
    with frozen("2026-01-01T12:09:57Z"):
        cli("lock", "1", "2", "--user", "alice", "--ttl", "30")
        last_two = cli("history", "--json").json()[-2:]
    assert [(e["seat"], e["at"], e["expires_at"]) for e in last_two] == [
        ("1", "2026-01-01T12:10:00Z", "2026-01-01T12:10:30Z"),
        ("2", "2026-01-01T12:10:00Z", "2026-01-01T12:10:30Z"),
    ]


def test_an_unknown_seat_beside_a_refused_clock_is_still_exit_3(cli):
    with frozen(T0):
        cli("lock", "1", "--user", "alice")
    with frozen(START):
        run = cli("lock", "1", "99", "--user", "bob", "--json")
    assert run.code == 3
    reasons = [s["reason"] for s in run.error()["seats"]]
    assert reasons == ["clock_behind", "not_found"]


def test_reads_are_unaffected_by_a_clock_behind_the_history(cli):
    with frozen(T0):
        cli("lock", "1", "--user", "alice", "--ttl", "60")
    with frozen(START):
        assert cli("seats", "--status", "locked", "--json").json()[0]["seat"] == "1"
        assert events(cli, "1") == [
            ("2026-01-01T12:10:00Z", "lock", "alice", "2026-01-01T12:11:00Z")
        ]
        assert cli("check").out == "ok\n"


def test_a_clock_behind_line_in_a_batch_is_reported_and_the_batch_goes_on(cli, db_path):
    with frozen(T0):
        cli("lock", "1", "--user", "alice")
    script = "lock 1 --user bob\nlock 2 --user bob\n"
    run = run_process("--db", db_path, "batch", input=script, env={"SEATCTL_NOW": START})
    results = [json.loads(line) for line in run.out.splitlines()]
    assert run.code == 0
    assert [(r["exit"], r.get("error")) for r in results] == [(6, "clock_behind"), (0, None)]

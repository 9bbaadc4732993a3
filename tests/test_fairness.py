"""Issue 12, fair holds: max-hold caps how long one hold lasts however often its holder locks
again, max-seats-per-user caps one user's live locks in an event; both are venue settings,
shown by `settings`, recorded in the history when `init` changes them, and replayed by
`check`. The races between processes run on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpers import START, assert_clean, dump, frozen, race, run_process
from seatctl import Venue

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)  # START


def at(seconds: int) -> str:
    """START plus `seconds`, as the CLI prints instants."""
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seat(cli, label: str, *args: str) -> dict:
    return next(s for s in cli("seats", "--json", *args).json() if s["seat"] == label)


def set_meta(db: str, key: str, value: str) -> None:
    """Change a setting behind seatctl's back (no `settings` event), as a hand edit would."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            conn.execute("UPDATE meta SET value = %s WHERE key = %s", (value, key))
        return
    import sqlite3

    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    conn.close()


@pytest.fixture
def capped(venue_db: str) -> str:
    """The default venue with holds capped at 120 s (the default lock lasts 60 s)."""
    with frozen(START):
        Venue.init(venue_db, max_hold=120)
    return venue_db


@pytest.fixture
def two_each(venue_db: str) -> str:
    """The default venue with at most 2 live locks per user and event."""
    with frozen(START):
        Venue.init(venue_db, max_seats_per_user=2)
    return venue_db


# --- settings --------------------------------------------------------------------------------


def test_a_new_database_caps_holds_at_ten_default_lock_durations(cli, venue_db):
    run = cli("settings", "--json")
    assert (run.code, run.json()) == (0, {"ttl": 60, "max_hold": 600, "max_seats_per_user": 0})


def test_settings_prints_each_setting_on_a_line(cli, venue_db):
    lines = cli("settings").out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ttl", "60"],
        ["max_hold", "600"],
        ["max_seats_per_user", "0"],
    ]


def test_a_new_database_with_a_longer_ttl_caps_holds_at_ten_of_them(cli, db_path):
    assert cli("init", "--ttl", "300").code == 0
    assert cli("settings", "--json").json()["max_hold"] == 3000


def test_a_new_database_never_caps_holds_beyond_a_day(cli, db_path):
    assert cli("init", "--ttl", "86400").code == 0
    assert cli("settings", "--json").json()["max_hold"] == 86400


def test_init_sets_both_caps_and_reports_them(cli, venue_db):
    result = Venue.init(venue_db, max_hold=900, max_seats_per_user=4)
    assert (result.max_hold, result.max_seats_per_user) == (900, 4)
    assert cli("init", "--max-hold", "900").code == 0
    assert cli("settings", "--json").json() == {
        "ttl": 60,
        "max_hold": 900,
        "max_seats_per_user": 4,
    }


def test_max_hold_0_means_no_cap(cli, venue_db):
    assert cli("init", "--max-hold", "0").code == 0
    with frozen(START) as clock:
        for _ in range(20):  # 20 minutes of relocking, twice the default cap
            assert cli("lock", "1", "--user", "alice").code == 0
            clock.tick(59)
        assert seat(cli, "1")["held_since"] == START


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--max-hold", "-1"), "invalid --max-hold -1"),
        (("--max-hold", "86401"), "invalid --max-hold 86401"),
        (("--max-hold", "59"), "max-hold 59 s would be less than the default lock duration 60"),
        (("--ttl", "120", "--max-hold", "100"), "less than the default lock duration (120 s)"),
        (("--ttl", "900"), "max-hold 600 s would be less than the default lock duration 900 s"),
        (("--max-seats-per-user", "-1"), "invalid --max-seats-per-user -1"),
        (("--max-seats-per-user", "100001"), "invalid --max-seats-per-user 100001"),
    ],
)
def test_a_setting_out_of_range_is_exit_2_and_changes_nothing(cli, venue_db, args, words):
    before = dump(venue_db)
    run = cli("init", *args)
    assert run.code == 2
    assert words in run.err
    assert len(run.err.splitlines()) == 1
    assert dump(venue_db) == before


def test_max_hold_may_equal_the_default_ttl(cli, venue_db):
    assert cli("init", "--max-hold", "60").code == 0
    assert cli("settings", "--json").json()["max_hold"] == 60


def test_changing_a_setting_is_a_settings_event_in_the_history(cli, venue_db):
    with frozen(START):
        assert cli("init", "--max-hold", "900", "--max-seats-per-user", "2").code == 0
    event = cli("history", "--json").json()[-1]
    assert event == {
        "at": START,
        "seat": None,
        "action": "settings",
        "user": None,
        "expires_at": None,
        "event": "default",
        "reason": "max_hold 600 -> 900, max_seats_per_user 0 -> 2",
        "by": None,
        "token": None,
    }


def test_init_without_a_change_of_settings_records_none(cli, venue_db):
    before = cli("history", "--json").json()
    assert cli("init", "--max-hold", "600", "--ttl", "60").code == 0
    assert cli("history", "--json").json() == before


def test_a_settings_event_is_not_a_seats_event(cli, venue_db):
    assert cli("init", "--max-hold", "900").code == 0
    assert cli("history", "1", "--json").json()[-1]["action"] == "add"


# --- held_since ------------------------------------------------------------------------------


def test_a_lock_starts_a_hold_that_relocks_keep(cli, venue_db):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice")
        clock.tick(30)
        relocked = cli("lock", "1", "--user", "alice", "--json").json()["seats"][0]
    assert (relocked["held_since"], relocked["expires_at"]) == (START, at(90))


def test_a_seat_not_live_locked_has_no_hold(cli, venue_db):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice")
        clock.tick(60)
        assert seat(cli, "1")["held_since"] is None
        cli("lock", "2", "--user", "alice")
        cli("confirm", "2", "--user", "alice")
        assert seat(cli, "2")["held_since"] is None


def test_the_csv_listing_has_the_held_since_column(cli, venue_db):
    with frozen(START):
        cli("lock", "1", "--user", "alice")
        lines = cli("seats", "--csv").out.splitlines()
    assert lines[0].split(",")[10] == "held_since"  # where it was: new columns come after it
    assert lines[1].split(",")[10] == START


# --- max-hold at its boundaries --------------------------------------------------------------


def test_a_relock_leaving_the_deadline_one_second_before_the_cap_succeeds(cli, capped):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice")
        clock.tick(59)
        run = cli("lock", "1", "--user", "alice", "--json")
    assert run.code == 0
    assert run.json()["seats"][0]["expires_at"] == at(119)


def lock_until_the_cap(cli, clock) -> None:
    """alice locks seat 1 at START and relocks it at +59 (until +119) and at +61 (until the
    cap, +120: START plus 120 s)."""
    assert cli("lock", "1", "--user", "alice").code == 0
    clock.tick(59)
    assert cli("lock", "1", "--user", "alice").code == 0
    clock.tick(2)
    assert cli("lock", "1", "--user", "alice").code == 0


def test_a_relock_the_cap_limits_ends_the_hold_at_the_cap(cli, capped):
    with frozen(START) as clock:
        lock_until_the_cap(cli, clock)
        assert seat(cli, "1")["expires_at"] == at(120)
        assert seat(cli, "1")["held_since"] == START


def test_a_relock_at_the_cap_is_refused_as_max_hold_naming_the_start_and_final_deadline(
    cli, capped
):
    with frozen(START) as clock:
        lock_until_the_cap(cli, clock)
        clock.tick(58)  # +119: one second before the cap
        before = dump(capped)
        run = cli("lock", "1", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (4, "max_hold")
    assert run.error()["seats"] == [{"seat": "1", "reason": "max_hold"}]
    assert START in run.error()["message"]
    assert at(120) in run.error()["message"]
    assert dump(capped) == before


def test_the_holder_may_still_confirm_until_the_final_deadline(cli, capped):
    with frozen(START) as clock:
        lock_until_the_cap(cli, clock)
        clock.tick(58)
        assert cli("lock", "1", "--user", "alice").code == 4
        assert cli("confirm", "1", "--user", "alice").code == 0


def test_at_the_cap_the_hold_has_lapsed_and_its_former_holder_may_start_a_new_one(cli, capped):
    with frozen(START) as clock:
        lock_until_the_cap(cli, clock)
        clock.tick(59)  # at the cap
        assert cli("release", "1", "--user", "alice").code == 5
        run = cli("lock", "1", "--user", "alice", "--json")
        history = cli("history", "1", "--json").json()
    assert run.code == 0
    assert run.json()["seats"][0]["held_since"] == at(120)
    assert run.json()["seats"][0]["expires_at"] == at(180)
    assert [e["action"] for e in history][-2:] == ["expire", "lock"]


def test_after_the_lapse_anyone_may_lock_the_seat(cli, capped):
    with frozen(START) as clock:
        lock_until_the_cap(cli, clock)
        clock.tick(58)
        assert cli("lock", "1", "--user", "bob").code == 4
        clock.tick(1)
        assert cli("lock", "1", "--user", "bob").code == 0


def test_a_first_lock_with_a_ttl_above_the_cap_lasts_until_the_cap(cli, capped):
    with frozen(START):
        run = cli("lock", "1", "--user", "alice", "--ttl", "3600", "--json")
    assert run.code == 0
    assert run.json()["seats"][0]["expires_at"] == at(120)


def test_two_relocks_within_the_same_second_both_succeed(cli, capped):
    with frozen(START):
        cli("lock", "1", "--user", "alice")
        first = cli("lock", "1", "--user", "alice", "--json")
        second = cli("lock", "1", "--user", "alice", "--json")
    assert (first.code, second.code) == (0, 0)
    assert second.json()["seats"][0]["expires_at"] == at(60)


def test_a_multi_seat_relock_with_one_seat_at_its_cap_is_refused_whole(cli, capped):
    with frozen(START) as clock:
        lock_until_the_cap(cli, clock)
        clock.tick(1)
        before = dump(capped)
        run = cli("lock", "1", "2", "--user", "alice", "--json")
    assert (run.code, run.error()["seats"]) == (4, [{"seat": "1", "reason": "max_hold"}])
    assert dump(capped) == before


@pytest.mark.backend  # processes, serialised by the backend
def test_the_cap_is_enforced_across_processes_by_seatctl_now(capped):
    def lock(seconds: int):
        return run_process(
            "--db", capped, "lock", "1", "--user", "alice", env={"SEATCTL_NOW": at(seconds)}
        )

    assert lock(0).code == 0
    assert lock(59).code == 0  # until +119
    assert lock(61).code == 0  # until the cap, +120
    refused = lock(62)
    assert refused.code == 4
    assert refused.err.startswith("error: seat 1 is held by alice since 2026-01-01T12:00:00Z")
    assert "Traceback" not in refused.err
    assert lock(120).code == 0  # lapsed: a new hold


def test_max_hold_applies_in_every_event(cli, capped):
    cli("event", "add", "gala")
    with frozen(START) as clock:
        for step in (0, 59, 2, 1):  # locked, until +119, until the cap, at it
            clock.tick(step)
            run = cli("lock", "1", "--user", "alice", "--event", "gala", "--json")
    assert (run.code, run.error()["error"]) == (4, "max_hold")


def test_lowering_the_cap_refuses_a_relock_whose_deadline_lies_past_the_new_cap(cli, venue_db):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice", "--ttl", "500")
        cli("init", "--max-hold", "120")
        clock.tick(10)
        run = cli("lock", "1", "--user", "alice", "--ttl", "500", "--json")
        assert (run.code, run.error()["error"]) == (4, "max_hold")
        assert seat(cli, "1")["expires_at"] == at(500)  # the lock made under 600 stands
        assert cli("check").out == "ok\n"


def test_a_relock_within_a_lowered_cap_still_succeeds(cli, venue_db):
    with frozen(START) as clock:
        cli("lock", "1", "--user", "alice", "--ttl", "500")
        cli("init", "--max-hold", "120")
        clock.tick(10)
        run = cli("lock", "1", "--user", "alice", "--json")
        assert run.code == 0
        assert run.json()["seats"][0]["expires_at"] == at(70)
        assert cli("check").out == "ok\n"


# --- max-seats-per-user ----------------------------------------------------------------------


def test_a_lock_within_the_cap_succeeds(cli, two_each):
    assert cli("lock", "1", "2", "--user", "alice").code == 0


def test_a_lock_past_the_cap_is_refused_whole_naming_the_cap_and_the_count(cli, two_each):
    cli("lock", "1", "--user", "alice")
    before = dump(two_each)
    run = cli("lock", "2", "3", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (4, "max_seats")
    assert run.error()["seats"] == [
        {"seat": "2", "reason": "max_seats"},
        {"seat": "3", "reason": "max_seats"},
    ]
    message = run.error()["message"]
    assert "max-seats-per-user is 2" in message
    assert "alice holds 1 seat in event default now" in message
    assert dump(two_each) == before


def test_the_refusal_is_one_line_on_stderr(cli, two_each):
    run = cli("lock", "1", "2", "3", "--user", "alice")
    assert run.code == 4
    assert run.err.startswith("error: max-seats-per-user is 2: alice holds 0 seats")
    assert len(run.err.splitlines()) == 1


def test_locking_again_a_seat_one_holds_does_not_count_twice(cli, two_each):
    cli("lock", "1", "2", "--user", "alice")
    assert cli("lock", "1", "2", "--user", "alice").code == 0
    run = cli("lock", "2", "3", "--user", "alice", "--json")
    assert (run.code, run.error()["seats"]) == (4, [{"seat": "3", "reason": "max_seats"}])


def test_bookings_do_not_count(cli, two_each):
    cli("lock", "1", "2", "--user", "alice")
    cli("confirm", "1", "2", "--user", "alice")
    assert cli("lock", "3", "4", "--user", "alice").code == 0


def test_lapsed_locks_do_not_count(cli, two_each):
    with frozen(START) as clock:
        cli("lock", "1", "2", "--user", "alice")
        clock.tick(60)
        assert cli("lock", "3", "4", "--user", "alice").code == 0


def test_other_users_have_caps_of_their_own(cli, two_each):
    cli("lock", "1", "2", "--user", "alice")
    assert cli("lock", "3", "4", "--user", "bob").code == 0


def test_the_cap_counts_each_event_on_its_own(cli, two_each):
    cli("event", "add", "gala")
    cli("lock", "1", "2", "--user", "alice")
    assert cli("lock", "1", "2", "--user", "alice", "--event", "gala").code == 0
    run = cli("lock", "3", "--user", "alice", "--event", "gala", "--json")
    assert (run.code, run.error()["error"]) == (4, "max_seats")


def test_a_seat_refused_for_its_own_reason_is_named_before_the_cap(cli, two_each):
    cli("lock", "1", "--user", "bob")
    run = cli("lock", "1", "2", "3", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (4, "locked")


def test_lock_best_respects_the_cap(cli, two_each):
    cli("lock", "1", "--user", "alice")
    before = dump(two_each)
    run = cli("lock", "--best", "2", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (4, "max_seats")
    assert "alice holds 1 seat" in run.error()["message"]
    assert dump(two_each) == before
    assert cli("lock", "--best", "1", "--user", "alice").code == 0


def test_batch_follows_the_cap(two_each):
    run = run_process(
        "--db",
        two_each,
        "batch",
        input="lock 1 2 --user alice\nlock 3 --user alice\n",
        env={"SEATCTL_NOW": START},
    )
    import json

    results = [json.loads(line) for line in run.out.splitlines()]
    assert [(r["exit"], r.get("error")) for r in results] == [(0, None), (4, "max_seats")]


def test_the_python_api_follows_the_cap(two_each):
    from seatctl import SeatctlError

    with Venue.open(two_each) as venue:
        venue.lock(["1", "2"], user="alice")
        with pytest.raises(SeatctlError) as refused:
            venue.lock(["3"], user="alice")
        assert refused.value.reason == "max_seats"
        assert venue.settings().max_seats_per_user == 2


@pytest.mark.backend  # a race, settled by the backend's locks
def test_eight_processes_of_one_user_with_a_cap_of_3_get_exactly_3_seats(db_path):
    with frozen(START):
        Venue.init(db_path, seats=8, max_seats_per_user=3)
    runs = race([["--db", db_path, "lock", str(n), "--user", "alice"] for n in range(1, 9)])
    assert_clean(runs)
    assert sorted(run.code for run in runs) == [0] * 3 + [4] * 5
    assert all("max-seats-per-user is 3" in run.err for run in runs if run.code == 4)
    with Venue.open(db_path) as venue:
        assert len(venue.seats(user="alice")) == 3
        assert venue.check() == []


# --- check -------------------------------------------------------------------------------------


def test_check_catches_a_lock_that_outlived_its_cap(cli, db_path):
    with frozen(START):
        cli("init", "--max-hold", "0")  # a new database: no settings event
        cli("lock", "1", "--user", "alice", "--ttl", "3600")
        set_meta(db_path, "max_hold", "120")  # as if the cap had always been 120 s
        run = cli("check")
    assert run.code == 6
    assert "seat 1: lock by alice until 2026-01-01T13:00:00Z outlives its hold's cap" in run.out
    assert "max-hold 120 s allowed until 2026-01-01T12:02:00Z" in run.out


def test_check_judges_each_lock_by_the_cap_in_force_when_it_was_made(cli, venue_db):
    with frozen(START) as clock:
        cli("init", "--max-hold", "0")
        cli("lock", "1", "--user", "alice", "--ttl", "3600")
        cli("init", "--max-hold", "120")
        clock.tick(10)
        cli("lock", "2", "--user", "alice", "--ttl", "3600")
        assert seat(cli, "2")["expires_at"] == at(130)
        assert cli("check").out == "ok\n"


def test_check_catches_a_setting_changed_without_its_event(cli, venue_db):
    cli("init", "--max-hold", "900")
    set_meta(venue_db, "max_hold", "300")
    run = cli("check")
    assert run.code == 6
    assert "settings: max_hold was set to 900" in run.out


# --- the HTTP API ----------------------------------------------------------------------------


@pytest.fixture
def open_api(two_each: str):
    """`serve --no-auth` over the venue with at most 2 live locks per user and event."""
    pytest.importorskip("starlette")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's note about httpx's successor
        from starlette.testclient import TestClient

    from seatctl.server.app import create_app
    from seatctl.server.worker import Worker

    running = Worker(two_each)
    running.start()
    yield TestClient(create_app(running, auth=False), base_url="http://127.0.0.1:8000")
    running.stop()


def test_the_http_api_refuses_a_lock_past_the_cap_with_409(open_api, two_each):
    locked = open_api.post("/v1/lock", json={"seats": ["1", "2"], "user": "alice"})
    assert locked.status_code == 200
    assert [s["held_since"] is not None for s in locked.json()["seats"]] == [True, True]
    before = dump(two_each)
    refused = open_api.post("/v1/lock", json={"seats": ["3"], "user": "alice"})
    assert (refused.status_code, refused.json()["error"]) == (409, "max_seats")
    assert refused.json()["seats"] == [{"seat": "3", "reason": "max_seats"}]
    assert dump(two_each) == before


def test_the_http_api_refuses_a_relock_at_the_cap_with_409(open_api, two_each):
    Venue.init(two_each, max_hold=60)
    with frozen(START):
        assert open_api.post("/v1/lock", json={"seats": ["1"], "user": "alice"}).status_code == 200
    with frozen(at(1)):
        refused = open_api.post("/v1/lock", json={"seats": ["1"], "user": "alice"})
    assert (refused.status_code, refused.json()["error"]) == (409, "max_hold")


def test_a_cap_lowered_below_what_a_user_holds_still_lets_them_relock_those(cli, venue_db):
    cli("lock", "1", "2", "3", "--user", "alice")
    cli("init", "--max-seats-per-user", "2")
    assert cli("lock", "1", "2", "3", "--user", "alice").code == 0
    run = cli("lock", "4", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (4, "max_seats")
    assert "alice holds 3 seats" in run.error()["message"]


def test_check_catches_a_user_holding_more_seats_than_the_cap(cli, db_path):
    with frozen(START):
        cli("init")
        cli("lock", "1", "2", "--user", "alice")
        set_meta(db_path, "max_seats_per_user", "1")  # as if the cap had always been 1
        run = cli("check")
    assert run.code == 6
    assert run.out == (
        "seat 2: lock by alice leaves them 2 live locks, past max-seats-per-user 1"
        " (event 7, 2026-01-01T12:00:00Z)\n"
    )

"""The clock: one function, overridable with SEATCTL_NOW for CI jobs that cannot wait."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from helpers import run_process
from seatctl.core import clock
from seatctl.core.errors import SeatctlError


@pytest.mark.parametrize(
    "text",
    ["2026-01-01T12:00:00Z", "2026-01-01T13:00:00+01:00", "@1767268800", "2026-01-01T12:00:00.9Z"],
)
def test_seatctl_now_accepts_iso_instants_with_a_zone_and_epoch_seconds(monkeypatch, text):
    monkeypatch.setenv("SEATCTL_NOW", text)
    assert clock.now() == 1767268800


@pytest.mark.parametrize(
    "text", ["2026-01-01T12:00:00", "yesterday", "@12.5", "@-1", "@", "2026-13-01T00:00:00Z"]
)
def test_seatctl_now_without_a_zone_or_unparsable_is_a_usage_error(monkeypatch, text):
    monkeypatch.setenv("SEATCTL_NOW", text)
    with pytest.raises(SeatctlError) as raised:
        clock.now()
    assert raised.value.exit_code == 2


def test_empty_seatctl_now_means_the_real_clock(monkeypatch):
    monkeypatch.setenv("SEATCTL_NOW", "")
    with freeze_time("2030-05-05T05:05:05Z"):
        assert clock.format_instant(clock.now()) == "2030-05-05T05:05:05Z"


def test_now_is_truncated_to_whole_seconds():
    with freeze_time("2030-05-05T05:05:05.999Z"):
        assert clock.format_instant(clock.now()) == "2030-05-05T05:05:05Z"


@pytest.mark.backend  # SEATCTL_NOW stands in for each backend's clock (PostgreSQL's: the server's)
def test_a_ci_job_sees_a_lock_expire_without_waiting(db_path):
    def seatctl(now: str, *args: str):
        return run_process("--db", db_path, *args, env={"SEATCTL_NOW": now})

    assert seatctl("2026-01-01T12:00:00Z", "init").code == 0
    locked = seatctl("2026-01-01T12:00:00Z", "lock", "1", "--user", "a")
    assert locked.out == "locked seat 1 for a until 2026-01-01T12:01:00Z\n"
    still = seatctl("2026-01-01T12:00:59Z", "seats", "--status", "locked", "--json")
    assert [s["seat"] for s in still.json()] == ["1"]
    later = seatctl("2026-01-01T12:01:01Z", "seats", "--status", "available", "--json")
    assert "1" in [s["seat"] for s in later.json()]
    assert seatctl("2026-01-01T12:01:01Z", "lock", "1", "--user", "b").code == 0


def test_bad_seatctl_now_is_exit_2_with_one_line(db_path):
    run_process("--db", db_path, "init")
    run = run_process("--db", db_path, "seats", env={"SEATCTL_NOW": "noon"})
    assert run.code == 2
    assert run.err.startswith("error: SEATCTL_NOW 'noon': not an ISO 8601 instant")
    assert run.err.count("\n") == 1


def test_the_clock_stops_a_day_short_of_year_10000_so_deadlines_stay_printable(monkeypatch):
    monkeypatch.setenv("SEATCTL_NOW", "9999-12-30T23:59:59Z")
    latest = clock.now()
    assert clock.format_instant(latest + 86_400) == "9999-12-31T23:59:59Z"
    monkeypatch.setenv("SEATCTL_NOW", "9999-12-31T00:00:00Z")
    with pytest.raises(SeatctlError):
        clock.now()


@pytest.mark.parametrize(
    "args", [["seats", "--json"], ["seats", "--csv"], ["seats", "--nl"], ["check"], ["history"]]
)
def test_a_bad_seatctl_now_leaves_stdout_empty_for_every_command(cli, venue_db, monkeypatch, args):
    monkeypatch.setenv("SEATCTL_NOW", "2026-01-01T12:00:00")
    run = cli(*args)
    assert (run.code, run.out) == (2, "")
    assert "SEATCTL_NOW" in run.err


def test_with_json_a_bad_seatctl_now_is_a_json_usage_error(cli, venue_db, monkeypatch):
    monkeypatch.setenv("SEATCTL_NOW", "noon")
    run = cli("seats", "--json")
    assert run.error()["error"] == "usage"


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-01", "2026-01-01T00:00:00Z"),
        ("2026-01-01T12:00:00z", "2026-01-01T12:00:00Z"),
        (" 2026-01-01 ", "2026-01-01T00:00:00Z"),
    ],
)
def test_a_date_is_the_start_of_that_day_in_utc_and_a_lowercase_z_is_a_z(text, instant):
    assert clock.format_instant(clock.parse_instant(text)) == instant


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("@-1", clock.OUT_OF_RANGE),
        ("9999-12-31T00:00:00Z", clock.OUT_OF_RANGE),
        ("0001-01-01T00:00:00+01:00", clock.OUT_OF_RANGE),
        ("1969-12-31", clock.OUT_OF_RANGE),
        ("@12.5", "not a whole number of epoch seconds (like @1767268800)"),
        ("2026-01-01T12:00:00", clock.NO_ZONE),
        ("2026-02-30", clock.NOT_AN_INSTANT),
        ("noon", clock.NOT_AN_INSTANT),
    ],
)
def test_a_refused_instant_says_why_and_range_errors_say_the_range(text, why):
    with pytest.raises(ValueError) as raised:
        clock.parse_instant(text)
    assert str(raised.value) == why


def test_seatctl_now_accepts_a_lowercase_z(monkeypatch):
    monkeypatch.setenv("SEATCTL_NOW", "2026-01-01T12:00:00z")
    assert clock.now() == 1767268800

"""The pytest plugin shipped with seatctl, tried as a user's project would use it (pytester)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PG_ENV = "SEATCTL_TEST_PG"
PG_SERVER = os.environ.get(PG_ENV)  # read before `project` hides it from the sample projects


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's project with seatctl installed, its venues on SQLite (whatever this run's
    $SEATCTL_TEST_PG says)."""
    monkeypatch.delenv(PG_ENV, raising=False)
    return pytester


# The user's pytest session, in this process. Without the plugins this suite does not load
# (pytester forgets what each session imports, so every session would import them again).
QUIET = ("-p", "no:cacheprovider", "-p", "no:schemathesis")


def run(project: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    project.makepyfile(test_shop=source)
    return project.runpytest_inprocess(*QUIET, *args)


def test_a_venue_is_made_fresh_and_open_as_init_makes_it(project):
    result = run(
        project,
        """
        from seatctl import Venue

        def test_default_venue(seat_venue, seat_clock):
            assert isinstance(seat_venue, Venue)
            assert [s.seat for s in seat_venue.seats()] == ["1", "2", "3", "4", "5"]
            assert seat_venue.settings() == (60, 600, 0)
            assert seat_venue.history(["1"])[0].at == seat_clock.now

        def test_each_test_has_its_own(seat_venue, tmp_path):
            assert seat_venue.db == str(tmp_path / "venue.db")
            assert seat_venue.seats()[0].status == "available"
        """,
    )
    result.assert_outcomes(passed=2)


def test_the_marker_shapes_the_venue_and_the_clocks_start(project):
    project.makefile(".csv", hall="label,section,row,number\nA1,Stalls,A,1\nA2,Stalls,A,2\n")
    result = run(
        project,
        """
        import pytest

        @pytest.mark.seatctl(seats=10, ttl=30, events=["gala"], max_hold=90,
                             max_seats_per_user=4, now="2031-05-01T00:00:00Z")
        def test_shaped(seat_venue, seat_clock):
            assert len(seat_venue.seats()) == 10
            assert seat_venue.settings() == (30, 90, 4)
            assert seat_venue.event("gala").name == "gala"
            assert seat_clock.iso == "2031-05-01T00:00:00Z"

        @pytest.mark.seatctl(map="hall.csv")
        def test_mapped(seat_venue):
            assert [(s.seat, s.row) for s in seat_venue.seats()] == [("A1", "A"), ("A2", "A")]
        """,
    )
    result.assert_outcomes(passed=2)


def test_a_bad_marker_fails_the_test_with_seatctls_message(project):
    result = run(
        project,
        """
        import pytest

        @pytest.mark.seatctl(ttl=0)
        def test_zero_ttl(seat_venue):
            pass

        @pytest.mark.seatctl(seat=3)
        def test_misspelt(seat_venue):
            pass
        """,
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.seatctl: invalid ttl 0*",
            "*@pytest.mark.seatctl: unknown seat (it takes seats, ttl, map, *",
        ]
    )


def test_the_clock_moves_venues_already_open_and_a_lock_expires_without_waiting(project):
    result = run(
        project,
        """
        from seatctl.testing import assert_history, assert_seat

        def test_expiry(seat_venue, seat_clock):
            seat_venue.lock(["3"], user="alice")
            assert_seat(seat_venue, "3", status="locked", locked_by="alice",
                        expires_at="2030-01-01T12:01:00Z")
            seat_clock.advance(61)
            assert_seat(seat_venue, "3", status="available")
            assert_history(seat_venue, "3", [("lock", "alice"), "expire"])
            seat_clock.set("2031-01-01T00:00:00Z")
            assert seat_venue.lock(["3"], user="bob")[0].expires_at == seat_clock.now + 60
        """,
    )
    result.assert_outcomes(passed=1)


def test_seatctl_run_runs_commands_at_the_clock_in_process_and_as_a_process(project):
    result = run(
        project,
        """
        from seatctl.testing import assert_seat

        def test_lock_then_expire(seatctl_run, seat_clock, seat_venue):
            code, out, err = seatctl_run("lock", "3", "--user", "alice", "--json")
            assert (code, err) == (0, "")
            assert out.startswith("{")
            taken = seatctl_run("lock", "3", "--user", "bob", "--json")
            assert taken.exit_code == 4
            assert taken.json["error"] == "locked"
            seat_clock.advance(61)
            done = seatctl_run("lock", "3", "--user", "bob", "--json", subprocess=True)
            assert done.exit_code == 0, done.stderr
            assert done.json["seats"][0]["expires_at"] == "2030-01-01T12:02:01Z"
            assert_seat(seat_venue, "3", locked_by="bob")

        def test_stdin_and_extra_variables(seatctl_run):
            result = seatctl_run("batch", input="lock 1\\nconfirm 1\\n",
                                 env={"SEATCTL_USER": "carol"})
            assert [line["exit"] for line in result.json_lines] == [0, 0]
        """,
    )
    result.assert_outcomes(passed=2)


def test_seat_env_gives_processes_the_venue_and_the_clock_as_it_is_when_they_start(project):
    result = run(
        project,
        """
        import json, subprocess, sys

        def lock(env, user):
            done = subprocess.run([sys.executable, "-m", "seatctl", "lock", "2", "--user", user,
                                   "--json"], env=env, capture_output=True, text=True)
            return done.returncode, done.stdout, done.stderr

        def test_processes(seat_env, seat_clock):
            assert lock(seat_env, "alice")[0] == 0
            assert lock(seat_env, "bob")[0] == 4
            seat_clock.advance(60)
            code, out, err = lock(seat_env, "bob")
            assert code == 0, err
            assert json.loads(out)["seats"][0]["held_since"] == "2030-01-01T12:01:00Z"
            assert seat_clock.env({})["SEATCTL_NOW"] == "2030-01-01T12:01:00Z"
        """,
    )
    result.assert_outcomes(passed=1)


def test_a_process_not_given_the_clock_is_refused_rather_than_passing_by_luck(project):
    result = run(
        project,
        """
        import subprocess, sys
        import pytest

        @pytest.mark.seatctl(now="2099-01-01T00:00:00Z")  # ahead of the real clock for years
        def test_forgotten_clock(seat_venue, seat_env):
            env = {k: v for k, v in seat_env.items() if k != "SEATCTL_NOW"}
            done = subprocess.run([sys.executable, "-m", "seatctl", "lock", "2", "--user", "a"],
                                  env=env, capture_output=True, text=True)
            assert done.returncode == 6
            assert "clock" in done.stderr
        """,
    )
    result.assert_outcomes(passed=1)


def test_seat_server_serves_the_venue_with_tokens_and_follows_the_clock(project):
    result = run(
        project,
        """
        import json, urllib.request
        from seatctl.testing import assert_seat

        def call(server, token, path, body=None):
            request = urllib.request.Request(
                server.url + path, data=json.dumps(body).encode() if body else None,
                headers={"Authorization": f"Bearer {token}",
                         "Content-Type": "application/json"})
            with urllib.request.urlopen(request) as answer:
                return json.load(answer)

        def test_server(seat_server, seat_clock, seat_venue):
            token = seat_server.token("alice")
            assert call(seat_server, token, "/v1/me")["user"] == "alice"
            locked = call(seat_server, token, "/v1/lock", {"seats": ["3"]})["seats"][0]
            assert locked["expires_at"] == "2030-01-01T12:01:00Z"
            assert_seat(seat_venue, "3", status="locked", locked_by="alice")
            seat_clock.advance(61)
            seats = call(seat_server, token, "/v1/seats")
            assert [s["status"] for s in seats if s["seat"] == "3"] == ["available"]
        """,
    )
    result.assert_outcomes(passed=1)


def test_a_wrong_seat_expectation_fails_with_each_difference(project):
    result = run(
        project,
        """
        from seatctl.testing import assert_seat

        def test_wrong(seat_venue):
            seat_venue.lock(["3"], user="bob")
            assert_seat(seat_venue, "3", status="booked", booked_by="alice")
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * seat 3 of event 'default' is not as expected:",
            "E *   status     expected 'booked', got 'locked'",
            "E *   booked_by  expected 'alice', got None",
            "E *   the seat now: seat='3', status='locked', locked_by='bob', *",
        ]
    )


def test_a_wrong_history_expectation_shows_the_seats_history(project):
    result = run(
        project,
        """
        from seatctl.testing import assert_history

        def test_wrong(seat_venue, seat_clock):
            seat_venue.lock(["3"], user="alice")
            seat_clock.advance(61)
            assert_history(seat_venue, "3", ["lock", "confirm"])
        """,
    )
    result.assert_outcomes(failed=1)
    shown = result.stdout.str()
    for line in [
        "AssertionError: history of seat 3 in event 'default' is not as expected:\n",
        "  expected: ['lock', 'confirm']\n",
        "  actual:   ['lock', 'expire']\n",
        "  first difference at #2: expected 'confirm', got 'expire'\n",
        "    2030-01-01T12:00:00Z  lock      alice  until 2030-01-01T12:01:00Z\n",
        "    2030-01-01T12:01:00Z  expire    alice\n",
    ]:
        assert line in shown


def test_the_clock_going_backwards_fails_at_once_with_why(project):
    result = run(
        project,
        """
        def test_set_back(seat_clock):
            seat_clock.set("2029-12-31T12:00:00Z")

        def test_negative_advance(seat_clock):
            seat_clock.advance(-5)
        """,
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * seat_clock.set('2029-12-31T12:00:00Z'): the clock never goes backwards:"
            " 2029-12-31T12:00:00Z is 86400 s before its time 2030-01-01T12:00:00Z *",
            "E * seat_clock.advance(-5): the clock never goes backwards"
            " (it is at 2030-01-01T12:00:00Z; *",
        ]
    )


def test_p_no_seatctl_turns_the_plugin_off(project):
    result = run(project, "def test_uses(seat_venue):\n    pass\n", "-p", "no:seatctl")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'seat_venue' not found*"])


def test_seatctl_db_takes_only_a_postgresql_url_or_sqlite(project):
    result = run(project, "def test_nothing(seat_venue):\n    pass\n", "--seatctl-db=mysql://x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--seatctl-db 'mysql://x': give a postgresql:// URL or 'sqlite'*"]
    )


def test_seatctl_db_sqlite_keeps_venues_on_sqlite_whatever_the_variable_says(project, monkeypatch):
    monkeypatch.setenv(PG_ENV, "postgresql://nobody@127.0.0.1:1/none")
    source = "def test_file(seat_venue, tmp_path):\n    assert seat_venue.db.endswith('venue.db')\n"
    result = run(project, source, "--seatctl-db=sqlite")
    result.assert_outcomes(passed=1)


POSTGRES_PROJECT = """
    import pathlib
    from seatctl.testing import assert_seat

    def test_on_postgres(seat_venue, seatctl_run, seat_clock):
        pathlib.Path("venue-url").write_text(seat_venue.db)
        assert seat_venue.db.startswith("postgresql://")
        code, out, err = seatctl_run("lock", "3", "--user", "alice")
        assert code == 0, err
        seat_clock.advance(61)
        assert_seat(seat_venue, "3", status="available")
"""


def schemas(server: str) -> set[str]:
    import psycopg

    with psycopg.connect(server) as conn:
        return {row[0] for row in conn.execute("SELECT nspname::text FROM pg_namespace")}


@pytest.mark.parametrize("how", ["option", "variable"])
def test_on_postgresql_each_test_has_a_schema_dropped_after_it(project, monkeypatch, how):
    server = PG_SERVER or pytest.skip(f"set {PG_ENV} to run the PostgreSQL tests")
    pytest.importorskip("psycopg")
    if how == "variable":
        monkeypatch.setenv(PG_ENV, server)
        result = run(project, POSTGRES_PROJECT)
    else:
        result = run(project, POSTGRES_PROJECT, f"--seatctl-db={server}")
    result.assert_outcomes(passed=1)
    url = (project.path / "venue-url").read_text()
    schema = re.search(r"search_path%3D(\w+)", url)
    assert schema is not None, url
    assert schema.group(1) not in schemas(server)


DOC_FILE = re.compile(r"<!-- file: (?P<name>[\w.]+) -->\n```python\n(?P<body>.*?)^```", re.S | re.M)


def test_the_examples_in_docs_testing_md_pass(project, monkeypatch):
    doc = (Path(__file__).resolve().parent.parent / "docs" / "testing.md").read_text()
    files = {match["name"]: match["body"] for match in DOC_FILE.finditer(doc)}
    assert set(files) == {"shop.py", "test_shop.py", "test_shop_cli.py"}
    for name, body in files.items():
        (project.path / name).write_text(body)
    # The example runs `seatctl` by name, as a project's code would: this interpreter's.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = project.runpytest_inprocess(*QUIET)
    result.assert_outcomes(passed=7)

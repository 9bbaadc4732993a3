"""Bad input: the documented exit code, one clear line on stderr, the database untouched."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import pytest

from helpers import Run, assert_one_line_error, dump, run_as_other_user, run_process
from seatctl import SeatctlError, Venue
from seatctl.cli import main

pytestmark = pytest.mark.usefixtures("venue_db")


@pytest.mark.parametrize(
    "label", ["", "-1", ".a", "a b", "a/b", "ä1", "x" * 33, "1;DROP TABLE seats", "a\n", "'"]
)
def test_invalid_seat_labels_are_usage_errors(cli, db_path, label):
    before = dump(db_path)
    assert_one_line_error(cli("lock", label, "--user", "alice"), 2)
    assert_one_line_error(cli("init", label), 2)
    assert dump(db_path) == before


def test_a_label_of_32_characters_is_fine(cli):
    label = "A" * 31 + "9"
    assert cli("init", label).code == 0
    assert cli("lock", label, "--user", "alice").code == 0


@pytest.mark.parametrize(
    "user", ["", "   ", "x" * 65, "bob\x07", "\x1b[31mred", "a\nb", "tab\tbed"]
)
def test_invalid_users_are_usage_errors(cli, db_path, user):
    before = dump(db_path)
    run = cli("lock", "1", "--user", user)
    assert_one_line_error(run, 2)
    assert "\x1b" not in run.err and "\x07" not in run.err
    assert dump(db_path) == before


def test_a_missing_user_is_a_usage_error(cli):
    run = cli("lock", "1")
    assert_one_line_error(run, 2)
    assert "--user" in run.err


def test_users_may_hold_quotes_and_unicode(cli):
    user = 'O\'Brien "Ö" 李'
    assert cli("lock", "1", "--user", user).code == 0
    assert cli("seats", "--json").json()[0]["locked_by"] == user


@pytest.mark.parametrize("ttl", ["0", "86401", "-5", "abc", "1.5", "99999999999999999999"])
def test_invalid_ttls_are_usage_errors(cli, db_path, ttl):
    before = dump(db_path)
    assert_one_line_error(cli("lock", "1", "--user", "alice", "--ttl", ttl), 2)
    assert_one_line_error(cli("init", "--ttl", ttl), 2)
    assert dump(db_path) == before


@pytest.mark.parametrize("count", ["-1", "100001", "many"])
def test_invalid_seat_counts_are_usage_errors(cli, db_path, count):
    before = dump(db_path)
    assert_one_line_error(cli("init", "--seats", count), 2)
    assert dump(db_path) == before


def test_a_bad_clock_value_is_a_usage_error_and_changes_nothing(cli, db_path, monkeypatch):
    before = dump(db_path)
    monkeypatch.setenv("SEATCTL_NOW", "2026-01-01 12:00")
    assert_one_line_error(cli("lock", "1", "--user", "alice"), 2)
    assert dump(db_path) == before


def test_unknown_options_and_commands_are_one_line_usage_errors(cli):
    assert_one_line_error(cli("lock", "1", "--user", "a", "--frobnicate"), 2)
    assert_one_line_error(cli("bookall"), 2)
    assert_one_line_error(cli("seats", "--status", "lost"), 2)


def test_usage_errors_found_by_seatctl_are_json_with_json(cli):
    run = cli("lock", "a b", "--user", "alice", "--json")
    assert run.code == 2
    assert run.error()["error"] == "usage"
    assert run.error()["seats"] == []


@pytest.fixture
def not_a_database(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("seat 1: alice\n" * 200)
    return str(path)


@pytest.mark.parametrize("args", [["seats"], ["lock", "1", "--user", "a"], ["init"]])
def test_a_text_file_as_database_is_exit_6_and_left_byte_for_byte(not_a_database, args, capsys):
    before = Path(not_a_database).read_bytes()
    assert main(["--db", not_a_database, *args]) == 6
    assert "not a usable SQLite database" in capsys.readouterr().err
    assert Path(not_a_database).read_bytes() == before


@pytest.mark.sqlite_only
def test_a_truncated_database_is_exit_6_and_left_byte_for_byte(cli, db_path, tmp_path, capsys):
    cli("init", "--seats", "3000")
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(Path(db_path).read_bytes()[:40_000])
    before = truncated.read_bytes()
    for args in (["seats"], ["lock", "2999", "--user", "a"]):
        code = main(["--db", str(truncated), *args])
        err = capsys.readouterr().err
        assert code == 6, err
        assert err.startswith("error: ") and err.count("\n") == 1
    assert truncated.read_bytes() == before


def test_an_empty_file_is_not_initialised(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    empty.touch()
    assert main(["--db", str(empty), "seats", "--json"]) == 6
    assert '"error": "no_database"' in capsys.readouterr().err
    assert empty.read_bytes() == b""


@pytest.mark.sqlite_only
def test_a_database_from_a_newer_seatctl_is_refused_untouched(cli, db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = dump(db_path)
    run = cli("lock", "1", "--user", "a", "--json")
    assert (run.code, run.error()["error"]) == (6, "newer_schema")
    assert_one_line_error(cli("init"), 6)
    assert dump(db_path) == before


@pytest.fixture
def read_only_db(venue_db):
    """A venue whose file (and folder) another user may read but not write."""
    folder = tempfile.mkdtemp(prefix="seatctl-ro-")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "venue.db")
    with open(venue_db, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    os.chmod(path, 0o444)
    yield path
    os.chmod(path, 0o644)
    for leftover in os.listdir(folder):
        os.remove(os.path.join(folder, leftover))
    os.rmdir(folder)


@pytest.mark.sqlite_only
def test_a_read_only_database_refuses_changes_with_exit_6(read_only_db):
    before = dump(read_only_db)
    for args in (["lock", "1", "--user", "a"], ["init", "--seats", "9"]):
        run = run_as_other_user(read_only_db, *args)
        assert_one_line_error(run, 6)
        assert "read-only" in run.err
    run = run_as_other_user(read_only_db, "lock", "1", "--user", "a", "--json")
    assert '"error": "read_only"' in run.err
    assert dump(read_only_db) == before


# A str or bytes where labels belong would be taken apart character by character.
LABEL_TAKERS = {
    "init": lambda venue, db, labels: Venue.init(db, labels=labels),
    "lock": lambda venue, db, labels: venue.lock(labels, user="alice"),
    "confirm": lambda venue, db, labels: venue.confirm(labels, user="alice"),
    "release": lambda venue, db, labels: venue.release(labels, user="alice"),
    "history": lambda venue, db, labels: venue.history(labels),
}


@pytest.mark.parametrize(
    "labels", ["12", b"12", bytearray(b"VIP1")], ids=["str", "bytes", "bytearray"]
)
@pytest.mark.parametrize("method", sorted(LABEL_TAKERS))
def test_a_string_where_labels_belong_is_a_type_error(venue, venue_db, method, labels):
    before = dump(venue_db)
    with pytest.raises(TypeError, match="list of seat labels"):
        LABEL_TAKERS[method](venue, venue_db, labels)
    assert dump(venue_db) == before


@pytest.mark.parametrize("method", sorted(LABEL_TAKERS))
def test_a_label_that_is_not_a_string_is_a_type_error(venue, venue_db, method):
    with pytest.raises(TypeError, match="seat labels are strings"):
        LABEL_TAKERS[method](venue, venue_db, [1])


NFC, NFD = "Jos\u00e9", "Jose\u0301"  # the same name, typed two ways


def test_a_user_typed_decomposed_is_the_same_user_as_composed(venue):
    venue.lock(["1"], user=NFC)
    assert venue.release(["1"], user=NFD)[0].status.value == "available"


def test_user_names_are_stored_composed(venue):
    assert venue.lock(["1"], user=NFD)[0].locked_by == NFC


def test_the_seats_filter_finds_a_user_typed_either_way(venue):
    venue.lock(["1"], user=NFC)
    assert [view.seat for view in venue.seats(user=NFD)] == ["1"]


def test_the_history_filter_finds_a_user_typed_either_way(venue):
    venue.lock(["1"], user=NFD)
    assert [event.seat for event in venue.history(user=NFC) if event.user] == ["1"]


def test_a_user_from_the_command_line_is_stored_composed(cli):
    cli("lock", "1", "--user", NFD)
    assert cli("seats", "--json").json()[0]["locked_by"] == NFC


def test_a_user_from_seatctl_user_is_stored_composed(cli, monkeypatch):
    monkeypatch.setenv("SEATCTL_USER", NFD)
    cli("lock", "1")
    assert cli("seats", "--json").json()[0]["locked_by"] == NFC


def test_labels_are_normalised_too(venue, venue_db):
    Venue.init(venue_db, labels=["\u212a1"])  # KELVIN SIGN: composed, it is the letter K
    assert venue.lock(["K1"], user="alice")[0].seat == "K1"


@pytest.fixture(autouse=True)
def work(tmp_path) -> Path:
    """An empty folder of this test's own (the venue fixture's file lives in tmp_path)."""
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


@pytest.fixture
def app_dir(tmp_path, monkeypatch) -> Path:
    """Where the default database lives, moved into this test's own folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "seatctl"


@pytest.mark.parametrize("args", [["seats"], ["lock", "1", "--user", "a"], ["init"]])
def test_an_empty_db_option_is_a_usage_error(app_dir, args, capsys):
    run = Run(main(["--db", "", *args]), *capsys.readouterr())
    assert_one_line_error(run, 2)
    assert "empty" in run.err
    assert not app_dir.exists()


def test_an_empty_db_option_does_not_fall_back_to_seatctl_db(venue_db, monkeypatch, capsys):
    monkeypatch.setenv("SEATCTL_DB", venue_db)
    before = dump(venue_db)
    assert main(["--db", "", "lock", "1", "--user", "a"]) == 2
    assert dump(venue_db) == before


def test_an_empty_seatctl_db_means_unset(app_dir, monkeypatch, capsys):
    monkeypatch.setenv("SEATCTL_DB", "")
    assert main(["init"]) == 0
    assert (app_dir / "seatctl.db").exists()


@pytest.mark.parametrize("opener", [Venue.open, Venue.init])
def test_an_empty_database_name_is_a_usage_error_in_the_api(opener, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(SeatctlError) as raised:
        opener("")
    assert raised.value.exit_code == 2
    assert os.listdir() == []


@pytest.mark.parametrize("name", ["a\x00b.db", "lone\ud800.db"], ids=["nul", "lone-surrogate"])
def test_a_path_no_file_system_can_hold_is_a_usage_error_in_the_api(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(SeatctlError) as raised:
        Venue.init(name)
    assert raised.value.exit_code == 2
    assert os.listdir() == []


UNDECODABLE = "v\udcff.db"  # how Python hands over the file name b"v\xff.db" from argv


@pytest.mark.sqlite_only
def test_a_database_path_that_is_not_utf8_works_as_a_path(tmp_path):
    folder = tmp_path / "work"
    db = str(folder / UNDECODABLE)
    assert run_process("--db", db, "init", "--seats", "2").code == 0
    assert run_process("--db", db, "lock", "1", "--user", "a").code == 0
    seats = run_process("--db", db, "seats", "--json")
    assert (seats.code, seats.json()[0]["locked_by"]) == (0, "a")
    assert b"v\xff.db" in os.listdir(os.fsencode(folder))


def test_a_database_path_that_is_not_utf8_is_shown_escaped(tmp_path):
    run = run_process("--db", str(tmp_path / UNDECODABLE), "seats")
    assert_one_line_error(run, 6)
    assert "v\\udcff.db" in run.err


def test_a_postgresql_url_that_is_not_utf8_is_a_usage_error():
    run = run_process("--db", "postgresql://postgres@127.0.0.1:1/t\udcffest", "seats")
    assert_one_line_error(run, 2)
    assert "not valid UTF-8" in run.err

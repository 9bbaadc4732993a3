"""Faults in the database's surroundings: exit 6, one clear `error: ...` line, nothing lost.

An unwritable folder, a read-only file, a `-wal` file left by a killed writer, a zero-length
file, a file from a newer seatctl, and garbage bytes inside a real database. Each fault gets
the documented exit code and message, never a traceback, and the committed data survives it.

File permissions do not bind root, and CI runs as root: the permission faults run seatctl as
`nobody` (see `run_as_other_user`), in folders outside pytest's private temporary directory.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import START, assert_one_line_error, dump, run_as_other_user, run_cli, run_process
from seatctl import Status, Venue
from seatctl.cli import main
from seatctl.core.clock import format_instant, parse_instant

pytestmark = pytest.mark.sqlite_only

LATER = format_instant(parse_instant(START) + 60)  # when the tests below look


def content(path: str) -> list[str]:
    """The database's logical content, read from a copy: reading the original would leave
    `-wal` and `-shm` files beside it, owned by root, which change what another user meets."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "copy.db")
        for suffix in ("", "-wal"):
            if os.path.exists(path + suffix):
                shutil.copy(path + suffix, copy + suffix)
        return dump(copy)


def files_in(folder: str) -> list[str]:
    return sorted(os.listdir(folder))


def wal_is_empty(db: str) -> bool:
    """Whether every commit is in the database file itself (seatctl keeps an empty -wal file
    for readers who may not create one)."""
    return not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0


@pytest.fixture
def shared_db(venue_db: str) -> Iterator[str]:
    """The venue with seat 1 booked by alice and seat 2 locked by bob for a day, in a folder
    another user can reach."""
    folder = tempfile.mkdtemp(prefix="seatctl-faults-")
    os.chmod(folder, 0o755)
    db = shutil.copy(venue_db, os.path.join(folder, "venue.db"))
    with Venue.open(db) as venue:
        venue.lock(["1"], user="alice")
        venue.confirm(["1"], user="alice")
        venue.lock(["2"], user="bob", ttl=86400)
    assert files_in(folder) == ["venue.db", "venue.db-shm", "venue.db-wal"]  # kept for readers
    yield db
    os.chmod(folder, 0o700)
    shutil.rmtree(folder)


# (a) The database's folder is not writable, and its -wal and -shm files are missing (it was
# copied there): SQLite cannot make them.


@pytest.fixture
def in_unwritable_folder(shared_db: str) -> str:
    """The venue's file is writable by anyone; its folder by nobody but root."""
    for suffix in ("-wal", "-shm"):
        os.remove(shared_db + suffix)
    os.chmod(shared_db, 0o666)  # the file itself is writable by anyone
    os.chmod(os.path.dirname(shared_db), 0o555)
    return shared_db


@pytest.mark.parametrize("args", [["seats"], ["history"], ["check"]])
def test_reading_from_a_folder_seatctl_cannot_write_is_exit_6_read_only(in_unwritable_folder, args):
    before = content(in_unwritable_folder)
    run = run_as_other_user(in_unwritable_folder, *args)
    assert_one_line_error(run, 6)
    assert "read-only" in run.err
    assert content(in_unwritable_folder) == before
    assert files_in(os.path.dirname(in_unwritable_folder)) == ["venue.db"]


@pytest.mark.parametrize(
    "args", [["lock", "3", "--user", "carol"], ["confirm", "2", "--user", "bob"], ["init"]]
)
def test_writing_in_a_folder_seatctl_cannot_write_is_exit_6_and_loses_nothing(
    in_unwritable_folder, args
):
    before = Path(in_unwritable_folder).read_bytes()
    run = run_as_other_user(in_unwritable_folder, *args)
    assert_one_line_error(run, 6)
    assert "read-only" in run.err
    assert Path(in_unwritable_folder).read_bytes() == before
    assert files_in(os.path.dirname(in_unwritable_folder)) == ["venue.db"]


def test_an_unwritable_folder_is_reported_as_read_only_in_json(in_unwritable_folder):
    run = run_as_other_user(in_unwritable_folder, "lock", "3", "--user", "carol", "--json")
    assert run.code == 6
    assert run.error()["error"] == "read_only"


def test_once_the_folder_is_writable_the_same_command_succeeds(in_unwritable_folder):
    assert run_as_other_user(in_unwritable_folder, "confirm", "2", "--user", "bob").code == 6
    os.chmod(os.path.dirname(in_unwritable_folder), 0o777)
    assert run_as_other_user(in_unwritable_folder, "confirm", "2", "--user", "bob").code == 0
    with Venue.open(in_unwritable_folder) as venue:
        assert [(v.seat, v.booked_by) for v in venue.seats(status=Status.BOOKED)] == [
            ("1", "alice"),
            ("2", "bob"),
        ]


# (b) The database file is read-only (its folder is writable): it can be read, not changed.


@pytest.fixture
def read_only_file(shared_db: str) -> str:
    """The database as an owner who lets others read it leaves it: seatctl makes it and its
    side files owner-only, so the owner opens them to others (0444, the side files 0644)."""
    os.chmod(shared_db, 0o444)
    for side in ("-wal", "-shm"):
        if os.path.exists(shared_db + side):
            os.chmod(shared_db + side, 0o644)
    os.chmod(os.path.dirname(shared_db), 0o777)
    return shared_db


@pytest.mark.parametrize(
    "args",
    [
        ["lock", "3", "--user", "carol"],
        ["confirm", "2", "--user", "bob"],
        ["release", "2", "--user", "bob"],
        ["init", "--seats", "9"],
    ],
)
def test_changing_a_read_only_file_is_exit_6_read_only_and_loses_nothing(read_only_file, args):
    before = content(read_only_file)
    run = run_as_other_user(read_only_file, *args)
    assert_one_line_error(run, 6)
    assert "read-only" in run.err
    assert content(read_only_file) == before


@pytest.mark.parametrize("args", [["seats"], ["history"], ["check"]])
def test_reading_a_read_only_file_works_and_leaves_nothing_beside_it(read_only_file, args):
    # The reader uses the -wal and -shm files its owner left; it never creates its own, which
    # would be as read-only as the database and go on refusing writers.
    before = content(read_only_file)
    run = run_as_other_user(read_only_file, *args)
    assert (run.code, run.err) == (0, "")
    assert content(read_only_file) == before
    assert files_in(os.path.dirname(read_only_file)) == ["venue.db", "venue.db-shm", "venue.db-wal"]


def test_a_file_made_writable_while_its_side_files_are_not_says_which_file_is_read_only(
    read_only_file,
):
    os.chmod(read_only_file, 0o666)  # its -wal and -shm files keep the mode they were made with
    run = run_as_other_user(read_only_file, "confirm", "2", "--user", "bob")
    assert_one_line_error(run, 6)
    assert "is read-only here (this user cannot write its -wal file)" in run.err


def test_once_the_file_and_its_side_files_are_writable_again_the_same_command_succeeds(
    read_only_file,
):
    assert run_as_other_user(read_only_file, "confirm", "2", "--user", "bob").code == 6
    for suffix in ("", "-wal", "-shm"):
        os.chmod(read_only_file + suffix, 0o666)
    run = run_as_other_user(read_only_file, "confirm", "2", "--user", "bob")
    assert (run.code, run.err) == (0, "")


# (c) A -wal file left by a writer killed before it could checkpoint.


@pytest.fixture
def left_wal(venue_db: str) -> str:
    """The venue after a writer committed three commands through seatctl's API and was killed
    with SIGKILL while its connection was open: the commits live only in `venue.db-wal`."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through how it ended
        try:
            os.environ["SEATCTL_NOW"] = START
            venue = Venue.open(venue_db)
            venue.lock(["1", "2"], user="alice", ttl=3600)
            venue.confirm(["1"], user="alice")
            venue.lock(["3"], user="bob", ttl=3600)
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(70)  # only reached if something above failed
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    return venue_db


def test_the_killed_writer_left_its_commits_only_in_the_wal_file(left_wal, tmp_path):
    assert os.path.getsize(left_wal + "-wal") > 0
    main_file_alone = shutil.copy(left_wal, tmp_path / "main-file-alone.db")
    assert not any("alice" in line for line in dump(str(main_file_alone)))


def test_the_next_run_sees_everything_the_killed_writer_committed(left_wal):
    run = run_process("--db", left_wal, "seats", "--json", env={"SEATCTL_NOW": LATER})
    assert run.code == 0, run.err
    assert [(s["seat"], s["status"], s["locked_by"] or s["booked_by"]) for s in run.json()] == [
        ("1", "booked", "alice"),
        ("2", "locked", "alice"),
        ("3", "locked", "bob"),
        ("4", "available", None),
        ("5", "available", None),
    ]


def test_check_passes_after_a_killed_writer(left_wal):
    run = run_process("--db", left_wal, "check")
    assert (run.code, run.out) == (0, "ok\n"), run.err


def test_the_history_holds_every_command_the_killed_writer_committed(left_wal):
    run = run_process("--db", left_wal, "history", "--json", env={"SEATCTL_NOW": LATER})
    events = [(e["seat"], e["action"], e["user"]) for e in run.json() if e["action"] != "add"]
    assert events == [
        ("1", "lock", "alice"),
        ("2", "lock", "alice"),
        ("1", "confirm", "alice"),
        ("3", "lock", "bob"),
    ]


def test_the_next_writer_carries_on_from_what_the_killed_writer_committed(left_wal):
    env = {"SEATCTL_NOW": LATER}
    assert run_process("--db", left_wal, "confirm", "2", "--user", "alice", env=env).code == 0
    assert run_process("--db", left_wal, "lock", "3", "--user", "carol", env=env).code == 4
    assert run_process("--db", left_wal, "check").code == 0


# (d) A zero-length file, as `mktemp` makes: not initialised until `init`.


@pytest.fixture
def zero_length(db_path: str) -> str:
    Path(db_path).touch()
    return db_path


@pytest.mark.parametrize(
    "args",
    [
        ["seats"],
        ["history"],
        ["check"],
        ["lock", "1", "--user", "alice"],
        ["confirm", "1", "--user", "alice"],
        ["release", "1", "--user", "alice"],
        ["backup", "DEST"],
    ],
)
def test_a_zero_length_file_is_exit_6_not_initialised_and_stays_empty(zero_length, cli, args):
    folder = os.path.dirname(zero_length)
    run = cli(*(os.path.join(folder, "copy.db") if a == "DEST" else a for a in args))
    assert_one_line_error(run, 6)
    assert "is not initialised: run 'seatctl init' first" in run.err
    assert os.path.getsize(zero_length) == 0
    assert files_in(folder) == ["venue.db"]


def test_a_zero_length_file_reports_no_database_in_json(zero_length, cli):
    run = cli("lock", "1", "--user", "alice", "--json")
    assert (run.code, run.error()["error"]) == (6, "no_database")


def test_init_turns_a_zero_length_file_into_a_working_venue(zero_length, cli):
    assert cli("init").code == 0
    assert cli("lock", "1", "--user", "alice").code == 0
    seats = cli("seats", "--json").json()
    assert [(s["seat"], s["locked_by"]) for s in seats] == [
        ("1", "alice"),
        ("2", None),
        ("3", None),
        ("4", None),
        ("5", None),
    ]
    assert cli("check").out == "ok\n"


# (e) A database written by a newer seatctl (schema 99).


@pytest.fixture
def newer_schema(venue_db: str) -> str:
    conn = sqlite3.connect(venue_db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    return venue_db


@pytest.mark.parametrize(
    "args",
    [
        ["seats", "--json"],
        ["history", "--json"],
        ["check", "--json"],
        ["lock", "1", "--user", "alice", "--json"],
        ["confirm", "1", "--user", "alice", "--json"],
        ["release", "1", "--user", "alice", "--json"],
    ],
)
def test_every_command_refuses_a_newer_schema_with_exit_6(newer_schema, cli, args):
    run = cli(*args)
    assert (run.code, run.out) == (6, "")
    assert run.error()["error"] == "newer_schema"
    assert "schema 99" in run.error()["message"]


@pytest.mark.parametrize(
    "args",
    [["seats"], ["lock", "1", "--user", "alice"], ["init", "--seats", "9"], ["backup", "DEST"]],
)
def test_a_newer_schema_is_left_byte_for_byte_as_it_was(newer_schema, cli, args):
    folder = os.path.dirname(newer_schema)
    before, files = Path(newer_schema).read_bytes(), files_in(folder)
    run = cli(*(os.path.join(folder, "copy.db") if a == "DEST" else a for a in args))
    assert_one_line_error(run, 6)
    assert "was written by a newer seatctl (schema 99); upgrade seatctl to use it" in run.err
    assert Path(newer_schema).read_bytes() == before
    assert files_in(folder) == files


# (f) Garbage bytes in the middle of a real database.


@pytest.fixture(scope="module")
def corrupted_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 300-seat venue with locks and bookings whose middle third of pages is random bytes:
    made once, for every test of this section to start from a copy."""
    db_path = str(tmp_path_factory.mktemp("corrupt") / "venue.db")

    def cli(*args: str) -> None:
        assert run_cli("--db", db_path, *args, env={"SEATCTL_NOW": START}).code == 0

    cli("init", "--seats", "300")
    for n in range(1, 301, 4):
        cli("lock", str(n), str(n + 1), "--user", f"user{n}", "--ttl", "600")
        cli("confirm", str(n), "--user", f"user{n}")
    data = bytearray(Path(db_path).read_bytes())
    assert wal_is_empty(db_path)  # the last command checkpointed everything
    page_size = int.from_bytes(data[16:18], "big")
    pages = len(data) // page_size
    first, last = pages // 3, 2 * pages // 3
    data[first * page_size : last * page_size] = random.Random(7).randbytes(
        (last - first) * page_size
    )
    return bytes(data)


@pytest.fixture
def corrupt(corrupted_bytes: bytes, db_path: str) -> str:
    Path(db_path).write_bytes(corrupted_bytes)
    return db_path


@pytest.mark.parametrize(
    "args",
    [
        ["seats"],
        ["history"],
        ["check"],
        ["lock", *(str(n) for n in range(1, 301)), "--user", "zed"],
        ["init", "--seats", "400"],
    ],
    ids=["seats", "history", "check", "lock", "init"],
)
def test_garbage_in_the_middle_of_the_file_is_exit_6_and_changes_nothing(corrupt, cli, args):
    before = Path(corrupt).read_bytes()
    run = cli(*args)
    assert_one_line_error(run, 6)
    assert "is not a usable SQLite database" in run.err
    assert Path(corrupt).read_bytes() == before


def test_garbage_in_the_middle_of_the_file_is_bad_database_in_json(corrupt, cli):
    run = cli("seats", "--json")
    assert (run.code, run.error()["error"]) == (6, "bad_database")


def overwrite(path: str, old: bytes, new: bytes) -> None:
    """Replace the first `old` in the file with garbage `new` of the same length.

    Raises ValueError, not AssertionError, if it cannot: the tests below that are expected to
    fail expect an AssertionError, and must not pass as "expected failures" for a wrong reason.
    """
    data = bytearray(Path(path).read_bytes())
    if len(old) != len(new) or not wal_is_empty(path):
        raise ValueError("cannot overwrite in place")
    start = data.index(old)
    data[start : start + len(new)] = new
    Path(path).write_bytes(data)


def test_garbage_in_the_stored_schema_is_exit_6_not_a_traceback(venue_db):
    # SQLite's complaint about the schema quotes the garbage, which is not valid UTF-8.
    overwrite(venue_db, b'id")', b"\x87\xf7\xe1\x89")
    run = run_process("--db", venue_db, "seats")
    assert_one_line_error(run, 6)


def test_garbage_that_turns_a_history_action_into_nonsense_is_exit_6(cli, venue_db):
    cli("lock", "1", "--user", "alice")
    # The record still parses; only the text of its action is wrong.
    overwrite(venue_db, b"lockalice", b"l\x0fckalice")
    run = run_process("--db", venue_db, "history")
    assert_one_line_error(run, 6)
    assert "seat 1: history event 6: action is unknown ('l\\x0fck')" in run.err


def test_check_describes_a_history_action_turned_into_nonsense(cli, venue_db):
    cli("lock", "1", "--user", "alice")
    overwrite(venue_db, b"lockalice", b"l\x0fckalice")
    run = run_process("--db", venue_db, "check")
    assert (run.code, run.err) == (6, "error: check found 1 problem\n")
    assert run.out == "seat 1: history event 6: action is unknown ('l\\x0fck')\n"


def test_garbage_that_turns_a_seat_label_into_a_number_is_exit_6(venue_db):
    # Seat 3's entry in the (sort_key, label) index: a header of 4 bytes (its size, then the
    # types: 4-byte text, 1-byte text, 1-byte integer) and the values "0013", "3", 3. Flip the
    # label's type to "1-byte integer": the entry still parses, with the label now the number 51.
    overwrite(venue_db, b"\x04\x15\x0f\x0100133\x03", b"\x04\x15\x01\x0100133\x03")
    run = run_process("--db", venue_db, "seats")
    assert_one_line_error(run, 6)


# (g) stdout closed, full, or a pipe nobody reads; stderr closed or full. A change is committed
# before its report is written, so a lost report is exit 7 ("done, unreported"), which a script
# can tell from every "not done" code; a read whose reader left stays quiet with 0, like `head`.


class Refusing(io.StringIO):
    """A stream that takes nothing, like /dev/full (ENOSPC) or a pipe whose reader left (EPIPE)."""

    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code

    def write(self, text: str) -> int:
        raise OSError(self.code, os.strerror(self.code))

    def flush(self) -> None:
        raise OSError(self.code, os.strerror(self.code))


STDOUT_FAULTS = {
    "closed": lambda: None,  # what Python makes of `>&-`
    "full": lambda: Refusing(errno.ENOSPC),
    "closed file": lambda: closed_file(),
}


def closed_file() -> io.StringIO:
    stream = io.StringIO()
    stream.close()
    return stream


# Every command, and whether it changes the database (then its lost report is "done").
COMMANDS = [
    (["init", "--seats", "7"], True),
    (["lock", "3", "--user", "carol"], True),
    (["lock", "3", "--user", "carol", "--json"], True),
    (["confirm", "2", "--user", "bob"], True),
    (["release", "2", "--user", "bob"], True),
    (["backup", "DEST"], True),
    (["batch"], True),
    (["seats"], False),
    (["seats", "--json"], False),
    (["seats", "--csv"], False),
    (["seats", "--nl"], False),
    (["history"], False),
    (["check"], False),
    (["--version"], False),
    (["--help"], False),
]
COMMAND_IDS = [" ".join(args) for args, _ in COMMANDS]


def run_with_streams(db: str, args: list[str], stdout, stderr) -> tuple[int, str]:
    """main() with these streams as stdout and stderr; stdin carries one batch line."""
    args = [os.path.join(os.path.dirname(db), "copy.db") if a == "DEST" else a for a in args]
    saved = sys.stdout, sys.stderr, sys.stdin
    err = io.StringIO()
    sys.stdout, sys.stderr = stdout, (err if stderr is None else stderr)
    sys.stdin = io.StringIO("lock 4 --user dave\n")
    try:
        code = main(["--db", db, *args])
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved
    return code, err.getvalue()


def was_done(db: str, args: list[str], before: list[str]) -> bool:
    """The command's change is there: a changed database, or for `backup`, the copy."""
    if args[0] == "backup":
        return os.path.exists(os.path.join(os.path.dirname(db), "copy.db"))
    return dump(db) != before


@pytest.fixture
def streams_db(venue_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The venue with seat 2 locked by bob, looked at one minute after START."""
    monkeypatch.setenv("SEATCTL_NOW", START)
    with Venue.open(venue_db) as venue:
        venue.lock(["2"], user="bob")
    return venue_db


@pytest.mark.parametrize("fault", sorted(STDOUT_FAULTS))
@pytest.mark.parametrize(("args", "changes"), COMMANDS, ids=COMMAND_IDS)
def test_a_report_that_cannot_be_written_is_exit_7_and_says_whether_it_was_done(
    streams_db, args, changes, fault
):
    before = dump(streams_db)
    code, err = run_with_streams(streams_db, args, STDOUT_FAULTS[fault](), None)
    assert code == 7
    assert err.count("\n") == 1
    if "--json" in args or "--nl" in args:  # errors as JSON
        assert json.loads(err)["error"] == "output_lost"
    else:
        assert err.startswith("error: ")
    if changes:
        assert "committed" in err or "the lines it ran are done" in err
        assert was_done(streams_db, args, before)
    else:
        assert "nothing was changed" in err
        assert dump(streams_db) == before


@pytest.mark.parametrize(("args", "changes"), COMMANDS, ids=COMMAND_IDS)
def test_a_reader_that_left_silences_a_read_but_not_a_change(streams_db, args, changes):
    before = dump(streams_db)
    code, err = run_with_streams(streams_db, args, Refusing(errno.EPIPE), None)
    if changes:
        assert code == 7
        assert err.count("\n") == 1 and "broken pipe" in err
        assert was_done(streams_db, args, before)
    else:
        assert (code, err) == (0, "")


@pytest.mark.parametrize("stderr", ["closed", "full"])
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["lock", "9", "--user", "a"], 3),
        (["lock", "2", "--user", "a", "--json"], 4),
        (["confirm", "3", "--user", "a"], 5),
        (["lock", "3", "--user", "a", "--ttl", "0"], 2),
        (["frobnicate"], 2),
        (["check"], 0),
    ],
)
def test_an_unwritable_stderr_keeps_the_exit_code(streams_db, args, expected, stderr):
    err = None if stderr == "closed" else Refusing(errno.ENOSPC)
    before = dump(streams_db)
    out = io.StringIO()
    saved = sys.stderr
    sys.stderr = err  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(out):
            code = main(["--db", streams_db, *args])
    finally:
        sys.stderr = saved
    assert code == expected
    assert dump(streams_db) == before


def run_real(
    db: str, *args: str, env: dict[str, str] | None = None, **streams
) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SEATCTL_")}
    return subprocess.run(
        [sys.executable, "-m", "seatctl", "--db", db, *args],
        env={**inherited, "SEATCTL_NOW": LATER, **(env or {})},
        timeout=120,
        **streams,
    )


def test_seats_with_stdout_closed_is_exit_7_in_a_real_process(streams_db):
    done = run_real(streams_db, "seats", preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE)
    assert done.returncode == 7
    assert done.stderr == b"error: the output could not be written (stdout is closed);" + (
        b" nothing was changed\n"
    )


def test_lock_into_a_full_stdout_is_exit_7_and_the_lock_stands(streams_db):
    with open("/dev/full", "w") as full:
        done = run_real(streams_db, "lock", "3", "--user", "a", stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 7
    assert done.stderr.startswith(b"error: done, but the output could not be written (no space")
    with Venue.open(streams_db) as venue:
        assert venue.seats(status=Status.LOCKED)[-1].locked_by == "a"


@pytest.mark.parametrize(
    ("args", "committed"), [(["token", "add", "z"], True), (["token", "list"], False)]
)
def test_token_commands_into_a_full_stdout_are_exit_7_saying_whether_a_change_stands(
    streams_db, args, committed
):
    with open("/dev/full", "w") as full:
        done = run_real(streams_db, *args, stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 7
    said = b"the change is committed" if committed else b"nothing was changed"
    assert done.stderr.endswith(said + b"\n"), done.stderr


def test_a_stdout_that_cannot_encode_the_output_is_exit_7_and_says_so(streams_db):
    env = {"PYTHONIOENCODING": "ascii:strict"}
    done = run_real(streams_db, "lock", "3", "--user", "Jos\u00e9", capture_output=True, env=env)
    assert done.returncode == 7
    assert done.stderr == (
        b"error: done, but the output could not be written (stdout's encoding, ascii,"
        b" cannot show it): the change is committed\n"
    )


def test_lock_with_stderr_closed_still_exits_3_in_a_real_process(streams_db):
    done = run_real(streams_db, "lock", "9", "--user", "a", preexec_fn=lambda: os.close(2))
    assert done.returncode == 3


def test_lock_whose_reader_left_is_exit_7_in_a_real_process(streams_db):
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read what it prints
    try:
        done = run_real(streams_db, "lock", "3", "--user", "a", stdout=write_end, stderr=-1)
    finally:
        os.close(write_end)
    assert done.returncode == 7
    assert b"broken pipe" in done.stderr and b"the change is committed" in done.stderr


# Resource faults: input that used to cost memory per distinct value.


def test_distinct_unknown_command_names_in_a_batch_keep_memory_flat():
    from seatctl.cli.app import parsers
    from seatctl.cli.batch import run_lines
    from seatctl.cli.common import Invocation

    oddities = ["", "é", "--", "\x1b", "💺", "#", ".db"]

    def junk(start: int, count: int) -> Iterator[str]:
        return (f"junk{n}{oddities[n % len(oddities)]} 1 --user a\n" for n in range(start, count))

    with open(os.devnull, "w") as sink:
        run_lines(junk(0, 200), sink, Invocation(), parsers.subcommand)  # warm every cache
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            run_lines(junk(200, 3000), sink, Invocation(), parsers.subcommand)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert grown < 256 * 1024, f"{grown} bytes kept for 2800 junk names"


# File names that are not UTF-8: a path is bytes, and works; a URL is text, and is refused.

file_names = st.binary(min_size=1, max_size=24).filter(
    lambda name: b"/" not in name and b"\0" not in name and name not in (b".", b"..")
)


def quietly(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        return main(list(argv)), err.getvalue()


@settings(max_examples=30, deadline=None)
@given(name=file_names)
def test_any_name_the_file_system_allows_works_as_a_database_path(name):
    with tempfile.TemporaryDirectory() as folder:
        db = os.fsdecode(os.path.join(os.fsencode(folder), name))
        assert quietly("--db", db, "init", "--seats", "1") == (0, "")
        assert quietly("--db", db, "lock", "1", "--user", "a") == (0, "")
        assert name in os.listdir(os.fsencode(folder))


def not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@settings(max_examples=30, deadline=None)
@given(junk=st.binary(min_size=1, max_size=12).filter(not_utf8), at=st.sampled_from([16, 24, 40]))
def test_a_postgresql_url_that_is_not_utf8_is_exit_2_whatever_the_bytes(junk, at):
    url = b"postgresql://postgres@127.0.0.1:1/test"
    code, err = quietly("--db", os.fsdecode(url[:at] + junk + url[at:]), "seats")
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1

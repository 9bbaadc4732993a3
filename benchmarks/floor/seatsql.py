"""The SQLite work of one seatctl command and nothing else: the floor's shared half.

The same connection settings, PRAGMAs, transactions and statements as
seatctl/storage/sqlite.py (checked against a statement trace of seatctl 0.2), with the
booking rules written as plainly as possible. Standard library only.
"""

from __future__ import annotations

import os
import sqlite3
import time

BUSY_TIMEOUT_SECONDS = 10.0  # seatctl's busy timeout
DEFAULT_TTL = 60
CHUNK = 500  # seatctl looks seats up 500 labels per SELECT
# Schema 4: the seat map in `seats`, each event's states in `seat_states` (a seat without a
# row there is available); the benchmarks use the event `default`.
SEAT_COLUMNS = "s.label, st.locked_by, st.lock_expires, st.booked_by, st.booked_at"
PLACE_COLUMNS = "s.section, s.seat_row, s.seat_number, s.category"
SOURCE = "seats AS s LEFT JOIN seat_states AS st ON st.show = 'default' AND st.seat = s.label"
SELECT_SEATS = f"SELECT {SEAT_COLUMNS} FROM {SOURCE} WHERE s.label IN ({{}})"
ALL_SEATS = f"SELECT {SEAT_COLUMNS}, {PLACE_COLUMNS} FROM {SOURCE} ORDER BY s.sort_key, s.label"
SELECT_META = "SELECT value FROM meta WHERE key = ?"
UPDATE_SEAT = (
    "INSERT INTO seat_states (show, seat, locked_by, lock_expires, booked_by, booked_at)"
    " VALUES ('default', ?5, ?1, ?2, ?3, ?4) ON CONFLICT (show, seat) DO UPDATE SET"
    " locked_by = excluded.locked_by, lock_expires = excluded.lock_expires,"
    " booked_by = excluded.booked_by, booked_at = excluded.booked_at"
)
INSERT_EVENT = (
    "INSERT INTO events (at, seat, action, user, expires_at, show)"
    " VALUES (?, ?, ?, ?, ?, 'default')"
)
SCHEMA_VERSION = 2  # of floor/init.py's own tables (schema 4's, as far as the floors read them)

# A seat row: (label, locked_by, lock_expires, booked_by, booked_at), as SELECTed.
Row = tuple


class Refused(Exception):
    """Some seats were refused; nothing changed. `refusals` is [(label, reason, code)]."""

    def __init__(self, refusals: list[tuple[str, str, int]]) -> None:
        super().__init__(f"seat {refusals[0][0]} refused: {refusals[0][1]}")
        self.refusals = refusals
        self.code = min(code for _, _, code in refusals)


def connect(path: str, create: bool = False) -> sqlite3.Connection:
    """Open like seatctl: URI mode rw (rwc for init), busy timeout, autocommit off,
    synchronous=FULL, then read the schema version."""
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        f"file:{os.path.abspath(path)}?mode={mode}",
        uri=True,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
    )
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA user_version").fetchone()
    return conn


def change(
    conn: sqlite3.Connection, verb: str, labels: list[str], user: str, ttl: int | None = None
) -> tuple[int, list[Row]]:
    """One `lock`, `confirm` or `release` of several seats: one BEGIN IMMEDIATE transaction,
    all or nothing. Returns (now, the seats after) or raises Refused."""
    labels = list(dict.fromkeys(labels))
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("PRAGMA user_version").fetchone()
        now = int(time.time())
        if verb == "lock" and ttl is None:
            row = conn.execute(SELECT_META, ("default_ttl",)).fetchone()
            ttl = int(row[0]) if row else DEFAULT_TTL
        stored = seats(conn, labels)
        after, updates, events, refusals = [], [], [], []
        for label in labels:
            seat = stored.get(label)
            if seat is None:
                refusals.append((label, "not_found", 3))
                continue
            new, action, refusal = decide(verb, seat, user, now, ttl or 0)
            if refusal:
                refusals.append((label, *refusal))
                continue
            after.append(new)
            if action:
                updates.append((*new[1:], label))
                events += history(seat, new, action, user, now)
        if refusals:
            raise Refused(refusals)
        conn.executemany(UPDATE_SEAT, updates)
        conn.executemany(INSERT_EVENT, events)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return now, after


def seats(conn: sqlite3.Connection, labels: list[str]) -> dict[str, Row]:
    found: dict[str, Row] = {}
    for start in range(0, len(labels), CHUNK):
        chunk = labels[start : start + CHUNK]
        rows = conn.execute(SELECT_SEATS.format(", ".join("?" * len(chunk))), chunk)
        found.update((row[0], row) for row in rows)
    return found


def decide(
    verb: str, seat: Row, user: str, now: int, ttl: int
) -> tuple[Row, str | None, tuple[str, int] | None]:
    """(seat after, action or None, refusal (reason, exit code) or None)."""
    label, locked_by, expires, booked_by, _ = seat
    live = booked_by is None and expires is not None and expires > now
    if verb == "lock":
        if booked_by is not None:
            return seat, None, ("booked", 4)
        if live and locked_by != user:
            return seat, None, ("locked", 4)
        return (label, user, now + ttl, None, None), "extend" if live else "lock", None
    if verb == "confirm" and booked_by == user:
        return seat, None, None
    if not (live and locked_by == user):
        lapsed = booked_by is None and locked_by == user
        reason = "booked" if booked_by is not None else "expired" if lapsed else "not_holder"
        return seat, None, (reason, 5)
    if verb == "confirm":
        return (label, None, None, user, now), "confirm", None
    return (label, None, None, None, None), "release", None


def history(before: Row, after: Row, action: str, user: str, now: int) -> list[tuple]:
    """The events rows: an `expire` for a lapsed lock being replaced, then the action."""
    events = []
    _, locked_by, expires, booked_by, _ = before
    if booked_by is None and locked_by is not None and expires is not None and expires <= now:
        events.append((expires, before[0], "expire", locked_by, expires))
    made = after[2] if action in ("lock", "extend") else None
    events.append((now, before[0], action, user, made))
    return events


def seat_object(row: Row, now: int) -> dict:
    """The seat as seatctl's JSON shows it."""
    label, locked_by, expires, booked_by, booked_at, *place = row
    # A listing reads the seat's place; a change's rows carry none (the templates have no map).
    section, seat_row, number, category = place or (None, None, None, None)
    if booked_by is not None:
        status = "booked"
    elif expires is not None and expires > now:
        status = "locked"
    else:
        status = "available"
    live = status == "locked"
    return {
        "seat": label,
        "status": status,
        "locked_by": locked_by if live else None,
        "expires_at": instant(expires) if live else None,
        "booked_by": booked_by,
        "booked_at": instant(booked_at),
        "section": section,
        "row": seat_row,
        "number": number,
        "category": category,
    }


def instant(value: int | None) -> str | None:
    return None if value is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))

"""Floor for `seatctl --db PATH init --seats N` on a new file: seatctl's schema (the same
CREATE statements, WAL, user_version), then one BEGIN IMMEDIATE transaction that looks the
labels up, inserts the seats and one `add` event per seat."""

import argparse
import time

from seatsql import INSERT_EVENT, SCHEMA_VERSION, SELECT_META, connect, seats

SCHEMA = """
CREATE TABLE IF NOT EXISTS "meta" ("key" TEXT PRIMARY KEY, "value" TEXT);
CREATE TABLE IF NOT EXISTS "seats" (
   "label" TEXT PRIMARY KEY, "sort_key" TEXT NOT NULL, "section" TEXT, "seat_row" TEXT,
   "seat_number" INTEGER, "category" TEXT);
CREATE INDEX IF NOT EXISTS "idx_seats_sort_key_label" ON "seats" ("sort_key", "label");
CREATE TABLE IF NOT EXISTS "seat_states" (
   "show" TEXT NOT NULL, "seat" TEXT NOT NULL, "locked_by" TEXT, "lock_expires" INTEGER,
   "booked_by" TEXT, "booked_at" INTEGER, PRIMARY KEY ("show", "seat"));
CREATE TABLE IF NOT EXISTS "events" (
   "id" INTEGER PRIMARY KEY, "at" INTEGER NOT NULL, "seat" TEXT NOT NULL,
   "action" TEXT NOT NULL, "user" TEXT, "expires_at" INTEGER, "show" TEXT);
CREATE INDEX IF NOT EXISTS "idx_events_seat_id" ON "events" ("seat", "id");
"""

parser = argparse.ArgumentParser(prog="seatctl-floor")
parser.add_argument("--db", required=True)
parser.add_argument("command", choices=["init"])
parser.add_argument("--seats", type=int, required=True)
args = parser.parse_args()

conn = connect(args.db, create=True)
conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("BEGIN IMMEDIATE")
conn.execute("PRAGMA user_version").fetchone()
for statement in SCHEMA.split(";")[:-1]:
    conn.execute(statement)
conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
conn.execute("COMMIT")

labels = [str(n) for n in range(1, args.seats + 1)]
conn.execute("BEGIN IMMEDIATE")
conn.execute("PRAGMA user_version").fetchone()
now = int(time.time())
existing = seats(conn, labels)
new = [label for label in labels if label not in existing]
# The natural sort key of a label made of digits only (see seatctl.core.validate.natural_key).
conn.executemany(
    "INSERT INTO seats (label, sort_key) VALUES (?, ?)",
    ((label, f"0{len(label):02d}{label}") for label in new),
)
conn.executemany(INSERT_EVENT, ((now, label, "add", None, None) for label in new))
total = conn.execute("SELECT count(*) FROM seats").fetchone()[0]
conn.execute(SELECT_META, ("default_ttl",)).fetchone()
conn.execute("COMMIT")
conn.close()
print(f"initialised {args.db}: added {len(new)} seats ({total} in all); locks last 60 s")

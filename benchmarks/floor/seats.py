"""Floor for `seatctl --db PATH seats --json`: the same read transaction and SELECT, printed
with json.dumps, streamed 1,000 seats at a time as seatctl does."""

import argparse
import json
import sys
import time
from itertools import islice

from seatsql import ALL_SEATS, connect, seat_object

parser = argparse.ArgumentParser(prog="seatctl-floor")
parser.add_argument("--db", required=True)
parser.add_argument("command", choices=["seats"])
parser.add_argument("--json", action="store_true")
args = parser.parse_args()

conn = connect(args.db)
out = sys.stdout
out.write("[")
conn.execute("BEGIN")
conn.execute("PRAGMA user_version").fetchone()
now = int(time.time())
objects = (seat_object(row, now) for row in conn.execute(ALL_SEATS))
first = True
while chunk := list(islice(objects, 1000)):
    text = ", ".join(json.dumps(o) for o in chunk)
    out.write(text if first else ", " + text)
    first = False
out.write("]\n")
conn.execute("COMMIT")
conn.close()

"""Floor for `seatctl --db PATH lock|confirm|release SEAT... --user U [--json]`: one
BEGIN IMMEDIATE transaction with seatctl's statements, then seatctl's output lines."""

import argparse
import sys

from seatsql import Refused, change, connect, instant, seat_object

parser = argparse.ArgumentParser(prog="seatctl-floor")
parser.add_argument("--db", required=True)
parser.add_argument("verb", choices=["lock", "confirm", "release"])
parser.add_argument("seats", nargs="+")
parser.add_argument("--user", required=True)
parser.add_argument("--ttl", type=int)
parser.add_argument("--json", action="store_true")
args = parser.parse_args()

conn = connect(args.db)
try:
    now, after = change(conn, args.verb, args.seats, args.user, args.ttl)
except Refused as refused:
    conn.close()
    print(
        f"error: seat {refused.refusals[0][0]} refused: {refused.refusals[0][1]}", file=sys.stderr
    )
    sys.exit(refused.code)
conn.close()
if args.json:
    import json

    print(json.dumps({"seats": [seat_object(row, now) for row in after]}))
else:
    lines = []
    for label, locked_by, expires, booked_by, booked_at in after:
        if booked_by is not None:
            lines.append(f"booked seat {label} for {booked_by} at {instant(booked_at)}\n")
        elif locked_by is not None:
            lines.append(f"locked seat {label} for {locked_by} until {instant(expires)}\n")
        else:
            lines.append(f"released seat {label}\n")
    sys.stdout.write("".join(lines))

"""Floor for `seatctl --db PATH batch`: read `lock|confirm|release SEAT... --user U` lines
from stdin, run each as its own BEGIN IMMEDIATE transaction on one connection, print one
JSON line per input line (with its "exit" code), flushed, as seatctl does."""

import argparse
import json
import sys

from seatsql import Refused, change, connect, seat_object


def parse(words: list[str]) -> tuple[str, list[str], str, int | None]:
    """verb, seats, user, ttl from `VERB SEAT... --user U [--ttl N]`."""
    verb, seats, user, ttl = words[0], [], "", None
    rest = iter(words[1:])
    for word in rest:
        if word == "--user":
            user = next(rest)
        elif word == "--ttl":
            ttl = int(next(rest))
        else:
            seats.append(word)
    return verb, seats, user, ttl


parser = argparse.ArgumentParser(prog="seatctl-floor")
parser.add_argument("--db", required=True)
parser.add_argument("command", choices=["batch"])
args = parser.parse_args()

conn = connect(args.db)
out = sys.stdout
for number, line in enumerate(sys.stdin, 1):
    words = line.split()
    if not words:
        continue
    verb, seats, user, ttl = parse(words)
    try:
        now, after = change(conn, verb, seats, user, ttl)
        record = {"line": number, "exit": 0, "seats": [seat_object(r, now) for r in after]}
    except Refused as refused:
        record = {
            "line": number,
            "exit": refused.code,
            "error": refused.refusals[0][1],
            "message": str(refused),
            "seats": [{"seat": s, "reason": r} for s, r, _ in refused.refusals],
        }
    out.write(json.dumps(record) + "\n")
    out.flush()
conn.close()

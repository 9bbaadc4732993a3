"""A stand-in for `seatctl.seatmap` (written on another branch) for this branch's tests only:
the agreed interface, `MapSeat` and `parse_map(path)`, reading plain CSV and JSON lines
without the real module's checks. Installed only when the real module is missing."""

from __future__ import annotations

import csv
import json
from typing import NamedTuple

from seatctl.errors import usage_error


class MapSeat(NamedTuple):
    label: str
    section: str | None
    row: str | None
    number: int | None
    category: str | None
    line: int


def parse_map(path: str) -> list[MapSeat]:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise usage_error(f"cannot read map {path}: {error.strerror}") from None
    if path.endswith(".jsonl"):
        rows = [(json.loads(line), n) for n, line in enumerate(text.splitlines(), 1) if line]
    else:
        lines = list(csv.DictReader(text.splitlines()))
        rows = [(row, n) for n, row in enumerate(lines, 2)]
    seats = [
        MapSeat(
            row["label"],
            row.get("section") or None,
            row.get("row") or None,
            int(row["number"]) if row.get("number") not in (None, "") else None,
            row.get("category") or None,
            line,
        )
        for row, line in rows
    ]
    if not seats:
        raise usage_error(f"invalid map {path}: no seats in the file")
    return seats

"""`seat_venue`: a new venue shaped by the `seatctl` marker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seatctl.venue import Venue


class TestVenue(Venue):
    """A `seatctl.Venue` that also knows its full location, `db` (a PostgreSQL URL with its
    password, where `location` hides it), to hand to the code under test."""

    __test__ = False  # not a test class, whatever pytest's naming rules say
    db: str


def make_venue(db: str, shape: dict[str, Any], root: Path) -> None:
    """`Venue.init` with the marker's settings, then its events; a bad value fails the test
    with seatctl's own message."""
    import pytest

    from seatctl.core.errors import SeatctlError

    seat_map = shape.get("map")
    if seat_map is not None:
        seat_map = str(root / seat_map)  # relative to the project (pytest's rootdir)
    events = shape.get("events", ())
    if isinstance(events, str):
        events = [events]
    refusal: SeatctlError | None = None
    try:
        Venue.init(
            db,
            seats=shape.get("seats"),
            ttl=shape.get("ttl"),
            seat_map=seat_map,
            max_hold=shape.get("max_hold"),
            max_seats_per_user=shape.get("max_seats_per_user"),
        )
        if events:
            with Venue.open(db) as venue:
                for name in events:
                    venue.add_event(name)
    except SeatctlError as error:
        refusal = error
    if refusal is not None:  # failed outside the `except`: no "during handling" chain
        pytest.fail(f"@pytest.mark.seatctl: {refusal.message}", pytrace=False)

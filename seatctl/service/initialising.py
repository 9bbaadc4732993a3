"""`init`: create a database, add seats (counted, named or from a seat-map file) and store
the settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from seatctl.core import clock, validate
from seatctl.core.errors import FieldError, usage_error
from seatctl.core.model import Action, HistoryEntry, Place, Settings, Stage, settings_change
from seatctl.storage import DEFAULT_VENUE, Transaction, open_store

if TYPE_CHECKING:  # loaded only by `init --map`
    from seatctl.core.seatmap import MapSeat


class InitResult(NamedTuple):
    location: str
    added: int
    total: int
    default_ttl: int
    max_hold: int = 0
    max_seats_per_user: int = 0


# A new database caps a hold at ten default lock durations (600 s for the default 60 s).
NEW_MAX_HOLD_TTLS = 10


def initialise(
    db: str,
    seats: int | None,
    labels: Iterable[str],
    ttl: int | None,
    seat_map: str | None,
    max_hold: int | None,
    max_seats_per_user: int | None,
    stage: str | None = None,
) -> InitResult:
    """`Venue.init`: see there."""
    db = validate.database(db)
    count = validate.seat_count(seats)
    named = validate.labels(labels)
    ttl = validate.ttl(ttl)
    validate.max_hold(max_hold, ttl or 1)  # its range now; against the TTL in force below
    max_seats_per_user = validate.max_seats_per_user(max_seats_per_user)
    if seat_map is not None and (count is not None or named):
        raise FieldError(
            "map",
            seat_map,
            lambda name: f"give either {name('map')} or seat labels and {name('seats')}, not both",
        )
    clock.clock_override()  # a bad SEATCTL_NOW is refused before a file is created
    mapped = parsed_map(seat_map) if seat_map is not None else None
    stage_given = parsed_stage(stage) if stage is not None else None
    wanted = [str(n) for n in range(1, (count or 0) + 1)] + named
    store = open_store(db, create=True)
    with contextlib.closing(store), store.transaction() as tx:
        places: dict[str, Place] | None = None
        if mapped is not None:
            places = new_places(tx, mapped, seat_map or "")
            wanted = list(places)
        elif count is None and not named and store.created:
            wanted = DEFAULT_VENUE
        unique = list(dict.fromkeys(wanted))
        new = tx.add_seats(unique, places) if places is not None else tx.add_seats(unique)
        tx.append_adds(new, tx.now())
        if stage_given is not None:
            tx.set_stage(stage_given)
        after = set_settings(tx, store.created, ttl, max_hold, max_seats_per_user)
        return InitResult(
            store.location,
            len(new),
            tx.seat_count(),
            after.ttl,
            after.max_hold,
            after.max_seats_per_user,
        )


def set_settings(
    tx: Transaction,
    created: bool,
    ttl: int | None,
    max_hold: int | None,
    max_seats_per_user: int | None,
) -> Settings:
    """Store the settings `init` was given (a new database also gets its default max-hold),
    recording a change of an existing database's in the history; the settings after."""
    before = tx.settings()
    lifetime = ttl if ttl is not None else before.ttl
    if max_hold is None and created:
        max_hold = min(NEW_MAX_HOLD_TTLS * lifetime, validate.MAX_HOLD)
    after = Settings(
        lifetime,
        max_hold if max_hold is not None else before.max_hold,
        max_seats_per_user if max_seats_per_user is not None else before.max_seats_per_user,
    )
    if 0 < after.max_hold < after.ttl:
        raise FieldError(
            "max_hold",
            after.max_hold,
            lambda name: (
                f"max-hold {after.max_hold} s would be less than the default lock duration"
                f" {after.ttl} s: give {name('max_hold')} 0 (no cap) or at least {after.ttl}"
            ),
        )
    if after.ttl != before.ttl:
        tx.set_default_ttl(after.ttl)
    if created or after[1:] != before[1:]:
        tx.set_caps(after.max_hold, after.max_seats_per_user)
    change = settings_change(before, after)
    if change is not None and not created:
        tx.append_history([HistoryEntry(tx.now(), "", Action.SETTINGS, reason=change)])
    return after


def parsed_stage(text: str) -> Stage:
    """The stage `init --stage` gives (`seatctl.core.seatmap.parse_stage`)."""
    from seatctl.core.seatmap import parse_stage

    return parse_stage(text)


def parsed_map(path: str) -> list[MapSeat]:
    """The seats of the map file (`seatctl.core.seatmap.parse_map`: every bad line is exit 2)."""
    from seatctl.core.seatmap import parse_map  # only `init --map` pays for the reader

    return parse_map(path)


def new_places(tx: Transaction, mapped: list[MapSeat], path: str) -> dict[str, Place]:
    """The places of the map's seats, in file order, if none conflicts with a stored seat:
    a stored seat must be in the file with the place it has (existing seats never change),
    and no new seat may take the (section, row, number) of a stored one."""
    stored = tx.places()
    if not stored:  # a new map: nothing to conflict with (the parser refused duplicates)
        make_place = partial(tuple.__new__, Place)  # at C speed, for 100,000 seats
        return {seat.label: make_place(seat[1:5] + seat[6:8]) for seat in mapped}
    taken = {
        (place.section, place.row, place.number): label
        for label, (place, _) in stored.items()
        if place.number is not None
    }
    problems = []
    places: dict[str, Place] = {}
    for seat in mapped:
        place = Place(seat.section, seat.row, seat.number, seat.category, seat.x, seat.y)
        if seat.label in stored:
            have = stored[seat.label][0]
            if have != place:
                problems.append(
                    f"line {seat.line}: seat {seat.label} is stored {where(have)},"
                    f" not {where(place)}"
                )
            continue
        other = (
            None if place.number is None else taken.get((place.section, place.row, place.number))
        )
        if other is not None:
            problems.append(
                f"line {seat.line}: seat {seat.label} is {where(place)}, where stored seat"
                f" {other} is"
            )
            continue
        places[seat.label] = place
    if problems:
        shown = path if path.isprintable() else repr(path)
        raise usage_error(
            f"map {shown} conflicts with the stored seats, nothing was added: "
            + "; ".join(problems)
        )
    return places


def where(place: Place) -> str:
    parts = [
        f"{what} {value}"
        for what, value in (
            ("section", place.section),
            ("row", place.row),
            ("number", place.number),
            ("category", place.category),
            ("x", place.x),
            ("y", place.y),
        )
        if value is not None
    ]
    return "at " + ", ".join(parts) if parts else "without a place"

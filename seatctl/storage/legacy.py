"""Reading a database of an older schema without changing it: the one place that knows them.

A write transaction upgrades an older schema before it starts (in the same transaction, so a
refused or failed write leaves it as it was), and every other module reads and writes only the
current schema. A read must not change the database: a user may only be allowed to read it,
and reading an old file leaves it as it is, for the seatctl version that wrote it. So a read
transaction on an older schema reads through `OldSchemaReads`, which shows it as the upgrade
would: its seats' states as those of the event `default`, a history seeded from the seats
(schema 1), no tokens (before 3), no hold starts (before 5), no seat positions, every token
a buyer's and no history event made by anyone but its user (before 6), no history event naming
a token's id (before 7).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from seatctl import storage
from seatctl.core import model
from seatctl.core.clock import Instant
from seatctl.core.model import DEFAULT_SHOW, Seat, Show
from seatctl.storage import MAX_HOLD_KEY, MAX_SEATS_KEY, records
from seatctl.storage.sql import (
    EVENT_COLUMNS,
    POSITION,
    SEAT_COLUMNS,
    TOKEN_COLUMNS,
    SqlTransaction,
)

_OLD_SEAT_COLUMNS = "label, locked_by, lock_expires, booked_by, booked_at"  # before schema 4
# Schema 4's seat columns: no hold start yet.
_SEAT_COLUMNS_4 = (
    "s.label, st.locked_by, st.lock_expires, st.booked_by, st.booked_at, st.blocked_at,"
    " st.block_reason, s.section, s.seat_row, s.seat_number, s.category"
)
# Before schema 4 every change belonged to the one event there was.
_OLD_EVENT_COLUMNS = (
    'at, seat, action, "user", expires_at, id,'
    " CASE WHEN action = 'add' THEN NULL ELSE 'default' END, NULL"
)
_CHUNK = 500  # well under SQLite's limit on bound parameters


# The history's columns before schema 7 (no token ids) and before 6 (no `by` either).
_EVENT_COLUMNS_6 = EVENT_COLUMNS.replace(", token_id", ", NULL")
_EVENT_COLUMNS_5 = _EVENT_COLUMNS_6.replace(", acted_by", ", NULL")
_TOKEN_COLUMNS_5 = TOKEN_COLUMNS.replace(", role", ", 'buyer'")


def as_of(query: str, version: int) -> str:
    """A current query for schema `version`, reading NULL (or the default) for each column
    that schema lacks: before 7 no history event names a token; before 6 no seat has a
    position, no event names who made it for its user, every token is a buyer's."""
    if version < 7:
        query = query.replace(EVENT_COLUMNS, _EVENT_COLUMNS_6)
    if version < 6:
        query = query.replace(POSITION, "NULL, NULL").replace(_EVENT_COLUMNS_6, _EVENT_COLUMNS_5)
        query = query.replace(TOKEN_COLUMNS, _TOKEN_COLUMNS_5)
    return query


class OldSchemaReads(SqlTransaction):
    """The read methods of a `Transaction` on schema `version` (1 to 6). Mixed in before a
    backend's transaction class, which gives it the connection and "now"."""

    version = 4

    def _mapped(self) -> bool:
        """Whether the schema has the seat map and events (schema 4)."""
        return self.version >= 4

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        # The current queries read NULL for what the schema lacks.
        return super().execute(as_of(query, self.version), params)

    def _seat_columns(self) -> str:
        """The seat columns of a schema with the map: the hold start from schema 5."""
        return SEAT_COLUMNS if self.version >= 5 else _SEAT_COLUMNS_4

    def _state_rows(self, with_show: bool) -> Any:
        """The state rows as `seat_states` (with the event first) or `check` reads them."""
        held_since = "held_since" if self.version >= 5 else "NULL"
        return self.execute(
            f"SELECT {'show, ' if with_show else ''}seat, locked_by, lock_expires, booked_by,"
            f" booked_at, blocked_at, block_reason, NULL, NULL, NULL, NULL, {held_since}"
            " FROM seat_states ORDER BY show, seat"
        )

    def seats(
        self, labels: list[str], show: str = DEFAULT_SHOW, lock: bool = True
    ) -> dict[str, Seat]:
        found: dict[str, Seat] = {}
        for start in range(0, len(labels), _CHUNK):
            chunk = labels[start : start + _CHUNK]
            marks = self.sql.marks(len(chunk))
            if self._mapped():
                query = f"SELECT {self._seat_columns()} {self.sql.map_and_states}"
                rows = self.execute(f"{query} WHERE s.label IN ({marks})", [show, *chunk])
            else:
                query = f"SELECT {_OLD_SEAT_COLUMNS} FROM seats WHERE label IN ({marks})"
                rows = self.execute(query, chunk)
            found.update((row[0], records.seat(row)) for row in rows)
        return found

    def _seat_rows(self, show: str = DEFAULT_SHOW) -> Iterator[tuple[Any, ...]]:
        if not self._mapped():
            return iter(
                self.execute(f"SELECT {_OLD_SEAT_COLUMNS} FROM seats ORDER BY sort_key, label")
            )
        query = f"SELECT {self._seat_columns()} {self.sql.map_and_states}"
        return iter(self.execute(f"{query} ORDER BY s.sort_key, s.label", (show,)))

    def seat_spots(self, show: str, now: Instant) -> Iterator[storage.SpotRow]:
        if self._mapped():
            return super().seat_spots(show, now)
        return (
            (label, None, None, None, None, status == "available", n)
            for label, _, _, _, _, status, n in self.placed_states(show, now)
        )

    def map_row_firsts(self) -> Iterator[storage.RowFirstsRow]:
        if self._mapped():
            return super().map_row_firsts()
        return iter([(None, None, None, 1)])  # before the map: one row of seats without a place

    def map_categories(self) -> list[str]:
        return super().map_categories() if self._mapped() else []

    def row_spots(
        self, show: str, now: Instant, rows: list[storage.RowKey]
    ) -> Iterator[storage.SpotRow]:
        if self._mapped():
            return super().row_spots(show, now, rows)
        return self.seat_spots(show, now)  # its only row

    def placed_states(self, show: str, now: Instant) -> Iterator[storage.PlacedState]:
        if self._mapped():
            return super().placed_states(show, now)
        return (  # before the map: one row of seats in label order
            (seat.label, None, None, None, None, seat.status(now).value, n)
            for n, seat in enumerate(self.all_seats(), 1)
        )

    def seat_states(self) -> Iterator[tuple[str, Seat]]:
        if self.version >= 5:  # schema 5 differs from the current only by positions
            return super().seat_states()
        if not self._mapped():
            return ((DEFAULT_SHOW, seat) for seat in self.all_seats())
        return ((row[0], records.seat(row[1:])) for row in self._state_rows(with_show=True))

    def places(self) -> dict[str, tuple[model.Place, int]]:
        return super().places() if self._mapped() else {}

    def show(self, name: str) -> Show | None:
        if self._mapped():
            return super().show(name)
        return Show(DEFAULT_SHOW) if name == DEFAULT_SHOW else None

    def show_counts(self, now: Instant) -> list[tuple[Show, model.StatusCounts]]:
        if self._mapped():
            return super().show_counts(now)
        return [
            (
                Show(DEFAULT_SHOW),
                model.count_statuses(seat.status(now) for seat in self.all_seats()),
            )
        ]

    def history(self, show: str | None = None) -> list[model.HistoryEntry]:
        if self.version < 2:  # no history yet: what the upgrade would seed
            from seatctl.core.history import seed_events

            return seed_events(self.all_seats(), self.now())
        return super().history(show)

    def _event_rows(self, show: str | None = None) -> Iterator[tuple[Any, ...]]:
        if self.version < 2:
            return iter(())
        if self._mapped():
            return super()._event_rows(show)
        return iter(self.execute(f"SELECT {_OLD_EVENT_COLUMNS} FROM events ORDER BY id"))

    def history_after(self, show: str, after: int, limit: int) -> list[model.HistoryEntry]:
        if self._mapped():
            return super().history_after(show, after, limit)
        if self.version < 2:  # no history yet: nothing to tell
            return []
        query = f"SELECT {_OLD_EVENT_COLUMNS} FROM events WHERE id > {self.sql.mark} ORDER BY id"
        rows = self.execute(f"{query} LIMIT {self.sql.mark}", (after, limit))
        return [records.event(row) for row in rows]

    def newest_history_id(self) -> int:
        return super().newest_history_id() if self.version >= 2 else 0

    def history_at_through(self, show: str, event_id: int) -> Instant | None:
        if self._mapped():
            return super().history_at_through(show, event_id)
        if self.version < 2:
            return None
        row = self.execute(
            f"SELECT at, seat FROM events WHERE id <= {self.sql.mark} ORDER BY id DESC LIMIT 1",
            (event_id,),
        ).fetchone()
        return records.newest_instant(row[1], row[0]) if row is not None else None

    def hold_starts(self, labels: list[str], show: str, through: int) -> dict[str, Instant]:
        return self._newest(
            labels, show, f" AND action = 'lock' AND id <= {self.sql.mark}", through
        )

    def latest_history_at(self, labels: list[str], show: str = DEFAULT_SHOW) -> dict[str, Instant]:
        return self._newest(labels, show, "", None)

    def _newest(
        self, labels: list[str], show: str, condition: str, through: int | None
    ) -> dict[str, Instant]:
        """The newest instant of each of `labels`' events in event `show` that meet
        `condition` (with `through` as its parameter, if given)."""
        if self.version < 2:
            return {}
        p = self.sql.mark
        # Before schema 4 every change was the one event's; from 4 a seat's `add` is every event's.
        in_show = (f" AND (show = {p} OR show IS NULL)", [show]) if self._mapped() else ("", [])
        latest: dict[str, Instant] = {}
        for label in labels:
            params = [label, *([] if through is None else [through]), *in_show[1]]
            query = f"SELECT max(at) FROM events WHERE seat = {p}{condition}{in_show[0]}"
            at = self._value(query, params)
            if at is not None:
                latest[label] = records.newest_instant(label, at)
        return latest

    def seeded_through(self) -> int:
        return super().seeded_through() if self.version >= 2 else len(self.history())

    def damaged_records(self) -> list[str]:
        if self.version >= 5:
            return super().damaged_records()
        settings = {key: self._meta(key) for key in ("default_ttl", MAX_HOLD_KEY, MAX_SEATS_KEY)}
        if self.version >= 2:
            settings["seeded"] = self._meta("seeded_through")
        events = self._event_rows()
        if not self._mapped():
            return records.problems(self._seat_rows(), events, settings)
        map_rows = self.execute(
            "SELECT label, NULL, NULL, NULL, NULL, NULL, NULL, section, seat_row, seat_number,"
            " category FROM seats ORDER BY sort_key, label"
        )
        state_rows = self._state_rows(with_show=False)
        return records.problems(itertools.chain(map_rows, state_rows), events, settings)

    def token(self, token_hash: str) -> model.Token | None:
        if self.version < 3:
            return None
        return super().token(token_hash)

    def tokens(self) -> list[model.Token]:
        if self.version < 3:
            return []
        return super().tokens()

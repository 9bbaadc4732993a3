"""The narrow interface between the booking rules and a database.

A `Store` hands out transactions; a `Transaction` loads and saves seat records and knows
"now". Everything a backend must guarantee is here; `seatctl.venue` needs nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

from seatctl.core.clock import Instant
from seatctl.core.model import (
    DEFAULT_SHOW,
    HistoryEntry,
    Place,
    Role,
    Seat,
    Settings,
    Show,
    Stage,
    StatusCounts,
    Token,
)
from seatctl.core.validate import is_postgres_url

DEFAULT_TTL = 60
DEFAULT_VENUE = [str(n) for n in range(1, 6)]

# A seat of the map in one event, as `placed_states` reads it: label, section, row, number,
# category, status ("available", "locked", "booked" or "blocked"), map order.
PlacedState = tuple[str, str | None, str | None, int | None, str | None, str, int]
# A seat as `seat_spots` reads it, in the fields' order of `seatctl.core.selection.SeatSpot`.
SpotRow = tuple[str, str | None, str | None, int | None, str | None, bool, int]
# A row of the map for `lock --best`'s ranking (`seatctl.core.selection.map_rows`): section, row,
# the map order of its first seat with a number and of its first without one (or None).
RowFirstsRow = tuple[str | None, str | None, int | None, int | None]
# A seat as `free_from` reads it: label, section, row, number, category, map order, and the
# instant from which it is available in the event (0: now; None: booked or blocked).
FreeFromRow = tuple[str, str | None, str | None, int | None, str | None, int, int | None]
# Which seats `row_spots` reads: (section, row, positioned) as in `seatctl.core.selection.MapRow`.
RowKey = tuple[str | None, str | None, bool]
# The meta keys of the fairness caps. A database without them (made before schema 5) has no
# caps: it keeps its old behaviour until `init` sets one.
MAX_HOLD_KEY, MAX_SEATS_KEY = "max_hold", "max_seats_per_user"


class ChangeMarker(NamedTuple):
    """What `Transaction.change_marker` reads: it differs whenever another connection has
    committed since. Where the backend's marker is the newest history id (PostgreSQL), it is
    given too, so whoever catches up on the changes need not ask the database again."""

    connection: int  # markers of different connections never compare equal
    version: int
    newest_history_id: int | None = None


class Transaction(Protocol):
    def now(self) -> Instant:
        """The instant this transaction acts at (one value for the whole transaction)."""

    def default_ttl(self) -> int: ...

    def set_default_ttl(self, ttl: int) -> None: ...

    def settings(self) -> Settings:
        """The default lock duration and the fairness caps (read once per transaction)."""

    def set_caps(self, max_hold: int, max_seats_per_user: int) -> None: ...

    def serialise_user(self, show: str, user: str) -> None:
        """In a write transaction: wait until no other transaction that called this for the
        same event and user is open, and keep them waiting until this one ends (a lock counts
        its user's live locks before it adds to them). A no-op where writers are serialised
        anyway."""

    def live_lock_count(self, show: str, user: str, now: Instant) -> int:
        """How many seats `user` holds a live lock on in event `show` at `now`."""

    def seats(
        self, labels: list[str], show: str = DEFAULT_SHOW, lock: bool = True
    ) -> dict[str, Seat]:
        """The stored records in event `show` of those of `labels` that exist. In a write
        transaction they stay locked against other writers until it ends (a backend that locks
        rows one by one takes them in label order, so that two multi-seat commands cannot
        deadlock); with `lock=False` they are read as last committed, without waiting for
        writers that hold them (a look, for what decides nothing)."""

    def seat_count(self) -> int: ...

    def all_seats(self, show: str = DEFAULT_SHOW) -> Iterator[Seat]:
        """Every seat as it is in event `show`, in natural label order."""

    def placed_states(self, show: str, now: Instant) -> Iterator[PlacedState]:
        """Every seat of the map with its place, its status in event `show` at `now` and its
        map order, in map order (one query joining the map and the event's states)."""

    def seat_spots(self, show: str, now: Instant) -> Iterator[SpotRow]:
        """Every seat of the map as `lock --best` weighs it: label, section, row, number,
        category, whether it is available in event `show` at `now` (truthy), map order; in
        any order (one query joining the map and the event's states)."""

    def map_row_firsts(self) -> Iterator[RowFirstsRow]:
        """Each (section, row) of the map with the map order of its first seat with a number
        and of its first seat without one (None when it has none), in any order."""

    def map_categories(self) -> list[str]:
        """The price categories the map names, in any order."""

    def row_spots(self, show: str, now: Instant, rows: list[RowKey]) -> Iterator[SpotRow]:
        """The seats of those rows of the map as `seat_spots` reads them, in any order: a
        positioned row's numbered seats, or a section's seats without a number."""

    def free_from(self, show: str) -> Iterator[FreeFromRow]:
        """Every seat of the map with its place, map order, and the instant from which it is
        available in event `show` (0: now; a lock's deadline; None: booked or blocked)."""

    def change_marker(self) -> ChangeMarker | None:
        """Read on this transaction's connection before anything else: its version differs
        whenever another connection has committed since it was last read (SQLite's
        `PRAGMA data_version`; PostgreSQL's newest history id, which this connection's own
        commits move too); None where the backend cannot tell cheaply."""

    def serialise_show(self, show: str) -> None:
        """In a write transaction: wait until no other transaction that called this for the
        same event is open, and keep them waiting until this one ends (`lock --best` reads
        the whole event before it locks seats). A no-op where writers are serialised anyway."""

    def seat_states(self) -> Iterator[tuple[str, Seat]]:
        """Every stored state row: (event, its seat record without the place)."""

    def save(self, seats: list[Seat], show: str = DEFAULT_SHOW) -> None:
        """Overwrite the states of existing seats in event `show`."""

    def add_seats(self, labels: list[str], places: dict[str, Place] | None = None) -> list[str]:
        """Create those of these seats that do not exist yet, at the end of the map, with
        their places if given; return the ones it created."""

    def places(self) -> dict[str, tuple[Place, int]]:
        """Every seat's place and map order."""

    def stage(self) -> Stage | None:
        """The stage on the hall's plan, if the map gave one."""

    def set_stage(self, stage: Stage) -> None: ...

    def show(self, name: str) -> Show | None: ...

    def add_show(self, show: Show) -> bool:
        """Add the event; False if there is one of that name already."""

    def show_counts(self, now: Instant) -> list[tuple[Show, StatusCounts]]:
        """Every event, in the order they were added, with its seats counted by status."""

    def append_adds(self, labels: list[str], at: Instant) -> None:
        """Add to the history that these seats joined the map at `at` (their `add` events, in
        order): `append_history` for the many adds of a big map."""

    def append_history(self, events: list[HistoryEntry]) -> None:
        """Add to the history, in order, in this transaction."""

    def record(self, seats: list[Seat], show: str, events: list[HistoryEntry]) -> None:
        """`save` these seats' new states in event `show` and `append_history` the events
        that made them: one change, which a backend may send to the database at once."""

    def history(self, show: str | None = None) -> list[HistoryEntry]:
        """The history in commit order, each event with its `id`: all of it, or that of one
        event (its changes and the seats' adds)."""

    def history_after(self, show: str, after: int, limit: int) -> list[HistoryEntry]:
        """At most `limit` events of event `show` (its changes and the seats' adds) with an id
        above `after`, in commit order: what a change stream has not told yet."""

    def newest_history_id(self) -> int:
        """The id of the newest history event of any event (0 if there is none)."""

    def history_at_through(self, show: str, event_id: int) -> Instant | None:
        """The instant of the newest event of `show` (adds included) with an id up to
        `event_id`, None if there is none: how far in time a stream had got at that id."""

    def hold_starts(self, labels: list[str], show: str, through: int) -> dict[str, Instant]:
        """The instant of each of `labels`' newest `lock` event in event `show` up to history
        id `through`: where a hold that later events extend began."""

    def latest_history_at(self, labels: list[str], show: str = DEFAULT_SHOW) -> dict[str, Instant]:
        """The instant of the newest recorded event of each of `labels` in event `show` (the
        map's adds included), so that a write can keep each seat's history in time order."""

    def seeded_through(self) -> int:
        """The id of the last event seeded by a schema upgrade rather than written by a command
        (0 if none): those describe a state, not the commands that made it."""

    # The API tokens of `seatctl serve`: only their hashes are stored.
    def add_token(
        self, token_hash: str, user: str, expires_at: Instant | None, role: Role = Role.BUYER
    ) -> int: ...

    def token(self, token_hash: str) -> Token | None: ...

    def tokens(self) -> list[Token]: ...

    def touch_token(self, token_id: int) -> None:
        """Record that the token was used now."""

    def expired_token_presented(self, token_id: int) -> bool:
        """Record that the expired token was presented now, if this is the first time since
        its deadline (its last use, if any, came before it); False (and no change) if not."""

    def delete_token(self, token_id: int) -> str | None:
        """Remove the token; its user, or None if there was none with that id."""

    def damaged_records(self) -> list[str]:
        """Every stored record the rules could not have written, in words (empty when none).
        The methods above refuse such a record with `records.DamagedRecord`."""


class Store(Protocol):
    location: str
    created: bool  # this open made the database (so `init` may seed the default venue)
    # A server's limits for the request at hand (see `seatctl.storage.store.SqlStore`).
    deadline: float | None
    lock_wait: float | None

    def transaction(self, write: bool = True) -> AbstractContextManager[Transaction]:
        """One atomic unit. In a write transaction, the seats read with `seats()` stay locked
        against other writers until it ends (SQLite locks the whole database from the first
        statement, PostgreSQL those rows), so the checks made on them still hold when it
        commits."""

    def group(self) -> AbstractContextManager[None]:
        """One write transaction around several `transaction()`s (group commit): each is a
        savepoint, all or nothing on its own; all become durable at the group's one COMMIT."""

    def link_lost(self) -> bool:
        """Whether the connection is known to be gone, found without a round trip (a server
        reconnects before using it instead of failing a request on it)."""

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for another connection to commit a change (SQLite
        polls `PRAGMA data_version`, PostgreSQL listens for the writers' NOTIFY); True if one
        may have. Cheap when nothing changes: a change stream's one watcher calls it in a loop."""

    def integrity_problems(self) -> list[str]:
        """What the database engine's own consistency check reports (empty when sound)."""

    def backup(self, dest: str, force: bool = False) -> None:
        """Write a consistent copy to `dest`, never leaving a partial file under that name.
        A backend whose copies are made by other tools raises a usage error naming them."""

    def close(self) -> None: ...


def open_store(db: str, create: bool = False, any_thread: bool = False) -> Store:
    """The store behind `db`, a PostgreSQL URL or else a SQLite path; `create` makes a new
    database (the `init` command's right); `any_thread`: see `Venue.open` (a PostgreSQL
    connection may be handed between threads anyway)."""
    # Each backend is imported only when chosen: psycopg alone would slow every SQLite command.
    if is_postgres_url(db):
        from seatctl.storage.postgres import PostgresStore

        return PostgresStore.open(db, create=create)
    from seatctl.storage.sqlite import SqliteStore

    return SqliteStore.open(db, create=create, any_thread=any_thread)

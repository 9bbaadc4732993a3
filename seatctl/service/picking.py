"""`lock --best` without rescanning the hall: each event's rows, kept in memory.

`Venue.lock_best` used to read the rows of the hall from the database in rank order until
the rule was settled; as a hall fills, its first rows hold no block and a pick reads more and
more of it (2.9 ms on an empty 5,000-seat hall, about 15 ms on average over a sell-out). The
index keeps, per event, every row of the map in rank order with the instant from which each
of its seats is available (0: now; a lock's deadline; None: booked or blocked), and for each
row how many seats are free for good and its earliest lock deadline. A pick then looks only
at the rows that can hold what it asks for, and hands them to the very same rule
(`seatctl.core.selection.choose_best_in_rows`): a row skipped here holds fewer available
seats than the count, so the rule would have passed it over too.

Correctness: the index is trusted only inside a write transaction whose change marker
(`Transaction.change_marker`, SQLite's `PRAGMA data_version`, read under the write lock)
equals the one it was built or last confirmed at: no other connection, process or host has
committed since. This connection's own writes are applied to it as they are saved
(`saved`), and if a transaction that saved them does not commit, the index is dropped.
On PostgreSQL the marker is the newest history id: ids are drawn in commit order, so every
change committed since moves it (this connection's own too, which are then taken in again).
Where a backend has no marker the index is not used, nor by a `Venue`'s first pick (a
command's only one): building it reads the whole hall, which the rows in rank order need not.
The seats chosen are
then read and decided by the rules as any named lock: an index that were wrong could only
make a lock be refused, never hold a seat twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING
from weakref import WeakValueDictionary

from seatctl.core import selection
from seatctl.core.clock import Instant
from seatctl.core.model import Seat
from seatctl.core.selection import RowSeats, SeatSpot

if TYPE_CHECKING:
    from seatctl.storage import ChangeMarker, Transaction


CATCH_UP_LIMIT = 1000  # history events taken in one by one; beyond, the index is read again


class _Layout:
    """One ranked row as the map lays it out: its seats in the rule's order. The same for
    every connection to the venue, so a process keeps one per row (see `_plan`)."""

    __slots__ = ("follows", "positioned", "rank", "section", "spots", "taken")

    def __init__(self, rank: tuple[int, int], spots: list[SeatSpot], positioned: bool) -> None:
        self.rank = rank
        self.section = spots[0].section
        self.positioned = positioned
        self.spots = spots  # each available; `taken` the same seats unavailable
        self.taken = [spot._replace(available=False) for spot in spots]
        # Whether each seat's number follows the one before it (a gap breaks a block).
        numbers = [spot.number for spot in spots]
        self.follows = [False] + [
            not positioned or (b is not None and a is not None and b == a + 1)
            for a, b in pairwise(numbers)
        ]


class _Plan:
    """An event's rows as the map lays them out, and where each seat is in them."""

    def __init__(self, layouts: list[_Layout]) -> None:
        self.layouts = layouts
        self.where = {  # label -> the index of its row and its position there
            spot.label: (r, i)
            for r, layout in enumerate(layouts)
            for i, spot in enumerate(layout.spots)
        }


class _Row:
    """One ranked row's state on one connection: the instant each seat is free from."""

    __slots__ = ("free_from", "layout", "longest", "runs", "section", "soonest")

    def __init__(self, layout: _Layout, free_from: list[int | None]) -> None:
        self.layout = layout
        self.section = layout.section
        self.free_from = free_from
        self.runs: list[int] = []  # the lengths of its blocks of seats free with no lock
        self.longest = 0
        self.soonest: int | None = None  # the earliest lock deadline in the row
        self.recount()

    def recount(self) -> None:
        runs: list[int] = []
        run = 0
        for free, follows in zip(self.free_from, self.layout.follows, strict=True):
            if free != 0 or not follows:
                if run:
                    runs.append(run)
                run = 0
            run += free == 0
        if run:
            runs.append(run)
        self.runs = runs
        self.longest = max(runs, default=0)
        deadlines = [f for f in self.free_from if f]  # a lock's deadline (0 and None: not)
        self.soonest = min(deadlines) if deadlines else None

    def may_hold(self, count: int, now: Instant) -> bool:
        """Whether the row may have a block of `count` seats available at `now` (exact but
        for the categories, which only the rule weighs, when no lock in it has lapsed)."""
        if self.longest >= count:
            return True
        return self.soonest is not None and self.soonest <= now

    def lapsed(self, now: Instant) -> bool:
        """Whether a lock in the row has run out by `now` (then only the rule can say)."""
        return self.soonest is not None and self.soonest <= now

    def strands_nobody(self, count: int) -> bool:
        """Whether a block of `count` fits in a run of free seats leaving no seat alone: a
        run of exactly `count`, or of `count` + 2 or more (a run of `count` + 1 leaves one).
        Exact when no lock in the row has lapsed: then its free seats are its available ones."""
        return any(run == count or run >= count + 2 for run in self.runs)

    def seats(self, now: Instant) -> RowSeats:
        layout = self.layout
        spots = [
            spot if f is not None and f <= now else taken
            for spot, taken, f in zip(layout.spots, layout.taken, self.free_from, strict=True)
        ]
        return RowSeats(layout.rank, spots, layout.positioned)


class _ShowIndex:
    def __init__(self, plan: _Plan, rows: list[_Row]) -> None:
        self.plan = plan
        self.rows = rows


class PickIndex:
    """One Venue's index of its events' rows (see the module's docstring)."""

    def __init__(self) -> None:
        self._shows: dict[str, _ShowIndex] = {}
        self._marker: ChangeMarker | None = None
        self._through = 0  # the newest history id the index has taken in
        # One flag per open write (a group, then its savepoint): changes of ours applied
        # that may yet be rolled back.
        self._unsure: list[bool] = []

    def rows(self, tx: Transaction, show: str) -> _ShowIndex | None:
        """The event's index, current for `tx` (a write transaction that has not written
        yet); None where the backend cannot say whether it is current."""
        marker = tx.change_marker()
        if marker is None:
            return None
        if marker != self._marker:
            # Others committed: take in what they changed (their history since the newest
            # id seen: both backends draw ids in commit order), or read all.
            if not self._catch_up(tx, marker):
                self._shows.clear()
            self._marker = marker
        index = self._shows.get(show)
        if index is None:
            if not self._shows:
                self._through = _newest_history_id(tx, marker)
            index = self._shows[show] = _build(tx, show)
        return index

    def _catch_up(self, tx: Transaction, marker: ChangeMarker) -> bool:
        """Apply the changes committed since `_through` to every event indexed; False if the
        index must be read again (the map changed, or too much did)."""
        if not self._shows:
            return False
        newest = _newest_history_id(tx, marker)
        for show, index in self._shows.items():
            entries = tx.history_after(show, self._through, CATCH_UP_LIMIT)
            if len(entries) == CATCH_UP_LIMIT or any(e.show is None for e in entries):
                return False  # a seat was added to the map (or many changes): read it all
            labels = list({entry.seat for entry in entries})
            # Read, not locked: under its event's lock a pick must not wait for the writers
            # of these seats (a confirm's commit, say); the seats it chooses are locked later.
            seats = tx.seats(labels, show, lock=False)
            if len(seats) != len(labels) or not _apply(index, seats.values()):
                return False
        self._through = newest
        return True

    def saved(self, show: str, seats: Sequence[Seat]) -> None:
        """This connection saved these seat records of `show` (not committed yet)."""
        index = self._shows.get(show)
        if index is None or not seats:
            return
        if not self._unsure:  # outside `writing()`: no way to undo it if it does not commit
            self.drop()
            return
        self._unsure[-1] = True
        if not _apply(index, seats):
            self.drop()

    def drop(self) -> None:
        self._shows.clear()
        self._marker = None

    def writing(self) -> _Writing:
        """Around a write transaction, a group of them or one of a group's savepoints: if it
        does not commit, what it saved into the index never happened."""
        return _Writing(self)


class _Writing:
    """`PickIndex.writing` (a class: it wraps every request of the server, and costs less
    than a generator)."""

    __slots__ = ("_index",)

    def __init__(self, index: PickIndex) -> None:
        self._index = index

    def __enter__(self) -> None:
        self._index._unsure.append(False)

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        unsure = self._index._unsure.pop()
        if error is not None:
            if unsure:
                self._index.drop()
        elif self._index._unsure:  # a savepoint released: the group's COMMIT is still to come
            self._index._unsure[-1] = self._index._unsure[-1] or unsure


def choose(
    index: _ShowIndex,
    now: Instant,
    count: int,
    sections: Sequence[str],
    categories: Sequence[str],
    split: bool,
) -> list[str] | None:
    """`choose_best_in_rows` over the rows that can matter: those that may hold `count`
    seats for a block, then (with `split`, and no block anywhere) those with any."""
    wanted = set(sections)
    rows = [row for row in index.rows if not wanted or row.section in wanted]
    chosen = selection.choose_best_in_rows(
        _block_rows(rows, now, count, bool(categories)), count, categories
    )
    if chosen is not None or not split:
        return chosen
    singles = [row.seats(now) for row in rows if row.may_hold(1, now)]  # any seat at all
    return selection.choose_best_in_rows(singles, count, categories, split=True)


def _block_rows(rows: list[_Row], now: Instant, count: int, filtered: bool) -> list[RowSeats]:
    """The rows, in rank order, that the rule must weigh for a block. A row whose runs of
    free seats are all shorter than `count` holds no block. Without categories (which runs
    of free seats do not know), a block strands at most one seat, and the rule ranks by
    orphans first, then by row: so past the first row whose blocks all strand one, later such
    rows cannot win, and past the first row with a block that strands nobody, no row can
    (the rule stops there too). A row where a lock has lapsed is always weighed."""
    weighed = []
    stranding_seen = False
    for row in rows:
        if row.lapsed(now):
            weighed.append(row.seats(now))  # its counts are not those of `now`
        elif row.longest >= count:
            if filtered:
                weighed.append(row.seats(now))
            elif row.strands_nobody(count):
                weighed.append(row.seats(now))
                break
            elif not stranding_seen:
                weighed.append(row.seats(now))
                stranding_seen = True
    return weighed


def spots(index: _ShowIndex, now: Instant, sections: Sequence[str]) -> list[SeatSpot]:
    """The seats of the allowed sections' rows that have any seat available at `now`: what a
    refusal counts (the available seats, the largest block), which a full row adds nothing to.
    Near a sell-out, when refusals are common, that is a few rows, not the hall."""
    wanted = set(sections)
    return [
        spot
        for row in index.rows
        if (not wanted or row.section in wanted) and row.may_hold(1, now)
        for spot in row.seats(now).spots
    ]


def _newest_history_id(tx: Transaction, marker: ChangeMarker) -> int:
    """The newest history id, as the marker just read tells it where it does (a round trip
    less while the event's pickers queue)."""
    newest = marker.newest_history_id
    return tx.newest_history_id() if newest is None else newest


def _apply(index: _ShowIndex, seats: Iterable[Seat]) -> bool:
    """Set these seats' states in the index; False if it does not know one of them."""
    touched: dict[int, _Row] = {}
    for seat in seats:
        found = index.plan.where.get(seat.label)
        if found is None:
            return False
        r, position = found
        row = index.rows[r]
        row.free_from[position] = _free_from(seat)
        touched[r] = row
    for row in touched.values():
        row.recount()
    return True


def _free_from(seat: Seat) -> int | None:
    if seat.booked_by is not None or seat.blocked_at is not None:
        return None
    return seat.lock_expires or 0


def _build(tx: Transaction, show: str) -> _ShowIndex:
    frees: dict[str, int | None] = {}
    spots = []
    for label, section, row_name, number, category, order, free_from in tx.free_from(show):
        spots.append(SeatSpot(label, section, row_name, number, category, True, order))
        frees[label] = free_from
    plan = _plan(spots)
    rows = [_Row(layout, [frees[spot.label] for spot in layout.spots]) for layout in plan.layouts]
    return _ShowIndex(plan, rows)


# The plans in use in this process, by the map they were made from. A server's database
# threads each keep an index, and each index the whole hall: sharing what the map says (two
# records per seat) keeps one copy per process instead of one per thread (about 4.5 MB each
# on a 5,000-seat hall). A plan is never changed once made, so threads may share it; two
# threads that make the same plan at once both get a correct one.
_plans: WeakValueDictionary[tuple[SeatSpot, ...], _Plan] = WeakValueDictionary()


def _plan(spots: list[SeatSpot]) -> _Plan:
    # In one order whatever order the database returned them in (it may change as rows
    # are updated), so the same map finds the same plan.
    key = tuple(sorted(spots, key=lambda spot: (spot.map_order, spot.label)))
    plan = _plans.get(key)
    if plan is None:
        # A hall names few sections, rows and categories: one string each, not one per
        # seat read (a third of the plan's memory on a 5,000-seat hall).
        one: dict[str | None, str | None] = {}
        key = tuple(
            spot._replace(
                section=one.setdefault(spot.section, spot.section),
                row=one.setdefault(spot.row, spot.row),
                category=one.setdefault(spot.category, spot.category),
            )
            for spot in key
        )
        plan = _Plan(
            [
                _Layout(group.rank, selection.row_order(group), group.positioned)
                for group in selection.rows_in_rank_order(key)
            ]
        )
        _plans[key] = plan
    return plan

"""Best available: which N seats `lock --best N` takes, as a pure function of seat records.

The rule (issue 10), read precisely:

Rows. Seats are grouped into rows by (section, row). Sections are ranked by the first
appearance of any of their seats in map order (`SeatSpot.map_order`); rows within a section
by the first appearance of any of their numbered seats. Seats without a number have no
position: within each section they form one extra row of their own, ranked after that
section's numbered rows, where they are numbered 1, 2, 3... in natural label order
(`validate.natural_key`, so A2 before A10). A map with no sections, rows or numbers at all
(every database made without a map) is therefore one row of every seat in label order.

Blocks. A block of N is N seats of one row with consecutive numbers n, n+1, ..., n+N-1,
each of them present in the row, available, in an allowed section and of an allowed
category. A missing number (a gap: an aisle, a pillar, a seat removed) breaks a block just
as an unavailable seat does.

Orphans. Seat x is *available* when it exists and its status is available, whatever the
section and category filters say: a seat the filters exclude is still for sale, so
stranding it still costs the box office. A block starting at a and ending at b strands a
seat on its left when seat a-1 is available and seat a-2 is not (unavailable, a gap, or past
the row's end): a-1 would be left with no available neighbour. The right side is the mirror
image (b+1 available, b+2 not). The block's orphan count is 0, 1 or 2. So a gap counts
exactly as the row's end: a lone seat between a block and an aisle is an orphan; a seat
beyond a gap is never one (the block does not touch it).

Ranking. The best block is the least by, in this order: orphans; section rank; row rank;
|block centre - row centre|, where the row centre is the midpoint of the lowest and highest
number in the row (all its seats, whatever their state or category) and the block centre
the midpoint of n and n+N-1; then the lower n. The key is exact: distances are compared
doubled, as whole numbers. The key orders every block of the venue, so the choice is
deterministic whatever order the spots come in.

Split. With `split=True` and no block of N anywhere, the N best single seats that are
available, allowed and by (section rank, row rank, |number - row centre|, number). If a
block exists, `split` changes nothing. Fewer than N allowed available seats: None.

Inputs. `spots` are every seat of the map with its state in one event (all of them: row
centres and orphans depend on seats the filters exclude), in any order; labels are unique
and so are numbers within a row (the map guarantees both). `sections` and `categories` are
lists of names; empty means all.

Cost: one pass grouping the spots by row (C-level groupby: one Python step per row when the
map lists each row's seats together), then each row is scanned once, in rank order, and the
scan stops after the first row that holds a block with no orphans, since no later row can
beat it. Split stops at the first rows that hold enough seats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import groupby
from operator import attrgetter
from typing import Any, NamedTuple

from seatctl.core.validate import natural_key


class SeatSpot(NamedTuple):
    label: str
    section: str | None
    row: str | None
    number: int | None
    category: str | None
    available: bool
    map_order: int  # position in the stored map order


def choose_best(
    spots: Sequence[SeatSpot],
    count: int,
    sections: Sequence[str] = (),
    categories: Sequence[str] = (),
    split: bool = False,
) -> list[str] | None:
    """The labels of the best `count` seats by the rule above, in seat order, or None."""
    _names(sections, categories)
    return choose_best_in_rows(_groups(spots, sections), count, categories, split)


def choose_best_in_rows(
    rows: Iterable[RowSeats],
    count: int,
    categories: Sequence[str] = (),
    split: bool = False,
) -> list[str] | None:
    """`choose_best` given the rows of the allowed sections in rank order (`rank_rows`), each
    with all its seats. `rows` is iterated at most twice (the second time only for `split`),
    and only as far as the choice needs: it may read them from a database as it goes."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    _names(categories)
    allowed = _Allowed(categories)
    block = _best_block(map(_row, rows), count, allowed)
    if block is not None or not split:
        return block
    return _best_singles(map(_row, rows), count, allowed)


# A SeatSpot from a tuple of its fields, at C speed (`SeatSpot._make` is a Python call).
as_spot: Callable[[Iterable[Any]], SeatSpot] = partial(tuple.__new__, SeatSpot)
# A row as `RowsInRankOrder` asks for it: section, row, positioned (as in `MapRow`).
RowKey = tuple[str | None, str | None, bool]


class RowsInRankOrder:
    """The ranked rows of the allowed sections with their seats, each read only when a walk
    reaches it, and kept for a second walk (`split`). `choose_best_in_rows` stops at the first
    row with a block that strands nobody, most often the first: then only the rows up to it
    are read. They are read through `read_rows` (the seats of some rows, as SeatSpot fields,
    in any order) in batches of 1, 1, 2, 4... rows; a walk that goes past `LAZY_ROWS` rows
    (a venue with few free seats) reads every seat at once through `read_all` instead, since
    one plain query is cheaper than many row by row."""

    LAZY_ROWS = 64

    def __init__(
        self,
        ranked: list[RankedRow],
        sections: Sequence[str],
        read_rows: Callable[[list[RowKey]], Iterable[Iterable[Any]]],
        read_all: Callable[[], Iterable[Iterable[Any]]],
    ) -> None:
        self._ranked = ranked
        self._sections = sections
        self._read_rows = read_rows
        self._read_all = read_all
        self._rows: list[RowSeats] = []

    def __iter__(self) -> Iterator[RowSeats]:
        index = 0
        while index < len(self._ranked):
            if index == len(self._rows):
                self._read_more()
            yield self._rows[index]
            index += 1

    def spots(self) -> list[SeatSpot]:
        """Every seat of the allowed sections (all of them are read by then)."""
        while len(self._rows) < len(self._ranked):
            self._read_more()
        return [spot for row in self._rows for spot in row.spots]

    def _read_more(self) -> None:
        start = len(self._rows)
        if start >= self.LAZY_ROWS:
            # The same ranking over every seat: the rows already read come out the same.
            self._rows = _groups(list(map(as_spot, self._read_all())), self._sections)
            return
        batch = self._ranked[start : start + max(1, start)]
        seats: dict[RowKey, list[SeatSpot]] = {_key(ranked.row): [] for ranked in batch}
        for spot in map(as_spot, self._read_rows(list(seats))):
            if spot.number is None:  # in its section's row of seats without a number
                seats[spot.section, None, False].append(spot)
            else:
                seats[spot.section, spot.row, True].append(spot)
        self._rows += [
            RowSeats(ranked.rank, seats[_key(ranked.row)], ranked.row.positioned)
            for ranked in batch
        ]


def _key(row: MapRow) -> RowKey:
    return row.section, row.row, row.positioned


class MapRow(NamedTuple):
    """A row of the map as the ranking sees it: a section's numbered row, or (`row` None,
    `positioned` False) the section's seats without a number."""

    section: str | None
    row: str | None
    positioned: bool
    first: int  # the map order of its first seat


class RankedRow(NamedTuple):
    rank: tuple[int, int]  # (section rank, row rank)
    row: MapRow


class RowSeats(NamedTuple):
    """A ranked row with its seats, in any order."""

    rank: tuple[int, int]
    spots: list[SeatSpot]
    positioned: bool  # False: seats without a number, numbered by label


# A numbered row's first seats, as a database aggregates them: section, row, the map order of
# its first seat with a number and of its first seat without one (None when it has none).
RowFirsts = tuple[str | None, str | None, int | None, int | None]


def map_rows(firsts: Iterable[RowFirsts]) -> list[MapRow]:
    """The map's rows from each (section, row)'s first seats: the seats without a number of
    one section are one row, whatever row they name."""
    rows: list[MapRow] = []
    loose: dict[str | None, int] = {}
    for section, row, numbered, unnumbered in firsts:
        if numbered is not None:
            rows.append(MapRow(section, row, True, numbered))
        if unnumbered is not None:
            loose[section] = min(unnumbered, loose.get(section, unnumbered))
    return rows + [MapRow(section, None, False, first) for section, first in loose.items()]


def rank_rows(rows: Iterable[MapRow], sections: Sequence[str] = ()) -> list[RankedRow]:
    """The rows of the allowed sections (empty: all) in rank order. Map orders are unique.

    Sections rank by their first seat of any kind; rows within a section by their first seat
    (a seat without a number is not in its named row but in its section's unnumbered row,
    which ranks after the section's numbered rows). Ranks count every section."""
    _names(sections)
    listed = sorted(rows, key=_FIRST)
    section_ranks: dict[str | None, int] = {}
    for row in listed:
        section_ranks.setdefault(row.section, len(section_ranks))
    rows_so_far: dict[str | None, int] = {}
    ranked = []
    for row in listed:  # numbered rows in the order of their first seats, then the loose ones
        if row.positioned:
            rank = rows_so_far.get(row.section, 0)
            rows_so_far[row.section] = rank + 1
            ranked.append(RankedRow((section_ranks[row.section], rank), row))
    ranked += [
        RankedRow((section_ranks[row.section], rows_so_far.get(row.section, 0)), row)
        for row in listed
        if not row.positioned
    ]
    if sections:
        wanted = set(sections)
        ranked = [row for row in ranked if row.row.section in wanted]
    ranked.sort(key=_RANK)
    return ranked


def largest_block(
    spots: Sequence[SeatSpot], sections: Sequence[str] = (), categories: Sequence[str] = ()
) -> int:
    """The most allowed available seats with consecutive numbers in one row (0 if none)."""
    _names(sections, categories)
    allowed = _Allowed(categories)
    return max(
        (
            end - start
            for row in map(_row, _groups(spots, sections))
            for start, end in _runs(row, allowed.flags(row.spots))
        ),
        default=0,
    )


def available_count(
    spots: Sequence[SeatSpot], sections: Sequence[str] = (), categories: Sequence[str] = ()
) -> int:
    """How many available seats the section and category filters allow."""
    _names(sections, categories)
    wanted_sections, allowed = set(sections), _Allowed(categories)
    return sum(
        1
        for spot in spots
        if spot.available
        and (not wanted_sections or spot.section in wanted_sections)
        and allowed(spot)
    )


def _names(*lists: Sequence[str]) -> None:
    for names in lists:
        if isinstance(names, str):
            # Iterating it would filter by its characters: "Stalls" as S, t, a, l, s.
            raise TypeError(f"expected a list of names, not a str: write [{names!r}]")


class _Allowed:
    """Whether a seat may be chosen: available and of an allowed category."""

    def __init__(self, categories: Sequence[str]) -> None:
        self.categories = frozenset(categories)

    def __call__(self, spot: SeatSpot) -> bool:
        return spot.available and (not self.categories or spot.category in self.categories)

    def flags(self, spots: list[SeatSpot]) -> list[bool]:
        if not self.categories:
            return [spot.available for spot in spots]
        categories = self.categories
        return [spot.available and spot.category in categories for spot in spots]


class _Row(NamedTuple):
    """One row: its seats by number, twice its centre (so a whole number) and its rank."""

    rank: tuple[int, int]  # (section rank, row rank)
    numbers: list[int]
    spots: list[SeatSpot]
    centre2: int


_MAP_ORDER = attrgetter("map_order")
_ROW = attrgetter("row")
_NUMBER = attrgetter("number")
_SECTION = attrgetter("section")
_FIRST = attrgetter("first")
_RANK = attrgetter("rank")


def _groups(spots: Sequence[SeatSpot], sections: Sequence[str]) -> list[RowSeats]:
    """The rows of the allowed sections with their seats, in rank order."""
    ordered = sorted(spots, key=_MAP_ORDER)
    numbered, loose = _split_unnumbered(ordered)
    rows: dict[tuple[str | None, str | None], list[SeatSpot]] = {}
    # A map lists a row's seats together: grouping runs of one place costs one step per row
    # (two nested C-level groupbys, with no key tuple built per seat).
    for section, in_section in groupby(numbered, key=_SECTION):
        for row, run in groupby(in_section, key=_ROW):
            rows.setdefault((section, row), []).extend(run)
    # In map order, each list's first seat is the row's first.
    places = [MapRow(sec, row, True, seats[0].map_order) for (sec, row), seats in rows.items()]
    places += [MapRow(sec, None, False, seats[0].map_order) for sec, seats in loose.items()]
    return [
        RowSeats(
            ranked.rank,
            rows[ranked.row.section, ranked.row.row]
            if ranked.row.positioned
            else loose[ranked.row.section],
            ranked.row.positioned,
        )
        for ranked in rank_rows(places, sections)
    ]


def _split_unnumbered(
    ordered: list[SeatSpot],
) -> tuple[list[SeatSpot], dict[str | None, list[SeatSpot]]]:
    """The numbered seats, and each section's seats without a number."""
    if None not in map(_NUMBER, ordered):  # at C speed: most maps number every seat
        return ordered, {}
    loose: dict[str | None, list[SeatSpot]] = {}
    for spot in ordered:
        if spot.number is None:
            loose.setdefault(spot.section, []).append(spot)
    return [spot for spot in ordered if spot.number is not None], loose


def rows_in_rank_order(spots: Sequence[SeatSpot]) -> list[RowSeats]:
    """Every row of the map with its seats, in rank order (as `choose_best` groups them)."""
    return _groups(spots, ())


def row_order(group: RowSeats) -> list[SeatSpot]:
    """The row's seats in the order the rule walks them (by number, or by label)."""
    return _row(group).spots


def _row(group: RowSeats) -> _Row:
    numbers: list[int]
    if group.positioned:
        spots = sorted(group.spots, key=_NUMBER)  # already in number order, most often
        numbers = list(map(_NUMBER, spots))  # a positioned row's seats all have a number
    else:
        spots = sorted(group.spots, key=lambda spot: (natural_key(spot.label), spot.label))
        numbers = list(range(1, len(spots) + 1))
    return _Row(group.rank, numbers, spots, numbers[0] + numbers[-1])


def _runs(row: _Row, ok: list[bool]) -> Iterator[tuple[int, int]]:
    """The row's maximal runs of allowed seats with consecutive numbers, as index ranges."""
    numbers = row.numbers
    start = None
    for index, allowed in enumerate(ok):
        if start is not None and (not allowed or numbers[index] != numbers[index - 1] + 1):
            yield start, index  # an unallowed seat or a gap in the numbering ends a run
            start = None
        if allowed and start is None:
            start = index
    if start is not None:
        yield start, len(ok)


_BlockKey = tuple[int, int, int, int, int]  # orphans, section, row, 2 x distance, first number


def _best_block(rows: Iterator[_Row], count: int, allowed: _Allowed) -> list[str] | None:
    best: tuple[_BlockKey, _Row, int] | None = None
    for row in rows:
        if best is not None and best[0][0] == 0:
            break  # rows come in rank order: a later row cannot beat a block with no orphans
        ok = allowed.flags(row.spots)
        if sum(ok) < count:
            continue
        free = dict(zip(row.numbers, (spot.available for spot in row.spots), strict=True))
        for start, end in _runs(row, ok):
            for first_index in range(start, end - count + 1):
                first, last = row.numbers[first_index], row.numbers[first_index + count - 1]
                key = (
                    _orphans(free, first, last),
                    *row.rank,
                    abs(first + last - row.centre2),
                    first,
                )
                if best is None or key < best[0]:
                    best = (key, row, first_index)
    if best is None:
        return None
    _, row, first_index = best
    return [spot.label for spot in row.spots[first_index : first_index + count]]


def _orphans(free: dict[int, bool], first: int, last: int) -> int:
    """Sides on which the block first..last leaves one available seat with no available
    neighbour: a missing number counts as an unavailable seat."""
    left = free.get(first - 1, False) and not free.get(first - 2, False)
    right = free.get(last + 1, False) and not free.get(last + 2, False)
    return left + right


def _best_singles(rows: Iterator[_Row], count: int, allowed: _Allowed) -> list[str] | None:
    """Every seat of an earlier row beats every seat of a later one, so rows are taken in
    rank order, each one's seats by distance from its centre, until there are enough."""
    chosen: list[tuple[tuple[int, int], int, str]] = []  # (rank, number, label)
    for row in rows:
        candidates = sorted(
            (abs(2 * number - row.centre2), number, spot.label)
            for number, spot, ok in zip(
                row.numbers, row.spots, allowed.flags(row.spots), strict=True
            )
            if ok
        )
        chosen += [
            (row.rank, number, label) for _, number, label in candidates[: count - len(chosen)]
        ]
        if len(chosen) == count:
            chosen.sort()  # back to seat order: by row, then number
            return [label for _, _, label in chosen]
    return None


__all__ = [
    "MapRow",
    "RankedRow",
    "RowFirsts",
    "RowKey",
    "RowSeats",
    "RowsInRankOrder",
    "SeatSpot",
    "as_spot",
    "available_count",
    "choose_best",
    "choose_best_in_rows",
    "largest_block",
    "map_rows",
    "rank_rows",
    "row_order",
    "rows_in_rank_order",
]

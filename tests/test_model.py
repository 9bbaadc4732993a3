"""The Python API against a small reference model of the booking rules.

Hypothesis drives `seatctl.Venue` with random multi-seat `lock`, `confirm`, `release`, `block`,
`unblock` and `init` calls by a few users on a handful of labels (some of which do not exist,
one of which is not a label at all), and `lock_best` (best available, with and without
`split`), in the event `default` and in events it adds (one of which may not exist yet), on
both backends, while a frozen clock moves forward, jumps to lock deadlines (and a
second either side, so sometimes backwards, even past a seat's newest event) and stops at
fractions of a second. `ReferenceVenue` below is the rules of docs/commands.md and
docs/guarantees.md written out again, independently of `seatctl.core.rules`, the fairness caps
(max-hold, max-seats-per-user, set by `init`) included, and best available by the brute-force
reference of tests/test_selection.py (these venues have no map, so every seat is in one row in
natural label order): after every step the
API must give the same outcome (the views it returns, or the exact refusal: reason, exit code
and every refused seat with its reason) and every seat of every event must look the same,
listed whole or filtered by state and user. At the end of every run `check()` finds nothing
wrong.

`SEATCTL_SOAK=N` runs N times as many examples, each twice as long, for a long local run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from helpers import SOAK, frozen, reference
from seatctl import InitResult, SeatctlError, SeatView, Status, Venue
from seatctl.core.selection import SeatSpot

# The backend's part: the model test drives the whole stack, storage included.
pytestmark = pytest.mark.backend
START_MS = int(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()) * 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

NOT_A_LABEL = "A 1"
USERS = ["alice", "bob", " bob ", "carol"]  # " bob " is bob: surrounding whitespace is stripped
NOT_A_USER = " "

# The rules, as docs/commands.md states them.
LABEL_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
DEFAULT_VENUE = ["1", "2", "3", "4", "5"]
DEFAULT_TTL = 60
USAGE, NOT_FOUND, LOCK_REFUSED, NOT_HOLDER, CLOCK_BEHIND = 2, 3, 4, 5, 6
CLOCK_TOLERANCE = 5  # a write this many seconds behind a seat's newest event acts at that event


def now_and_then(
    common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int
) -> st.SearchStrategy[Any]:
    """A value from `common`, or once in `one_in` draws from `rare` (shrinking to `common`)."""
    return st.tuples(st.integers(1, one_in), common, rare).map(
        lambda drawn: drawn[2] if drawn[0] == one_in else drawn[1]
    )


# Every venue has seats 1 to 3 and maybe 4, 5, A2 and A10 (the default venue is 1 to 5); Z9
# exists only once `init` adds it.
other_label = now_and_then(st.sampled_from(["4", "5", "A2", "A10", "Z9"]), st.just(NOT_A_LABEL), 8)
label = now_and_then(st.sampled_from(["1", "2", "3"]), other_label, 4)
labels = st.lists(label, min_size=1, max_size=3)
users = now_and_then(st.sampled_from(USERS), st.just(NOT_A_USER), 20)
# Every venue has the event `default`; `gala` and `matinee` exist once added ("no show" never).
EVENTS = ["default", "gala", "matinee"]
events = now_and_then(st.sampled_from(EVENTS), st.just("no show"), 10)
reasons = st.none() | st.sampled_from(["camera", "broken"])
ttls = st.none() | now_and_then(st.integers(1, 10), st.just(0), 20) | st.integers(11, 90)
seat_counts = st.none() | now_and_then(st.integers(0, 5), st.just(-1), 10)
# Caps as `init` may set them: some below a TTL (refused), some out of range.
max_holds = st.none() | now_and_then(st.sampled_from([90, 30, 5, 200, 0]), st.just(-1), 10)
max_seats = st.none() | now_and_then(st.sampled_from([1, 2, 3, 0]), st.just(-1), 10)
# Mostly short steps, so that a lapsed lock is often still there for its former holder to meet.
time_steps_ms = (
    st.sampled_from([0, 500, 1000, 2000]) | st.integers(0, 15_000) | st.integers(0, 120_000)
)


# --- The reference model ------------------------------------------------------------------


class Ok(NamedTuple):
    views: list[tuple]


class Refused(NamedTuple):
    reason: str
    exit_code: int
    seats: list[tuple[str, str]]


USAGE_ERROR = Refused("usage", USAGE, [])


@dataclass(frozen=True)
class Record:
    """What is stored for one seat: a lapsed lock stays until something replaces it."""

    holder: str | None = None
    deadline: int | None = None
    booker: str | None = None
    booked_at: int | None = None
    blocked: bool = False
    held_since: int | None = None  # when the lock's hold began

    def live_lock(self, now: int) -> bool:
        """A lock whose deadline is at or before now is no lock at all."""
        return self.holder is not None and self.deadline is not None and self.deadline > now

    def live_lock_of(self, user: str, now: int) -> bool:
        return self.live_lock(now) and self.holder == user

    def view(self, label: str, now: int) -> tuple:
        if self.booker is not None:
            return (label, "booked", None, None, self.booker, self.booked_at, None)
        if self.blocked:
            return (label, "blocked", None, None, None, None, None)
        if self.live_lock(now):
            return (label, "locked", self.holder, self.deadline, None, None, self.held_since)
        return (label, "available", None, None, None, None, None)


def lock_rule(seat: Record, user: str, now: int, ttl: int, max_hold: int) -> Record | str:
    """A live holder's relock keeps the hold's start; a deadline never passes the start plus
    max-hold (0: no cap), and a relock whose deadline already stands at that cap is refused."""
    if seat.booker is not None:
        return "booked"
    if seat.blocked:
        return "blocked"
    if seat.live_lock(now) and seat.holder != user:
        return "locked"
    relock = seat.live_lock_of(user, now)
    since = seat.held_since if relock and seat.held_since is not None else now
    deadline = now + ttl
    if max_hold and deadline > since + max_hold:
        if relock and (seat.deadline or 0) >= since + max_hold:
            return "max_hold"
        deadline = since + max_hold
    return Record(holder=user, deadline=deadline, held_since=since)


def confirm_rule(seat: Record, user: str, now: int) -> Record | str:
    if seat.booker == user:
        return seat
    if seat.booker is not None:
        return "booked"
    if seat.blocked:
        return "blocked"
    if seat.live_lock_of(user, now):
        return Record(booker=user, booked_at=now)
    return "expired" if seat.holder == user else "not_holder"


def release_rule(seat: Record, user: str, now: int) -> Record | str:
    if seat.booker is not None:
        return "booked"
    if seat.blocked:
        return "blocked"
    if seat.live_lock_of(user, now):
        return Record()
    return "expired" if seat.holder == user else "not_holder"


def block_rule(seat: Record, user: str, now: int) -> Record | str:
    """Only an available seat is blocked; a blocked one stays as it is."""
    if seat.booker is not None:
        return "booked"
    if seat.live_lock(now):
        return "locked"
    return seat if seat.blocked else Record(blocked=True)


def unblock_rule(seat: Record, user: str, now: int) -> Record | str:
    return Record() if seat.blocked else seat


SeatRule = Callable[[Record, str, int], Record | str]  # the seat after, or why it is refused


def valid_user(user: str) -> str | None:
    name = user.strip()
    return name if 1 <= len(name) <= 64 and name.isprintable() else None


def valid_labels(raw: list[str]) -> list[str] | None:
    unique = list(dict.fromkeys(raw))
    return unique if all(LABEL_RULE.fullmatch(label) for label in unique) else None


@dataclass
class ReferenceVenue:
    """One seat map (`added`: each seat's add instant) and each event's seat records (a seat
    an event has no record of is available there)."""

    added: dict[str, int] = field(default_factory=dict)
    shows: dict[str, dict[str, Record]] = field(default_factory=lambda: {"default": {}})
    default_ttl: int = DEFAULT_TTL
    max_hold: int = 0
    max_seats: int = 0
    exists: bool = False
    # Each (event, seat)'s newest change instant; a seat's add counts in every event.
    latest: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def seats(self) -> dict[str, Record]:
        """The records of the event `default`, every seat of the map included."""
        return self.records("default")

    def records(self, show: str) -> dict[str, Record]:
        known = self.shows[show]
        return {label: known.get(label, Record()) for label in self.added}

    def newest(self, show: str, label: str) -> int | None:
        times = [
            t for t in (self.added.get(label), self.latest.get((show, label))) if t is not None
        ]
        return max(times) if times else None

    def add_event(self, name: str) -> Ok | Refused:
        if not LABEL_RULE.fullmatch(name) or name in self.shows:
            return USAGE_ERROR
        self.shows[name] = {}
        return Ok([])

    def init(
        self,
        count: int | None,
        named: list[str],
        ttl: int | None,
        now: int,
        max_hold: int | None = None,
        max_seats: int | None = None,
    ) -> Ok | Refused:
        wanted = valid_labels(named)
        if wanted is None or not (count is None or 0 <= count <= 100_000):
            return USAGE_ERROR
        if ttl is not None and not 1 <= ttl <= 86_400:
            return USAGE_ERROR
        if max_hold is not None and not 0 <= max_hold <= 86_400:
            return USAGE_ERROR
        if max_seats is not None and not 0 <= max_seats <= 100_000:
            return USAGE_ERROR
        # A new venue caps holds at 10 default lock durations (at most a day); a cap, if
        # any, is never below the default lock duration.
        lifetime = ttl if ttl is not None else self.default_ttl
        if max_hold is None:
            max_hold = min(10 * lifetime, 86_400) if not self.exists else self.max_hold
        if 0 < max_hold < lifetime:
            return USAGE_ERROR
        self.max_hold = max_hold
        if max_seats is not None:
            self.max_seats = max_seats
        if not self.exists and count is None and not wanted:
            wanted = DEFAULT_VENUE
        self.exists = True
        new = [
            label
            for label in dict.fromkeys([str(n) for n in range(1, (count or 0) + 1)] + wanted)
            if label not in self.seats
        ]
        self.added.update((label, now) for label in new)
        self.default_ttl = lifetime
        return Ok([(len(new), len(self.seats), self.default_ttl, self.max_hold, self.max_seats)])

    def lock(
        self, named: list[str], user: str, ttl: int | None, now: int, show: str = "default"
    ) -> Ok | Refused:
        if ttl is not None and not 1 <= ttl <= 86_400:
            return USAGE_ERROR
        lifetime = ttl if ttl is not None else self.default_ttl
        return self._apply(
            named,
            user,
            now,
            LOCK_REFUSED,
            lambda s, u, at: lock_rule(s, u, at, lifetime, self.max_hold),
            show,
            locking=True,
        )

    def confirm(self, named: list[str], user: str, now: int, show: str = "default") -> Ok | Refused:
        return self._apply(named, user, now, NOT_HOLDER, confirm_rule, show)

    def release(self, named: list[str], user: str, now: int, show: str = "default") -> Ok | Refused:
        return self._apply(named, user, now, NOT_HOLDER, release_rule, show)

    def lock_best(
        self, count: int, user: str, ttl: int | None, now: int, show: str, split: bool
    ) -> Ok | Refused:
        """The best `count` available seats of the event's one row, locked as `lock` would."""
        if valid_user(user) is None or (ttl is not None and not 1 <= ttl <= 86_400):
            return USAGE_ERROR
        if not LABEL_RULE.fullmatch(show):
            return USAGE_ERROR
        if show not in self.shows:
            return Refused("not_found", NOT_FOUND, [])
        seats = self.records(show)
        spots = [
            SeatSpot(
                label, None, None, None, None, seats[label].view(label, now)[1] == "available", n
            )
            for n, label in enumerate(seats)
        ]
        chosen = reference(spots, count, [], [], split)
        if chosen is None:
            return Refused("not_enough", LOCK_REFUSED, [])
        return self.lock(chosen, user, ttl, now, show)

    def block(self, named: list[str], now: int, show: str) -> Ok | Refused:
        return self._apply(named, "nobody", now, LOCK_REFUSED, block_rule, show)

    def unblock(self, named: list[str], now: int, show: str) -> Ok | Refused:
        return self._apply(named, "nobody", now, LOCK_REFUSED, unblock_rule, show)

    def _apply(
        self,
        named: list[str],
        user: str,
        now: int,
        code: int,
        rule: SeatRule,
        show: str,
        locking: bool = False,
    ) -> Ok | Refused:
        """All or nothing; the lowest exit code wins, named by the first seat that has it."""
        name, wanted = valid_user(user), valid_labels(named)
        if name is None or not wanted or not LABEL_RULE.fullmatch(show):
            return USAGE_ERROR
        if show not in self.shows:
            return Refused("not_found", NOT_FOUND, [])
        seats = self.records(show)
        # A seat's history never goes back in time: a clock a little behind a named seat's
        # newest event acts at it; further behind, the command is refused before any rule.
        latest = {label: self.newest(show, label) for label in wanted if label in self.added}
        newest = list(latest.values())
        behind = {label for label in wanted if latest.get(label, now) - now > CLOCK_TOLERANCE}
        if behind:
            return self._refused(
                [
                    (label, "clock_behind", CLOCK_BEHIND)
                    if label in behind
                    else (label, "not_found", NOT_FOUND)
                    for label in wanted
                    if label in behind or label not in seats
                ]
            )
        now = max([now, *newest])
        after: dict[str, Record] = {}
        refused: list[tuple[str, str, int]] = []
        for label in wanted:
            outcome = rule(seats[label], name, now) if label in seats else "not_found"
            if isinstance(outcome, str):
                refused.append((label, outcome, NOT_FOUND if outcome == "not_found" else code))
            else:
                after[label] = outcome
        if refused:
            return self._refused(refused)
        if locking and self.max_seats:
            # A lock may not leave its user with more live locks in the event than the cap;
            # seats they hold already do not count twice, and relocking only them is fine.
            new = [label for label in wanted if not seats[label].live_lock_of(name, now)]
            held = sum(1 for record in seats.values() if record.live_lock_of(name, now))
            if new and held + len(new) > self.max_seats:
                return self._refused([(label, "max_seats", LOCK_REFUSED) for label in new])
        changed = [label for label in wanted if after[label] is not seats[label]]
        self.latest.update(((show, label), now) for label in changed)  # a re-confirm: nothing
        self.shows[show].update(after)
        return Ok([after[label].view(label, now) for label in wanted])

    @staticmethod
    def _refused(refused: list[tuple[str, str, int]]) -> Refused:
        """All seats refused: the lowest exit code wins, named by the first seat that has it."""
        lowest = min(exit_code for _, _, exit_code in refused)
        first = next(reason for _, reason, exit_code in refused if exit_code == lowest)
        return Refused(first, lowest, [(label, reason) for label, reason, _ in refused])

    def views(self, now: int, show: str = "default") -> list[tuple]:
        seats = self.records(show)
        return [seats[label].view(label, now) for label in sorted(seats, key=natural)]


def natural(label: str) -> list:
    """Natural order: digit runs compare as numbers, other parts as text."""
    parts = re.split(r"([0-9]+)", label)
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts if part]


# --- The machine ------------------------------------------------------------------------


def outcome_of(call: Callable[[], Any]) -> Ok | Refused:
    """What an API call did, in the model's terms."""
    try:
        result = call()
    except SeatctlError as error:
        seats = [(refusal.seat, str(refusal.reason)) for refusal in error.seats]
        return Refused(str(error.reason), int(error.exit_code), seats)
    if isinstance(result, InitResult):
        return Ok(
            [
                (
                    result.added,
                    result.total,
                    result.default_ttl,
                    result.max_hold,
                    result.max_seats_per_user,
                )
            ]
        )
    return Ok([seen(view) for view in result])


def seen(view: SeatView) -> tuple:
    return (
        view.seat,
        str(view.status),
        view.locked_by,
        view.expires_at,
        view.booked_by,
        view.booked_at,
        view.held_since,
    )


NewDatabase = Callable[[], tuple[str, Callable[[], None]]]


class VenueAgainstModel(RuleBasedStateMachine):
    def __init__(self, new_database: NewDatabase) -> None:
        super().__init__()
        self.path, self.remove_database = new_database()
        self.model = ReferenceVenue()
        self.venue: Venue | None = None
        self.ms = START_MS
        self.freezer = frozen(self.instant())
        self.clock = self.freezer.start()

    def instant(self) -> datetime:
        return EPOCH + timedelta(milliseconds=self.ms)

    def now(self) -> int:
        return self.ms // 1000  # the clock is truncated to whole seconds

    @initialize(
        fraction_ms=st.integers(0, 999),
        default=st.booleans(),
        count=st.integers(3, 5),
        named=st.lists(st.sampled_from(["A2", "A10"]), max_size=2),
        ttl=st.none() | st.integers(1, 90),
        # Caps first (Hypothesis favours the first choices): never below the TTL, and small.
        max_hold=st.sampled_from([90, 200, 0, None]),
        max_seats=st.sampled_from([1, 2, 0, None]),
    )
    def create_venue(
        self,
        fraction_ms: int,
        default: bool,
        count: int,
        named: list[str],
        ttl: int | None,
        max_hold: int | None,
        max_seats: int | None,
    ) -> None:
        """A new venue: the default one (seats 1 to 5), or seats 1..count and some labels."""
        self.move_clock(self.ms + fraction_ms)
        count, named = (None, []) if default else (count, named)
        self.check_init(count, named, ttl, max_hold, max_seats)
        self.venue = Venue.open(self.path)

    def move_clock(self, ms: int) -> None:
        self.ms = ms
        self.clock.move_to(self.instant())

    @rule(named=labels, user=users, ttl=ttls)
    def lock(self, named: list[str], user: str, ttl: int | None) -> None:
        expected = self.model.lock(named, user, ttl, self.now())
        assert outcome_of(lambda: self.venue.lock(named, user, ttl=ttl)) == expected

    @rule(named=labels, user=users)
    def confirm(self, named: list[str], user: str) -> None:
        expected = self.model.confirm(named, user, self.now())
        assert outcome_of(lambda: self.venue.confirm(named, user)) == expected

    @rule(named=labels, user=users)
    def release(self, named: list[str], user: str) -> None:
        expected = self.model.release(named, user, self.now())
        assert outcome_of(lambda: self.venue.release(named, user)) == expected

    @rule(name=now_and_then(st.sampled_from(["gala", "matinee"]), st.just("no show"), 8))
    def add_event(self, name: str) -> None:
        expected = self.model.add_event(name)
        actual = outcome_of(lambda: self.venue.add_event(name) and [])
        assert actual == expected

    @rule(named=labels, user=users, ttl=ttls, show=events)
    def lock_in_an_event(self, named: list[str], user: str, ttl: int | None, show: str) -> None:
        expected = self.model.lock(named, user, ttl, self.now(), show)
        assert outcome_of(lambda: self.venue.lock(named, user, ttl=ttl, event=show)) == expected

    @rule(named=labels, user=users, show=events)
    def confirm_in_an_event(self, named: list[str], user: str, show: str) -> None:
        expected = self.model.confirm(named, user, self.now(), show)
        assert outcome_of(lambda: self.venue.confirm(named, user, event=show)) == expected

    @rule(
        count=now_and_then(st.integers(1, 3), st.integers(4, 9), 5),
        user=users,
        ttl=ttls,
        show=events,
        split=st.booleans(),
    )
    def lock_best(self, count: int, user: str, ttl: int | None, show: str, split: bool) -> None:
        expected = self.model.lock_best(count, user, ttl, self.now(), show, split)
        actual = outcome_of(
            lambda: self.venue.lock_best(count, user, split=split, ttl=ttl, event=show)
        )
        assert actual == expected

    @rule(named=labels, reason=reasons, show=events)
    def block(self, named: list[str], reason: str | None, show: str) -> None:
        expected = self.model.block(named, self.now(), show)
        actual = outcome_of(lambda: self.venue.block(named, reason=reason, event=show))
        assert actual == expected

    @rule(named=labels, show=events)
    def unblock(self, named: list[str], show: str) -> None:
        expected = self.model.unblock(named, self.now(), show)
        assert outcome_of(lambda: self.venue.unblock(named, event=show)) == expected

    @precondition(lambda self: self.claimants())
    @rule(data=st.data())
    def confirm_own_seats(self, data: st.DataObject) -> None:
        user, named = self.draw_own_seats(data)
        self.confirm(named, user)

    @precondition(lambda self: self.claimants())
    @rule(data=st.data())
    def release_own_seats(self, data: st.DataObject) -> None:
        user, named = self.draw_own_seats(data)
        self.release(named, user)

    def claimants(self) -> list[str]:
        """Everyone the model records a lock (live or lapsed) or a booking for."""
        return sorted({u for s in self.model.seats.values() for u in (s.holder, s.booker) if u})

    def draw_own_seats(self, data: st.DataObject) -> tuple[str, list[str]]:
        """A claimant and seats they have locked or booked, now and then with another seat."""
        user = data.draw(st.sampled_from(self.claimants()), label="user")
        own = [label for label, s in self.model.seats.items() if user in (s.holder, s.booker)]
        named = data.draw(
            st.lists(now_and_then(st.sampled_from(own), label, 5), min_size=1, max_size=3),
            label="seats",
        )
        return user, named

    def check_init(
        self,
        count: int | None,
        named: list[str],
        ttl: int | None,
        max_hold: int | None,
        max_seats: int | None,
    ) -> None:
        """`init` gives the reference's outcome."""
        expected = self.model.init(count, named, ttl, self.now(), max_hold, max_seats)
        actual = outcome_of(
            lambda: Venue.init(
                self.path,
                seats=count,
                labels=named,
                ttl=ttl,
                max_hold=max_hold,
                max_seats_per_user=max_seats,
            )
        )
        assert actual == expected

    @rule(
        count=seat_counts,
        named=st.lists(label, max_size=3),
        ttl=ttls,
        max_hold=max_holds,
        max_seats=max_seats,
    )
    def init_again(
        self,
        count: int | None,
        named: list[str],
        ttl: int | None,
        max_hold: int | None,
        max_seats: int | None,
    ) -> None:
        self.check_init(count, named, ttl, max_hold, max_seats)

    @rule(ms=time_steps_ms)
    def let_time_pass(self, ms: int) -> None:
        self.move_clock(self.ms + ms)

    @precondition(lambda self: any(s.deadline is not None for s in self.model.seats.values()))
    @rule(data=st.data(), offset_ms=st.sampled_from([-1000, 0, 999, 1000]))
    def jump_near_a_deadline(self, data: st.DataObject, offset_ms: int) -> None:
        """To a recorded lock's deadline, a second either side, or just before its next second."""
        deadlines = sorted({s.deadline for s in self.model.seats.values() if s.deadline})
        deadline = data.draw(st.sampled_from(deadlines), label="deadline")
        self.move_clock(deadline * 1000 + offset_ms)

    @rule(user=st.none() | users, status=st.none() | st.sampled_from(Status))
    def list_some_seats(self, user: str | None, status: Status | None) -> None:
        """`seats(status, user)`: only the seats in that state, and only those the user holds a
        live lock on or has booked."""
        name = valid_user(user) if user is not None else None
        if user is not None and name is None:
            expected = USAGE_ERROR
        else:
            expected = Ok(
                [
                    view
                    for view in self.model.views(self.now())
                    if status in (None, view[1]) and name in (None, view[2], view[4])
                ]
            )
        assert outcome_of(lambda: self.venue.seats(status=status, user=user)) == expected

    @rule()
    def reopen(self) -> None:
        self.venue.close()
        self.venue = Venue.open(self.path)

    @invariant()
    def every_seat_looks_as_the_model_says(self) -> None:
        if self.venue is not None:
            for show in self.model.shows:
                seats = [seen(view) for view in self.venue.seats(event=show)]
                assert seats == self.model.views(self.now(), show), show

    def teardown(self) -> None:
        try:
            if self.venue is not None:
                assert self.venue.check() == []
                self.venue.close()
        finally:
            self.freezer.stop()
            self.remove_database()


def test_the_api_follows_the_reference_model_step_by_step(new_database: NewDatabase) -> None:
    run_state_machine_as_test(
        lambda: VenueAgainstModel(new_database),
        settings=settings(
            max_examples=50 * SOAK,
            stateful_step_count=30 if SOAK == 1 else 60,
            deadline=None,
            report_multiple_bugs=False,  # one shrunk counterexample, found quickly
        ),
    )

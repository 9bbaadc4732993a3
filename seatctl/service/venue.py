"""The Python API: a venue's seats, changed only through the booking rules.

Each call is one transaction: load the named seats, let `seatctl.core.rules` decide for every
one of them, and write all the changes or none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, cast

from seatctl.core import clock, rules, validate
from seatctl.core.clock import Instant
from seatctl.core.errors import (
    SeatRefusal,
    refused,
    usage_error,
)
from seatctl.core.model import (
    DEFAULT_SHOW,
    Action,
    HistoryEntry,
    Seat,
    SeatView,
    Settings,
    Show,
    Stage,
    Status,
    StatusCounts,
)
from seatctl.service.choosing import known_names, names, not_enough
from seatctl.service.reports import Reports
from seatctl.service.shared import (
    RuleAt,
    existing_show,
    lock_rule,
    naming_busy_seats,
    operator,
)
from seatctl.service.streams import ChangeStream
from seatctl.service.tokens import TokenKeeping
from seatctl.storage import Store, Transaction, open_store

if TYPE_CHECKING:  # loaded only by the commands that use them
    from seatctl.service.initialising import InitResult
    from seatctl.service.picking import PickIndex


class Venue(ChangeStream, TokenKeeping, Reports):
    """Seats in one database. Use as a context manager, or call `close()`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # Made by the second `lock_best` (or the first group, a server's): indexing reads the
        # whole hall, which one pick alone, a command's, need not (it reads the rows it needs).
        self._picks: PickIndex | None = None
        self._picked = False

    @classmethod
    def open(cls, db: str, any_thread: bool = False) -> Venue:
        """Open an initialised database; see `init` to create one. With `any_thread`, the
        connection may be used from another thread than the one that opened it (by one
        thread at a time: the caller hands it over)."""
        db = validate.database(db)
        clock.clock_override()  # a bad SEATCTL_NOW is refused before the database is touched
        return cls(open_store(db, any_thread=any_thread))

    @classmethod
    def init(
        cls,
        db: str,
        seats: int | None = None,
        labels: Iterable[str] = (),
        ttl: int | None = None,
        seat_map: str | None = None,
        max_hold: int | None = None,
        max_seats_per_user: int | None = None,
        stage: str | None = None,
    ) -> InitResult:
        """Create the database if missing and add the seats it lacks; never change existing ones.

        With neither `seats` nor `labels` (nor `seat_map`), a new database gets seats 1 to 5.
        `seat_map` is a seat-map file (CSV or JSON lines, see `seatctl.core.seatmap`): its seats are
        added in file order with their places, all or none; a seat of the file that conflicts
        with a stored one refuses the whole file, naming the line of every such seat.
        `ttl`, `max_hold` and `max_seats_per_user` change the settings (see `settings()`); a
        change is recorded in the history as a `settings` event. A new database caps holds at
        10 default lock durations (at most a day) unless `max_hold` says otherwise.
        `stage` ("X,Y,WIDTH,HEIGHT", in the map's unit) sets the stage on the hall's plan.
        """
        from seatctl.service.initialising import initialise

        return initialise(db, seats, labels, ttl, seat_map, max_hold, max_seats_per_user, stage)

    def stage(self) -> Stage | None:
        """The stage on the hall's plan (`init --stage`), or None."""
        with self._store.transaction(write=False) as tx:
            return tx.stage()

    def settings(self) -> Settings:
        """The default lock duration and the fairness caps: `max_hold`, the longest one hold
        may last however often its holder locks again, and `max_seats_per_user`, the most
        live locks one user may have in one event (0: no cap)."""
        with self._store.transaction(write=False) as tx:
            return tx.settings()

    def seats(
        self,
        status: Status | str | None = None,
        user: str | None = None,
        event: str = DEFAULT_SHOW,
    ) -> list[SeatView]:
        """Every seat as it is now in `event`, in natural label order; optionally only one
        status, or only the seats `user` holds a live lock on or has booked."""
        return list(self.iter_seats(status, user, event))

    def iter_seats(
        self,
        status: Status | str | None = None,
        user: str | None = None,
        event: str = DEFAULT_SHOW,
    ) -> Iterator[SeatView]:
        """`seats()` one at a time, read inside one transaction as they are consumed: the seats
        as they were when it began. Other calls on this Venue may run meanwhile (the store
        gives them a connection of their own)."""
        name = validate.user(user) if user is not None else None
        show = validate.event_name(event)
        wanted = validate.status(status)  # a Status, or its name as a Python caller may give it

        def views() -> Iterator[SeatView | None]:
            with self._store.transaction(write=False) as tx:
                existing_show(tx, show)
                now = tx.now()
                yield None  # ready: the transaction is open and the clock has been read
                for seat in tx.all_seats(show):
                    view = seat.view(now)
                    if (wanted is None or view.status is wanted) and (
                        name is None or view.belongs_to(name)
                    ):
                        yield view

        listing = views()
        next(listing)  # a database or clock problem surfaces now, before anything is printed
        return cast(Iterator[SeatView], listing)

    def lock(
        self,
        labels: Iterable[str],
        user: str,
        ttl: int | None = None,
        event: str = DEFAULT_SHOW,
        by: str | None = None,
    ) -> list[SeatView]:
        """Hold every seat for `user` until now + ttl (the database's default if None). `by`,
        on this and every change: who made it for `user` (recorded in the history)."""
        name = validate.user(user)
        rule_for = lock_rule(name, validate.ttl(ttl))
        return self._apply(labels, name, rule_for, event, locking=True, by=by)

    def lock_best(
        self,
        count: int,
        user: str,
        sections: Sequence[str] = (),
        categories: Sequence[str] = (),
        split: bool = False,
        ttl: int | None = None,
        event: str = DEFAULT_SHOW,
        by: str | None = None,
    ) -> list[SeatView]:
        """Choose the best `count` available seats (`seatctl.core.selection`: a block together in
        one row, or with `split` single seats if no block exists) within the sections and
        categories given (empty: all), and lock them for `user`, all in one transaction: the
        choice and the lock are atomic. Exit 4 `not_enough` when there is no such choice."""
        name = validate.user(user)
        ttl = validate.ttl(ttl)
        show = validate.event_name(event)
        count = validate.best(count)
        by = operator(by)
        wanted_sections = names("section", sections)
        wanted_categories = names("category", categories)
        from seatctl.core import selection
        from seatctl.service import picking

        rule_for = lock_rule(name, ttl)
        if self._picks is None and self._picked:
            self._picks = picking.PickIndex()
        self._picked = True
        picks = self._picks
        with (
            picks.writing() if picks is not None else nullcontext(),
            naming_busy_seats(self._store.location, []),
            self._store.transaction() as tx,
        ):
            tx.serialise_show(show)  # writers choosing seats in this event queue here
            existing_show(tx, show)
            if wanted_sections:
                known_names("section", wanted_sections, (f[0] for f in tx.map_row_firsts()))
            if wanted_categories:
                known_names("category", wanted_categories, tx.map_categories())
            index = picks.rows(tx, show) if picks is not None else None
            if index is not None:  # only the rows that can hold the seats asked for
                now = tx.now()
                chosen = picking.choose(
                    index, now, count, wanted_sections, wanted_categories, split
                )
                if chosen is None:
                    spots = picking.spots(index, now, wanted_sections)
                    raise not_enough(spots, count, wanted_sections, wanted_categories, split)
                return self._decide(tx, chosen, name, rule_for, show, True, by)
            ranked = selection.rank_rows(selection.map_rows(tx.map_row_firsts()), wanted_sections)
            # Only the rows the choice needs are read: most often the first one settles it.
            rows = selection.RowsInRankOrder(
                ranked,
                wanted_sections,
                partial(tx.row_spots, show, tx.now()),
                partial(tx.seat_spots, show, tx.now()),
            )
            chosen = selection.choose_best_in_rows(rows, count, wanted_categories, split=split)
            if chosen is None:
                spots = rows.spots()  # those of the allowed sections: what the message counts
                raise not_enough(spots, count, wanted_sections, wanted_categories, split)
            return self._decide(tx, chosen, name, rule_for, show, True, by)

    def confirm(
        self, labels: Iterable[str], user: str, event: str = DEFAULT_SHOW, by: str | None = None
    ) -> list[SeatView]:
        """Turn `user`'s live locks on every seat into bookings."""
        name = validate.user(user)
        rule_for: RuleAt = lambda tx, now: partial(rules.confirm, user=name, now=now)  # noqa: E731
        return self._apply(labels, name, rule_for, event, by=by)

    def release(
        self, labels: Iterable[str], user: str, event: str = DEFAULT_SHOW, by: str | None = None
    ) -> list[SeatView]:
        """Give up `user`'s live locks on every seat."""
        name = validate.user(user)
        rule_for: RuleAt = lambda tx, now: partial(rules.release, user=name, now=now)  # noqa: E731
        return self._apply(labels, name, rule_for, event, by=by)

    def block(
        self,
        labels: Iterable[str],
        reason: str | None = None,
        event: str = DEFAULT_SHOW,
        by: str | None = None,
    ) -> list[SeatView]:
        """Take every seat off sale in `event` (refused for a live-locked or booked one)."""
        why = validate.reason(reason)
        rule_for: RuleAt = lambda tx, now: partial(rules.block, now=now, reason=why)  # noqa: E731
        return self._apply(labels, None, rule_for, event, by=by)

    def unblock(
        self, labels: Iterable[str], event: str = DEFAULT_SHOW, by: str | None = None
    ) -> list[SeatView]:
        """Put every seat back on sale in `event`."""
        return self.unblocking(labels, event, by)[0]

    def unblocking(
        self, labels: Iterable[str], event: str = DEFAULT_SHOW, by: str | None = None
    ) -> tuple[list[SeatView], list[str]]:
        """`unblock`, and which of the seats were not blocked: those are left as they are,
        with nothing in the history, and the caller says so rather than "unblocked"."""
        unchanged: list[str] = []
        rule_for: RuleAt = lambda tx, now: partial(rules.unblock, now=now)  # noqa: E731
        views = self._apply(labels, None, rule_for, event, by=by, unchanged=unchanged)
        return views, unchanged

    def cancel(
        self,
        labels: Iterable[str],
        reason: str | None = None,
        event: str = DEFAULT_SHOW,
        by: str | None = None,
    ) -> list[SeatView]:
        """Cancel the booking of every seat (all or none): each is available again, and the
        history records `cancel` with the customer, the reason and `by`. Exit 5 `not_booked`
        for a seat that is not booked."""
        why = validate.reason(reason)
        rule_for: RuleAt = lambda tx, now: partial(rules.cancel, now=now, reason=why)  # noqa: E731
        return self._apply(labels, None, rule_for, event, by=by)

    def add_event(
        self, name: str, title: str | None = None, starts_at: Instant | None = None
    ) -> Show:
        """Add an event (a show): every seat of the map is available in it."""
        show = Show(validate.event_name(name), validate.title(title), starts_at)
        with self._store.transaction() as tx:
            if not tx.add_show(show):
                raise usage_error(f"event {show.name} already exists")
        return show

    def event(self, name: str = DEFAULT_SHOW) -> Show:
        """The event named `name`; exit 3 `not_found` if there is none."""
        show = validate.event_name(name)
        with self._store.transaction(write=False) as tx:
            return existing_show(tx, show)

    def events(self) -> list[tuple[Show, StatusCounts]]:
        """Every event, in the order added, with its seats counted by status now."""
        with self._store.transaction(write=False) as tx:
            return tx.show_counts(tx.now())

    def _apply(
        self,
        labels: Iterable[str],
        user: str | None,
        rule_for: RuleAt,
        event: str = DEFAULT_SHOW,
        locking: bool = False,
        by: str | None = None,
        unchanged: list[str] | None = None,
    ) -> list[SeatView]:
        """All or nothing: decide for every seat, then write all changes or raise every refusal;
        the seats the rule left as they were are added to `unchanged` if given."""
        wanted = validate.labels(labels)
        show = validate.event_name(event)
        by = operator(by)
        if not wanted:
            raise usage_error("name at least one seat")
        with (
            self._writing(),
            naming_busy_seats(self._store.location, wanted),
            self._store.transaction() as tx,
        ):
            existing_show(tx, show)
            return self._decide(tx, wanted, user, rule_for, show, locking, by, unchanged)

    def _decide(
        self,
        tx: Transaction,
        wanted: list[str],
        user: str | None,
        rule_for: RuleAt,
        show: str,
        locking: bool = False,
        by: str | None = None,
        unchanged: list[str] | None = None,
    ) -> list[SeatView]:
        """Inside a write transaction: decide for every seat, then write all changes or raise
        every refusal. A `locking` command also keeps its user within max-seats-per-user."""
        cap = tx.settings().max_seats_per_user if locking and user is not None else 0
        if cap and user is not None:
            tx.serialise_user(show, user)  # before the count: one user's locks queue here
        stored = tx.seats(wanted, show)  # first: a backend that locks rows waits here
        now = self._acting_instant(tx, wanted, stored, show)
        decide = rule_for(tx, now)
        refusals: list[SeatRefusal] = []
        after: list[Seat] = []
        changed: list[Seat] = []
        events: list[HistoryEntry] = []
        for label in wanted:
            seat = stored.get(label)
            if seat is None:
                refusals.append(rules.not_found(label))
                continue
            decision = decide(seat)
            if isinstance(decision, SeatRefusal):
                refusals.append(decision)
                continue
            after.append(decision.after)
            if decision.action is not None:
                changed.append(decision.after)
                events += decision.events(seat, user, now)
            elif unchanged is not None:
                unchanged.append(label)
        if refusals:
            raise refused(refusals)
        if cap and user is not None:
            # Only a new hold counts: relocking a seat one holds does not count twice.
            adding = [e.seat for e in events if e.action is Action.LOCK]
            over = rules.seats_cap(user, show, tx.live_lock_count(show, user, now), adding, cap)
            if over is not None:
                raise over
        events = [e._replace(show=show, by=rules.recorded_by(e, by)) for e in events]
        tx.record(changed, show, events)
        if self._picks is not None:
            self._picks.saved(show, changed)
        return [seat.view(now) for seat in after]

    @staticmethod
    def _acting_instant(
        tx: Transaction, wanted: list[str], stored: dict[str, Seat], show: str
    ) -> Instant:
        """The transaction's clock, moved up to the named seats' newest events if it is a
        little behind them; refused (with the unknown seats) if it is further behind."""
        latest = tx.latest_history_at([label for label in wanted if label in stored], show)
        newest = {label: latest[label] for label in wanted if label in latest}
        acting = rules.acting_instant(tx.now(), newest)
        if isinstance(acting, list):
            # Refused before any rule is applied: no rule can be judged at an instant the
            # seat's history has already passed. Unknown seats are still named.
            behind = {refusal.seat: refusal for refusal in acting}
            raise refused(
                [
                    behind[label] if label in stored else rules.not_found(label)
                    for label in wanted
                    if label in behind or label not in stored
                ]
            )
        return acting

    def check(self) -> list[str]:
        """Everything wrong with the database; an empty list means every invariant holds."""
        from seatctl.core import audit

        problems = self._store.integrity_problems()
        if problems:
            return problems  # a damaged file cannot be trusted to answer the rest
        with self._store.transaction(write=False) as tx:
            damaged = tx.damaged_records()
            if damaged:
                return damaged  # a replay around damaged records would only echo them
            seats = list(tx.all_seats())
            states = list(tx.seat_states())
            shows = [show.name for show, _ in tx.show_counts(tx.now())]
            events = tx.history()
            seeded = tx.seeded_through()
            settings = tx.settings()
        return audit.record_problems(seat for _, seat in states) + audit.history_problems(
            seats, events, seeded, states, shows, settings
        )

    def backup(self, dest: str, force: bool = False) -> None:
        """A consistent copy of the database at `dest`, safe while others keep writing."""
        if not dest.strip() or "\0" in dest:
            raise usage_error(f"invalid backup destination {dest!r}")
        self._store.backup(dest, force=force)

    def grouped(self) -> AbstractContextManager[None]:
        """Run several calls in one transaction, each all or nothing on its own (group
        commit); their changes are durable only once the `with` block has ended."""
        if self._picks is None:
            from seatctl.service.picking import PickIndex

            self._picks = PickIndex()
        return _within(self._picks.writing(), self._store.group())

    def _writing(self) -> AbstractContextManager[None]:
        """Around a write: the pick index forgets what it saw saved if it does not commit."""
        return self._picks.writing() if self._picks is not None else nullcontext()

    def within(self, deadline: float | None, lock_wait: float | None = None) -> None:
        """A server's limits for the calls that follow: each gives up waiting (busy) at
        `deadline`, a `time.monotonic()` instant, and waits at most `lock_wait` seconds for any
        one lock; None for both is a command's usual busy budget."""
        self._store.deadline = deadline
        self._store.lock_wait = lock_wait

    def link_lost(self) -> bool:
        """Whether the database connection is known to be gone (see `Store.link_lost`)."""
        return self._store.link_lost()

    @property
    def location(self) -> str:
        """The database as it may be shown: a path, or a URL without its password."""
        return self._store.location

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Venue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def _within(
    outer: AbstractContextManager[None], inner: AbstractContextManager[None]
) -> Iterator[None]:
    with outer, inner:
        yield


__all__ = ["Venue"]

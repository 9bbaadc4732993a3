"""The Python API: a venue's seats, changed only through the booking rules.

Each call is one transaction: load the named seats, let `seatctl.rules` decide for every
one of them, and write all the changes or none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from functools import partial
from types import TracebackType
from typing import NamedTuple, cast

from seatctl import clock, rules, validate
from seatctl.clock import Instant
from seatctl.errors import (
    ExitCode,
    Reason,
    SeatctlError,
    SeatRefusal,
    busy_error,
    refused,
    usage_error,
)
from seatctl.model import Action, Event, Seat, SeatView, Status, Token
from seatctl.storage import DEFAULT_TTL, DEFAULT_VENUE, Store, Transaction, open_store

Rule = Callable[[Seat], rules.Decision]
RuleAt = Callable[[Transaction, Instant], Rule]  # the rule for one transaction acting at an instant


class InitResult(NamedTuple):
    location: str
    added: int
    total: int
    default_ttl: int


class Venue:
    """Seats in one database. Use as a context manager, or call `close()`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    def open(cls, db: str) -> Venue:
        """Open an initialised database; see `init` to create one."""
        db = validate.database(db)
        clock.clock_override()  # a bad SEATCTL_NOW is refused before the database is touched
        return cls(open_store(db))

    @classmethod
    def init(
        cls,
        db: str,
        seats: int | None = None,
        labels: Iterable[str] = (),
        ttl: int | None = None,
    ) -> InitResult:
        """Create the database if missing and add the seats it lacks; never change existing ones.

        With neither `seats` nor `labels`, a new database gets seats 1 to 5.
        """
        db = validate.database(db)
        count = validate.seat_count(seats)
        named = validate.labels(labels)
        ttl = validate.ttl(ttl)
        clock.clock_override()  # a bad SEATCTL_NOW is refused before a file is created
        wanted = [str(n) for n in range(1, (count or 0) + 1)] + named
        with cls(open_store(db, create=True)) as venue, venue._store.transaction() as tx:
            if count is None and not named and venue._store.created:
                wanted = DEFAULT_VENUE
            new = tx.add_seats(list(dict.fromkeys(wanted)))
            tx.append_events([Event(tx.now(), label, Action.ADD) for label in new])
            if ttl is not None:
                tx.set_default_ttl(ttl)
            return InitResult(venue._store.location, len(new), tx.seat_count(), tx.default_ttl())

    def seats(self, status: Status | None = None, user: str | None = None) -> list[SeatView]:
        """Every seat as it is now, in natural label order; optionally only one status,
        or only the seats `user` holds a live lock on or has booked."""
        return list(self.iter_seats(status, user))

    def iter_seats(
        self, status: Status | None = None, user: str | None = None
    ) -> Iterator[SeatView]:
        """`seats()` one at a time, read inside one transaction as they are consumed: the seats
        as they were when it began. Other calls on this Venue may run meanwhile (the store
        gives them a connection of their own)."""
        name = validate.user(user) if user is not None else None

        def views() -> Iterator[SeatView | None]:
            with self._store.transaction(write=False) as tx:
                now = tx.now()
                yield None  # ready: the transaction is open and the clock has been read
                for seat in tx.all_seats():
                    view = seat.view(now)
                    if (status is None or view.status is status) and (
                        name is None or view.belongs_to(name)
                    ):
                        yield view

        listing = views()
        next(listing)  # a database or clock problem surfaces now, before anything is printed
        return cast(Iterator[SeatView], listing)

    def lock(self, labels: Iterable[str], user: str, ttl: int | None = None) -> list[SeatView]:
        """Hold every seat for `user` until now + ttl (the database's default if None)."""
        name = validate.user(user)
        ttl = validate.ttl(ttl)

        def rule_for(tx: Transaction, now: Instant) -> Rule:
            lifetime = ttl if ttl is not None else tx.default_ttl()
            return partial(rules.lock, user=name, now=now, ttl=lifetime)

        return self._apply(labels, name, rule_for)

    def confirm(self, labels: Iterable[str], user: str) -> list[SeatView]:
        """Turn `user`'s live locks on every seat into bookings."""
        name = validate.user(user)
        return self._apply(labels, name, lambda tx, now: partial(rules.confirm, user=name, now=now))

    def release(self, labels: Iterable[str], user: str) -> list[SeatView]:
        """Give up `user`'s live locks on every seat."""
        name = validate.user(user)
        return self._apply(labels, name, lambda tx, now: partial(rules.release, user=name, now=now))

    def _apply(
        self,
        labels: Iterable[str],
        user: str,
        rule_for: RuleAt,
    ) -> list[SeatView]:
        """All or nothing: decide for every seat, then write all changes or raise every refusal."""
        wanted = validate.labels(labels)
        if not wanted:
            raise usage_error("name at least one seat")
        with _naming_busy_seats(self._store.location, wanted), self._store.transaction() as tx:
            stored = tx.seats(wanted)  # first: a backend that locks rows waits here, not later
            now = self._acting_instant(tx, wanted, stored)
            decide = rule_for(tx, now)
            refusals: list[SeatRefusal] = []
            after: list[Seat] = []
            changed: list[Seat] = []
            events: list[Event] = []
            for label in wanted:
                seat = stored.get(label)
                decision = decide(seat) if seat else rules.not_found(label)
                if isinstance(decision, SeatRefusal):
                    refusals.append(decision)
                    continue
                after.append(decision.after)
                if decision.action is not None:
                    changed.append(decision.after)
                    events += decision.events(seat, user, now)
            if refusals:
                raise refused(refusals)
            tx.save(changed)
            tx.append_events(events)
            return [seat.view(now) for seat in after]

    @staticmethod
    def _acting_instant(tx: Transaction, wanted: list[str], stored: dict[str, Seat]) -> Instant:
        """The transaction's clock, moved up to the named seats' newest events if it is a
        little behind them; refused (with the unknown seats) if it is further behind."""
        latest = tx.latest_event_at([label for label in wanted if label in stored])
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

    def history(
        self,
        labels: Iterable[str] = (),
        user: str | None = None,
        since: Instant | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Committed events, oldest first, with lapsed locks nobody touched yet shown as
        `expire` events at their deadline. Every filter given must match."""
        wanted = validate.labels(labels)
        user = validate.user(user) if user is not None else None
        if limit is not None and limit < 0:
            raise usage_error(f"invalid --limit {limit}: use a whole number from 0")
        from seatctl import history

        with self._store.transaction(write=False) as tx:
            found = tx.seats(wanted)
            missing = [label for label in wanted if label not in found]
            if missing:
                raise refused([rules.not_found(label) for label in missing])
            now = tx.now()
            events = history.with_pending_expiries(tx.events(), tx.all_seats(), now)
        return history.select(events, wanted, user, since, limit)

    def check(self) -> list[str]:
        """Everything wrong with the database; an empty list means every invariant holds."""
        from seatctl import audit

        problems = self._store.integrity_problems()
        if problems:
            return problems  # a damaged file cannot be trusted to answer the rest
        with self._store.transaction(write=False) as tx:
            damaged = tx.damaged_records()
            if damaged:
                return damaged  # a replay around damaged records would only echo them
            seats = list(tx.all_seats())
            events = tx.events()
            seeded = tx.seeded_through()
        return audit.record_problems(seats) + audit.history_problems(seats, events, seeded)

    def backup(self, dest: str, force: bool = False) -> None:
        """A consistent copy of the database at `dest`, safe while others keep writing."""
        if not dest.strip() or "\0" in dest:
            raise usage_error(f"invalid backup destination {dest!r}")
        self._store.backup(dest, force=force)

    # --- tokens of `seatctl serve` -------------------------------------------------------

    def add_token(self, user: str, expires_in: int | None = None) -> tuple[str, Token]:
        """A new API token for `user`: the token itself (shown once, never stored) and its
        stored record."""
        from seatctl import tokens

        name = validate.user(user)
        lifetime = tokens.expires_in(expires_in)
        token = tokens.new_token()
        digest = tokens.token_hash(token)
        with self._store.transaction() as tx:
            expires_at = tx.now() + lifetime if lifetime is not None else None
            token_id = tx.add_token(digest, name, expires_at)
            return token, Token(token_id, name, tx.now(), expires_at, None, digest)

    def tokens(self) -> list[Token]:
        with self._store.transaction(write=False) as tx:
            return tx.tokens()

    def revoke_token(self, token_id: int) -> None:
        with self._store.transaction() as tx:
            if not tx.delete_token(token_id):
                raise SeatctlError(
                    Reason.NOT_FOUND, f"no token with id {token_id}", ExitCode.NOT_FOUND
                )

    def authenticate(self, token: str) -> str:
        """The user `token` acts for; an `unauthorized` error if it is unknown, revoked or
        expired. Records its use (at most once a minute, so that this is mostly a read)."""
        from seatctl import tokens

        with self._store.transaction(write=False) as tx:
            found = tokens.check(token, tx.token(tokens.token_hash(token)), tx.now())
            stale = found.last_used_at is None or (
                tx.now() - found.last_used_at >= tokens.TOUCH_INTERVAL
            )
        if stale:
            with self._store.transaction() as tx:
                tx.touch_token(found.id)
        return found.user

    def grouped(self) -> AbstractContextManager[None]:
        """Run several calls in one transaction, each all or nothing on its own (group
        commit); their changes are durable only once the `with` block has ended."""
        return self._store.group()

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


@contextlib.contextmanager
def _naming_busy_seats(location: str, labels: list[str]) -> Iterator[None]:
    """A backend that locks the whole database (SQLite) cannot tell which seats it waited
    for: then every seat the command names is one it could not get."""
    try:
        yield
    except SeatctlError as error:
        if error.reason is Reason.BUSY and not error.seats:
            raise busy_error(location, labels) from None
        raise


__all__ = ["DEFAULT_TTL", "InitResult", "Venue"]

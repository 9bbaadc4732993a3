"""The bearer tokens of `seatctl serve`: made, listed, revoked, and checked on each request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seatctl.core import validate
from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.core.model import Action, HistoryEntry, Role, Token

if TYPE_CHECKING:
    from seatctl.core.tokens import Principal
from seatctl.storage import Store


class TokenKeeping:
    """The token methods of `Venue`."""

    _store: Store

    def add_token(
        self, user: str, expires_in: int | None = None, role: Role | str = Role.BUYER
    ) -> tuple[str, Token]:
        """A new API token for `user` with `role` (a buyer's by default): the token itself
        (shown once, never stored) and its stored record. The history records it (`token_add`,
        no seat, its role as the reason, its id)."""
        from seatctl.core import tokens

        name = validate.user(user)
        lifetime = tokens.expires_in(expires_in)
        given = tokens.role(role)
        token = tokens.new_token()
        digest = tokens.token_hash(token)
        with self._store.transaction() as tx:
            now = tx.now()
            expires_at = now + lifetime if lifetime is not None else None
            token_id = tx.add_token(digest, name, expires_at, given)
            added = HistoryEntry(
                now, "", Action.TOKEN_ADD, name, reason=given.value, token=token_id
            )
            tx.append_history([added])
            return token, Token(token_id, name, now, expires_at, None, digest, given)

    def tokens(self) -> list[Token]:
        with self._store.transaction(write=False) as tx:
            return tx.tokens()

    def revoke_token(self, token_id: int) -> None:
        """Remove the token: requests bearing it are refused from now on. The history records
        it (`token_revoke`, no seat, the token's user and id); an unknown id changes nothing."""
        with self._store.transaction() as tx:
            user = tx.delete_token(token_id)
            if user is None:
                raise SeatctlError(
                    Reason.NOT_FOUND, f"no token with id {token_id}", ExitCode.NOT_FOUND
                )
            revoked = HistoryEntry(tx.now(), "", Action.TOKEN_REVOKE, user, token=token_id)
            tx.append_history([revoked])

    def authenticate(self, token: str) -> str:
        """The user `token` acts for; an `unauthorized` error if it is unknown, revoked or
        expired. Records its use (at most once a minute, so that this is mostly a read)."""
        return self.principal(token).user

    def principal(self, token: str) -> Principal:
        """Who `token` acts as: its user and role (as `authenticate` checks it). The first
        time an expired token is presented after its deadline, the history records it
        (`token_expired`) before it is refused; later presentations write nothing."""
        from seatctl.core import tokens

        digest = tokens.token_hash(token)
        with self._store.transaction(write=False) as tx:
            now = tx.now()
            stored = tx.token(digest)
        if stored is not None and tokens.expiry_unrecorded(token, stored, now):
            self._record_expiry(stored)
        found = tokens.check(token, stored, now)
        if found.last_used_at is None or now - found.last_used_at >= tokens.TOUCH_INTERVAL:
            with self._store.transaction() as tx:
                tx.touch_token(found.id)
        return tokens.Principal(found.user, found.role)

    def _record_expiry(self, expired: Token) -> None:
        """Record that `expired` was presented after its deadline, unless another request
        (or process) just did: the store marks it used in the same write, only if unmarked."""
        with self._store.transaction() as tx:
            if tx.expired_token_presented(expired.id):
                entry = HistoryEntry(
                    tx.now(), "", Action.TOKEN_EXPIRED, expired.user, token=expired.id
                )
                tx.append_history([entry])

"""The bearer tokens of `seatctl serve`: made, listed, revoked, and checked on each request."""

from __future__ import annotations

from seatctl.core import validate
from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.core.model import Token
from seatctl.storage import Store


class TokenKeeping:
    """The token methods of `Venue`."""

    _store: Store

    def add_token(self, user: str, expires_in: int | None = None) -> tuple[str, Token]:
        """A new API token for `user`: the token itself (shown once, never stored) and its
        stored record."""
        from seatctl.core import tokens

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
        from seatctl.core import tokens

        with self._store.transaction(write=False) as tx:
            found = tokens.check(token, tx.token(tokens.token_hash(token)), tx.now())
            stale = found.last_used_at is None or (
                tx.now() - found.last_used_at >= tokens.TOUCH_INTERVAL
            )
        if stale:
            with self._store.transaction() as tx:
                tx.touch_token(found.id)
        return found.user

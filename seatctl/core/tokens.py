"""API tokens for `seatctl serve`: made here, stored only as hashes, checked by hash.

A token is `stk_` and 43 URL-safe characters (256 random bits); the prefix lets secret
scanners spot a leaked one. Only its SHA-256 is stored, so a copy of the database grants
nothing; looking a token up by its hash means no comparison ever runs over the secret itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple

from seatctl.core.clock import Instant
from seatctl.core.errors import ExitCode, FieldError, Reason, SeatctlError
from seatctl.core.model import Role, Token

PREFIX = "stk_"
MAX_EXPIRES_IN = 10 * 365 * 86_400  # ten years
# `last used` is written at most this often per token, so that checking a token on every
# request is a read, not a write.
TOUCH_INTERVAL = 60


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def expires_in(raw: int | None) -> int | None:
    if raw is not None and not 1 <= raw <= MAX_EXPIRES_IN:
        raise FieldError(
            "expires_in",
            raw,
            lambda name: (
                f"invalid {name('expires_in')} {raw}: use whole seconds from 1 to {MAX_EXPIRES_IN}"
            ),
        )
    return raw


class Principal(NamedTuple):
    """Who a request acts as: its token's user and what that token may do."""

    user: str
    role: Role

    @property
    def staff(self) -> bool:
        return self.role is Role.STAFF


def role(raw: str) -> Role:
    """A role as given (`buyer` or `staff`); a usage error names the field otherwise."""
    try:
        return Role(raw)
    except ValueError:
        roles = " or ".join(r.value for r in Role)
        raise FieldError(
            "role", raw, lambda name: f"invalid {name('role')} {raw!r}: use {roles}"
        ) from None


def check(token: str, found: Token | None, now: Instant) -> Token:
    """The stored record `token` authenticates as, or an `unauthorized` error."""
    # The record was found by the token's hash; comparing the hashes again in constant time
    # costs nothing and keeps the check correct whatever the lookup did.
    if found is None or not hmac.compare_digest(found.hash, token_hash(token)):
        raise unauthorized("unknown or revoked token")
    if not found.live(now):
        raise unauthorized("the token has expired")
    return found


def expiry_unrecorded(token: str, found: Token, now: Instant) -> bool:
    """Whether `token`, stored as `found`, has expired and nobody presented it since its
    deadline: its last use, if any, came before it (each use after it is recorded as one)."""
    return (
        hmac.compare_digest(found.hash, token_hash(token))
        and found.expires_at is not None
        and not found.live(now)
        and (found.last_used_at is None or found.last_used_at < found.expires_at)
    )


def unauthorized(message: str) -> SeatctlError:
    return SeatctlError(Reason.UNAUTHORIZED, message, ExitCode.USAGE)


def forbidden(message: str) -> SeatctlError:
    return SeatctlError(Reason.FORBIDDEN, message, ExitCode.USAGE)

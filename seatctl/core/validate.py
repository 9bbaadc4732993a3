"""Checks for what users type: seat labels, user names, lock durations, seat counts."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable

from seatctl.core.errors import FieldError, usage_error
from seatctl.core.model import Status

LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
MAX_USER_LENGTH = 64
MIN_TTL, MAX_TTL = 1, 86_400
MAX_SEATS = 100_000
MAX_HOLD = MAX_TTL  # the longest cap on one hold: a day, like the longest lock

_SPLIT_DIGIT_RUNS = re.compile(r"([0-9]+)").split


def labels(raw: Iterable[str]) -> list[str]:
    """Valid labels in the order given, each once, in NFC."""
    if isinstance(raw, str | bytes | bytearray):
        # Iterating it would name one seat per character: "12" would mean seats 1 and 2.
        kind = type(raw).__name__
        raise TypeError(f"expected a list of seat labels, not a {kind}: write [{raw!r}]")
    unique = list(dict.fromkeys(_label(item) for item in raw))
    bad = [label for label in unique if not LABEL_PATTERN.fullmatch(label)]
    if bad:
        raise usage_error(
            f"invalid seat label {_shown(bad[0])}: use 1 to 32 characters from A-Z a-z 0-9 . _ -,"
            " starting with a letter or digit"
        )
    return unique


def event_name(raw: str) -> str:
    """An event (show) name: the seat label rules."""
    if not isinstance(raw, str):
        raise TypeError(f"expected an event name, not a {type(raw).__name__}")
    name = _label(raw)
    if not LABEL_PATTERN.fullmatch(name):
        raise usage_error(
            f"invalid event name {_shown(name)}: use 1 to 32 characters from A-Z a-z 0-9 . _ -,"
            " starting with a letter or digit"
        )
    return name


MAX_REASON_LENGTH = 200


def reason(raw: str | None) -> str | None:
    """A block's reason: printable text of up to 200 characters (None or blank: no reason)."""
    if raw is None or not raw.strip():
        return None
    text = _nfc(raw.strip())
    if len(text) > MAX_REASON_LENGTH or not text.isprintable():
        raise FieldError(
            "reason",
            raw,
            lambda name: (
                f"invalid {name('reason')} {_shown(text)}:"
                f" use up to {MAX_REASON_LENGTH} printable characters"
            ),
        )
    return text


def status(raw: Status | str | None) -> Status | None:
    """A seat status to filter on, as a `Status` or its name (`"booked"`); None: every seat."""
    if raw is None:
        return None
    try:
        return Status(raw)
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise FieldError(
            "status",
            raw,
            lambda name: f"invalid {name('status')} {_shown(str(raw))}: use one of {choices}",
        ) from None


def title(raw: str | None) -> str | None:
    """An event's title: printable text of up to 200 characters (None or blank: no title)."""
    if raw is None or not raw.strip():
        return None
    text = _nfc(raw.strip())
    if len(text) > MAX_REASON_LENGTH or not text.isprintable():
        raise FieldError(
            "title",
            raw,
            lambda name: (
                f"invalid {name('title')} {_shown(text)}:"
                f" use up to {MAX_REASON_LENGTH} printable characters"
            ),
        )
    return text


def database(raw: str) -> str:
    """`raw` if it can name a database. A SQLite path may hold any bytes a file name can (the
    undecodable ones arrive from argv as surrogate escapes); a PostgreSQL URL is text."""
    if raw == "":
        # Most likely an unset shell variable (`--db "$VENUE"`): never guess another database.
        raise usage_error("empty database name: give a file path or a postgresql:// URL")
    if is_postgres_url(raw):
        if not _encodes(raw, str.encode):  # UTF-8, strictly
            raise usage_error(f"invalid database URL {_shown(raw)}: it is not valid UTF-8")
    elif "\0" in raw or not _encodes(raw, os.fsencode):
        raise usage_error(f"invalid database path {_shown(raw)}: no file can have this name")
    return raw


def _encodes(text: str, encode: Callable[[str], bytes]) -> bool:
    try:
        encode(text)
    except UnicodeEncodeError:
        return False
    return True


def _label(raw: str) -> str:
    if not isinstance(raw, str):
        raise TypeError(f"seat labels are strings, not {type(raw).__name__}: {raw!r}")
    return _nfc(raw)


def user(raw: str) -> str:
    """The user's name in NFC: the same name typed composed or decomposed is one user."""
    if not isinstance(raw, str):
        raise TypeError(f"a user name is a string, not {type(raw).__name__}: {raw!r}")
    name = _nfc(raw).strip()
    if not name or len(name) > MAX_USER_LENGTH or not name.isprintable():
        raise usage_error(
            f"invalid user {_shown(raw)}: use 1 to {MAX_USER_LENGTH} printable characters"
        )
    return name


def _nfc(text: str) -> str:
    # Names are compared and stored as text: `José` typed with a combining accent must not
    # be a second user who looks exactly like the first.
    if text.isascii():
        return text
    import unicodedata  # a C module of 1 MB: only for names beyond ASCII

    return unicodedata.normalize("NFC", text)


def ttl(raw: int | None) -> int | None:
    if raw is not None and not MIN_TTL <= raw <= MAX_TTL:
        raise FieldError(
            "ttl",
            raw,
            lambda name: (
                f"invalid {name('ttl')} {raw}: use whole seconds from {MIN_TTL} to {MAX_TTL}"
            ),
        )
    return raw


def max_hold(raw: int | None, ttl: int) -> int | None:
    """A cap on one hold's length: 0 (no cap), or 1 to 86400 s and not below `ttl`, the
    default lock duration (a plain lock must fit in one hold)."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_HOLD:
        raise FieldError(
            "max_hold",
            raw,
            lambda name: (
                f"invalid {name('max_hold')} {raw!r}:"
                f" use 0 (no cap) or whole seconds from 1 to {MAX_HOLD}"
            ),
        )
    if 0 < raw < ttl:
        raise FieldError(
            "max_hold",
            raw,
            lambda name: (
                f"invalid {name('max_hold')} {raw}: it is less than the default lock"
                f" duration ({ttl} s); use 0 (no cap) or at least that"
            ),
        )
    return raw


def max_seats_per_user(raw: int | None) -> int | None:
    if raw is not None and (
        isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_SEATS
    ):
        raise FieldError(
            "max_seats_per_user",
            raw,
            lambda name: (
                f"invalid {name('max_seats_per_user')} {raw!r}:"
                f" use 0 (no cap) or a number up to {MAX_SEATS}"
            ),
        )
    return raw


def seat_count(raw: int | None) -> int | None:
    if raw is not None and not 0 <= raw <= MAX_SEATS:
        raise FieldError(
            "seats",
            raw,
            lambda name: f"invalid {name('seats')} {raw}: use a number from 0 to {MAX_SEATS}",
        )
    return raw


def best(raw: int) -> int:
    """How many seats `lock --best` (`"best"` on the HTTP API) is to choose: 1 or more."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise FieldError(
            "best", raw, lambda name: f"invalid {name('best')} {raw!r}: use a whole number from 1"
        )
    return raw


def natural_key(label: str) -> str:
    """A text key whose plain ordering is the labels' natural order (`2` < `10`, `A2` < `A10`).

    Each digit run becomes `0`, its significant length in two digits, then its significant
    digits, so runs compare as numbers; the rest stays as text. Stored beside the label so
    listings can be ordered (and streamed) by an index.
    """
    parts = _SPLIT_DIGIT_RUNS(label)  # text, digits, text, ..., text
    if len(parts) == 1:
        return label
    # A venue's labels repeat a few hundred digit runs: each is encoded once (init --map of
    # 100,000 seats computes 100,000 keys).
    parts[1::2] = map(_encoded_number, parts[1::2])
    return "".join(parts)


@functools.lru_cache(maxsize=4096)
def _encoded_number(run: str) -> str:
    digits = run.lstrip("0") or "0"
    return f"0{len(digits):02d}{digits}"


def _shown(text: str, limit: int = 40) -> str:
    """Quote user input for a one-line error without letting control characters reach a terminal."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text) if text.isprintable() else ascii(text)


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(db: str) -> bool:
    """Whether `--db` names a PostgreSQL database rather than a SQLite file."""
    return db.lower().startswith(POSTGRES_SCHEMES)

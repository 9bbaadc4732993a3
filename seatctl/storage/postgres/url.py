"""PostgreSQL URLs: read as libpq reads them, and shown without any secret they carry."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple
from urllib.parse import unquote

from seatctl.core.errors import usage_error
from seatctl.storage.postgres.driver import psycopg


def parsed(url: str) -> dict[str, Any]:
    """The connection parameters in `url`, read by libpq itself; a usage error if it cannot,
    or if it reads part of the user name or password as a host or port."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        # libpq's reason ends by quoting the whole URL, which the error already shows.
        reason = one_line(str(exc).strip().removesuffix(f': "{url}"'), url)
        raise usage_error(f"invalid PostgreSQL URL {redacted(url)}: {reason}") from None
    # libpq ends the user part at the first "@" (or at a "/"), so a password with "@" or "/"
    # in it spills into the host or port, and the driver would quote those pieces of it.
    hosts = str(given.get("host", "")).split(",")
    ports = str(given.get("port", "")).split(",")
    if any("@" in host for host in hosts) or not all(p.isdigit() for p in ports if p):
        raise usage_error(
            f'invalid PostgreSQL URL {redacted(url)}: it has a host with an "@" or a port that'
            " is not a number; percent-encode @ : / ? in a user name or password (%40 %3A %2F %3F)"
        )
    return given


# libpq's connection parameters that carry secrets: those PQconndefaults marks as passwords
# (dispchar "*"), and the SCRAM keys, which log in as well as the password does. Names are
# compared case-insensitively and after percent-decoding, as libpq decodes them.
_SECRET_PARAMETERS = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
)


@functools.cache
def _secret_parameters() -> frozenset[str]:
    """_SECRET_PARAMETERS and any other the installed libpq marks as a password."""
    if psycopg is None:
        return _SECRET_PARAMETERS
    marked = psycopg.pq.Conninfo.get_defaults()
    return _SECRET_PARAMETERS | {o.keyword.decode().lower() for o in marked if o.dispchar == b"*"}


class _UrlParts(NamedTuple):
    """A PostgreSQL URL cut where libpq cuts it, reading it generously where a password may
    hide: the user part runs to the last `@` before the query (libpq stops at the first `@`,
    so an unencoded `@` in a password would otherwise show the rest of it), and a `:` starts
    the password. Never fails, so malformed URLs can be shown too."""

    scheme: str  # "postgresql://"
    user: str | None  # None without an `@`
    passwords: list[str]  # the password in the user part, as each reading finds it
    place: str  # hosts, ports and the database name
    parameters: list[str]  # the query's `key=value` items, as written


def _url_parts(url: str) -> _UrlParts:
    scheme, sep, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    userinfo, at, place = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    passwords = [password] if colon else []
    # libpq's own reading: the user part ends at the first `@` unless a `/` comes first.
    strict = url[len(scheme + sep) :]
    first_at = strict.find("@")
    if first_at >= 0 and "/" not in strict[:first_at] and ":" in strict[:first_at]:
        passwords.append(strict[:first_at].partition(":")[2])
    return _UrlParts(scheme + sep, user if at else None, passwords, place, query.split("&"))


def _parameter_name(item: str) -> str:
    return unquote(item.partition("=")[0]).strip().lower()


def redacted(url: str) -> str:
    """`url` as seatctl shows it: without any password or other secret it carries, in the
    user part or in a query parameter; the rest as written."""
    parts = _url_parts(url)
    hidden = _secret_parameters()
    kept = [p for p in parts.parameters if p and _parameter_name(p) not in hidden]
    user = f"{parts.user}@" if parts.user is not None else ""
    shown = user + parts.place + ("?" + "&".join(kept) if kept else "")
    # Whatever a strange URL slipped past the cuts above (or a user named like the password)
    # is scrubbed as well; the scheme is kept, so the message still says what this is.
    return parts.scheme + _scrubbed(shown, url)


def _secrets(url: str) -> list[str]:
    """Every secret in `url`, as written and percent-decoded, longest first: what must be
    scrubbed from anything shown, such as the driver's messages, which may quote them."""
    parts = _url_parts(url)
    hidden = _secret_parameters()
    found = list(parts.passwords)
    found += [p.partition("=")[2] for p in parts.parameters if _parameter_name(p) in hidden]
    return sorted({s for raw in found if raw for s in (raw, unquote(raw))}, key=len, reverse=True)


def _scrubbed(text: str, url: str) -> str:
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


def one_line(text: str, url: str) -> str:
    """The driver's message on one line, without any secret it might quote (libpq quotes the
    whole URL when it cannot parse it: that is shown redacted)."""
    text = _scrubbed(text.replace(url, redacted(url)), url)
    return " ".join(text.split())

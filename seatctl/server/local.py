"""`serve --no-auth`: only this machine's own pages and programs may talk to the server.

Without tokens the server trusts the user a request names, so what keeps another web page
from acting for someone is that a browser will not let it: a change must be sent as
`application/json` (a cross-origin page must then ask first, and that preflight is refused),
every request must name this server in `Host` (a DNS-rebinding page names its own domain),
and a request from a page (`Origin`) must come from this server's own origin.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope


class Local:
    """The Host and Origin values a request to `host:port` (a loopback address) may carry."""

    def __init__(self, names: Iterable[str], port: int, scheme: str = "http") -> None:
        names = {name.lower().strip("[]") for name in names} | {"localhost"}
        spelled = {f"[{name}]" if ":" in name else name for name in names}
        self.hosts = {f"{name}:{port}".encode() for name in spelled}
        if port == (443 if scheme == "https" else 80):  # a default port may go unsaid
            self.hosts |= {name.encode() for name in spelled}
        self.origins = {scheme.encode() + b"://" + host for host in self.hosts}

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused (403), or None."""
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.lower()
            elif name == b"origin":
                origin = value.lower()
        if host not in self.hosts:
            return "this server (--no-auth) answers only requests addressed to its own address"
        if origin is not None and origin not in self.origins:
            return "this server (--no-auth) answers no other site's pages"
        return None

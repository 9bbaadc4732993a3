"""`GET /`: the seat-map page, one self-contained HTML file shipped in the package.

The page carries its CSS and JavaScript inline (no CDN, no build step, no external font), so a
machine without internet serves it whole. It holds a bearer token in `sessionStorage`, so the
answer comes with a Content-Security-Policy that lets only its own inline script and style run
(by their SHA-256) and lets it talk only to this server: injected markup could not run code.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from starlette.responses import Response

PAGE = "seatmap.html"
_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def _page() -> tuple[bytes, str]:
    """The page's bytes and its policy, read once per process."""
    text = resources.files("seatctl.server").joinpath("static", PAGE).read_text("utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _BLOCK.findall(text):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(hashes['script'])}",
            f"style-src {' '.join(hashes['style'])}",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return text.encode(), policy


def response() -> Response:
    body, policy = _page()
    headers = {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body, 200, headers, media_type="text/html; charset=utf-8")

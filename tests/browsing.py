"""What the browser tests share: Debian's Chromium driven by Playwright (skipped, with the
reason, where either is missing), one browser per test module, and how a seat is found.

The browser is Debian's `chromium-headless-shell`, Chromium's own headless build: the tests
need no window, and it runs them on a third of the CPU the full browser takes (the suite runs
them beside everything else on two cores). Where only the full browser is installed, it is
used instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

BROWSERS = ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"]
CHROMIUM = next((path for path in BROWSERS if Path(path).exists()), "")
if not CHROMIUM:
    pytest.skip(
        "the browser tests need Chromium at /usr/bin/chromium-headless-shell or /usr/bin/chromium"
        " (apt-get install -y chromium-headless-shell)",
        allow_module_level=True,
    )
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser tests need the playwright package (dev extra)"
)
expect = sync_api.expect

# --no-sandbox: the tests may run as root; the network flags: the machine may have no internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT = 10_000  # ms: an upper bound for what needs no spec'd bound (a page loading, say)
# The pages run in Paris, in British English: times are local (13:01:00 for 12:01:00Z).
PLACE = {"locale": "en-GB", "timezone_id": "Europe/Paris"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def seat(page: object, label: str) -> object:
    return page.locator(f'button.seat[data-seat="{label}"]')  # type: ignore[attr-defined]

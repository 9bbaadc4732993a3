"""Case 11 (`run.py --case 11`, or alone: `python benchmarks/page_case.py`): the seat-map page.

`seatctl serve --no-auth` on a 5-seat venue serves the page (GET /); Debian's Chromium, driven
by Playwright, opens it in a 1280x800 window and signs in by name, and its change stream
(`/v1/stream`) is answered by a canned one: a snapshot of 20,000 seats with positions (a fan of
curved rows, 200 seats each, as tests/test_page_hall.py draws them) then four seat changes,
each in an answer of its own. The page times itself (`window.seatmapTimings`: from the
message's arrival, through its parsing and drawing, to the next painted frame), and the case
reads those figures, the way the browser test does:

- the first draw of the 20,000 seats, median of several fresh page loads: target < 1000 ms;
- a change's repaint, median of all the changes of those loads: target < 50 ms.

Skipped, with a note, when the playwright package or /usr/bin/chromium is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from http_case import free_port, running
from rows import Row

CASE = "11 page"
CHROMIUM = "/usr/bin/chromium"
# As tests/browsing.py: --no-sandbox (the benchmark may run as root), no network of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WINDOW = {"width": 1280, "height": 800}
SEATS = 20_000
CHANGES = 4
DRAW_TARGET_MS = 1000.0
CHANGE_TARGET_MS = 50.0
WAIT_MS = 60_000


def missing() -> str:
    """Why the case cannot run here, or ""."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return ""


def positioned_seats(count: int) -> list[dict[str, object]]:
    """A fan of curved rows, 200 seats each: x and y in metres, row 1 nearest the stage."""
    seats = []
    for i in range(count):
        row, number = divmod(i, 200)
        angle = (number - 99.5) / 200 * 1.6
        radius = 8 + row * 0.9
        seats.append(
            {
                "seat": str(i + 1),
                "status": "available",
                "locked_by": None,
                "expires_at": None,
                "booked_by": None,
                "booked_at": None,
                "section": "Stalls",
                "row": f"R{row + 1}",
                "number": number + 1,
                "category": None,
                "held_since": None,
                "x": round(radius * math.sin(angle) * 0.5, 3),
                "y": round(radius * math.cos(angle) * 0.5, 3),
            }
        )
    return seats


def stream_answers(count: int, changes: int) -> list[str]:
    """The snapshot, then one answer per change (one repaint each)."""
    seats = positioned_seats(count)
    snapshot = json.dumps({"event": "default", "now": "2026-12-07T10:00:00Z", "seats": seats})
    answers = [f"event: snapshot\nid: 1\ndata: {snapshot}\n\n"]
    for n in range(changes):
        changed = {
            **seats[n],
            "status": "locked",
            "locked_by": "zed",
            "expires_at": "2999-01-01T00:00:00Z",
        }
        answers.append(f"event: seat\nid: {2 + n}\ndata: {json.dumps(changed)}\n\n")
    return answers


@contextmanager
def serving(seatctl: list[str], workdir: Path, env: Any = None) -> Iterator[str]:
    """`seatctl serve --no-auth` on a new 5-seat venue: its page's URL."""
    db = str(workdir / "page.db")
    subprocess.run(
        [*seatctl, "--db", db, "init", "--seats", "5"], check=True, env=env, capture_output=True
    )
    port = free_port()
    argv = [*seatctl, "--db", db, "serve", "--no-auth", "--port", str(port)]
    with running(argv, port, env=env):
        yield f"http://127.0.0.1:{port}/"


def one_load(browser: Any, url: str, answers: list[str]) -> dict[str, list[float]]:
    """A fresh page (new context: no cache, no session) drawing the canned stream once."""
    waiting = list(answers)

    def stream(route: Any) -> None:
        if waiting:  # then no answer at all: a stream that stays open and quiet
            body = waiting.pop(0)
            route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    context = browser.new_context(viewport=WINDOW, locale="en-GB", timezone_id="Europe/Paris")
    try:
        context.route("**/v1/stream*", stream)
        page = context.new_page()
        page.goto(url)
        page.fill("#name", "bench")
        page.click("#signin button[type=submit]")
        changes = len(answers) - 1
        page.wait_for_selector(f'#map[data-changes="{changes}"]', state="attached", timeout=WAIT_MS)
        timings = page.evaluate("window.seatmapTimings")
        if page.locator("#map").get_attribute("data-layout") != "positions":
            raise RuntimeError("the page did not draw the seats at their positions")
    finally:
        context.unroute_all(behavior="ignoreErrors")  # the stream left open, unanswered
        context.close()
    return {
        "draws": [t["ms"] for t in timings["draws"] if t["seats"] == SEATS],
        "changes": [t["ms"] for t in timings["changes"]],
    }


def measure(seatctl: list[str], workdir: Path, loads: int, env: Any = None) -> list[Row]:
    from playwright.sync_api import sync_playwright

    answers = stream_answers(SEATS, CHANGES)
    draws: list[float] = []
    changes: list[float] = []
    with serving(seatctl, workdir, env) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            one_load(browser, url, answers)  # warm-up: the browser's own first start
            for _ in range(loads):
                figures = one_load(browser, url, answers)
                draws += figures["draws"][:1]  # the first draw of that page
                changes += figures["changes"]
        finally:
            browser.close()
    draw, change = statistics.median(draws), statistics.median(changes)
    seats = f"{SEATS:,} positioned seats"
    return [
        Row(
            CASE,
            f"first draw of {seats}, median of {loads} page loads",
            "ms",
            draw,
            None,
            f"< {DRAW_TARGET_MS:.0f} ms",
            draw < DRAW_TARGET_MS,
            f"draws {', '.join(f'{ms:.0f}' for ms in draws)} ms",
            draws,
        ),
        Row(
            CASE,
            f"a change repainted ({seats}), median of {len(changes)}",
            "ms",
            change,
            None,
            f"< {CHANGE_TARGET_MS:.0f} ms",
            change < CHANGE_TARGET_MS,
            f"changes {', '.join(f'{ms:.0f}' for ms in changes)} ms; worst {max(changes):.0f} ms",
            changes,
        ),
    ]


def case_page(bench: Any) -> list[Row]:
    why = missing()
    if why:
        return [Row(CASE, "skipped", "ms", 0.0, None, "-", None, f"skipped: {why}")]
    loads = 3 if bench.settings.quick else 7
    return measure(bench.seatctl, bench.workdir, loads, bench.env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=7, help="fresh page loads timed")
    parser.add_argument("--seatctl", help="the seatctl console script (default: beside python)")
    args = parser.parse_args()
    why = missing()
    if why:
        print(f"skipped: {why}")
        return 0
    beside = Path(sys.executable).with_name("seatctl")
    script = args.seatctl or (str(beside) if beside.exists() else shutil.which("seatctl"))
    seatctl = [script] if script else [sys.executable, "-m", "seatctl"]
    with tempfile.TemporaryDirectory(prefix="seatctl-page-") as workdir:
        for row in measure(seatctl, Path(workdir), args.loads):
            print(f"{row.measure}: {row.seatctl:.0f} ms (target {row.target}): {row.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The seat-map page with a big hall, in Chromium: a 2,000-seat hall fits a 1280x800 window at
first sight, zoom (buttons, keys, ctrl+wheel, two fingers) and pan reach any seat at a size
that can be clicked, the actions stay in view; 20,000 seats drawn at their positions (a
stand-in stream: the server gives no positions yet) draw in under 1 s and repaint a change in
under 50 ms, as the page itself measures with performance.now().

One server per module (its seats are only read, or locked once per test, each its own seat).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from browsing import PLACE, WAIT, browser, expect, seat
from helpers import run_process
from seatctl import Venue
from serving import ServerProcess

# The 20,000-seat hall is the one benchmarks/page_case.py times: one definition for both.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from page_case import stream_answers

__all__ = ["browser"]  # the module's Chromium, shared by its tests
# One group: the 2,000-seat hall and its server are built once, on one worker, beside other
# tests (they need only their own Chromium); the one timed test runs `alone`.
pytestmark = pytest.mark.xdist_group("page_hall")

WINDOW = {"width": 1280, "height": 800}
CLICKABLE = 24  # px: the smallest target WCAG 2.2 (2.5.8) allows


class BigHall:
    """2,000 seats labelled 1-2000: Stalls rows A-X and Circle rows A-P, 50 seats a row."""

    def __init__(self, folder: Path) -> None:
        lines = ["label,section,row,number,category"]
        for section, rows in (("Stalls", 24), ("Circle", 16)):
            for row in range(rows):
                for number in range(1, 51):
                    lines.append(f"{len(lines)},{section},{chr(65 + row)},{number},standard")
        (folder / "hall.csv").write_text("\n".join(lines) + "\n")
        self.db = str(folder / "hall.db")
        Venue.init(self.db, seat_map=str(folder / "hall.csv"))
        with Venue.open(self.db) as venue:
            self.tokens = {user: venue.add_token(user)[0] for user in ("alice", "bob")}
        self.server = ServerProcess(self.db)
        self.url = f"http://127.0.0.1:{self.server.port}/"

    def request(self, method: str, path: str, body: object, user: str) -> object:
        status, answer = self.server.request(method, path, body, token=self.tokens[user])
        assert status == 200, answer
        return answer


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigHall]:
    served = BigHall(tmp_path_factory.mktemp("big"))
    with served.server:
        yield served
        assert served.server.stop() == 0


def open_page(browser: object, url: str, token: str, **options: object) -> object:
    context = browser.new_context(viewport=WINDOW, **PLACE, **options)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(url)
    page.fill("#token", token)
    page.click("#signin button[type=submit]")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=WAIT)
    return page


@pytest.fixture
def page(browser: object, big: BigHall) -> Iterator[object]:
    page = open_page(browser, big.url, big.tokens["alice"])
    expect(seat(page, "2000")).to_be_attached(timeout=WAIT)
    yield page
    page.context.close()  # type: ignore[attr-defined]


def scale(page: object) -> float:
    return float(page.locator("#map").get_attribute("data-scale"))  # type: ignore[attr-defined]


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["y"] >= outer["y"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
    )


def centre(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_a_2000_seat_hall_fits_a_1280_by_800_window_at_first_sight(page):
    window = {"x": 0, "y": 0, **WINDOW}
    box = page.locator("#map").bounding_box()
    assert inside(box, window)
    assert inside(page.locator("#canvas").bounding_box(), box)  # the plan, as scaled
    for label in ("1", "50", "1951", "2000"):  # the corners
        assert inside(seat(page, label).bounding_box(), box)
    bar = page.locator("#bar").bounding_box()
    assert inside(bar, window) and bar["y"] >= box["y"] + box["height"]
    assert page.evaluate("[scrollX, scrollY]") == [0, 0]  # nothing scrolled into view
    assert page.evaluate("document.documentElement.scrollWidth") <= WINDOW["width"]
    stage = page.locator(".stage").bounding_box()
    assert (
        inside(stage, box) and stage["y"] + stage["height"] <= seat(page, "1").bounding_box()["y"]
    )


def test_ctrl_wheel_zooms_at_a_seat_until_it_can_be_clicked_and_locked(page, big):
    target = seat(page, "1975")  # Circle P25, the back row's middle
    assert target.bounding_box()["width"] < CLICKABLE
    for _ in range(12):  # each wheel notch is one zoom step, at the pointer
        if target.bounding_box()["width"] >= CLICKABLE:
            break
        page.mouse.move(*centre(target.bounding_box()))
        page.keyboard.down("Control")
        page.mouse.wheel(0, -100)
        page.keyboard.up("Control")
    box = target.bounding_box()
    assert box["width"] >= CLICKABLE
    under = "([x, y]) => document.elementFromPoint(x, y).dataset.seat"
    assert page.evaluate(under, centre(box)) == "1975"  # on screen, where the zoom kept it
    page.mouse.click(*centre(box))  # where it is drawn: nothing scrolls it there
    expect(target).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#selected")).to_have_text("Circle P25")
    lock = page.locator("#lock").bounding_box()
    assert inside(lock, {"x": 0, "y": 0, **WINDOW})  # the action bar stayed in view
    page.mouse.click(*centre(lock))
    expect(target).to_have_attribute("data-mine", "true", timeout=WAIT)
    big.request("POST", "/v1/release", {"seats": ["1975"]}, "alice")  # the hall as it was


def test_the_zoom_buttons_and_keys_zoom_in_and_out_and_back_to_fit(page):
    fit = scale(page)
    expect(page.locator("#zoom-out")).to_be_disabled()
    page.click("#zoom-in")
    assert scale(page) == pytest.approx(fit * 1.25, rel=0.01)
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert scale(page) == pytest.approx(fit * 1.25**3, rel=0.01)
    page.keyboard.press("-")
    assert scale(page) == pytest.approx(fit * 1.25**2, rel=0.01)
    page.click("#zoom-fit")
    assert scale(page) == pytest.approx(fit, rel=0.01)
    for _ in range(30):
        page.keyboard.press("+")
    assert seat(page, "1").bounding_box()["width"] >= 2 * CLICKABLE  # the closest zoom is close
    page.keyboard.press("0")
    assert scale(page) == pytest.approx(fit, rel=0.01)


def test_dragging_the_map_pans_it_and_selects_nothing(page):
    for _ in range(6):
        page.click("#zoom-in")
    map_box = page.locator("#map").bounding_box()
    x, y = centre(map_box)
    before = page.locator("#map").evaluate("el => [el.scrollLeft, el.scrollTop]")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 150, y - 80, steps=8)
    page.mouse.up()
    after = page.locator("#map").evaluate("el => [el.scrollLeft, el.scrollTop]")
    assert after[0] - before[0] == pytest.approx(150, abs=2)
    assert after[1] - before[1] == pytest.approx(80, abs=2)
    assert page.locator('button.seat[aria-pressed="true"]').count() == 0


def test_two_fingers_spreading_on_the_map_zoom_in(browser, big):
    page = open_page(browser, big.url, big.tokens["alice"], has_touch=True)
    fit = scale(page)
    x, y = centre(page.locator("#map").bounding_box())
    touch = page.context.new_cdp_session(page)

    def fingers(kind: str, apart: float) -> None:
        points = (
            []
            if kind == "touchEnd"
            else [
                {"x": x - apart, "y": y, "id": 1},
                {"x": x + apart, "y": y, "id": 2},
            ]
        )
        touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    fingers("touchStart", 20)
    for apart in range(30, 130, 10):
        fingers("touchMove", apart)
    fingers("touchEnd", 0)
    # Touch moves reach the page's script aligned to its animation frames, after the browser
    # has acknowledged them: two frames later it has handled every one. (A loaded CI run once
    # read 1.7 where 6.0 was due, most likely before the page had handled the last moves.)
    page.evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )
    assert scale(page) == pytest.approx(fit * 120 / 20, rel=0.1)
    page.context.close()


def test_a_screenshot_of_a_2000_seat_hall(page, big, tmp_path):
    """Saves seat-map-hall.png under the test's temporary directory (it is
    docs/seat-map-hall.png): alice's page at first sight, the whole hall in a 1280x800 window,
    the stage at the front; bob has booked a block of Stalls rows D-E and holds seats in the
    Circle, Stalls row J seats 20-31 are not on sale, alice holds Stalls G14-G17."""
    bob = [str(50 * row + n) for row in (3, 4) for n in range(18, 34)]
    big.request("POST", "/v1/lock", {"seats": bob}, "bob")
    big.request("POST", "/v1/confirm", {"seats": bob}, "bob")
    big.request(
        "POST", "/v1/lock", {"seats": [str(1200 + 50 * 2 + n) for n in range(5, 15)]}, "bob"
    )
    blocked = [str(50 * 9 + n) for n in range(20, 32)]
    assert run_process("--db", big.db, "block", *blocked).code == 0
    big.request("POST", "/v1/lock", {"seats": [str(300 + n) for n in range(14, 18)]}, "alice")
    expect(seat(page, "317")).to_have_attribute("data-mine", "true", timeout=WAIT)
    expect(seat(page, blocked[-1])).to_have_attribute("data-status", "blocked", timeout=WAIT)
    expect(page.locator("#mine")).to_have_text("Stalls G14\u2013G17")
    page.mouse.move(0, 0)
    shot = tmp_path / "seat-map-hall.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# --- 20,000 seats at their positions, from a stand-in stream ---------------------------------


def test_20000_seats_are_drawn_at_their_positions_and_a_change_repaints_them(browser, big):
    # The times (the 1 s to draw, 50 ms to repaint) are figures, printed here and
    # reported in docs/performance.md, not a bound a loaded machine could fail.
    draws, changes = 2, 4
    # The benchmark's stand-in stream (case 11): the snapshot, then each change in an answer of
    # its own (one repaint each); here the snapshot is answered twice (two draws).
    answers = stream_answers(20_000, changes)
    answers.insert(0, answers[0])

    def stream(route: object) -> None:
        if answers:  # then no answer at all: a stream that stays open and quiet
            body = answers.pop(0)
            route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)  # type: ignore[attr-defined]

    context = browser.new_context(viewport=WINDOW, **PLACE)
    context.route("**/v1/stream*", stream)
    page = context.new_page()
    page.goto(big.url)
    page.fill("#token", big.tokens["alice"])
    page.click("#signin button[type=submit]")
    # Waited for with wait_for_selector, not expect(): expect's polling ran about 0.8 s of
    # Playwright's own script in the page right after each big redraw (a Chromium trace: one
    # DevTools message, 870 ms of microtasks), and the page's clock, which stops at the first
    # task after the next frame, counted it as drawing time (1.3 s instead of 0.5 s).
    page.wait_for_selector(f'#map[data-changes="{changes}"]', state="attached", timeout=60_000)
    timings = page.evaluate("window.seatmapTimings")
    drawn_ms = [t["ms"] for t in timings["draws"] if t["seats"] == 20_000]
    repainted = [t["ms"] for t in timings["changes"]]
    assert page.locator("#map").get_attribute("data-layout") == "positions"
    # Row 1 curves round the stage (at the top): its ends come further forward than its middle.
    end, middle, other_end = (seat(page, n).bounding_box() for n in ("1", "100", "200"))
    assert end["x"] < middle["x"] < other_end["x"]
    assert end["y"] < middle["y"] and end["y"] == pytest.approx(other_end["y"], abs=1)
    assert inside(page.locator("#canvas").bounding_box(), page.locator("#map").bounding_box())
    expect(seat(page, str(changes))).to_have_attribute("data-status", "locked")
    context.close()
    figures = (
        f"20,000 seats drawn in {[round(ms) for ms in drawn_ms]} ms,"
        f" a change repainted in {[round(ms) for ms in repainted]} ms"
    )
    print(figures)
    assert len(drawn_ms) == draws and len(repainted) == changes, figures

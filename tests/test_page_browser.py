"""The seat-map page in a real browser: Playwright driving Debian's Chromium against the real
`seatctl serve` process. Two browser contexts are two people (alice on page
A, bob on page B) with their own tokens and session storage.

Skipped, with the reason, where Chromium (/usr/bin/chromium, `apt-get install -y chromium`) or
the `playwright` package is missing; .ci/run installs both. Playwright's own browser download
(`playwright install`) is never used: the machine may have no internet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import run_process
from seatctl import Venue
from serving import ServerProcess

# Alone: a browser and a server per test, and waits measured against the clock.
pytestmark = pytest.mark.alone

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"the browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)",
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
# Seats 1-8 in Stalls row A, 9-14 in row B (no seats 4 and 5 there: an aisle), 15-20 in the
# Circle, and two boxes without a row or number.
HALL = "label,section,row,number,category\n" + "".join(
    [
        *(f"{n},Stalls,A,{n},premium\n" for n in range(1, 9)),
        *(f"{9 + i},Stalls,B,{number},premium\n" for i, number in enumerate([1, 2, 3, 6, 7, 8])),
        *(f"{n},Circle,A,{n - 14},standard\n" for n in range(15, 21)),
        "Box-1,Boxes,,,box\n",
        "Box-2,Boxes,,,box\n",
    ]
)
WAIT = 10_000  # ms: an upper bound for what needs no spec'd bound (a page loading, say)
SPEC = 1_000  # ms: the bound for a change to reach the other page


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Hall:
    """A mapped venue served by `seatctl serve`, with a token for alice and one for bob."""

    def __init__(self, db: str, tmp_path: Path, *serve_args: str) -> None:
        path = tmp_path / "hall.csv"
        path.write_text(HALL)
        Venue.init(db, seat_map=str(path))
        with Venue.open(db) as venue:
            self.tokens = {user: venue.add_token(user)[0] for user in ("alice", "bob")}
        self.db = db
        self.server = ServerProcess(db, *serve_args)
        self.url = f"http://127.0.0.1:{self.server.port}/"

    def request(self, method: str, path: str, body: object, user: str) -> object:
        status, answer = self.server.request(method, path, body, token=self.tokens[user])
        assert status == 200, answer
        return answer


@pytest.fixture
def hall(db_path: str, tmp_path: Path) -> Iterator[Hall]:
    served = Hall(db_path, tmp_path)
    with served.server:
        yield served
        assert served.server.stop() == 0
        # Pages coming and going (streams cut mid-way) are normal life: nothing to log.
        assert served.server.all_stderr() == served.server.ready_line


def signed_in(browser: object, hall: Hall, user: str) -> object:
    """A page of a fresh browser context (its own storage), signed in as `user`, live."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(hall.url)
    page.fill("#token", hall.tokens[user])
    page.click("#signin button[type=submit]")
    expect(page.locator("#user")).to_have_text(user, timeout=WAIT)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=WAIT)
    return page


def seat(page: object, label: str) -> object:
    return page.locator(f'button.seat[data-seat="{label}"]')  # type: ignore[attr-defined]


@pytest.fixture
def pages(browser: object, hall: Hall) -> Iterator[tuple[object, object]]:
    a = signed_in(browser, hall, "alice")
    b = signed_in(browser, hall, "bob")
    yield a, b
    a.context.close()
    b.context.close()


def test_a_lock_reaches_the_other_page_within_a_second_and_the_other_cannot_take_it(hall, pages):
    a, b = pages
    seat(b, "3").click()  # bob chooses seat 3 too, but alice is quicker
    expect(seat(b, "3")).to_have_attribute("aria-pressed", "true")
    seat(a, "3").click()
    with a.expect_response("**/v1/lock") as locked:
        a.click("#lock")
    assert locked.value.status == 200
    expect(seat(b, "3")).to_have_attribute("data-status", "locked", timeout=SPEC)
    expect(seat(a, "3")).to_have_attribute("data-mine", "true", timeout=SPEC)
    expect(seat(b, "3")).to_have_attribute("data-mine", "false")

    with b.expect_response("**/v1/lock") as refused:
        b.click("#lock")
    assert refused.value.status == 409
    expect(b.locator("#notice")).to_contain_text("Refused: seat 3 is locked by alice until")
    expect(seat(b, "3")).to_have_class("seat refused")
    with Venue.open(hall.db) as venue:
        assert venue.seats()[2].locked_by == "alice"

    with a.expect_response("**/v1/confirm") as confirmed:
        a.click("#confirm")
    assert confirmed.value.status == 200
    expect(seat(b, "3")).to_have_attribute("data-status", "booked", timeout=SPEC)
    expect(seat(a, "3")).to_have_attribute("data-status", "booked", timeout=SPEC)
    expect(a.locator("#notice")).to_have_text("Booked seat 3.")


def test_a_seat_taken_by_someone_else_cannot_be_selected_and_the_page_says_why(hall, pages):
    _, b = pages
    hall.request("POST", "/v1/lock", {"seats": ["6"]}, "alice")
    expect(seat(b, "6")).to_have_attribute("data-status", "locked", timeout=WAIT)
    seat(b, "6").click()
    expect(seat(b, "6")).to_have_attribute("aria-pressed", "false")
    expect(b.locator("#notice")).to_contain_text(
        "Seat 6 (section Stalls, row A): locked by alice until"
    )
    expect(b.locator("#notice")).to_contain_text("it cannot be selected")


def test_a_short_lock_runs_out_and_both_pages_show_the_seat_available_without_a_reload(hall, pages):
    a, b = pages
    for page in pages:
        page.evaluate("window.notReloaded = true")
    hall.request("POST", "/v1/lock", {"seats": ["5"], "ttl": 4}, "alice")
    expect(seat(a, "5")).to_have_attribute("data-mine", "true", timeout=WAIT)
    expect(seat(b, "5")).to_have_attribute("data-status", "locked", timeout=WAIT)
    expect(a.locator("#countdown")).to_have_text(re.compile(r"^expires in 0:0[1-4]$"))
    # The lock ends 4 s after it was taken; the stream tells within 1 s of the deadline.
    for page in pages:
        expect(seat(page, "5")).to_have_attribute("data-status", "available", timeout=WAIT)
        assert page.evaluate("window.notReloaded") is True
    expect(a.locator("#countdown")).to_have_text("")
    expect(a.locator("#confirm")).to_be_disabled()


def test_a_lock_from_the_command_line_appears_on_both_pages(hall, pages):
    run = run_process("--db", hall.db, "lock", "7", "--user", "carol")
    assert run.code == 0, run.err
    for page in pages:
        # The stream's bound for another process's change is 0.5 s; the page draws at once.
        expect(seat(page, "7")).to_have_attribute("data-status", "locked", timeout=2 * SPEC)
        expect(seat(page, "7")).to_have_attribute(
            "aria-label", re.compile(r"^Seat 7 \(section Stalls, row A\): locked by carol until ")
        )


def test_best_seats_together_are_locked_from_the_page(hall, pages):
    a, b = pages
    a.fill("#best-count", "3")
    a.select_option("#best-section", "Circle")
    with a.expect_response("**/v1/lock") as locked:
        a.click("#lock-best")
    assert locked.value.status == 200
    held = [seat["seat"] for seat in locked.value.json()["seats"]]
    assert len(held) == 3 and all(15 <= int(label) <= 20 for label in held)
    for label in held:
        expect(seat(a, label)).to_have_attribute("data-mine", "true", timeout=SPEC)
        expect(seat(b, label)).to_have_attribute("data-status", "locked", timeout=SPEC)
    expect(a.locator("#mine")).to_have_text("Seats " + ", ".join(held))


def test_release_gives_the_seats_back_on_both_pages(hall, pages):
    a, b = pages
    hall.request("POST", "/v1/lock", {"seats": ["1", "2"]}, "alice")
    expect(seat(b, "2")).to_have_attribute("data-status", "locked", timeout=WAIT)
    expect(a.locator("#release")).to_be_enabled()
    a.click("#release")
    for page in pages:
        for label in ("1", "2"):
            expect(seat(page, label)).to_have_attribute("data-status", "available", timeout=SPEC)
    expect(a.locator("#mine")).to_have_text("none")


def test_the_page_is_used_with_the_keyboard_alone(hall, pages):
    a, _ = pages
    focused = "document.activeElement.dataset.seat || document.activeElement.id"
    for _ in range(10):  # from the top of the page: the event, sign out, then the map
        a.keyboard.press("Tab")
        if a.evaluate(focused) == "1":
            break
    assert a.evaluate(focused) == "1"
    outline = a.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # the focus is visible
    a.keyboard.press("Enter")
    a.keyboard.press("ArrowRight")
    assert a.evaluate(focused) == "2"
    a.keyboard.press("Space")
    expect(seat(a, "2")).to_have_attribute("aria-pressed", "true")
    a.keyboard.press("ArrowDown")  # row B, number 2: seat 10
    assert a.evaluate(focused) == "10"
    a.keyboard.press("End")
    assert a.evaluate(focused) == "14"
    a.keyboard.press("Tab")  # one seat of the map is in the Tab order: on to the actions
    assert a.evaluate(focused) == "lock"
    a.keyboard.press("Enter")
    expect(seat(a, "1")).to_have_attribute("data-mine", "true", timeout=WAIT)
    expect(seat(a, "2")).to_have_attribute("data-mine", "true", timeout=WAIT)


def test_at_200_percent_zoom_only_the_map_scrolls_sideways(browser, hall):
    # 200% zoom of a 1280-pixel window lays the page out in 640 CSS pixels.
    context = browser.new_context(viewport={"width": 640, "height": 720})
    page = context.new_page()
    page.goto(hall.url)
    page.fill("#token", hall.tokens["alice"])
    page.click("#signin button[type=submit]")
    expect(seat(page, "1")).to_be_visible(timeout=WAIT)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]
    for control in ("#lock", "#lock-best", "#confirm", "#release", "#event", "#signout"):
        box = page.locator(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 640
    context.close()


def test_the_token_stays_in_the_tab_and_out_of_every_address(browser, hall, pages):
    a, _ = pages
    token = hall.tokens["alice"]
    assert token not in a.url
    assert a.evaluate("sessionStorage.getItem('seatctl.token')") == token
    assert a.evaluate("localStorage.length") == 0
    other = browser.new_context()  # another browser profile: not signed in
    page = other.new_page()
    page.goto(hall.url)
    expect(page.locator("#signin")).to_be_visible(timeout=WAIT)
    other.close()


def test_an_unknown_token_is_refused_in_words(browser, hall):
    context = browser.new_context()
    page = context.new_page()
    page.goto(hall.url)
    page.fill("#token", "stk_not-a-real-token")
    page.click("#signin button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text(
        "That token is not valid (unknown, revoked or expired)."
    )
    assert page.evaluate("sessionStorage.length") == 0
    context.close()


def test_a_screenshot_of_the_map_in_every_state(hall, pages, tmp_path):
    """Saves seat-map.png under the test's temporary directory (kept as a CI artefact): bob's
    page over the map of Stalls (rows A and B; B has an aisle where numbers 4 and 5 would
    be), Circle, and Boxes (two seats without a number, shown by label). Each button shows the
    seat's number in its row. Stalls A 1 and 2 are booked by alice (red, B), A 3 and 4 locked
    by alice (yellow, dashed, L), B 3 (seat 11) locked by bob himself (blue, double border, Y),
    Circle 6 (seat 20) blocked (grey, dotted, X), Stalls A 8 selected (ringed, a check mark);
    the rest available (green, no letter). Under the map: the selection, best available, bob's
    lock with its countdown, and the legend of colours and letters."""
    _, b = pages
    hall.request("POST", "/v1/lock", {"seats": ["1", "2", "3", "4"]}, "alice")
    hall.request("POST", "/v1/confirm", {"seats": ["1", "2"]}, "alice")
    hall.request("POST", "/v1/lock", {"seats": ["11"]}, "bob")
    assert run_process("--db", hall.db, "block", "20").code == 0
    seat(b, "8").click()
    expect(seat(b, "20")).to_have_attribute("data-status", "blocked", timeout=WAIT)
    expect(seat(b, "11")).to_have_attribute("data-mine", "true", timeout=WAIT)
    expect(seat(b, "2")).to_have_attribute("data-status", "booked", timeout=WAIT)
    expect(seat(b, "4")).to_have_attribute("data-status", "locked", timeout=WAIT)
    b.mouse.move(0, 0)  # no hover effect in the picture
    shot = tmp_path / "seat-map.png"
    b.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert seat(b, "2").locator(".mark").inner_text() == "B"
    assert seat(b, "4").locator(".mark").inner_text() == "L"
    assert seat(b, "11").locator(".mark").inner_text() == "Y"
    assert seat(b, "20").locator(".mark").inner_text() == "X"
    assert seat(b, "8").locator(".mark").inner_text() == "\u2713"
    assert seat(b, "9").locator(".mark").inner_text() == ""


def test_the_event_is_chosen_from_the_list_or_the_address(browser, hall):
    assert run_process("--db", hall.db, "event", "add", "gala", "--title", "Gala night").code == 0
    assert run_process("--db", hall.db, "lock", "3", "--user", "carol", "--event", "gala").code == 0
    context = browser.new_context()
    page = context.new_page()
    page.goto(hall.url + "?event=gala")
    page.fill("#token", hall.tokens["alice"])
    page.click("#signin button[type=submit]")
    expect(page.locator("#event")).to_have_value("gala", timeout=WAIT)
    expect(seat(page, "3")).to_have_attribute("data-status", "locked", timeout=WAIT)
    page.select_option("#event", "default")
    expect(seat(page, "3")).to_have_attribute("data-status", "available", timeout=WAIT)
    assert page.url.endswith("?event=default")
    assert hall.tokens["alice"] not in page.url
    context.close()


def test_a_server_without_tokens_gets_a_name_instead(browser, db_path, tmp_path):
    served = Hall(db_path, tmp_path, "--no-auth")
    with served.server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(served.url)
        expect(page.locator("#name")).to_be_visible(timeout=WAIT)
        expect(page.locator("#token")).to_be_hidden()
        page.fill("#name", "dora")
        page.click("#signin button[type=submit]")
        expect(page.locator("#user")).to_have_text("dora", timeout=WAIT)
        seat(page, "4").click()
        page.click("#lock")
        expect(seat(page, "4")).to_have_attribute("data-mine", "true", timeout=WAIT)
        context.close()
    with Venue.open(db_path) as venue:
        assert venue.seats()[3].locked_by == "dora"


def seat_object(label: str, status: str = "available", **fields: object) -> dict[str, object]:
    return {
        "seat": label,
        "status": status,
        "locked_by": None,
        "expires_at": None,
        "booked_by": None,
        "booked_at": None,
        "section": "Stalls",
        "row": "A",
        "number": int(label),
        "category": None,
        **fields,
    }


@pytest.mark.sqlite_only  # the stream is a stand-in: the backend plays no part
def test_the_page_parses_the_stream_and_resumes_after_the_last_event_id(browser, hall):
    """The page against a stand-in stream (the real one is tested in its own tests): CRLF
    line ends, comments, data over two lines, unknown events and keys; when the answer ends,
    the page reconnects with the last id it was given and its token, in headers."""
    import json

    asked: list[dict[str, str]] = []
    snapshot = json.dumps(
        {
            "event": "default",
            "now": "2026-01-01T12:00:00Z",
            "seats": [seat_object(str(n)) for n in range(1, 5)],
        }
    )
    locked = seat_object("3", "locked", locked_by="zed", expires_at="2999-01-01T00:00:00Z")
    head, tail = json.dumps({**locked, "held_since": None}).split(", ", 1)
    first = (
        ": keep-alive\r\n\r\n"
        f"event: snapshot\r\nid: 6\r\ndata: {snapshot}\r\n\r\n"
        "event: news\r\ndata: {}\r\n\r\n"
        f"event: seat\r\nid: 7\r\ndata: {head},\r\ndata: {tail}\r\n\r\n"
        "id: 7:1767268800\r\n\r\n"
    )
    booked = json.dumps(seat_object("4", "booked", booked_by="zed"))
    later = f"event: seat\nid: 8\ndata: {booked}\n\n"

    def stream(route: object) -> None:
        asked.append(route.request.headers)  # type: ignore[attr-defined]
        body = first if len(asked) == 1 else later
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)  # type: ignore[attr-defined]

    context = browser.new_context()
    context.route("**/v1/stream*", stream)
    page = context.new_page()
    page.goto(hall.url)
    page.fill("#token", hall.tokens["alice"])
    page.click("#signin button[type=submit]")
    expect(seat(page, "3")).to_have_attribute(
        "aria-label", re.compile("locked by zed"), timeout=WAIT
    )
    expect(seat(page, "4")).to_have_attribute("data-status", "booked", timeout=WAIT)
    assert "last-event-id" not in asked[0]
    assert asked[1]["last-event-id"] == "7:1767268800"
    assert asked[1]["authorization"] == f"Bearer {hall.tokens['alice']}"
    context.close()

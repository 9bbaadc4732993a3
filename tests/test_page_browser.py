"""The seat-map page in a real browser: Playwright driving Debian's Chromium against the real
`seatctl serve` process. Two browser contexts are two people (alice on page
A, bob on page B) with their own tokens and session storage.

Skipped, with the reason, where Chromium (tests/browsing.py says which) or
the `playwright` package is missing; .ci/run installs both. Playwright's own browser download
(`playwright install`) is never used: the machine may have no internet.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from browsing import PLACE, WAIT, browser, expect, seat
from helpers import run_process
from seatctl import Venue
from serving import ServerProcess

__all__ = ["browser"]  # the module's Chromium, shared by its tests

# One group, beside other tests: a browser of its own and a server per test is all most of these
# need. The tests that hold the page to the bound (SPEC: a change on the other page
# within a second) are timed, and run `alone`.
pytestmark = pytest.mark.xdist_group("page_browser")

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
SPEC = 1_000  # ms: the bound for a change to reach the other page
TIME = r"\d\d:\d\d:\d\d"  # a deadline's time of day, as the page writes it
DAY = r"[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} "  # its day, written when it is not today


def local(instant: str) -> str:
    """A pattern of an instant of the API as the page shows it: the time of day in Paris,
    after its day there if the page deems that not today (a deadline past midnight)."""
    at = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    at = at.astimezone(ZoneInfo(PLACE["timezone_id"]))
    return f"({at:%a} {at.day} {at:%b} )?{at:%H:%M:%S}"


class Hall:
    """A mapped venue served by `seatctl serve`, with a token for alice and one for bob."""

    def __init__(self, db: str, tmp_path: Path, *serve_args: str) -> None:
        path = tmp_path / "hall.csv"
        path.write_text(HALL)
        # No fair-hold cap short of a day: a hold may end tomorrow (test_..._another_day_...).
        Venue.init(db, seat_map=str(path), max_hold=86_400)
        with Venue.open(db) as venue:
            # Box-office staff: the page as staff see it, every holder named (a buyer's page
            # names no one else: test_a_buyers_page_names_nobody_else).
            staff = ("alice", "bob")
            self.tokens = {user: venue.add_token(user, role="staff")[0] for user in staff}
            self.tokens["carol"] = venue.add_token("carol")[0]  # a buyer
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


def signed_in(browser: object, hall: Hall, user: str, settable_clock: bool = False) -> object:
    """A page of a fresh browser context (its own storage), signed in as `user`, live; with
    `settable_clock`, the page's clock runs at its normal pace but the test may set it."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, **PLACE)  # type: ignore[attr-defined]
    page = context.new_page()
    if settable_clock:
        page.clock.install()
    page.goto(hall.url)
    page.fill("#token", hall.tokens[user])
    page.click("#signin button[type=submit]")
    expect(page.locator("#user")).to_have_text(user, timeout=WAIT)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=WAIT)
    return page


@pytest.fixture
def pages(browser: object, hall: Hall) -> Iterator[tuple[object, object]]:
    a = signed_in(browser, hall, "alice")
    b = signed_in(browser, hall, "bob")
    yield a, b
    a.context.close()
    b.context.close()


@pytest.mark.alone  # timed: a change within SPEC
def test_a_buyers_page_names_nobody_else(browser, hall):
    hall.request("POST", "/v1/lock", {"seats": ["3"]}, "alice")
    carol = signed_in(browser, hall, "carol")
    expect(seat(carol, "3")).to_have_attribute("data-status", "locked", timeout=WAIT)
    label = seat(carol, "3").get_attribute("aria-label") or ""
    assert "locked" in label and "alice" not in label
    assert "alice" not in carol.content()


def test_a_lock_reaches_the_other_page_within_a_second_and_a_booking_too(hall, pages):
    a, b = pages
    seat(a, "3").click()
    seat(a, "4").click()
    expect(a.locator("#selected")).to_have_text("Stalls A3\u2013A4")
    with a.expect_response("**/v1/lock") as locked:
        a.click("#lock")
    assert locked.value.status == 200
    until = local(locked.value.json()["seats"][0]["expires_at"])
    expect(a.locator("#notice")).to_have_text(
        re.compile(f"^Locked Stalls A3\u2013A4 for you until {until}\\.$")
    )
    expect(seat(b, "3")).to_have_attribute("data-status", "locked", timeout=SPEC)
    expect(seat(a, "3")).to_have_attribute("data-mine", "true", timeout=SPEC)
    expect(seat(b, "3")).to_have_attribute("data-mine", "false")
    expect(a.locator("#mine")).to_have_text("Stalls A3\u2013A4")

    with a.expect_response("**/v1/confirm") as confirmed:
        a.click("#confirm")
    assert confirmed.value.status == 200
    expect(seat(b, "3")).to_have_attribute("data-status", "booked", timeout=SPEC)
    expect(seat(a, "3")).to_have_attribute("data-status", "booked", timeout=SPEC)
    expect(a.locator("#notice")).to_have_text("Booked Stalls A3\u2013A4.")


@pytest.mark.alone  # timed: a change within SPEC
def test_a_seat_someone_else_locks_drops_out_of_the_selection_with_a_notice(hall, pages):
    _, b = pages
    seat(b, "3").click()
    seat(b, "4").click()
    expect(b.locator("#selected")).to_have_text("Stalls A3\u2013A4")
    hall.request("POST", "/v1/lock", {"seats": ["3"]}, "alice")
    expect(seat(b, "3")).to_have_attribute("aria-pressed", "false", timeout=SPEC)
    expect(b.locator("#notice")).to_have_text(
        "Stalls A3 was just locked by alice and is no longer selected."
    )
    expect(b.locator("#selected")).to_have_text("Stalls A4")
    expect(b.locator("#lock")).to_be_enabled()


@pytest.mark.alone  # timed: a change within SPEC
def test_a_refusal_names_seats_as_the_map_does_with_local_times_until_it_no_longer_holds(
    hall, pages
):
    """Alice takes row B seat 3 (label 11) just as bob asks for it: his lock is refused."""
    _, b = pages
    taken: list[object] = []

    def alice_first(route: object) -> None:
        taken.append(hall.request("POST", "/v1/lock", {"seats": ["11"]}, "alice"))
        route.continue_()  # type: ignore[attr-defined]

    seat(b, "11").click()
    b.route("**/v1/lock", alice_first)
    with b.expect_response("**/v1/lock") as refused:
        b.click("#lock")
    assert refused.value.status == 409
    until = local(taken[0]["seats"][0]["expires_at"])  # type: ignore[index]
    expect(b.locator("#notice")).to_have_text(
        re.compile(f"^Refused: Stalls B3 is locked by alice until {until}\\.$"), timeout=SPEC
    )
    expect(seat(b, "11")).to_have_class("seat refused")
    hall.request("POST", "/v1/release", {"seats": ["11"]}, "alice")
    expect(b.locator("#notice")).to_have_text("", timeout=SPEC)
    expect(seat(b, "11")).to_have_class("seat")


def lock_best(page: object, count: int, section: str) -> object:
    """Asks the page for the best `count` seats in `section`: the server's answer."""
    page.fill("#best-count", str(count))  # type: ignore[attr-defined]
    page.select_option("#best-section", section)  # type: ignore[attr-defined]
    with page.expect_response("**/v1/lock") as answer:  # type: ignore[attr-defined]
        page.click("#lock-best")  # type: ignore[attr-defined]
    return answer.value


def test_a_refusal_of_best_seats_is_in_the_pages_words(hall, pages):
    a, _ = pages
    assert lock_best(a, 9, "Stalls").status == 409
    expect(a.locator("#notice")).to_have_text(
        "Refused: There are no 9 seats together in section Stalls (14 available, at most 8"
        " together); tick \u201capart if need be\u201d to take seats apart."
    )


def test_a_seat_taken_by_someone_else_cannot_be_selected_and_the_page_says_why(hall, pages):
    _, b = pages
    hall.request("POST", "/v1/lock", {"seats": ["6"]}, "alice")
    expect(seat(b, "6")).to_have_attribute("data-status", "locked", timeout=WAIT)
    seat(b, "6").click()
    expect(seat(b, "6")).to_have_attribute("aria-pressed", "false")
    expect(b.locator("#notice")).to_have_text(
        re.compile(r"^Stalls A6 is locked by alice until \d\d:\d\d:\d\d: it cannot be selected\.$")
    )


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


def test_your_own_lock_running_out_is_told(hall, pages):
    a, _ = pages
    hall.request("POST", "/v1/lock", {"seats": ["3", "4"], "ttl": 2}, "alice")
    expect(a.locator("#mine")).to_have_text("Stalls A3\u2013A4", timeout=WAIT)
    expect(a.locator("#notice")).to_have_text(
        "Your hold on Stalls A3\u2013A4 ran out.", timeout=WAIT
    )
    expect(a.locator("#mine")).to_have_text("none")


def test_your_own_lock_running_out_is_told_after_this_computers_clock_was_set_back(browser, hall):
    """The page knows a lapse by the server's word (the stream's `expire`), not by its own
    clock: one set back after the page loaded (a laptop's clock corrected, or a page busy when
    its snapshot came) would take the lapse for a release, and say nothing."""
    page = signed_in(browser, hall, "alice", settable_clock=True)
    page.clock.set_system_time(time.time() - 5)  # type: ignore[attr-defined]
    hall.request("POST", "/v1/lock", {"seats": ["3", "4"], "ttl": 2}, "alice")
    expect(page.locator("#mine")).to_have_text("Stalls A3\u2013A4", timeout=WAIT)
    expect(page.locator("#notice")).to_have_text(
        "Your hold on Stalls A3\u2013A4 ran out.", timeout=WAIT
    )
    page.context.close()  # type: ignore[attr-defined]


def test_your_own_booking_has_its_own_letter_colour_and_name(hall, pages):
    a, b = pages
    hall.request("POST", "/v1/lock", {"seats": ["1", "2"]}, "alice")
    hall.request("POST", "/v1/confirm", {"seats": ["1"]}, "alice")
    expect(seat(a, "1")).to_have_attribute("data-status", "booked", timeout=WAIT)
    expect(seat(b, "1")).to_have_attribute("data-status", "booked", timeout=WAIT)
    expect(seat(a, "1")).to_have_attribute("aria-label", "Stalls A1: yours, booked")
    expect(seat(b, "1")).to_have_attribute("aria-label", "Stalls A1: booked by alice")
    assert seat(a, "1").get_attribute("data-mark") == "T"
    assert seat(b, "1").get_attribute("data-mark") == "B"
    colour = "el => getComputedStyle(el).backgroundColor"
    assert seat(a, "1").evaluate(colour) != seat(b, "1").evaluate(colour)
    assert seat(a, "1").evaluate(colour) != seat(a, "2").evaluate(colour)  # yours, locked


@pytest.mark.alone  # timed: a change within SPEC
def test_a_lock_from_the_command_line_appears_on_both_pages(hall, pages):
    run = run_process("--db", hall.db, "lock", "7", "--user", "carol")
    assert run.code == 0, run.err
    for page in pages:
        # The stream's bound for another process's change is 0.5 s; the page draws at once.
        expect(seat(page, "7")).to_have_attribute("data-status", "locked", timeout=2 * SPEC)
        # The page names the day too when the deadline falls on another one (past midnight).
        expect(seat(page, "7")).to_have_attribute(
            "aria-label", re.compile(f"^Stalls A7: locked by carol until ({DAY})?{TIME}$")
        )


def test_a_hold_that_ends_on_another_day_names_that_day(hall, pages):
    run = run_process("--db", hall.db, "lock", "8", "--user", "carol", "--ttl", "86400")
    assert run.code == 0, run.err
    a, _ = pages
    expect(seat(a, "8")).to_have_attribute(
        "aria-label",
        re.compile(f"^Stalls A8: locked by carol until {DAY}{TIME}$"),
        timeout=WAIT,
    )


@pytest.mark.alone  # timed: a change within SPEC
def test_best_seats_together_are_locked_from_the_page(hall, pages):
    a, b = pages
    locked = lock_best(a, 3, "Circle")
    assert locked.status == 200
    held = [seat["seat"] for seat in locked.json()["seats"]]
    assert len(held) == 3 and all(15 <= int(label) <= 20 for label in held)
    for label in held:
        expect(seat(a, label)).to_have_attribute("data-mine", "true", timeout=SPEC)
        expect(seat(b, label)).to_have_attribute("data-status", "locked", timeout=SPEC)
    expect(a.locator("#mine")).to_have_text(re.compile(r"^Circle A[1-6]\u2013A[1-6]$"))


@pytest.mark.alone  # timed: a change within SPEC
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
    """Saves seat-map.png under the test's temporary directory (kept as a CI artefact; it is
    docs/seat-map.png): bob's page over the map of Stalls (rows A and B; B has an aisle where
    numbers 4 and 5 would be), Circle, and Boxes (two seats without a number, shown by label),
    the stage at the front. Each seat shows its number in its row. Stalls A1 and A2 are booked
    by alice (red, B), A3 and A4 locked by alice (yellow, dashed, L), B3 locked by bob himself
    (blue, double border, Y), B6 booked by bob (purple, double border, T), Circle A6 blocked
    (grey, dotted, X), Stalls A8 selected (ringed, a check mark); the rest available (green, no
    letter). Above the map the legend and the zoom; under it the selection, best available,
    bob's seats with the countdown."""
    _, b = pages
    hall.request("POST", "/v1/lock", {"seats": ["1", "2", "3", "4"]}, "alice")
    hall.request("POST", "/v1/confirm", {"seats": ["1", "2"]}, "alice")
    hall.request("POST", "/v1/lock", {"seats": ["12"]}, "bob")
    hall.request("POST", "/v1/confirm", {"seats": ["12"]}, "bob")
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
    marks = {
        label: seat(b, label).get_attribute("data-mark")
        for label in ["2", "4", "11", "12", "20", "8", "9"]
    }
    assert marks == {"2": "B", "4": "L", "11": "Y", "12": "T", "20": "X", "8": "\u2713", "9": ""}
    assert seat(b, "11").inner_text() == "3\nY"  # the number in its row, then the letter
    stage = b.locator(".stage").bounding_box()
    assert b.locator(".stage").inner_text().lower() == "stage"
    assert stage is not None and stage["y"] + stage["height"] <= seat(b, "1").bounding_box()["y"]


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


def test_an_unknown_event_offers_the_known_ones_and_acts_on_nothing(browser, hall):
    assert run_process("--db", hall.db, "event", "add", "gala", "--title", "Gala night").code == 0
    context = browser.new_context(**PLACE)
    page = context.new_page()
    page.goto(hall.url + "?event=nope")
    page.fill("#token", hall.tokens["alice"])
    page.click("#signin button[type=submit]")
    expect(page.locator("#map-message")).to_contain_text(
        "There is no event \u201cnope\u201d here. Choose one of these:", timeout=WAIT
    )
    assert page.locator("#map-message a").all_inner_texts() == ["default", "gala - Gala night"]
    for control in ("#lock", "#lock-best", "#best-count", "#confirm", "#release"):
        expect(page.locator(control)).to_be_disabled()
    assert "nope" not in page.locator("#event").inner_text()
    assert page.locator("button.seat").count() == 0
    page.click("#map-message a >> text=gala - Gala night")
    expect(seat(page, "1")).to_be_visible(timeout=WAIT)
    expect(page.locator("#lock-best")).to_be_enabled()
    expect(page.locator("#event")).to_have_value("gala")
    assert page.url.endswith("?event=gala")
    context.close()


@pytest.mark.alone  # timed: a change within SPEC
def test_a_page_is_live_again_once_its_stream_resumes_after_a_server_restart(browser, hall):
    """A resumed stream (Last-Event-ID) sends no snapshot: the page is Live when it opens."""
    page = signed_in(browser, hall, "alice")
    asked: list[str | None] = []
    page.on(
        "request",
        lambda r: asked.append(r.headers.get("last-event-id")) if "/v1/stream" in r.url else None,
    )
    assert hall.server.stop() == 0
    expect(page.locator("#connection")).to_have_attribute("data-state", "down", timeout=WAIT)
    expect(page.locator("#connection")).to_have_text("Connection lost: reconnecting...")
    assert run_process("--db", hall.db, "lock", "7", "--user", "carol").code == 0
    with ServerProcess(hall.db, "--port", str(hall.server.port)) as again:
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=WAIT)
        expect(page.locator("#connection")).to_have_text("Live")
        expect(seat(page, "7")).to_have_attribute("data-status", "locked", timeout=SPEC)
        assert asked[-1] is not None  # it resumed: no snapshot came
        page.context.close()
        assert again.stop() == 0


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

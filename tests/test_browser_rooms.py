"""A room in a real browser (Debian's Chromium via Playwright): a closed tab and a reload come back to the same
seat, clock and drawing on every screen, and a stroke racing the end of a drawing never bothers the player.

Two players share one browser context here, as two tabs of one browser: a new tab on the room's link must
take the closed tab's seat, not the open one's.
"""

import json
import re
import time

import pytest

from tests.test_browser import LAPTOP, WAIT_MS, browser, draw_stroke, fit, pick, start_server  # noqa: F401

expect = pytest.importorskip("playwright.sync_api").expect

NEVER = 1.0  # a recognition threshold no drawing reaches: the round's drawings stay open
EASY = 0.0001  # one nearly any drawing of the word reaches (with RECOGNITION_TOP_GUESS false): it scores at once
TIME_LIMIT_S = 40  # long enough for a reload on a busy machine, short enough to tell a reset clock


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Rooms in the server process; nobody is ever recognized, so drawings stay open."""
    running = start_server(
        tmp_path_factory.mktemp("rooms") / "saved",
        time_limit_s=TIME_LIMIT_S,
        room_break_s=1,
        recognition_threshold=NEVER,
        first_stroke_threshold=NEVER,
    )
    yield running
    running.stop()


@pytest.fixture
def context(browser):  # noqa: F811
    """One browser context (shared storage, as the tabs of one browser) whose pages fail the test on an error."""
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(WAIT_MS)
    errors = []

    def watch(page):
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    context.on("page", watch)
    yield context
    context.close()
    assert not errors, f"errors on the pages: {errors}"


def join(page, url: str, name: str) -> str:
    """Join (or create) a room by name; returns its code."""
    page.goto(url)
    page.locator("#name").fill(name)
    page.locator("#join-form button").click()
    expect(page.locator("#lobby")).to_be_visible()
    return page.locator("#room-code").inner_text()


def wait_for_drawing(page) -> None:
    """Until the room has opened this player's drawing of the round (the canvas takes strokes)."""
    expect(page.locator("#play")).to_be_visible()
    page.wait_for_function("() => !document.getElementById('sketch').classList.contains('disabled')")


def start_room(context, server) -> tuple:
    """Ada creates a room, Bob follows its link in another tab, Ada starts: both are drawing round 1."""
    ada = context.new_page()
    code = join(ada, server.http + "/room", "Ada")
    bob = context.new_page()
    join(bob, f"{server.http}/room/{code}", "Bob")
    expect(ada.locator("#lobby-players li")).to_have_count(2)
    ada.get_by_role("button", name="Start the game").click()
    for page in (ada, bob):
        wait_for_drawing(page)
    return ada, bob, code


def seconds_left(page) -> int:
    return int(page.locator("#timer-text").inner_text())


def late_in_the_round(page) -> None:
    """Until the round's clock has run long enough that one started afresh would show it."""
    page.wait_for_function(
        "(s) => Number(document.getElementById('timer-text').textContent) <= s", arg=TIME_LIMIT_S - 6
    )


def ink(page) -> int:
    """How many pixels of the player's own canvas hold ink."""
    return page.evaluate("""() => { const c = document.getElementById('sketch');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++; return n; }""")


def line(page, row: float) -> list[tuple[float, float]]:
    """Eight points across the canvas at `row` (0..1 of its height)."""
    box = page.locator("#sketch").bounding_box()
    return [(box["x"] + box["width"] * (0.25 + i * 0.06), box["y"] + box["height"] * row) for i in range(8)]


def peer(page, player: str):
    return page.locator(f'.peer[data-player="{player}"]')


def test_a_reload_mid_round_keeps_the_clock_and_the_same_drawing_on_both_screens(context, server):
    ada, bob, _ = start_room(context, server)
    bob_id = bob.locator("#room").get_attribute("data-player")
    for row in (0.35, 0.65):
        draw_stroke(bob, line(bob, row))
    seen_by_ada = peer(ada, bob_id).locator("canvas")
    expect(seen_by_ada).to_have_attribute("data-strokes", "2")
    expect(bob.locator("#sketch")).to_have_attribute("data-strokes", "2")
    points = bob.locator("#sketch").get_attribute("data-points")
    late_in_the_round(bob)
    left, at = seconds_left(bob), time.monotonic()

    bob.reload()
    wait_for_drawing(bob)
    expect(bob.locator("#join")).to_be_hidden()  # the seat came back by itself
    assert bob.locator("#room").get_attribute("data-player") == bob_id
    # The round's clock, not a fresh one: about the time left before, less the reload.
    expected = left - (time.monotonic() - at)
    assert abs(seconds_left(bob) - expected) <= 2, (seconds_left(bob), expected)
    assert abs(seconds_left(bob) - seconds_left(ada)) <= 2
    # Bob's strokes are back on his canvas, and Ada sees the same drawing: cleared once, sent again whole.
    expect(bob.locator("#sketch")).to_have_attribute("data-strokes", "2")
    assert bob.locator("#sketch").get_attribute("data-points") == points
    assert ink(bob) > 0
    expect(seen_by_ada).to_have_attribute("data-strokes", "2", timeout=WAIT_MS)
    expect(seen_by_ada).to_have_attribute("data-points", points)
    # And the drawing goes on from there, on both screens.
    draw_stroke(bob, line(bob, 0.5))
    expect(bob.locator("#sketch")).to_have_attribute("data-strokes", "3")
    expect(seen_by_ada).to_have_attribute("data-strokes", "3")
    expect(seen_by_ada).to_have_attribute("data-points", bob.locator("#sketch").get_attribute("data-points"))
    expect(bob.locator("#notice")).to_be_hidden()


def score_with(page, simplified_drawings) -> None:
    """Draw a real drawing of round 1's word stroke by stroke until the network recognizes it (the server's
    threshold is low): not one stroke more, or it would land in the next round."""
    word = page.locator(".prompt-word").inner_text()
    drawing = pick(simplified_drawings, word)[0]
    for points in fit(drawing, page.locator("#sketch").bounding_box()):
        draw_stroke(page, points)
        try:
            expect(page.locator("#my-score")).not_to_have_text("· 0 points", timeout=3000)
            return
        except AssertionError:
            continue  # not yet: the next stroke
    pytest.fail(f"the drawing of {word!r} was not recognized")


def test_a_closed_tab_opened_again_takes_its_seat_back_with_its_score(context, simplified_drawings, tmp_path):
    easy = start_server(
        tmp_path / "saved",
        time_limit_s=TIME_LIMIT_S,
        room_break_s=1,
        recognition_threshold=EASY,
        first_stroke_threshold=EASY,
        recognition_top_guess=False,
    )
    try:
        ada, bob, code = start_room(context, easy)
        bob_id = bob.locator("#room").get_attribute("data-player")
        for page in (bob, ada):  # both recognized: round 1 ends at once, with points for each
            score_with(page, simplified_drawings)
        for page in (bob, ada):  # recognized mid-stroke: the stroke's last points came too late, and nobody says so
            expect(page.locator("#notice")).to_be_hidden()
        for page in (ada, bob):
            expect(page.locator("#prompt .prompt-round").first).to_have_text(re.compile(r"^2/"), timeout=WAIT_MS)
            wait_for_drawing(page)
        score = bob.locator("#my-score").inner_text()
        assert re.search(r"[1-9]\d* points", score), score
        bob_on_ada = peer(ada, bob_id).locator(".peer-name")
        expect(bob_on_ada).not_to_contain_text("away")

        bob.close()  # mid-round 2
        expect(bob_on_ada).to_contain_text("(away)", timeout=WAIT_MS)
        expect(peer(ada, bob_id).locator("canvas")).to_have_attribute("aria-label", re.compile(r"\(away\)"))

        late_in_the_round(ada)
        again = context.new_page()
        again.goto(f"{easy.http}/room/{code}")
        wait_for_drawing(again)  # a fresh drawing of round 2, on the round's clock
        expect(again.locator("#join")).to_be_hidden()
        assert again.locator("#room").get_attribute("data-player") == bob_id
        expect(again.locator("#my-score")).to_have_text(score)
        expect(bob_on_ada).not_to_contain_text("away")
        assert abs(seconds_left(again) - seconds_left(ada)) <= 2
        assert seconds_left(again) <= TIME_LIMIT_S - 5
        # Ada's tab is still Ada: a reload takes her own seat, not the one Bob's tab had.
        ada.reload()
        wait_for_drawing(ada)
        assert ada.locator("#room").get_attribute("data-player") != bob_id
    finally:
        for page in context.pages:  # before the server goes: a page left open would retry, and log errors
            page.close()
        easy.stop()


DRAWING_ENDED = {
    "type": "error",
    "code": "drawing_ended",
    "message": "the drawing has ended: this message came too late",
    "reply_to": None,
}
NOTICES = """document.addEventListener("DOMContentLoaded", () => {
    window.notices = [];
    const notice = document.getElementById("notice");
    new MutationObserver(() => notice.hidden || window.notices.push(notice.textContent))
        .observe(notice, { attributes: true, childList: true, characterData: true, subtree: true });
});"""


@pytest.mark.parametrize("path", ["/room", "/?mode=free"])
def test_the_refusal_of_a_late_stroke_is_never_shown(context, server, path):
    routes = []  # every page's socket passes through, so that the test can speak for the server
    context.route_web_socket("**/ws", lambda ws: (ws.connect_to_server(), routes.append(ws)))
    context.add_init_script(NOTICES)
    if path == "/room":
        pages = start_room(context, server)[:2]
    else:
        pages = [context.new_page()]
        pages[0].goto(server.http + path)
        expect(pages[0].locator("#connection")).to_have_attribute("data-state", "open")
    assert len(routes) == len(pages)
    refusal = {**DRAWING_ENDED, "code": "bad_field", "message": "a test's refusal"}
    for route in routes:
        route.send(json.dumps(DRAWING_ENDED))
        route.send(json.dumps(refusal))  # after it on the same socket: once this shows, the other was read
    for page in pages:
        expect(page.locator("#notice")).to_contain_text("a test's refusal")
        notices = page.evaluate("window.notices")
        assert len(notices) == 1 and "a test's refusal" in notices[0], notices


def test_strokes_sent_again_keep_to_the_servers_points_per_message(context, server):
    page = context.new_page()
    page.goto(server.http + "/room")
    sent = page.evaluate("""async () => {
        const { replay } = await import("/assets/js/messages.js");
        const row = (n) => Array.from({ length: n }, (_, i) => i);
        const long = [row(300), row(300), row(300)];
        return replay([[[1], [2], [0]], long], [row(5), row(5), row(5)], 128)
            .map((m) => [m.type, m.x?.length ?? 0]);
    }""")
    assert sent == [["stroke", 1], ["points", 128], ["points", 128], ["points", 44], ["stroke_end", 0], ["points", 5]]

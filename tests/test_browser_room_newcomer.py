"""A room for a newcomer (issue 23), at every viewport the suite uses: a round has a heading, a named timer and
the focus on the canvas, and axe finds nothing serious; Quit asks first and then leaves for good; Esc (or Clear)
can be undone; a win is said on the line, at once.

Two players share one browser context, as two tabs of one browser; phones and tablets draw and tap by touch.
"""

import re

import pytest

from tests.browsing import (  # noqa: F401  (the *_fixture are fixtures)
    EASY,
    NEVER,
    SIZES,
    assert_in_view,
    draw,
    open_context_fixture,
    press,
    touches,
)
from tests.test_browser import browser, fit, pick, serious_violations, start_server  # noqa: F401
from tests.test_browser_rooms import TIME_LIMIT_S, line, peer, start_room

expect = pytest.importorskip("playwright.sync_api").expect


def room_server(tmp_path_factory, threshold: float):
    return start_server(
        tmp_path_factory.mktemp("rooms") / "saved",
        time_limit_s=TIME_LIMIT_S,
        room_break_s=1,
        recognition_threshold=threshold,
        first_stroke_threshold=threshold,
        recognition_top_guess=False,  # the threshold alone decides
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Rooms in the server process; nobody is ever recognized, so drawings stay open."""
    running = room_server(tmp_path_factory, NEVER)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def easy_server(tmp_path_factory):
    """Rooms where nearly any drawing of the word is recognized at once."""
    running = room_server(tmp_path_factory, EASY)
    yield running
    running.stop()


@SIZES
def test_a_room_round_has_a_heading_a_named_timer_the_focus_and_nothing_serious_for_axe(
    open_context, server, width, height
):
    ada, bob, code = start_room(open_context(width, height), server)
    for page in (ada, bob):
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_have_count(1)
        expect(heading).to_have_text(f"Room {code}: round 1 of 6")
        expect(page.locator("#sketch")).to_be_focused()  # the round began: the canvas, not the document
        timer = page.get_by_role("timer")
        expect(timer).to_have_accessible_name(re.compile(r"^\d+ seconds? left$"))
        expect(timer).to_have_attribute("aria-live", "off")
        assert_in_view(page, "#prompt", "#timer", "#room-quit", "#sketch")  # all of it: touches land on it
    draw(bob, line(bob, 0.5))
    expect(bob.locator("#sketch")).to_have_attribute("data-strokes", "1")
    assert serious_violations(ada) == []  # mid-round, Bob's drawing beside Ada's canvas
    assert serious_violations(bob) == []


@SIZES
def test_quit_in_a_room_asks_first_then_leaves_and_the_seat_is_forgotten(open_context, server, width, height):
    ada, bob, code = start_room(open_context(width, height), server)
    bob_id = bob.locator("#room").get_attribute("data-player")
    dialog = bob.get_by_role("dialog", name="Leave this room?")
    press(bob, "#room-quit")
    expect(dialog).to_be_visible()
    expect(bob.locator("#quit-stay")).to_be_focused()  # the safe answer is the one at hand
    assert serious_violations(bob) == []
    bob.keyboard.press("Escape")  # no: Bob stays, and his drawing is not cleared by the Esc
    expect(dialog).to_be_hidden()
    expect(bob.locator("#play")).to_be_visible()
    expect(peer(ada, bob_id)).to_have_count(1)

    press(bob, "#room-quit")
    press(bob, "#quit-leave")
    expect(bob).to_have_url(re.compile(r"/room$"))
    expect(bob.locator("#join")).to_be_visible()
    seats = bob.evaluate(
        """(code) => [sessionStorage.getItem('quickdraw.room-seat.' + code),
        localStorage.getItem('quickdraw.room-seats.' + code)]""",
        code,
    )
    assert seats[0] is None and bob_id not in (seats[1] or "")  # forgotten: this tab and new tabs alike
    expect(peer(ada, bob_id)).to_have_count(0)  # and the room goes on without him


@SIZES
def test_a_clear_in_a_room_is_said_at_once_and_undo_brings_it_back_on_every_screen(open_context, server, width, height):
    ada, bob, _ = start_room(open_context(width, height), server)
    bob_id = bob.locator("#room").get_attribute("data-player")
    for row in (0.35, 0.65):
        draw(bob, line(bob, row))
    seen_by_ada = peer(ada, bob_id).locator("canvas")
    expect(seen_by_ada).to_have_attribute("data-strokes", "2")
    if touches(bob):
        press(bob, "#clear")
    else:
        bob.keyboard.press("Escape")
    expect(bob.locator("#sketch")).to_have_attribute("data-strokes", "0")
    expect(bob.locator("#guess-line")).to_have_text("Cleared. Undo brings it back.")
    expect(seen_by_ada).to_have_attribute("data-strokes", "0")
    if touches(bob):
        press(bob, "#undo")
    else:
        bob.keyboard.press("Control+z")
    expect(bob.locator("#sketch")).to_have_attribute("data-strokes", "2")
    expect(seen_by_ada).to_have_attribute("data-strokes", "2")  # the server has it back, and Ada sees it
    expect(bob.locator("#notice")).to_be_hidden()


@SIZES
def test_a_room_win_is_said_on_the_line_at_once(open_context, easy_server, simplified_drawings, width, height):
    ada, bob, _ = start_room(open_context(width, height), easy_server)
    word = bob.locator(".prompt-word").inner_text()
    said = bob.locator("#guess-line")
    bob.evaluate("""() => { window.wins = []; const banner = document.getElementById('banner');
        new MutationObserver(() => banner.textContent.startsWith('Oh') && window.wins.push(
            [banner.textContent, document.getElementById('guess-line').textContent]))
            .observe(banner, { childList: true, characterData: true, subtree: true }); }""")
    for drawn, points in enumerate(fit(pick(simplified_drawings, word)[0], bob.locator("#sketch").bounding_box()), 1):
        draw(bob, points)
        if bob.locator("#banner").is_visible():
            break  # recognized: not one stroke more
    expect(bob.locator("#sketch")).to_have_attribute("data-strokes", str(drawn))  # each stroke landed
    win = f"Oh, I know, it's {word}!"
    expect(bob.locator("#banner")).to_have_text(win)
    # The banner is for the eyes; the line (aria-live) says it too, in the same moment, and says it once.
    shown_and_said = {tuple(pair) for pair in bob.evaluate("window.wins")}
    assert shown_and_said == {(win, win)}, shown_and_said
    expect(said).to_have_text(win)
    expect(bob.locator("#banner")).to_have_attribute("aria-hidden", "true")

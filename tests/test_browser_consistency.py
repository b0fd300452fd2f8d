"""What a newcomer reads must agree with itself (issue 23): the prompt among the guesses is readable (and axe
finds nothing serious there), a game ended by Quit says "Game over" and "Not recognized" as the gallery does, also
after Back from a drawing's page, and a win after a server restart is timed on the clock the player saw.
"""

import json
import re

import pytest

from tests.browsing import (  # noqa: F401  (the *_fixture are fixtures)
    EASY,
    NEVER,
    SIZES,
    draw,
    game_server_fixture,
    open_context_fixture,
    open_page_fixture,
    press,
)
from tests.test_browser import (  # noqa: F401
    browser,
    contrast,
    fit,
    pick,
    serious_violations,
    short_line,
    start_server,
    wait_for_guess,
)

expect = pytest.importorskip("playwright.sync_api").expect


@SIZES
def test_the_prompt_among_the_guesses_is_readable_and_axe_finds_nothing_serious(
    open_page, game_server, simplified_drawings, width, height
):
    page = open_page(width, height)
    page.route("**/api/labels", lambda route: route.fulfill(json={"labels": ["house"]}))  # every prompt: house
    page.goto(game_server.http + "/")
    press(page, "#card-button")
    expect(page.locator(".prompt-word")).to_have_text("house")
    for points in fit(pick(simplified_drawings, "house", min_strokes=3)[0], page.locator("#sketch").bounding_box()):
        draw(page, points)
    target = page.locator("#guess-list .guess.target .guess-word")
    expect(target).to_have_text("house")  # the prompt, in green, among the guesses
    ink, paper = page.evaluate("""() => { const word = document.querySelector('#guess-list .guess.target .guess-word');
        let under = word; while (getComputedStyle(under).backgroundColor === 'rgba(0, 0, 0, 0)') under = under.parentElement;
        return [getComputedStyle(word).color, getComputedStyle(under).backgroundColor]; }""")
    assert contrast(ink, paper) >= 4.5, (ink, paper)
    assert serious_violations(page) == []


@SIZES
def test_quit_says_game_over_and_not_recognized_as_the_gallery_does_also_after_back(
    open_page, game_server, width, height
):
    page = open_page(width, height)
    page.goto(game_server.http + "/")
    press(page, "#card-button")
    expect(page.locator("body")).to_have_attribute("data-game", "drawing")
    word = page.locator(".prompt-word").inner_text()
    draw(page, short_line(page))
    wait_for_guess(page, 1, -1)
    press(page, "#quit")
    summary = page.locator("#summary")
    expect(page.locator("#summary-title")).to_have_text("Game over")
    tile = summary.locator(".summary-item")
    expect(tile.locator(".verdict")).to_have_text("✗ Not recognized")  # as the gallery and the drawing's page say
    expect(tile.locator(".net-guesses")).to_contain_text("Ended by Quit.")
    assert serious_violations(page) == []  # the summary
    link = tile.locator("a.tile-link")
    expect(link).to_have_count(1)  # saved: it links to its page
    press(page, "#summary a.tile-link")
    expect(page.locator("h1")).to_have_text(word)
    expect(page.locator(".detail-verdict .verdict")).to_have_text("✗ Not recognized")
    page.go_back()
    expect(summary).to_be_visible()
    expect(page.locator("#summary-title")).to_have_text("Game over")  # the same summary, not a judged one
    expect(tile.locator(".verdict")).to_have_text("✗ Not recognized")


TIME_LIMIT_S = 30


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["1280x800", "390x844"])
def test_a_win_after_a_server_restart_is_timed_on_the_clock_the_player_saw(open_page, tmp_path, width, height):
    """The first server never recognizes anything and goes away mid-round; the second (a restart: another
    secret, so it cannot carry the drawing on) starts the drawing again and recognizes it at once. The win card
    says the time the player's clock had run, not the time since the restart."""
    slow = {"recognition_threshold": NEVER, "first_stroke_threshold": NEVER}
    first = start_server(tmp_path / "saved", time_limit_s=TIME_LIMIT_S, **slow)
    second = None
    try:
        page = open_page(width, height, outage=True)
        page.goto(first.http + "/")
        press(page, "#card-button")
        expect(page.locator("body")).to_have_attribute("data-game", "drawing")
        word = page.locator(".prompt-word").inner_text()
        draw(page, short_line(page))
        wait_for_guess(page, 1, -1)
        page.wait_for_function(
            "(s) => Number(document.getElementById('timer-text').textContent) <= s", arg=TIME_LIMIT_S - 4
        )
        first.stop()
        expect(page.locator("#connection")).not_to_have_attribute("data-state", "open")
        easy = {"recognition_threshold": EASY, "first_stroke_threshold": EASY, "recognition_top_guess": False}
        second = start_server(tmp_path / "saved", port=first.port, time_limit_s=TIME_LIMIT_S, **easy)
        expect(page.locator("#card-title")).to_have_text(f"Oh, I know, it's {word}!", timeout=60_000)
        assert serious_violations(page) == []  # the win card
        left = int(page.locator("#timer-text").inner_text())  # the clock stopped at the win
        said = float(re.fullmatch(r"in (\d+\.\d) s", page.locator("#card-text").inner_text()).group(1))
        used = TIME_LIMIT_S - left  # the clock shows whole seconds, rounded up: it had run used to used + 1 s
        assert used - 0.3 <= said <= used + 1.3, (said, left)
        assert said >= 3.5  # the time before the restart counts
        # The round's tile links to the recognized drawing (the one the second server saved).
        press(page, "#quit")
        link = page.locator("#summary a.tile-link")
        expect(link).to_have_count(1)
        drawing_id = link.get_attribute("href").rsplit("/", 1)[1]
        record = json.loads((tmp_path / "saved" / f"{drawing_id}.ndjson").read_text())
        assert record["recognized"] is True and record["word"] == word
    finally:
        if second is not None:
            second.stop()
        first.stop()

"""How the game judges, as a player sees it (issue 22): a drawing whose top guess is the prompt but which is not
sure enough to win is told it is close, while drawing and when the time is up, never "couldn't guess it"."""

import pytest

from tests.browsing import NEVER, SIZES, draw, open_context_fixture, open_page_fixture, press  # noqa: F401
from tests.test_browser import browser, fit, pick, start_server  # noqa: F401

expect = pytest.importorskip("playwright.sync_api").expect

ALMOST = "Almost — it's my top guess, keep going."
ONE_STROKE_WORDS = ("cloud", "crown", "broom", "bed", "house", "hand")  # real drawings of one stroke exist


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A game whose rounds last 6 s and where one stroke never wins: the bar a lone stroke cannot reach."""
    running = start_server(tmp_path_factory.mktemp("judging") / "saved", time_limit_s=6, first_stroke_threshold=NEVER)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def one_stroke(server, simplified_drawings):
    """A real one-stroke drawing and its word, which the server ranks first for it."""
    for word in ONE_STROKE_WORDS:
        for drawing in pick(simplified_drawings, word, count=10, max_strokes=1):
            if server.guess(drawing)[0]["word"] == word:
                return word, drawing
    pytest.fail(f"no one-stroke drawing of {', '.join(ONE_STROKE_WORDS)} has its word on top")


@SIZES
def test_the_prompt_on_top_below_the_bar_is_almost_not_couldnt_guess_it(open_page, server, one_stroke, width, height):
    word, drawing = one_stroke
    page = open_page(width, height)
    page.route("**/api/labels", lambda route: route.fulfill(json={"labels": [word]}))  # every prompt: this word
    page.goto(server.http + "/")
    press(page, "#card-button")
    expect(page.locator(".prompt-word")).to_have_text(word)
    (stroke,) = fit(drawing, page.locator("#sketch").bounding_box())
    draw(page, stroke)
    expect(page.locator("#guess-list .guess:first-child .guess-word")).to_have_text(word)
    expect(page.locator("#guess-line")).to_have_text(ALMOST)  # said while the round goes on
    expect(page.locator("#guess-shown")).to_have_text(ALMOST)  # and shown
    card = page.locator("#card")
    expect(card).to_contain_text("Time's up", timeout=15_000)
    expect(card).to_contain_text("So close: it was my top guess, but I wasn't sure enough.")
    expect(card).not_to_contain_text("couldn't guess it")
    expect(page.locator("#guess-line")).to_contain_text("So close")

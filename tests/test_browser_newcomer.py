"""A newcomer's first minutes in the game (issue 23), in a real browser at every viewport the suite uses: the
intro never crowds out the game, the said line never names a stale guess, and the keyboard and a screen reader
find their way (Clear undoable, focus on the canvas, a named timer).

Phones and tablets draw and tap by touch; screenshots of a first visit go to test-artifacts/.
"""

import re

import pytest

from tests.browsing import (  # noqa: F401  (the *_fixture are fixtures)
    SAMPLER,
    SIZES,
    TOOLS,
    assert_in_view,
    draw,
    game_server_fixture,
    leader,
    named,
    open_context_fixture,
    open_page_fixture,
    press,
    probability,
    touches,
)
from tests.test_browser import (  # noqa: F401
    ARTIFACTS,
    browser,
    fit,
    pick,
    serious_violations,
    short_line,
    wait_for_guess,
)

expect = pytest.importorskip("playwright.sync_api").expect


@SIZES
def test_a_first_visit_keeps_the_game_in_view_and_one_got_it_dismisses_the_intro(
    open_page, game_server, simplified_drawings, width, height
):
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page(width, height, first_visit=True)
    page.goto(game_server.http + "/")
    intro = page.locator("#intro")
    expect(intro).to_be_visible()
    expect(intro).to_contain_text("saved and shown")
    expect(intro).to_contain_text("Quick, Draw! dataset")
    assert_in_view(page, "#prompt", "#intro", "#card-button", *TOOLS)  # the intro pushes nothing out of view
    page.screenshot(path=ARTIFACTS / f"first-visit-{width}x{height}-1-intro.png")
    assert serious_violations(page) == []

    press(page, "#card-button")  # one "Got it!" for the prompt and the intro
    expect(intro).to_be_hidden()
    expect(page.locator("#overlay")).to_be_hidden()
    expect(page.locator("#timer")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-game", "drawing")
    assert_in_view(page, "#prompt", "#timer", *TOOLS)
    page.screenshot(path=ARTIFACTS / f"first-visit-{width}x{height}-2-drawing.png")

    drawing = pick(simplified_drawings, "house", min_strokes=3)[0]
    seq = -1
    for k, points in enumerate(fit(drawing, page.locator("#sketch").bounding_box()), start=1):
        draw(page, points)
        seq = wait_for_guess(page, k, seq)
        expect(page.locator("#canvas-guess")).not_to_be_empty()
        assert_in_view(page, "#prompt", "#timer", leader(page), *TOOLS)
    page.screenshot(path=ARTIFACTS / f"first-visit-{width}x{height}-3-guesses.png")
    assert serious_violations(page) == []

    page.reload()  # the intro was seen: the next card comes without it
    expect(page.locator("#card-button")).to_be_visible()
    expect(intro).to_be_hidden()


def test_a_first_free_drawing_reads_the_intro_then_draws(open_page, game_server):
    page = open_page(1280, 800, first_visit=True)
    page.goto(game_server.http + "/?mode=free")
    expect(page.locator("#intro")).to_be_visible()
    assert page.locator("#sketch").evaluate("(c) => c.classList.contains('disabled')")
    page.locator("#card-button").click()
    expect(page.locator("#overlay")).to_be_hidden()
    expect(page.locator("#sketch")).to_be_focused()
    draw(page, short_line(page))
    wait_for_guess(page, 1, -1)


TEN_WORDS = ["cat", "house", "apple", "fish", "bicycle", "tree", "clock", "umbrella", "snail", "car"]


@SIZES
def test_over_ten_real_drawings_the_said_line_names_the_top_guess_or_nothing(
    open_page, game_server, simplified_drawings, width, height
):
    page = open_page(width, height)
    page.goto(game_server.http + "/?mode=free")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    labels = page.evaluate("async () => (await (await fetch('/api/labels')).json()).labels")
    page.evaluate(SAMPLER)
    for n, word in enumerate(TEN_WORDS):
        drawing = pick(simplified_drawings, word, min_strokes=2, max_strokes=8)[0]
        seq = -1
        for k, points in enumerate(fit(drawing, page.locator("#sketch").bounding_box()), start=1):
            draw(page, points)
            seq = wait_for_guess(page, k, seq)
        page.wait_for_timeout(300)
        if n % 2:
            press(page, "#clear")  # a clear, and the drawing after it, on the same line
            draw(page, short_line(page))
            wait_for_guess(page, 1, -1)
        press(page, "#new-drawing")
        expect(page.locator("#guess-list")).to_have_attribute("data-seq", "-1")  # a new drawing, no guess yet
    samples = page.evaluate("window.samples")
    assert len(samples) > 100
    saying = 0
    for sample in samples:
        words = named(sample["line"], labels)
        top = sample["bars"][0] if sample["bars"] else None
        assert len(words) <= 1, sample  # one guess at most: the top one
        if words:
            saying += 1
            assert top and words == [top[0]], sample  # the guess on top now, never a stale one
            assert sample["strokes"] >= 1, sample  # nothing named while the first stroke is drawn
            assert probability(top[1]) >= 0.25, sample  # nor a guess the net is not modestly sure of
    assert saying >= 10, "the line hardly ever named a guess"  # it does speak, calmly


# What the line and the bars show right after the page has handled a tap on Clear or the Esc key (the listener
# on the window runs after the page's own, in the same event).
AT_ONCE = """() => { const seen = (event) => {
    if (event.type === 'keydown' ? event.key !== 'Escape' : !event.target.closest('#clear')) return;
    window.atOnce = [document.getElementById('guess-line').textContent,
                     document.querySelectorAll('#guess-list .guess:not(.empty)').length]; };
    window.addEventListener('click', seen); window.addEventListener('keydown', seen); }"""


@SIZES
def test_a_clear_is_said_at_once_and_undo_brings_the_drawing_back(
    open_page, game_server, simplified_drawings, width, height
):
    page = open_page(width, height)
    page.goto(game_server.http + "/?mode=free")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    drawing = pick(simplified_drawings, "house", min_strokes=2)[0][:2]
    seq = -1
    for k, points in enumerate(fit(drawing, page.locator("#sketch").bounding_box()), start=1):
        draw(page, points)
        seq = wait_for_guess(page, k, seq)
    expect(page.locator("#guess-line")).to_have_text(re.compile(r"^I (see|think)"))
    page.evaluate(AT_ONCE)
    if touches(page):
        press(page, "#clear")
    else:
        page.keyboard.press("Escape")
    # At once, before the server answers: no guess is named any more, and the bars are empty.
    assert page.evaluate("window.atOnce") == ["Cleared. Undo brings it back.", 0]
    expect(page.locator("#sketch")).to_have_attribute("data-strokes", "0")
    expect(page.locator("#sketch")).to_have_attribute("data-strokes", "0")
    seq = wait_for_guess(page, 0, seq)
    expect(page.locator("#guess-line")).to_have_text("Cleared. Undo brings it back.")

    if touches(page):
        press(page, "#undo")
    else:
        page.keyboard.press("Control+z")
    expect(page.locator("#sketch")).to_have_attribute("data-strokes", "2")
    wait_for_guess(page, 2, seq)  # the server has the drawing back too
    assert page.evaluate("""() => { const c = document.getElementById('sketch');
        return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v); }""")


@SIZES
def test_a_round_start_puts_the_focus_on_the_canvas_and_tab_reaches_the_tools(open_page, game_server, width, height):
    page = open_page(width, height)
    page.goto(game_server.http + "/")
    expect(page.locator("#card-button")).to_be_focused()
    page.keyboard.press("Enter")  # "Got it!"
    expect(page.locator("#sketch")).to_be_focused()  # not the document
    expect(page.locator("body")).to_have_attribute("data-game", "drawing")
    page.keyboard.press("Tab")
    expect(page.locator("#undo")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#quit")).to_be_focused()
    page.locator("#skip").focus()
    page.keyboard.press("Enter")  # Skip: the verdict is read, then the next card takes the focus
    expect(page.locator("#card")).to_be_focused()
    assert serious_violations(page) == []  # the verdict card
    expect(page.locator("#card-kicker")).to_have_text("Round 2 of 6")
    expect(page.locator("#card-button")).to_be_focused()


@SIZES
def test_the_timer_is_named_in_seconds_left_and_is_never_announced(open_page, game_server, width, height):
    page = open_page(width, height)
    page.goto(game_server.http + "/")
    press(page, "#card-button")
    timer = page.get_by_role("timer")
    expect(timer).to_be_visible()
    expect(timer).to_have_accessible_name(re.compile(r"^\d+ seconds? left$"))
    expect(timer).to_have_attribute("aria-live", "off")
    named_seconds = int(timer.get_attribute("aria-label").split()[0])
    assert abs(named_seconds - int(page.locator("#timer-text").inner_text())) <= 1
    label = timer.get_attribute("aria-label")
    page.wait_for_function("(was) => document.getElementById('timer').getAttribute('aria-label') !== was", arg=label)

"""Helpers for the browser tests of a newcomer's first minutes (issue 23): a page at any of the suite's
viewports, touch where the screen is touched, and what is in view.

The fixtures here (``*_fixture``, named without the suffix) are imported by the test modules that use them.
"""

import re
import time

import pytest

from tests.test_browser import SEEN_INTRO, VIEWPORTS, WAIT_MS, start_server, sync_api

NEVER = 1.0  # a recognition threshold no drawing reaches: rounds stay open while the test looks at them
EASY = 0.0001  # one nearly any drawing reaches (with RECOGNITION_TOP_GUESS false): the first guess wins
SIZES = pytest.mark.parametrize("width,height", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
TOOLS = ("#undo", "#clear", "#skip", "#quit")


@pytest.fixture(scope="module", name="game_server")
def game_server_fixture(tmp_path_factory):
    """A game server whose rounds are never won: each lasts its 20 s unless the player ends it."""
    running = start_server(
        tmp_path_factory.mktemp("newcomer") / "saved", recognition_threshold=NEVER, first_stroke_threshold=NEVER
    )
    yield running
    running.stop()


@pytest.fixture(name="open_context")
def open_context_fixture(browser):
    """Open a browser context at a viewport (touch below 1000 px wide), a returning player's unless
    `first_visit`, that may inject axe (no CSP); the test fails on any script or console error of its pages (but
    a refused socket where the test takes the server away: `outage`)."""
    contexts, errors = [], []

    def watch(page, outage):
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                message.type == "error" and not (outage and REFUSED in message.text) and errors.append(message.text)
            ),
        )

    def opened(width, height, first_visit=False, outage=False):
        touch = width < 1000  # a phone or a tablet: touch, and its browser honours the page's viewport tag
        viewport = {"width": width, "height": height}
        context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch, bypass_csp=True)
        if not first_visit:
            context.add_init_script(SEEN_INTRO)
        context.set_default_timeout(WAIT_MS)
        context.on("page", lambda page: watch(page, outage))
        contexts.append(context)
        return context

    yield opened
    for context in contexts:
        for page in context.pages:  # before the servers go: a page left open would retry, and log errors
            page.close()
        context.close()
    assert not errors, f"errors on the page: {errors}"


@pytest.fixture(name="open_page")
def open_page_fixture(open_context):
    """Open a page as `open_context` opens a context (the same arguments)."""
    return lambda *args, **kwargs: open_context(*args, **kwargs).new_page()


def touches(page) -> bool:
    return page.viewport_size["width"] < 1000


REFUSED = "net::ERR_CONNECTION_REFUSED"  # the browser's own word for a socket to a server that is gone
LISTEN = """(button) => { window.clicked = new Promise((resolve) => {
    button.addEventListener('click', () => resolve(true), { once: true, capture: true });
    setTimeout(() => resolve(false), 1000);
}); }"""


def tap(page, button) -> None:
    """A finger on the button's middle, where it is on screen: no scrolling first (Playwright's tap may scroll
    the page of an emulated phone although the button is in view)."""
    button.wait_for(state="visible")
    box, screen = button.bounding_box(), page.viewport_size
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    if 0 <= middle[0] <= screen["width"] and 0 <= middle[1] <= screen["height"]:
        page.touchscreen.tap(*middle)
    else:
        button.tap()  # off screen: scrolled to first


def press(page, selector: str) -> None:
    """Tap where the screen is touched, else click. A synthetic tap that lands while Chromium still flings the
    last stroke is swallowed (no click): it is tapped again, once it is sure no click came."""
    button = page.locator(selector)
    if not touches(page):
        button.click()
        return
    for _ in range(3):
        button.evaluate(LISTEN)  # listening before the tap
        tap(page, button)
        try:
            if page.evaluate("window.clicked"):
                return
        except sync_api.Error:  # the tap followed a link: the page it was on is gone
            return
    pytest.fail(f"three taps on {selector} made no click")


def draw(page, points) -> None:
    """One stroke: by touch (real touch events) where the screen is touched, else with the mouse."""
    if not touches(page):
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=2)
        page.mouse.up()
        return
    cdp = page.context.new_cdp_session(page)
    try:
        for kind, (x, y) in [("touchStart", points[0]), *(("touchMove", p) for p in points[1:])]:
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        # The finger comes to rest before it lifts: lifted at speed, Chromium flings, and a tap during a fling
        # (on Clear, say) is swallowed.
        time.sleep(0.06)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


IN_VIEW = """(selector) => {
    const element = document.querySelector(selector);
    if (!element || element.closest('[hidden]')) return `${selector} is not shown`;
    const r = element.getBoundingClientRect();
    if (!r.width || r.left < 0 || r.top < 0 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5)
        return `${selector} is off screen: ${JSON.stringify(r)} in ${innerWidth}x${innerHeight}`;
    if (getComputedStyle(element).pointerEvents === 'none') return '';  // a label over the canvas: seen, not hit
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return element.contains(hit) ? '' : `${selector} is covered by ${hit?.id || hit?.className || hit?.tagName}`;
}"""


def assert_in_view(page, *selectors: str) -> None:
    """Each element is inside the viewport, and a tap at its middle reaches it (nothing covers it)."""
    problems = [problem for selector in selectors if (problem := page.evaluate(IN_VIEW, selector))]
    assert not problems, problems
    assert (
        page.evaluate("window.scrollY") == 0
        and page.evaluate("document.documentElement.scrollWidth") <= (page.viewport_size["width"])
    )


def leader(page) -> str:
    """Where the leading guess shows: beside the canvas, or on it where the list is out of view."""
    first = "#guess-list .guess:first-child"
    return first if not page.evaluate(IN_VIEW, first) else "#canvas-guess"


# The said line, sampled ten times a second: what it names, and what the bars show at that moment.
SAMPLER = """() => {
    window.samples = [];
    const line = document.getElementById('guess-line');
    const list = document.getElementById('guess-list');
    setInterval(() => window.samples.push({
        line: line.textContent,
        strokes: Number(list.dataset.strokes),
        bars: [...list.querySelectorAll('.guess:not(.empty)')].map((row) =>
            [row.querySelector('.guess-word').textContent, row.querySelector('.guess-p').textContent]),
    }), 100);
}"""


def named(line: str, words: list[str]) -> list[str]:
    """The model's words a line names (the longest first: "house plant" is not "house")."""
    found = []
    for word in sorted(words, key=len, reverse=True):
        pattern = rf"(?<![\w-]){re.escape(word)}(?![\w-])"
        if re.search(pattern, line):
            found.append(word)
            line = re.sub(pattern, " ", line)
    return found


def probability(shown: str) -> float:
    return 0.0 if shown.startswith("<") else int(shown.rstrip("%")) / 100

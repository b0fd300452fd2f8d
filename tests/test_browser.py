"""The game in a real browser (Debian's Chromium via Playwright) against a real `python -m server`.

Real Quick, Draw! drawings are drawn on the canvas with mouse moves (or touch
events on an emulated phone); screenshots of the key screens go to test-artifacts/.
"""

import asyncio
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT, skip_unless_required
from tests.serving import Server

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.is_file():
    skip_unless_required("browser", f"no browser at {CHROMIUM} (install Debian's chromium: `make browser` as root)")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
expect = sync_api.expect

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000  # generous: the machine is small and shared
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [(390, 664), (390, 844), (844, 390), (900, 700), (1280, 800), (1920, 1080)]
# A returning player: the first card has no intro (about:blank, where a page starts, has no storage).
SEEN_INTRO = "if (location.protocol.startsWith('http')) localStorage.setItem('quickdraw.intro-seen', '1')"


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


SECRET = "a secret both servers of a test share, so a drawing resumes across them"


def start_server(saved_dir: Path, time_limit_s: float = 20, port: int | None = None, **settings) -> Server:
    """``python -m server`` on a free port (or ``port``) with its own saved directory, its log beside it."""
    server = Server(saved_dir.parent, saved_dir, port=port, game_time_limit_s=time_limit_s, **settings)
    try:
        return server.start(seconds=90)
    except BaseException:
        server.stop()
        raise


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("browser") / "saved", time_limit_s=20)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", autouse=True)
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(browser):
    """A laptop-sized page of a returning player that fails the test on any uncaught script error or console error."""
    context = browser.new_context(viewport=LAPTOP)
    context.add_init_script(SEEN_INTRO)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    yield page
    context.close()
    assert not errors, f"errors on the page: {errors}"


def fit(drawing, box, margin: float = 0.12):
    """Scale a drawing's strokes into a canvas bounding box (page coordinates), centred."""
    xs = [x for stroke in drawing for x in stroke[0]]
    ys = [y for stroke in drawing for y in stroke[1]]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    scale = min(box["width"], box["height"]) * (1 - 2 * margin) / max(width, height, 1)
    left = box["x"] + (box["width"] - width * scale) / 2
    top = box["y"] + (box["height"] - height * scale) / 2
    return [
        [(left + (x - min(xs)) * scale, top + (y - min(ys)) * scale) for x, y in zip(stroke[0], stroke[1])]
        for stroke in drawing
    ]


def draw_stroke(page, points):
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=2)
    page.mouse.up()


def seq_shown(page) -> int:
    return int(page.locator("#guess-list").get_attribute("data-seq") or -1)


def wait_for_guess(page, strokes: int, after_seq: int) -> int:
    """Wait for a guess newer than `after_seq` that covers `strokes` completed strokes; returns its seq."""
    page.wait_for_function(
        "([k, s]) => { const l = document.getElementById('guess-list');"
        " return Number(l.dataset.strokes) === k && Number(l.dataset.seq) > s; }",
        arg=[strokes, after_seq],
        timeout=WAIT_MS,
    )
    return seq_shown(page)


def top_guesses(page) -> list[str]:
    return [w for w in page.locator("#guess-list .guess-word").all_inner_texts() if w]


def shown_guesses(page) -> list[tuple[str, str]]:
    """(word, percentage) per row, as displayed."""
    words = page.locator("#guess-list .guess-word").all_inner_texts()
    return list(zip(words, page.locator("#guess-list .guess-p").all_inner_texts()))


def pick(simplified_drawings, word: str, count: int = 1, min_strokes: int = 1, max_strokes: int = 12):
    """The first `count` real drawings of `word` with a stroke count in range."""
    return [
        r["drawing"]
        for r in simplified_drawings
        if r["word"] == word and min_strokes <= len(r["drawing"]) <= max_strokes
    ][:count]


def short_line(page) -> list[tuple[float, float]]:
    """Ten points across the middle of the canvas."""
    box = page.locator("#sketch").bounding_box()
    return [(box["x"] + box["width"] * (0.3 + i * 0.04), box["y"] + box["height"] / 2) for i in range(10)]


def open_free(page, server):
    page.goto(server.http + "/?mode=free")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")


def test_guesses_appear_and_update_after_every_stroke(page, server, simplified_drawings, artifacts):
    frames = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(json.loads(payload))))
    open_free(page, server)
    drawing = pick(simplified_drawings, "house", min_strokes=4)[0]
    strokes = fit(drawing, page.locator("#sketch").bounding_box())
    seen, seq = [], -1
    for k, points in enumerate(strokes, start=1):
        draw_stroke(page, points)
        seq = wait_for_guess(page, k, seq)
        guesses = shown_guesses(page)
        assert len(guesses) == 5 and all(word and p for word, p in guesses)
        seen.append(tuple(guesses))
        expect(page.locator("#guess-line")).not_to_have_text("Start drawing and I'll guess what it is.")
    assert len(set(seen)) > 1, f"the guesses never changed over {len(strokes)} strokes: {seen}"
    page.screenshot(path=artifacts / "free-draw-laptop.png")
    # The wire: points batched (several per message), one stroke_end per stroke, all in client pixels.
    sent = [f["type"] for f in frames]
    assert sent[0] == "start" and sent.count("stroke_end") == len(strokes)
    points = [f for f in frames if f["type"] == "points"]
    assert sum(len(f["x"]) for f in points) > len(points), "points were not batched"
    assert all(len(f["x"]) == len(f["y"]) == len(f["t"]) for f in points)


def test_speech_is_off_until_the_player_turns_it_on(page, server):
    page.goto(server.http + "/?mode=free")
    toggle = page.get_by_role("button", name="Speak guesses")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#guess-line")).to_have_attribute("aria-live", "polite")


def test_the_net_speaks_in_plain_words(page, server):
    page.goto(server.http + "/?mode=free")
    lines = page.evaluate("""async () => {
        const { phrase, percent } = await import("/assets/js/guesses.js");
        const g = (word, p) => ({ word, p });
        return [
            phrase([], 0),
            phrase([g("cat", 0.05), g("dog", 0.04)], 2),
            phrase([g("cat", 0.4), g("dog", 0.3), g("frog", 0.2), g("bee", 0.1)], 3),
            phrase([g("cat", 0.45), g("dog", 0.05)], 1),
            phrase([g("cat", 0.2), g("dog", 0.19)], 2),
            phrase([g("knife", 0.6)], 0),
            phrase([g("banana", 0.93)], 4),
            phrase([g("banana", 0.93), g("moon", 0.05)], 4, "game"),
            percent(0.934), percent(0.004),
        ];
    }""")
    assert lines == [
        "Start drawing and I'll guess what it is.",
        "I'm not sure what that is.",
        "I see cat.",  # the leading guess only: the line never names one that is not on top
        "I see cat.",
        "I'm not sure what that is.",  # under modest confidence, no guess is named
        "Hmm, let me see…",  # nor while the first stroke is drawn: its first points are a knife to the net
        "I think it's banana.",
        "I see banana.",  # in a game only a won round says "Oh, I know", and only for the prompt
        "93%",
        "<1%",
    ]


def test_stale_guesses_are_dropped_by_seq(page, server):
    page.goto(server.http + "/?mode=free")
    shown = page.evaluate("""async () => {
        const { GuessPanel } = await import("/assets/js/guesses.js");
        const list = document.createElement("ol");
        const line = document.createElement("p");
        const panel = new GuessPanel({ list, line, speechToggle: null });
        const guess = (seq, word) => ({ type: "guess", seq, strokes: seq, guesses: [{ word, p: 0.9 }] });
        const accepted = [panel.accept(guess(2, "cat")), panel.accept(guess(1, "dog")), panel.accept(guess(2, "eel"))];
        return { accepted, top: list.querySelector(".guess-word").textContent, line: line.textContent };
    }""")
    assert shown == {"accepted": [True, False, False], "top": "cat", "line": "I think it's cat."}


def test_the_said_line_is_calm_and_names_the_top_guess_or_nothing(page, server):
    page.goto(server.http + "/?mode=free")
    changes = page.evaluate("""async () => {
        const { GuessPanel, CALM_MS } = await import("/assets/js/guesses.js");
        const list = document.createElement("ol");
        const line = document.createElement("p");
        const shown = document.createElement("p");
        const panel = new GuessPanel({ list, line, shown, speechToggle: null, mode: "game" });
        const said = [];  // [time, text] at every change of the said (aria-live) line
        new MutationObserver(() => said.push([performance.now(), line.textContent]))
            .observe(line, { childList: true, characterData: true, subtree: true });
        const words = ["cat", "dog", "frog"];
        const samples = [];
        for (let seq = 1; seq <= 40; seq++) {  // a live guess every 50 ms, the leader changing each time
            const guesses = [{ word: words[seq % 3], p: 0.6 }, { word: words[(seq + 1) % 3], p: 0.3 }];
            panel.accept({ type: "guess", seq, strokes: 1, live: true, guesses });
            samples.push([line.textContent, shown.textContent, words[seq % 3]]);
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await new Promise((resolve) => setTimeout(resolve, CALM_MS + 100));
        return { said, samples, calm: CALM_MS, top: list.querySelector(".guess-word").textContent,
                 last: line.textContent };
    }""")
    last_top = changes["samples"][-1][2]
    assert changes["top"] == last_top and changes["last"] == f"I see {last_top}."  # the bars and, at last, the line
    for said, shown, top in changes["samples"]:
        assert said in ("", f"I see {top}."), (said, top)  # the top guess, or nothing: never a stale one
        assert shown == f"I see {top}."  # the bubble shows the top guess at once
    named = [at for at, text in changes["said"] if text]
    assert 2 <= len(named) <= 3  # 2 s of changing guesses: named at 0, ~1.5 s and the last one after
    assert all(b - a >= changes["calm"] - 20 for a, b in zip(named, named[1:])), changes["said"]


def test_a_wrong_word_never_gets_oh_i_know(page, server, simplified_drawings):
    page.goto(server.http + "/")
    card = page.locator("#card-button")
    expect(card).to_have_text("Got it!")
    prompt = page.locator(".prompt-word").inner_text()
    other = next(w for w in ("banana", "umbrella", "pineapple", "cat") if w != prompt)
    drawing = recognizable(server, simplified_drawings, other)  # the net is sure of the other word
    assert drawing is not None
    page.evaluate("""() => { window.lines = [];
        new MutationObserver(() => window.lines.push(document.getElementById("guess-line").textContent))
            .observe(document.getElementById("guess-line"), { childList: true, characterData: true, subtree: true }); }""")
    card.click()
    for points in fit(drawing, page.locator("#sketch").bounding_box()):
        draw_stroke(page, points)
    page.wait_for_function("(word) => window.lines.some((line) => line.includes(word))", arg=other)
    lines = page.evaluate("window.lines")
    assert not any("I know" in line for line in lines), lines
    assert page.evaluate("document.body.dataset.game") == "drawing"  # and the round goes on


def test_the_clock_is_called_at_ten_and_five_seconds(browser, tmp_path):
    quick = start_server(tmp_path / "saved", time_limit_s=12)
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        page.goto(quick.http + "/")
        page.locator("#card-button").click()
        expect(page.locator("#guess-line")).to_have_text("10 seconds left.", timeout=8000)
        expect(page.locator("#guess-line")).to_have_text("5 seconds left.", timeout=8000)
    finally:
        context.close()
        quick.stop()


def test_undo_and_clear_change_the_guesses(page, server, simplified_drawings):
    open_free(page, server)
    drawing = pick(simplified_drawings, "cat", min_strokes=4)[0][:4]
    seq = -1
    for k, points in enumerate(fit(drawing, page.locator("#sketch").bounding_box()), start=1):
        draw_stroke(page, points)
        seq = wait_for_guess(page, k, seq)

    page.get_by_role("button", name="Undo").click()
    seq = wait_for_guess(page, 3, seq)
    page.keyboard.press("Control+z")
    seq = wait_for_guess(page, 2, seq)
    assert len(top_guesses(page)) == 5

    page.keyboard.press("Escape")
    wait_for_guess(page, 0, seq)
    assert top_guesses(page) == []
    expect(page.locator("#guess-line")).to_have_text("Cleared. Undo brings it back.")

    seq = seq_shown(page)  # read before drawing: the answer may come before draw_stroke returns
    draw_stroke(page, fit(drawing, page.locator("#sketch").bounding_box())[0])
    seq = wait_for_guess(page, 1, seq)
    page.get_by_role("button", name="Clear").click()
    seq = wait_for_guess(page, 0, seq)
    assert top_guesses(page) == []

    draw_stroke(page, short_line(page))
    seq = wait_for_guess(page, 1, seq)
    page.keyboard.press("Delete")
    wait_for_guess(page, 0, seq)


def recognizable(server, simplified_drawings, word: str):
    """A real drawing of `word` (two strokes or more: one needs 0.9) that the server ranks first, well past
    the 0.5 threshold; or None."""
    for drawing in pick(simplified_drawings, word, count=25, min_strokes=2):
        best = server.guess(drawing)[0]
        if best["word"] == word and best["p"] >= 0.65:
            return drawing
    return None


def test_a_well_drawn_prompt_is_recognized_and_saved(page, server, simplified_drawings, artifacts):
    page.goto(server.http + "/")
    card = page.locator("#card-button")
    for attempt in range(24):  # a prompt the model knows badly is skipped, as a player would
        expect(card).to_be_visible()
        expect(card).to_have_text("Got it!")
        word = page.locator(".prompt-word").inner_text()
        drawing = recognizable(server, simplified_drawings, word)
        if drawing is not None:
            break
        card.click()
        page.get_by_role("button", name="Skip").click()
        if attempt % 6 == 5:
            page.get_by_role("button", name="Play again").click()
    else:
        pytest.fail("none of 24 prompts had a drawing the model ranks first with p >= 0.65")
    page.screenshot(path=artifacts / "game-prompt-card.png")
    card.click()
    expect(page.locator("#timer")).to_be_visible()
    for points in fit(drawing, page.locator("#sketch").bounding_box()):
        if page.evaluate("document.body.dataset.game") != "drawing":
            break  # recognized before the last stroke, as in the real game
        draw_stroke(page, points)
    expect(page.locator("#card-title")).to_have_text(f"Oh, I know, it's {word}!")
    expect(page.locator("#guess-line")).to_contain_text(word)
    page.screenshot(path=artifacts / "game-recognized.png")
    record = wait_until(
        lambda: next((r for r in server.saved() if r["word"] == word and r["recognized"]), None),
        what=f"a saved, recognized drawing of {word}",
    )
    assert record["mode"] == "game" and record["drawing"] and record["guesses"]
    assert all(len(s) == 3 and len(s[0]) == len(s[1]) == len(s[2]) for s in record["drawing"])


def test_summary_after_six_rounds(browser, simplified_drawings, tmp_path, artifacts):
    short = start_server(tmp_path / "saved", time_limit_s=2)
    try:
        context = browser.new_context(viewport=LAPTOP)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(short.http + "/")
        line = pick(simplified_drawings, "snake")[0]
        for round_number in range(1, 7):
            expect(page.locator("#card-kicker")).to_have_text(f"Round {round_number} of 6")
            page.locator("#card-button").click()
            expect(page.locator("#timer")).to_be_visible()
            draw_stroke(page, fit(line, page.locator("#sketch").bounding_box())[0])
            expect(page.locator("body")).not_to_have_attribute("data-game", "drawing")
        summary = page.locator("#summary")
        expect(summary).to_be_visible()
        items = summary.locator(".summary-item")
        expect(items).to_have_count(6)
        expect(summary.locator(".verdict")).to_have_count(6)
        assert all(text for text in summary.locator(".net-guesses").all_inner_texts())
        # Each thumbnail is drawn from that round's strokes: it has ink on it.
        page.wait_for_function("""() => [...document.querySelectorAll('.summary-item canvas')].every((c) => {
            const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
            for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0 && data[i] < 128) return true;
            return false; })""")
        expect(summary.get_by_role("button", name="Play again")).to_be_visible()
        page.screenshot(path=artifacts / "game-summary.png", full_page=True)
        # Every round had a stroke, so every round was saved, each exactly once.
        records = wait_until(lambda: len(short.saved()) == 6 and short.saved(), what="six saved rounds")
        assert all(r["mode"] == "game" and len(r["drawing"]) == 1 for r in records)
        summary.get_by_role("button", name="Play again").click()
        expect(page.locator("#card-kicker")).to_have_text("Round 1 of 6")
        context.close()
        assert not errors, f"script errors on the page: {errors}"
    finally:
        short.stop()


def test_touch_device_can_draw(browser, server, simplified_drawings, artifacts):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.add_init_script(SEEN_INTRO)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    open_free(page, server)
    canvas = page.locator("#sketch")
    box = canvas.bounding_box()
    # Sharp on HiDPI: the backing store is the displayed size times devicePixelRatio.
    assert page.evaluate("(c) => c.width", canvas.element_handle()) == round(box["width"] * 2)
    cdp = context.new_cdp_session(page)
    seq = -1
    drawing = pick(simplified_drawings, "fish")[0]
    for k, points in enumerate(fit(drawing, box), start=1):

        def touch(kind, x, y):
            return cdp.send(
                "Input.dispatchTouchEvent",
                {"type": kind, "touchPoints": [{"x": x, "y": y}] if kind != "touchEnd" else []},
            )

        touch("touchStart", *points[0])
        for x, y in points[1:]:
            touch("touchMove", x, y)
        touch("touchEnd", 0, 0)
        seq = wait_for_guess(page, k, seq)
    assert len(top_guesses(page)) == 5
    assert page.evaluate("window.scrollY") == 0, "drawing scrolled the page (touch-action)"
    page.screenshot(path=artifacts / "free-draw-phone.png")
    context.close()


def test_new_drawing_is_saved_and_shown_in_the_gallery(page, server, simplified_drawings, artifacts):
    open_free(page, server)
    drawing = pick(simplified_drawings, "house")[0]
    for k, points in enumerate(fit(drawing, page.locator("#sketch").bounding_box()), start=1):
        draw_stroke(page, points)
    wait_for_guess(page, len(drawing), -1)
    shown_top = top_guesses(page)[0]
    page.get_by_role("button", name="New drawing").click()
    expect(page.locator("#notice")).to_contain_text("Saved")
    record = next(
        r
        for r in server.saved()
        if r["mode"] == "free" and len(r["drawing"]) == len(drawing) and r["guesses"][0]["word"] == shown_top
    )
    assert record["word"] is None and record["recognized"] is False

    page.goto(server.http + "/gallery")
    tile = page.locator(".tile").filter(has_text="Free drawing").filter(has_text=f"Top guess: {shown_top}").first
    image = tile.locator("img")
    expect(image).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    page.screenshot(path=artifacts / "gallery.png", full_page=True)


def test_a_lost_connection_never_freezes_the_canvas_and_the_drawing_is_saved_once(
    browser, simplified_drawings, tmp_path
):
    first = start_server(tmp_path / "saved", secret=SECRET)
    context = browser.new_context(viewport=LAPTOP)
    context.add_init_script(SEEN_INTRO)  # a returning player: free drawing starts at once
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        open_free(page, first)
        canvas = page.locator("#sketch")
        strokes = fit(pick(simplified_drawings, "house", min_strokes=2)[0], canvas.bounding_box())
        draw_stroke(page, strokes[0])
        wait_for_guess(page, 1, -1)
        first.stop()  # the server goes away under the player
        expect(page.locator("#connection")).not_to_have_attribute("data-state", "open")
        before = canvas.evaluate("(c) => c.toDataURL()")
        draw_stroke(page, strokes[1])
        assert canvas.evaluate("(c) => c.toDataURL()") != before, "the canvas froze while offline"
        partial = [(r["key_id"], len(r["drawing"])) for r in first.saved()]
        assert len(partial) == 1 and partial[0][1] == 1  # the server saved what it had as it went away
        second = start_server(tmp_path / "saved", port=first.port, secret=SECRET)
        try:
            expect(page.locator("#connection")).to_have_attribute("data-state", "open")
            # The drawing was resumed on the new server: its guesses cover both strokes.
            wait_for_guess(page, 2, -1)
            page.locator("#new-drawing").click()  # ends it: saved again under the same id, now whole
            wait_until(lambda: [len(r["drawing"]) for r in second.saved()] == [2], what="the whole drawing saved")
            assert [r["key_id"] for r in second.saved()] == [partial[0][0]]  # one record: the same drawing
        finally:
            second.stop()
    finally:
        context.close()
        first.stop()  # a no-op when the test already stopped it


def test_an_idle_socket_is_saved_and_reopened_by_the_next_stroke(browser, simplified_drawings, tmp_path):
    idle = start_server(tmp_path / "saved", idle_timeout_s=2)
    context = browser.new_context(viewport=LAPTOP)
    context.add_init_script(SEEN_INTRO)  # a returning player: free drawing starts at once
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        open_free(page, idle)
        strokes = fit(pick(simplified_drawings, "house", min_strokes=2)[0], page.locator("#sketch").bounding_box())
        draw_stroke(page, strokes[0])
        wait_for_guess(page, 1, -1)
        # The server closes the quiet socket and saves the drawing; the page waits for the player.
        expect(page.locator("#connection")).to_have_attribute("data-state", "idle")
        expect(page.locator("#notice")).to_contain_text("your drawing was saved")
        assert [len(r["drawing"]) for r in wait_until(idle.saved, what="the idle drawing saved")] == [1]
        draw_stroke(page, strokes[1])  # the next stroke reconnects and starts a new drawing
        expect(page.locator("#connection")).to_have_attribute("data-state", "open")
        wait_for_guess(page, 1, -1)
    finally:
        context.close()
        idle.stop()


def test_a_server_error_is_shown_politely_and_drawing_goes_on(browser, tmp_path):
    strict = start_server(tmp_path / "saved", max_points_per_stroke=60, max_points_per_message=60)
    context = browser.new_context(viewport=LAPTOP)
    context.add_init_script(SEEN_INTRO)  # a returning player: free drawing starts at once
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        open_free(page, strict)
        box = page.locator("#sketch").bounding_box()
        # One long scribble: more points than this server takes in a stroke.
        scribble = [(box["x"] + 40 + i * 3, box["y"] + 60 + (i % 10) * 15) for i in range(150)]
        draw_stroke(page, scribble)
        notice = page.locator("#notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("Sorry, the server could not use that")
        expect(notice).to_have_attribute("data-tone", "bad")
        seq = seq_shown(page)
        page.keyboard.press("Escape")  # the connection is still usable
        seq = wait_for_guess(page, 0, seq)
        draw_stroke(page, short_line(page))  # within the limit
        wait_for_guess(page, 1, seq)
    finally:
        context.close()
        strict.stop()


def test_an_outage_mid_round_holds_the_clock_greys_the_guesses_and_offers_a_retry(
    browser, simplified_drawings, tmp_path
):
    first = start_server(tmp_path / "saved", time_limit_s=20, secret=SECRET)
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        page.goto(first.http + "/")
        page.locator("#card-button").click()
        draw_stroke(page, short_line(page))
        wait_for_guess(page, 1, -1)
        first.stop()
        expect(page.locator("#connection")).to_have_attribute("data-state", "retrying")
        expect(page.locator("#retry-now")).to_be_visible()
        expect(page.locator("#connection .status-text")).to_contain_text("retrying in")
        held = page.locator("#timer-text").inner_text()
        page.wait_for_timeout(2500)
        assert page.locator("#timer-text").inner_text() == held  # the outage costs no time
        opacity = page.evaluate("getComputedStyle(document.getElementById('guess-list')).opacity")
        assert float(opacity) < 1  # old guesses are greyed
        page.evaluate("""() => { window.states = [];
            new MutationObserver(() => window.states.push(document.getElementById("connection").dataset.state))
                .observe(document.getElementById("connection"), { attributes: true }); }""")
        page.locator("#retry-now").click()  # tries at once, without waiting for the countdown
        page.wait_for_function("() => window.states.includes('connecting')", timeout=1000)
        second = start_server(tmp_path / "saved", port=first.port, time_limit_s=20, secret=SECRET)
        try:
            expect(page.locator("#connection")).to_have_attribute("data-state", "open")
            expect(page.locator("#retry-now")).to_be_hidden()
            page.wait_for_timeout(1500)
            assert page.locator("#timer-text").inner_text() != held  # and the clock runs again
            assert page.evaluate("document.body.dataset.game") == "drawing"
        finally:
            second.stop()
    finally:
        context.close()
        first.stop()


def test_the_gallery_has_local_times_a_word_filter_and_a_styled_404(page, server, simplified_drawings):
    open_free(page, server)
    draw_stroke(page, short_line(page))
    wait_for_guess(page, 1, -1)
    page.locator("#new-drawing").click()
    wait_until(server.saved, what="a saved drawing")
    page.goto(server.http + "/gallery")
    time_shown = page.locator(".tile time").first
    expect(time_shown).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
    expect(time_shown).not_to_contain_text("UTC")  # the reader's own time zone
    page.locator("#word").select_option("banana")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"word=banana"))
    assert all(w == "banana" for w in page.locator(".tile strong").all_inner_texts())


def test_a_missing_page_is_the_sites_own(browser, server):
    context = browser.new_context(viewport=LAPTOP)  # not the `page` fixture: a 404 is logged as a console error
    page = context.new_page()
    try:
        assert page.goto(server.http + "/gallery?page=999").status == 404
        expect(page.locator("h1")).to_have_text("Nothing here")
        expect(page.locator(".site-header")).to_be_visible()  # styled, with the way back
    finally:
        context.close()


BANANA = [  # two strokes the shipped model takes for a banana (docs/PROTOCOL.md's example round)
    {"x": [165, 147, 125, 100, 75, 53, 35], "y": [87, 105, 116, 120, 116, 105, 87]},
    {"x": [161, 144, 123, 100, 77, 56, 39], "y": [75, 89, 97, 100, 97, 89, 75]},
]


async def save_rounds(url: str) -> None:
    """Two game rounds saved through the socket: a banana the net recognizes, and a cat it does not."""
    from websockets.asyncio.client import connect

    async with connect(url) as ws:
        for word, strokes in (("banana", BANANA), ("cat", [{"x": [0, 50, 100], "y": [0, 80, 0]}])):
            await ws.send(json.dumps({"type": "start", "mode": "game", "word": word}))
            for stroke in strokes:
                await ws.send(json.dumps({"type": "stroke", **stroke}))
            await ws.send(json.dumps({"type": "end"}))
            while json.loads(await ws.recv())["type"] not in ("saved", "not_saved"):
                pass


def serious_violations(page) -> list:
    """axe-core's serious and critical findings on the page as it is now (its context must bypass the CSP)."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("path", ["/", "/?mode=free", "/gallery", "/drawing/", "/gallery?page=999", "/room"])
def test_axe_finds_no_serious_accessibility_violation(browser, server, path):
    if path in ("/gallery", "/drawing/"):  # a gallery with a recognized and a missed tile, not an empty one
        with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's event loop
            thread.submit(asyncio.run, save_rounds(server.url)).result(timeout=60)
    if path == "/drawing/":  # the page of a missed drawing, with others of its word
        files = server.saved_dir.glob("*.ndjson")
        path += next(f.stem for f in files if json.loads(f.read_text())["recognized"] is False and "-" in f.stem)
    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    try:
        page.goto(server.http + path)
        expect(page.locator(".site-header")).to_be_visible()
        assert serious_violations(page) == []
    finally:
        context.close()


def test_tools_that_cannot_be_used_are_disabled_not_just_greyed(page, server):
    page.goto(server.http + "/")
    expect(page.locator("#card-button")).to_be_visible()
    assert page.locator("#undo").is_disabled() and page.locator("#skip").is_disabled()  # no Tab stop
    page.locator("#card-button").click()
    expect(page.locator("#undo")).to_be_enabled()


def within(box, viewport) -> bool:
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and (
            box["x"] + box["width"] <= viewport["width"] + 0.5 and box["y"] + box["height"] <= viewport["height"] + 0.5
        )
    )


@pytest.mark.parametrize("width,height", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
def test_every_screen_size_keeps_the_leading_guess_and_the_tools_in_view(
    browser, server, simplified_drawings, artifacts, width, height
):
    viewport = {"width": width, "height": height}
    context = browser.new_context(viewport=viewport, has_touch=width < 1000)
    context.add_init_script(SEEN_INTRO)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        page.goto(server.http + "/")
        page.locator("#card-button").click()
        expect(page.locator("#timer")).to_be_visible()
        page.evaluate("window.scrollTo(0, 0)")  # Playwright's click may have scrolled the button into view
        drawing = pick(simplified_drawings, "house")[0]
        for points in fit(drawing, page.locator("#sketch").bounding_box()):
            if page.evaluate("document.body.dataset.game") != "drawing":
                break  # recognized before the last stroke
            draw_stroke(page, points)
        expect(page.locator("#canvas-guess")).not_to_be_empty()
        page.screenshot(path=artifacts / f"viewport-{width}x{height}.png")
        assert page.evaluate("window.scrollY") == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
        leader = page.locator("#guess-list .guess").first
        strip = page.locator("#canvas-guess")
        leading_word = leader.locator(".guess-word").inner_text()
        assert leading_word, "no guess shown"
        if not within(leader.bounding_box(), viewport):  # the list is below: the strip on the canvas shows it
            expect(strip).to_be_visible()
            assert strip.inner_text().startswith(leading_word) and within(strip.bounding_box(), viewport)
        for tool in ("#undo", "#clear", "#skip", "#quit"):
            assert within(page.locator(tool).bounding_box(), viewport), f"{tool} is off screen at {width}x{height}"
    finally:
        context.close()


def ink_box(page) -> dict:
    """The bounding box of the ink on the drawing canvas, in backing-store pixels, and the canvas size."""
    return page.evaluate("""() => {
        const c = document.getElementById('sketch');
        const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
        let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
        for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++)
            if (data[(y * c.width + x) * 4 + 3] > 0) {
                x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
        return { x0, y0, x1, y1, width: c.width, height: c.height }; }""")


def test_a_resize_or_rotation_redraws_the_whole_drawing_in_the_same_coordinates(page, server, simplified_drawings):
    frames = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(json.loads(payload))))
    open_free(page, server)
    drawing = pick(simplified_drawings, "house", min_strokes=3)[0]
    strokes = fit(drawing, page.locator("#sketch").bounding_box(), margin=0.05)
    for points in strokes[:-1]:
        draw_stroke(page, points)
    wait_for_guess(page, len(strokes) - 1, -1)
    before = ink_box(page)
    page.set_viewport_size(PHONE)
    page.wait_for_function("() => document.getElementById('sketch').width < 1000")
    after = ink_box(page)
    # All of it is still there, scaled down inside the canvas, not cut at its new edge.
    assert 0 < after["x0"] and after["x1"] < after["width"] - 1 and after["y1"] < after["height"] - 1
    shrink = (after["x1"] - after["x0"]) / (before["x1"] - before["x0"])
    assert 0.2 < shrink < 0.9
    assert abs((after["y1"] - after["y0"]) / (before["y1"] - before["y0"]) - shrink) < 0.05  # not squashed
    # A stroke drawn now, across the middle of the smaller canvas, arrives in the drawing's first coordinates.
    page.set_viewport_size(PHONE)
    sent_before = [f for f in frames if f.get("type") in ("points", "stroke")]
    xs_before = [x for f in sent_before for x in f.get("x", [])]
    box = page.locator("#sketch").bounding_box()
    draw_stroke(page, [(box["x"] + box["width"] * f, box["y"] + box["height"] / 2) for f in (0.2, 0.5, 0.8)])
    wait_for_guess(page, len(strokes), -1)
    new = [x for f in frames[len(sent_before) :] if f.get("type") in ("points", "stroke") for x in f.get("x", [])]
    assert new and max(new) - min(new) > (max(xs_before) - min(xs_before)) * 0.4


def test_quit_ends_the_game_and_shows_the_rounds_played(page, server):
    page.goto(server.http + "/")
    page.locator("#card-button").click()
    draw_stroke(page, short_line(page))
    wait_for_guess(page, 1, -1)
    page.get_by_role("button", name="Quit").click()
    summary = page.locator("#summary")
    expect(summary).to_be_visible()
    expect(page.locator("#summary-title")).to_have_text("Game over")
    expect(page.locator("#summary-title")).to_be_focused()  # focus moves to what the player lands on
    expect(summary.locator(".summary-item")).to_have_count(1)
    expect(page.locator("#summary-score")).to_contain_text("of your 1 drawing")


def test_a_summary_tile_opens_its_drawing_replayed_and_back_comes_back(browser, simplified_drawings, tmp_path):
    short = start_server(tmp_path / "saved", time_limit_s=2)
    context = browser.new_context(viewport=LAPTOP)
    context.add_init_script(SEEN_INTRO)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(short.http + "/")
        drawing = pick(simplified_drawings, "house", min_strokes=3)[0]
        for _ in range(2):
            page.locator("#card-button").click()
            expect(page.locator("#timer")).to_be_visible()
            for points in fit(drawing, page.locator("#sketch").bounding_box()):
                if page.evaluate("document.body.dataset.game") != "drawing":
                    break
                draw_stroke(page, points)
            expect(page.locator("body")).not_to_have_attribute("data-game", "drawing")
            expect(page.locator("#card-button")).to_be_visible()
        page.get_by_role("button", name="Quit").click()
        tiles = page.locator("#summary .summary-item a.tile-link")
        expect(tiles).to_have_count(2)  # each saved round links to its own page
        word = page.locator("#summary .summary-item strong").first.inner_text()
        tiles.first.click()
        expect(page).to_have_url(re.compile(r"/drawing/"))
        expect(page.locator("h1")).to_have_text(word)
        expect(page.locator(".detail-line")).to_contain_text(
            re.compile(r"knew it was|looked more like|could not place it")
        )
        steps = page.locator("#steps li")
        assert steps.count() >= 1
        replay = page.locator("#replay")
        expect(replay).to_have_attribute("data-replayed", str(steps.count()), timeout=WAIT_MS)
        expect(steps.last).to_have_attribute("aria-current", "step")
        expect(page.locator("#others-title")).to_have_text(f"Other drawings of {word}")
        page.screenshot(path=ARTIFACTS / "drawing-detail.png", full_page=True)
        page.get_by_role("button", name="Replay the drawing").click()
        expect(page.locator("#steps li.ahead").first).to_be_attached()  # it starts over
        page.go_back()
        expect(page.locator("#summary")).to_be_visible()  # the summary it was opened from, not a new game
        expect(page.locator("#summary .summary-item")).to_have_count(2)
        assert not errors, f"script errors on the page: {errors}"
    finally:
        context.close()
        short.stop()


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb(…)``/``rgba(…)`` colours (opaque)."""

    def luminance(css: str) -> float:
        channels = [int(float(v)) / 255 for v in re.findall(r"[\d.]+", css)[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_focus_ring_stands_out_at_three_to_one_on_the_header_and_the_page(page, server):
    page.goto(server.http + "/")
    expect(page.locator("#card-button")).to_be_focused()
    ring_on = """(selector) => { const el = document.querySelector(selector);
        let under = el.parentElement;  // the ring is drawn outside the element, on what is behind it
        while (getComputedStyle(under).backgroundColor === 'rgba(0, 0, 0, 0)') under = under.parentElement;
        const style = getComputedStyle(el);
        return [style.outlineStyle, parseFloat(style.outlineWidth), style.outlineColor,
                getComputedStyle(under).backgroundColor]; }"""
    page.keyboard.press("Shift+Tab")  # keyboard use: focus is now shown (:focus-visible)
    for target in (".site-nav a", "#card-button"):  # on the yellow header, and on the page
        page.locator(target).first.focus()
        style, width, ring, behind = page.evaluate(ring_on, target)
        assert style == "solid" and width >= 2, (target, style, width)
        assert contrast(ring, behind) >= 3, (target, ring, behind)


def test_two_friends_race_in_a_room_across_two_instances_behind_nginx(
    browser, redis_server, simplified_drawings, tmp_path, artifacts
):
    from tests.serving import NGINX, Balancer

    if not Path(NGINX).is_file():
        skip_unless_required("nginx", "no nginx (install Debian's nginx-light: `make browser` as root)")
    shared = {"secret": SECRET, "redis_url": redis_server.url, "room_break_s": 0.5}
    instances = [start_server(tmp_path / "saved", time_limit_s=3, **shared) for _ in range(2)]
    balancer = Balancer(tmp_path, [server.port for server in instances])
    pages, contexts, errors = [], [], []
    try:
        path = "/room"  # Ada creates the room, Bob follows its link
        for name in ("Ada", "Bob"):
            context = browser.new_context(viewport=LAPTOP, bypass_csp=True)  # axe is injected as a script
            context.set_default_timeout(WAIT_MS)
            contexts.append(context)
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(balancer.http + path)
            page.locator("#name").fill(name)
            page.locator("#join-form button").click()
            expect(page.locator("#lobby")).to_be_visible()
            path = f"/room/{page.locator('#room-code').inner_text()}"
            pages.append(page)
        ada, bob = pages
        expect(ada.locator("#lobby-players li")).to_have_count(2)  # Ada sees Bob arrive
        assert serious_violations(ada) == []  # the lobby
        # Each page's socket went to its own instance (least_conn), so the room lives in Redis.
        assert all(server.open_sockets() == 1 for server in instances)
        ada.get_by_role("button", name="Start the game").click()
        for page in pages:
            expect(page.locator("#play")).to_be_visible()
        expect(ada.locator(".prompt-word")).to_have_text(bob.locator(".prompt-word").inner_text())
        page_drawing = pick(simplified_drawings, "house", min_strokes=2)[0]
        ada.wait_for_function("() => !document.getElementById('sketch').classList.contains('disabled')")
        for points in fit(page_drawing, ada.locator("#sketch").bounding_box())[:2]:
            draw_stroke(ada, points)
        # Bob sees Ada's strokes as she draws them, with the network's guess under them.
        peer = bob.locator(".peer").filter(has_text="Ada")
        expect(peer.locator("canvas")).to_have_attribute("data-strokes", re.compile(r"[12]"))
        expect(peer.locator(".peer-guess")).not_to_be_empty()
        bob.screenshot(path=artifacts / "room-race.png")
        assert serious_violations(bob) == []  # the race, with Ada's drawing beside Bob's canvas
        for page in pages:  # six rounds of 3 s: the game ends by itself
            expect(page.locator("#over")).to_be_visible(timeout=90_000)
        boards = [
            [line.replace(" (you)", "") for line in page.locator("#scoreboard li").all_inner_texts()] for page in pages
        ]
        assert boards[0] == boards[1] and len(boards[0]) == 2  # both screens agree
        expect(ada.locator("#rounds li")).to_have_count(6)
        ada.screenshot(path=artifacts / "room-scoreboard.png", full_page=True)
        assert not errors, f"script errors on the pages: {errors}"
    finally:
        for context in contexts:
            context.close()
        balancer.stop()
        for server in instances:
            server.stop()

"""The HTML pages: the game at /, the gallery with its pagination, and pictures served by id only."""

import re
from datetime import datetime, timedelta, timezone

import pytest

from core.records import new_id
from server import create_app, pages
from server.store import SavedDrawingStore, render_png
from tests.conftest import ROOT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def saved_dir(tmp_path):
    return tmp_path / "saved"


@pytest.fixture
def app(saved_dir):
    if not (ROOT / "model" / "model.tflite").is_file():
        pytest.skip("no model in model/ (the app loads it at start-up)")
    return create_app({"model_dir": str(ROOT / "model"), "saved_dir": str(saved_dir), "game_time_limit_s": 7.5})


@pytest.fixture
def client(app):
    return app.test_client()


def save_drawings(saved_dir, count: int, start: datetime | None = None) -> list[str]:
    """Store `count` small drawings one second apart (oldest first); returns their ids."""
    store = SavedDrawingStore(saved_dir)
    start = start or datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    ids = []
    for i in range(count):
        strokes = [[[0, 40 + i, 80], [0, 60, 10], [0, 50, 100]]]
        record = {
            "word": "banana" if i % 2 else "cat",
            "countrycode": None,
            "timestamp": f"2026-01-02 03:04:{i % 60:02d}.000000 UTC",
            "recognized": i % 2 == 1,
            "key_id": str(1000 + i),
            "drawing": strokes,
            "mode": "game",
            "guesses": [{"word": f"guess{i}", "p": 0.875}, {"word": "moon", "p": 0.1}],
        }
        ids.append(store.save(record, render_png(strokes), new_id(start + timedelta(seconds=i))))
    return ids


async def text_of(response) -> str:
    return await response.get_data(as_text=True)


async def test_game_page_renders_canvas_and_module_script(client):
    response = await client.get("/")
    html = await text_of(response)
    assert response.status_code == 200
    assert '<canvas id="sketch"' in html
    assert 'type="module"' in html and "/assets/js/main.js" in html
    assert 'data-time-limit="7.5"' in html  # the server's own time limit, not a guess in the script
    assert 'data-mode="game"' in html


async def test_free_mode_page_has_new_drawing_and_no_skip(client):
    html = await text_of(await client.get("/?mode=free"))
    assert 'data-mode="free"' in html
    assert 'id="new-drawing"' in html and 'id="skip"' not in html


async def test_unknown_mode_falls_back_to_the_game(client):
    html = await text_of(await client.get("/?mode=<script>"))
    assert 'data-mode="game"' in html and "<script>" not in html.split("</head>")[1]


async def test_pages_have_a_content_security_policy_and_no_inline_code(client, saved_dir):
    [drawing_id] = save_drawings(saved_dir, 1)
    for path in ("/", "/?mode=free", "/gallery", f"/drawing/{drawing_id}", "/room", "/room/K7QXM"):
        response = await client.get(path)
        html = await text_of(response)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
        assert not re.search(r"<style|\sstyle=", html), "inline style"
        assert not re.search(r"\son[a-z]+=", html), "inline event handler"


async def test_static_modules_and_styles_are_served(client):
    for path, kind in [
        ("/assets/js/main.js", "javascript"),
        ("/assets/css/app.css", "css"),
        ("/assets/js/canvas.js", "javascript"),
    ]:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert kind in response.headers["Content-Type"]


async def test_missing_static_file_is_404(client):
    assert (await client.get("/assets/js/nothing.js")).status_code == 404
    assert (await client.get("/assets/../server/pages.py")).status_code == 404


async def test_empty_gallery_says_so(client):
    response = await client.get("/gallery")
    assert response.status_code == 200
    assert "No drawings yet" in await text_of(response)


async def test_gallery_shows_word_outcome_and_top_guess_newest_first(client, saved_dir):
    ids = save_drawings(saved_dir, 3)
    html = await text_of(await client.get("/gallery"))
    shown = re.findall(r'src="/gallery/([^"]+)\.png"', html)
    assert shown == ids[::-1]
    assert "banana" in html and "cat" in html
    assert "✓ Recognized" in html and "✗ Not recognized" in html
    assert "Top guess: guess2 88%" in html
    assert str(saved_dir) not in html and ".ndjson" not in html  # no file-system paths


async def test_gallery_paginates_on_the_server(client, saved_dir, monkeypatch):
    monkeypatch.setattr(pages, "PER_PAGE", 2)
    ids = save_drawings(saved_dir, 5)[::-1]  # newest first, as shown

    first = await text_of(await client.get("/gallery"))
    assert re.findall(r'src="/gallery/([^"]+)\.png"', first) == ids[:2]
    assert 'href="/gallery?page=2"' in first and 'rel="prev"' not in first

    second = await text_of(await client.get("/gallery?page=2"))
    assert re.findall(r'src="/gallery/([^"]+)\.png"', second) == ids[2:4]
    assert 'href="/gallery?page=1"' in second and 'href="/gallery?page=3"' in second

    last = await text_of(await client.get("/gallery?page=3"))
    assert re.findall(r'src="/gallery/([^"]+)\.png"', last) == ids[4:]
    assert 'rel="next"' not in last


async def test_page_past_the_end_is_404(client, saved_dir):
    save_drawings(saved_dir, 1)
    assert (await client.get("/gallery?page=2")).status_code == 404


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "", " 1", "01", "٣", "1e3", "99999999999999999999"])
async def test_bad_page_numbers_are_404(client, page):
    assert (await client.get("/gallery", query_string={"page": page})).status_code == 404


async def test_picture_is_served_by_id(client, saved_dir):
    [drawing_id] = save_drawings(saved_dir, 1)
    response = await client.get(f"/gallery/{drawing_id}.png")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert (await response.get_data()).startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    "path",
    [
        "/gallery/20260102T030405-0123456789ab.png",  # well-formed but never saved
        "/gallery/not-an-id.png",
        "/gallery/..%2F..%2Fpyproject.toml.png",
        "/gallery/%2e%2e.png",
        "/gallery/20260102T030405-0123456789AB.png",  # ids are lower-case hex
        "/gallery/20260102T030405-0123456789ab.ndjson",
        "/gallery/" + "1" * 500 + ".png",
        "/gallery/.png",
    ],
)
async def test_unknown_or_malicious_picture_ids_are_404(client, saved_dir, path):
    save_drawings(saved_dir, 1)
    (saved_dir / "secret.png").write_bytes(PNG_MAGIC)  # a file that is not a server-made drawing
    response = await client.get(path)
    assert response.status_code == 404
    assert PNG_MAGIC not in await response.get_data()


async def test_gallery_survives_odd_records(client, saved_dir):
    """A record with unexpected field types (hand-edited, older format) still renders, escaped."""
    store = SavedDrawingStore(saved_dir)
    strokes = [[[0, 10], [0, 10]]]
    odd = {"word": "<b>bold</b>", "recognized": "yes", "guesses": "nope", "timestamp": 5, "drawing": strokes}
    store.save(odd, render_png(strokes), new_id())
    response = await client.get("/gallery")
    html = await text_of(response)
    assert response.status_code == 200
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "No guess" in html and "✓ Recognized" not in html


async def test_a_drawing_page_replays_it_with_the_networks_guesses_after_each_stroke(client, saved_dir):
    store = SavedDrawingStore(saved_dir)
    arc = [[[10, 60, 120, 180, 230], [200, 120, 90, 120, 200], [0, 40, 80, 120, 160]]]
    line = [[[40, 200], [230, 230], [400, 500]]]
    record = {
        "word": "rainbow",
        "countrycode": None,
        "timestamp": "2026-01-02 03:04:05.000000 UTC",
        "recognized": False,
        "key_id": "1",
        "drawing": arc + line,
        "mode": "game",
        "guesses": [{"word": "moon", "p": 0.61}, {"word": "rainbow", "p": 0.2}],
    }
    drawing_id = store.save(record, render_png(record["drawing"]), new_id())
    other = store.save({**record, "key_id": "2"}, render_png(arc), new_id())
    save_drawings(saved_dir, 2)  # a cat and a banana: not drawings of rainbow
    response = await client.get(f"/drawing/{drawing_id}")
    html = await text_of(response)
    assert response.status_code == 200
    assert "<h1>rainbow</h1>" in html and "✗ Not recognized" in html
    steps = re.findall(r'<li data-strokes="(\d+)">(.*?)</li>', html, flags=re.S)
    top = re.search(r'class="step-guess[^"]*">([^<]+) (?:\d+%|&lt;1%)</span>', steps[-1][1]).group(1)
    # A miss says what the network takes the whole drawing for instead, as the last step shows it.
    assert (f"It thought it looked more like {top}." if top != "rainbow" else "could not place it") in html
    assert [k for k, _ in steps] == ["1", "2"]
    for _, text in steps:  # three guesses, each with its percentage, from the served model
        assert len(re.findall(r'class="step-guess[^"]*">[^<]+ (?:\d+%|&lt;1%)</span>', text)) == 3
    assert f'data-record="/api/drawings/{drawing_id}"' in html
    # Other players' drawings of the same word link to their own pages; this one is not among them.
    assert f'href="/drawing/{other}"' in html and f'href="/drawing/{drawing_id}"' not in html
    assert html.count('class="tile ') == 1


async def test_a_recognized_drawing_page_says_so_and_a_lonely_word_has_no_others(client, saved_dir):
    [_, banana] = save_drawings(saved_dir, 2)
    html = await text_of(await client.get(f"/drawing/{banana}"))
    assert "✓ Recognized" in html and "The network knew it was banana." in html
    assert "No one else has drawn banana yet." in html


@pytest.mark.parametrize("drawing_id", ["20260102T030405-0123456789ab", "not-an-id", "..%2Fsecret", "1" * 500])
async def test_a_missing_drawing_page_is_the_sites_own_404(client, saved_dir, drawing_id):
    save_drawings(saved_dir, 1)
    response = await client.get(f"/drawing/{drawing_id}")
    assert response.status_code == 404
    assert "Nothing here" in await text_of(response)


async def test_the_gallery_links_every_tile_to_its_drawing_page(client, saved_dir):
    ids = save_drawings(saved_dir, 3)
    html = await text_of(await client.get("/gallery"))
    assert all(f'href="/drawing/{drawing_id}"' in html for drawing_id in ids)


def test_a_long_drawing_is_replayed_in_at_most_max_steps_ending_whole():
    assert pages.step_counts(0) == []
    assert pages.step_counts(3) == [1, 2, 3]
    counts = pages.step_counts(200, most=24)
    assert len(counts) == 24 and counts[-1] == 200 and counts == sorted(set(counts)) and counts[0] >= 1


async def test_the_friends_page_creates_or_joins_a_room(client):
    html = await text_of(await client.get("/room"))
    assert "Create a room" in html and "/assets/js/room.js" in html and 'data-code=""' in html
    assert "6 rounds, 2 to 8 players" in html  # from the room rules, not a copy in the page
    joining = await text_of(await client.get("/room/k7qxm"))  # codes are read without regard to case
    assert 'data-code="K7QXM"' in joining and "Join the room" in joining


@pytest.mark.parametrize("code", ["K7QX", "K7QXMM", "K0QXM", "<b>x</b>", "..%2Fetc"])
async def test_a_room_code_that_cannot_be_is_the_sites_own_404(client, code):
    response = await client.get(f"/room/{code}")
    assert response.status_code == 404 and "Nothing here" in await text_of(response)

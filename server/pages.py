"""HTML pages: the game at /, the gallery of saved drawings at /gallery, one drawing at /drawing/<id>, and the
static files.

Security headers (the Content-Security-Policy among them) come from ``server.security`` for every page.
"""

import re
from pathlib import Path

from quart import Blueprint, Response, abort, current_app, render_template, request

from core import sketch
from server import rooms

HERE = Path(__file__).resolve().parent
STATIC = HERE / "assets" if (HERE / "assets").is_dir() else HERE.parent / "static"  # an installed wheel; a checkout
PER_PAGE = 24  # drawings per gallery page: four rows of six on a laptop
MAX_PAGE = 100_000  # beyond this a page number is nonsense, not a request to read the disk
OTHERS = 6  # other players' drawings of the same word beside one drawing
MAX_STEPS = 24  # the most prefixes a replay classifies: every stroke, or this many spread over them
TOP_STEP = 3  # guesses shown per replay step
PAGE_PATTERN = re.compile(r"[1-9][0-9]{0,5}")  # ASCII digits only: int() would take "٣" or " 3"

# Served under /assets: the app keeps its own (empty) /static route, which would shadow ours.
blueprint = Blueprint("pages", __name__, static_folder=STATIC, static_url_path="/assets")


def _services():
    return current_app.extensions["quickdraw"]


@blueprint.get("/")
async def game():
    """The game; ``?mode=free`` for free drawing with live guesses and no timer."""
    mode = "free" if request.args.get("mode") == "free" else "game"
    limit = _services().settings.game_time_limit_s
    return await render_template("index.html", mode=mode, time_limit_s=f"{limit:g}")


@blueprint.get("/room")
@blueprint.get("/room/<code>")
async def room(code: str | None = None):
    """Play with friends: create a room (no code) or join one; the socket does the rest (``server.roomplay``)."""
    if code is not None:
        code = code.upper()
        if not rooms.CODE_PATTERN.fullmatch(code):
            abort(404, "A room code is five letters and digits, like K7QXM.")
    limit = _services().settings.game_time_limit_s
    return await render_template(
        "room.html",
        code=code,
        time_limit_s=f"{limit:g}",
        max_name=rooms.MAX_NAME,
        rounds=rooms.ROUNDS,
        min_players=rooms.MIN_PLAYERS,
        max_players=rooms.MAX_PLAYERS,
    )


@blueprint.get("/gallery")
async def gallery():
    """The most recent saved drawings, newest first, ``PER_PAGE`` a page (``?page=N`` from 1)."""
    text = request.args.get("page", "1")
    if not PAGE_PATTERN.fullmatch(text) or int(text) > MAX_PAGE:
        abort(404)
    page = int(text)
    words = _services().classifier.labels
    word = request.args.get("word") or None
    if word is not None and word not in words:
        abort(404)
    # One record past the page tells whether a next page exists.
    records = await _services().drawings.recent(PER_PAGE + 1, (page - 1) * PER_PAGE, word)
    if not records and page > 1:
        abort(404)
    tiles = [_tile(record) for record in records[:PER_PAGE]]
    return await render_template(
        "gallery.html", tiles=tiles, page=page, has_next=len(records) > PER_PAGE, words=words, word=word
    )


@blueprint.get("/drawing/<drawing_id>")
async def drawing(drawing_id: str):
    """One saved drawing: replayed stroke by stroke with the network's top guesses after each, what it took
    a missed drawing for, and other players' drawings of the same word."""
    services = _services()
    try:
        record = await services.drawings.record(drawing_id)
    except ValueError:  # not a server-made id
        record = None
    if record is None:
        abort(404, "There is no saved drawing with this id.")
    tile = _tile(record)
    try:
        strokes = sketch.validate(record.get("drawing"))
    except sketch.SketchError:
        strokes = []  # a damaged file still shows its picture and words
    address = request.remote_addr or ""
    budget = services.api_budgets[address]
    counts = step_counts(len(strokes))
    cost = sum(sketch.work(strokes[:k]) for k in counts)
    if not budget.take(cost):  # the replay's guesses are classifications like any other: the client's share
        abort(429, "Too many drawings opened at once. Wait a moment, then reload the page.")
    steps = []
    for k in counts:
        prediction = await services.predict(strokes[:k], "page " + address)
        steps.append({"strokes": k, "guesses": [_shown(g.word, g.p) for g in prediction.top(TOP_STEP)]})
    last = steps[-1]["guesses"][0] if steps else None
    if last and tile["mode"] == "game" and not tile["recognized"] and last["word"] != tile["word"]:
        tile["instead"] = last["word"]  # a missed prompt: what the network takes the whole drawing for
    others = []
    if tile["word"]:
        nearby = await services.drawings.recent(OTHERS + 1, 0, tile["word"])
        others = [_tile(other) for other in nearby if other["id"] != drawing_id][:OTHERS]
    return await render_template("drawing.html", tile=tile, steps=steps, last=last, others=others)


def step_counts(strokes: int, most: int = MAX_STEPS) -> list[int]:
    """The prefixes (in strokes) a replay shows: each stroke, or ``most`` spread evenly, the whole drawing last."""
    if strokes <= most:
        return list(range(1, strokes + 1))
    return sorted({round(strokes * (i + 1) / most) for i in range(most)})


@blueprint.get("/gallery/<drawing_id>.png")
async def picture(drawing_id: str):
    """A saved drawing's PNG, found by its server-made id only (never a client path)."""
    try:
        png = await _services().drawings.png(drawing_id)
    except ValueError:
        abort(404)
    if png is None:
        abort(404)
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"  # a saved drawing never changes
    return response


def _tile(record: dict) -> dict:
    """What the gallery shows of one saved record, robust to odd values in the file."""
    word = record.get("word") if isinstance(record.get("word"), str) else None
    guesses = record.get("guesses") if isinstance(record.get("guesses"), list) else []
    top = guesses[0] if guesses and isinstance(guesses[0], dict) else {}
    top_word = top.get("word") if isinstance(top.get("word"), str) else None
    top_p = top.get("p") if isinstance(top.get("p"), (int, float)) else None
    stamp = record.get("timestamp") if isinstance(record.get("timestamp"), str) else ""
    recognized = record.get("recognized") is True
    mode = "game" if record.get("mode") == "game" else "free"
    return {
        "id": record["id"],
        "word": word,
        "mode": mode,
        "recognized": recognized,
        "top_word": top_word,
        "top_percent": None if top_p is None else _percent(top_p),
        "when": stamp[:16] + " UTC" if len(stamp) >= 16 else "",
        "iso": stamp[:10] + "T" + stamp[11:19] + "Z" if len(stamp) >= 19 else "",  # for the reader's own time zone
    }


def _percent(p: float) -> str:
    """ "93%", "<1%": a probability as people read it (as the game shows it)."""
    return "<1%" if p < 0.01 else f"{p:.0%}"


def _shown(word: str, p: float) -> dict:
    return {"word": word, "percent": _percent(p)}

"""HTML pages: the game at /, the gallery of saved drawings at /gallery, and the static files.

Security headers (the Content-Security-Policy among them) come from ``server.security`` for every page.
"""

import re
from pathlib import Path

from quart import Blueprint, Response, abort, current_app, render_template, request

HERE = Path(__file__).resolve().parent
STATIC = HERE / "assets" if (HERE / "assets").is_dir() else HERE.parent / "static"  # an installed wheel; a checkout
PER_PAGE = 24  # drawings per gallery page: four rows of six on a laptop
MAX_PAGE = 100_000  # beyond this a page number is nonsense, not a request to read the disk
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
    return {
        "id": record["id"],
        "word": word,
        "mode": "game" if record.get("mode") == "game" else "free",
        "recognized": record.get("recognized") is True,
        "top_word": top_word,
        "top_percent": None if top_p is None else ("<1%" if top_p < 0.01 else f"{top_p:.0%}"),
        "when": stamp[:16] + " UTC" if len(stamp) >= 16 else "",
        "iso": stamp[:10] + "T" + stamp[11:19] + "Z" if len(stamp) >= 19 else "",  # for the reader's own time zone
    }

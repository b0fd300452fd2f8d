"""HTML pages: the game at / (and the gallery, see the browser-game issue)."""

from quart import Blueprint, render_template

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
async def game():
    return await render_template("index.html")

"""HTTP beside the socket: labels, health, one-shot guesses, saved drawings; errors under /api as JSON."""

import math
import re

from quart import Blueprint, abort, current_app, has_request_context, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from core import sketch
from server import pages, protocol
from server.protocol import ErrorCode, ProtocolError
from server.session import TOP_K

blueprint = Blueprint("api", __name__)

DEFAULT_LIMIT = 24  # drawings per listing page, as in the gallery
MAX_LIMIT = 100  # the most records one request reads from disk
NUMBER = re.compile(r"0|[1-9][0-9]{0,8}")  # ASCII digits only, below 10**9: int() would take "٣", " 3" or "+3"
LISTED = ("id", "word", "mode", "recognized", "timestamp", "guesses")  # what the listing shows of a record
HTTP_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED, 413: ErrorCode.BODY_TOO_LARGE}


def _services():
    return current_app.extensions["quickdraw"]


@blueprint.get("/api/labels")
async def labels():
    return {"labels": _services().classifier.labels}


@blueprint.get("/healthz")
async def health():
    classifier = _services().classifier
    return {"ready": True, "model_version": classifier.version, "labels": len(classifier.labels)}


@blueprint.post("/api/guess")
async def guess():
    """``{"drawing": [[[x…],[y…]], …]}`` → ``{"guesses": [{"word","p"}…]}``; bad input → 400 with an error code."""
    services = _services()
    try:
        body = await request.get_json(force=True, silent=True)
    except UnicodeDecodeError:  # ``silent`` covers bad JSON, not bytes that are not UTF-8
        body = None
    try:
        if body is None:
            raise ProtocolError(protocol.ErrorCode.BAD_JSON, "the body must be JSON")
        drawing = protocol.parse_drawing(body, services.settings.limits)
    except ProtocolError as error:
        return protocol.Error.of(error).to_json(), 400
    address = request.remote_addr or ""
    budget, cost = services.api_budgets[address], sketch.work(drawing)
    if not budget.take(cost):  # each guess costs its work, as on the socket: a fair share per client
        wait = round(budget.retry_after(cost), 3)
        error = protocol.Error(ErrorCode.RATE_LIMITED, f"over this client's share: retry after {wait:g} s", None, wait)
        return error.to_json(), 429, {"Retry-After": str(math.ceil(wait))}
    prediction = await services.predict(drawing, "api " + address, cost)
    return {"guesses": [g.to_json() for g in prediction.top(TOP_K)]}


@blueprint.get("/api/drawings")
async def drawings():
    """Saved drawings newest first, ``?limit=`` (1–100, default 24) from ``?offset=`` (default 0), and the next page."""
    try:
        limit = _number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _number("offset", 0, 0, 10**9)
    except ProtocolError as error:
        return protocol.Error.of(error).to_json(), 400
    # One record past the page tells whether a next page exists; reading files stays off the event loop.
    records = await _services().drawings.recent(limit + 1, offset)
    listed = [
        {
            **{key: record.get(key) for key in LISTED},
            "record_url": url_for("api.drawing", drawing_id=record["id"]),
            "png_url": url_for("api.picture", drawing_id=record["id"]),
        }
        for record in records[:limit]
    ]
    following = url_for("api.drawings", limit=limit, offset=offset + limit) if len(records) > limit else None
    return {"drawings": listed, "next": following}


@blueprint.get("/api/drawings/<drawing_id>")
async def drawing(drawing_id: str):
    """One saved record as stored (the raw format plus ``mode`` and ``guesses``), with its ``id`` and ``png_url``."""
    try:
        record = await _services().drawings.record(drawing_id)
    except ValueError:  # not a server-made id
        record = None
    if record is None:
        abort(404, "no saved drawing with this id")
    return {**record, "png_url": url_for("api.picture", drawing_id=drawing_id)}


@blueprint.get("/api/drawings/<drawing_id>.png")
async def picture(drawing_id: str):
    """A saved drawing's PNG: the gallery's picture, whose 404 is JSON here."""
    return await pages.picture(drawing_id)


@blueprint.app_errorhandler(HTTPException)
async def http_error(error: HTTPException):
    """Under /api every HTTP error (a 500 too) in the socket's ``error`` shape; pages get the site's own page."""
    if not has_request_context():
        return error
    if not request.path.startswith("/api/"):
        if request.path.startswith(("/assets/", "/ws")) or error.code is None:
            return error
        page = await render_template("error.html", status=error.code, message=error.description or error.name)
        return page, error.code
    status = error.code or 500
    code = HTTP_CODES.get(status, ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.BAD_REQUEST)
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]  # Allow
    return protocol.Error(code, error.description or error.name).to_json(), status, headers


def _number(name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as an integer from ``low`` to ``high``; ``default`` when it is absent.

    Raises:
        ProtocolError: BAD_FIELD for anything else ("", "-1", "1.5", "007", "٣").
    """
    text = request.args.get(name)
    if text is None:
        return default
    if not NUMBER.fullmatch(text) or not low <= int(text) <= high:
        raise ProtocolError(ErrorCode.BAD_FIELD, f'"{name}" must be an integer from {low} to {high}')
    return int(text)

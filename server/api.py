"""HTTP beside the socket: labels, health, and one-shot guesses for clients without a socket."""

from quart import Blueprint, current_app, request

from server import protocol
from server.protocol import ProtocolError
from server.session import TOP_K

blueprint = Blueprint("api", __name__)


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
    prediction = await services.predict(drawing)
    return {"guesses": [g.to_json() for g in prediction.top(TOP_K)]}

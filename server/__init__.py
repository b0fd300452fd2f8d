"""The Quick, Draw! Live server: ``create_app`` builds the Quart app around a loaded model."""

import asyncio
from typing import Mapping

from quart import Quart

from server import config, memory, recovery, roomplay, security
from server.classifier import Classifier
from server.guard import Gate
from server.services import Services
from server.store import SavedDrawingStore


def create_app(
    overrides: Mapping | None = None, classifier: Classifier | None = None, *, sweep: bool = True, open_total=None
) -> Quart:
    """The app with settings from defaults → ``QUICKDRAW_*`` environment → ``overrides``.

    The model is loaded here, once, so a missing or broken model fails before serving.
    A worker process (``server.hosting``) passes ``sweep=False`` (its supervisor swept
    the saved directory already) and the connection count all workers share.

    Raises:
        config.ConfigError: a setting is unknown or out of range.
        classifier.ModelError: the model directory is missing or broken.
    """
    settings = config.load(overrides)
    app = Quart(__name__)
    app.config.update(settings.to_config())
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    services = Services(settings, classifier or Classifier(settings.model_dir), SavedDrawingStore(settings.saved_dir))
    app.extensions["quickdraw"] = services
    app.extensions["metrics"] = services.metrics
    app.extensions["gate"] = Gate(settings, open_total)

    from server import api, metrics, pages, ws  # the blueprints need the package initialised

    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(ws.blueprint)
    app.register_blueprint(metrics.blueprint)
    security.init_app(app)

    background: list[asyncio.Task] = []

    @app.before_serving
    async def clean_up():
        if sweep:
            recovery.sweep(settings.saved_dir)  # leftovers of a killed run; no save is running yet
        background.append(asyncio.create_task(memory.trim_every(settings.heap_trim_interval_s)))
        await services.drawings.open()
        await services.rooms.open()

    @app.after_serving
    async def shut_down():
        for task in background:
            task.cancel()
        await services.drain()
        await services.drawings.close()
        await roomplay.settle()  # players whose sockets just closed are marked away first
        await services.rooms.close()
        services.saver.shutdown(wait=True)
        services.classifier.close()

    return app

"""``python -m server``: serve the game with Hypercorn (defaults: 127.0.0.1:5000, model/, saved_pictures/)."""

import argparse
import asyncio
import logging
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from server import config
from server.classifier import ModelError


def hypercorn_config(settings: config.Settings) -> HypercornConfig:
    """Hypercorn enforces the frame limit itself (closing with 1009) and pings idle sockets."""
    hypercorn = HypercornConfig()
    hypercorn.bind = [f"{settings.host}:{settings.port}"]
    hypercorn.websocket_max_message_size = settings.max_frame_bytes
    hypercorn.websocket_ping_interval = settings.ping_interval_s
    hypercorn.accesslog = None
    logging.getLogger("hypercorn.error").propagate = False  # Hypercorn has its own handler; say things once
    return hypercorn


def parse_args(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="Serve the Quick, Draw! Live game: the page at /, the socket at /ws, the API under /api. "
        "Every setting can also come from a QUICKDRAW_<NAME> environment variable (e.g. QUICKDRAW_PORT); "
        "command-line options win.",
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, env QUICKDRAW_HOST)")
    parser.add_argument("--port", type=int, help="port to bind (default 5000, env QUICKDRAW_PORT)")
    parser.add_argument("--model-dir", help="the model directory (default model/, env QUICKDRAW_MODEL_DIR)")
    parser.add_argument("--saved-dir", help="where drawings are saved (default saved_pictures/, env QUICKDRAW_SAVED_DIR)")
    args = parser.parse_args(argv)
    return {key: value for key, value in vars(args).items() if value is not None}


def main(argv=None, make_app=None) -> int:
    """Load settings and model, then serve until interrupted; a bad setting or model exits with 2."""
    from server import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = parse_args(argv)
    try:
        app = (make_app or create_app)(overrides)
    except (config.ConfigError, ModelError) as error:
        print(f"python -m server: {error}", file=sys.stderr)
        return 2
    settings = app.extensions["quickdraw"].settings
    print(f"serving on http://{settings.host}:{settings.port} (model {app.extensions['quickdraw'].classifier.version})",
          file=sys.stderr, flush=True)
    asyncio.run(serve(app, hypercorn_config(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

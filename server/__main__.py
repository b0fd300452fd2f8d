"""``python -m server``: serve the game with Uvicorn (defaults: 127.0.0.1:5000, model/, saved_pictures/)."""

import argparse
import sys

from core.model import ModelError
from server import config, hosting, logs


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
    parser.add_argument(
        "--saved-dir", help="where drawings are saved (default saved_pictures/, env QUICKDRAW_SAVED_DIR)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port; each uses about one core (default 1, env QUICKDRAW_WORKERS)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper,
        help="least severe log lines shown (default %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=logs.FORMATS,
        help="text: key=value lines; json: one JSON object per line (default %(default)s)",
    )
    args = parser.parse_args(argv)
    return {key: value for key, value in vars(args).items() if value is not None}


def main(argv=None, make_app=None) -> int:
    """Load settings and model, then serve until interrupted; a bad setting or model exits with 2."""
    from server import create_app

    overrides = parse_args(argv)
    log_level, log_format = overrides.pop("log_level"), overrides.pop("log_format")
    logs.configure(log_level, log_format)
    try:
        settings = config.load(overrides)
        if settings.workers > 1 and make_app is not None:
            raise config.ConfigError("WORKERS above 1 serves only the standard app")
        if settings.workers > 1:
            return hosting.supervise(settings, overrides, log_level, log_format)
        app = (make_app or create_app)(overrides)
    except (config.ConfigError, ModelError) as error:
        print(f"python -m server: {error}", file=sys.stderr)
        return 2
    print(
        f"serving on http://{settings.host}:{settings.port} (model {app.extensions['quickdraw'].classifier.version})",
        file=sys.stderr,
        flush=True,
    )
    hosting.serve(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m server``: serve the game with Hypercorn (defaults: 127.0.0.1:5000, model/, saved_pictures/)."""

import argparse
import asyncio
import logging
import signal
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from server import config, logs
from server.classifier import ModelError

log = logging.getLogger("server")


def hypercorn_config(settings: config.Settings) -> HypercornConfig:
    """Hypercorn enforces the frame limit itself (closing with 1009) and pings idle sockets."""
    hypercorn = HypercornConfig()
    hypercorn.bind = [f"{settings.host}:{settings.port}"]
    hypercorn.websocket_max_message_size = settings.max_frame_bytes
    hypercorn.websocket_ping_interval = settings.ping_interval_s
    hypercorn.accesslog = None
    hypercorn.errorlog = logging.getLogger("hypercorn.error")  # a Logger, not "-": our format, said once
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
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        type=str.upper, help="least severe log lines shown (default %(default)s)")
    parser.add_argument("--log-format", default="text", choices=logs.FORMATS,
                        help="text: key=value lines; json: one JSON object per line (default %(default)s)")
    args = parser.parse_args(argv)
    return {key: value for key, value in vars(args).items() if value is not None}


async def serve_until_stopped(app, hypercorn: HypercornConfig) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    New sockets are refused and open ones closed with 1001 before Hypercorn
    stops listening; after_serving then waits for the saves still running.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def shutdown_trigger():
        await stop.wait()
        loop.set_exception_handler(_quiet_cancellation)
        await app.extensions["gate"].shut_down()

    await serve(app, hypercorn, shutdown_trigger=shutdown_trigger)
    log.info("stopped")


def _quiet_cancellation(loop, context) -> None:
    """At shutdown Hypercorn cancels connections still waiting for their next ping; that is no error."""
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


def main(argv=None, make_app=None) -> int:
    """Load settings and model, then serve until interrupted; a bad setting or model exits with 2."""
    from server import create_app

    overrides = parse_args(argv)
    logs.configure(overrides.pop("log_level"), overrides.pop("log_format"))
    try:
        app = (make_app or create_app)(overrides)
    except (config.ConfigError, ModelError) as error:
        print(f"python -m server: {error}", file=sys.stderr)
        return 2
    settings = app.extensions["quickdraw"].settings
    print(f"serving on http://{settings.host}:{settings.port} (model {app.extensions['quickdraw'].classifier.version})",
          file=sys.stderr, flush=True)
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        runner.run(serve_until_stopped(app, hypercorn_config(settings)))
    return 0


def loop_factory(name: str):
    """uvloop's event loop when asked for and installed (it spends less CPU per socket message), else asyncio's."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.info("uvloop is not installed; using asyncio's event loop")
        else:
            return uvloop.new_event_loop
    return None


if __name__ == "__main__":
    sys.exit(main())

"""Serving the app with Hypercorn: in this process, or in N worker processes on one socket.

A process runs its Python work (socket frames, JSON, the sketch pipeline's
numpy calls) under one GIL, so it uses about one core however many there are.
With ``WORKERS`` above 1, ``python -m server`` becomes a small supervisor:

1. it sweeps the saved directory once, before any worker can be saving;
2. it binds one listening socket per worker, all on one port (SO_REUSEPORT),
   so the kernel spreads connections evenly over the workers;
3. it starts worker 0 and waits until that worker has loaded the model, so a
   broken model is reported once and the first guess comes as early as with
   one process; then it starts the others, and says "serving on …" once all
   of them are up (a worker that failed is handled like one that exits);
4. SIGTERM or SIGINT stops every worker gracefully (sockets closed with 1001,
   drawings saved). A worker that exits by itself stops the others too, and
   the supervisor exits with its code, for a process manager to restart.

Workers share the connection limit (a counter in shared memory) and the
metrics (see ``server.metrics``); each loads its own copy of the model.
"""

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
from multiprocessing.connection import wait

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.utils import wrap_app

from core.model import ModelError
from server import config, logs, recovery

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


def serve(app, sockets=None, parent=None) -> None:
    """Serve ``app`` in this process until SIGTERM or SIGINT, on ``sockets`` if given, else on its settings' address.

    ``parent``: a supervisor's sentinel (a file descriptor); its end (the supervisor died) stops serving too.
    """
    settings = app.extensions["quickdraw"].settings
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        runner.run(serve_until_stopped(app, hypercorn_config(settings), sockets, parent))


async def serve_until_stopped(app, hypercorn: HypercornConfig, sockets=None, parent=None) -> None:
    """Serve until SIGTERM or SIGINT (or ``parent`` ends), then shut down gracefully.

    New sockets are refused and open ones closed with 1001 before Hypercorn
    stops listening; after_serving then waits for the saves still running.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if parent is not None:
        loop.add_reader(parent, stop.set)  # readable = closed: the supervisor is gone, even by SIGKILL

    async def shutdown_trigger():
        await stop.wait()
        loop.set_exception_handler(_quiet_cancellation)
        await app.extensions["gate"].shut_down()

    await worker_serve(
        wrap_app(app, hypercorn.wsgi_max_body_size, "asgi"),
        hypercorn,
        sockets=sockets,
        shutdown_trigger=shutdown_trigger,
    )
    log.info("stopped")


def _quiet_cancellation(loop, context) -> None:
    """At shutdown Hypercorn cancels connections still waiting for their next ping; that is no error."""
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


def supervise(settings: config.Settings, overrides: dict, log_level: str, log_format: str) -> int:
    """Run ``settings.workers`` worker processes until stopped; returns the exit code."""
    recovery.sweep(settings.saved_dir)
    listeners = _listeners(settings)
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: no threads or locks inherited mid-use
    open_total = spawn.Value("i", 0)
    workers: list = []
    stopping = False

    def start(index: int):
        ready, tell = spawn.Pipe(duplex=False)
        name = f"worker-{index}"
        process = spawn.Process(
            target=_work, name=name, args=(name, overrides, log_level, log_format, listeners[index], open_total, tell)
        )
        process.start()
        tell.close()  # the worker holds the other end: EOF before a message means it died loading
        log.info("started %s", name, extra={"pid": process.pid})
        workers.append(process)
        return process, ready

    def started(process, ready) -> bool:
        """Wait until the worker has loaded its model (True) or has exited (False)."""
        try:
            return ready.recv()
        except EOFError:
            process.join()
            return False

    def stop(*_):
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker's graceful shutdown

    with tempfile.TemporaryDirectory(prefix="quickdraw-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # read by each worker's prometheus_client
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            if not started(*start(0)):  # its error is printed already
                return 0 if stopping else workers[0].exitcode or 1
            # Worker 0 serves already; the others load their models side by side.
            if all([started(*pending) for pending in [start(index) for index in range(1, settings.workers)]]):
                port = listeners[0].insecure_sockets[0].getsockname()[1]
                print(
                    f"serving on http://{settings.host}:{port} with {settings.workers} workers",
                    file=sys.stderr,
                    flush=True,
                )
            _close(listeners)  # the workers hold them now; a worker's socket closes when it ends
            code = 0
            while any(process.is_alive() for process in workers):
                for sentinel in wait([p.sentinel for p in workers if p.is_alive()]):
                    process = next(p for p in workers if p.sentinel == sentinel)
                    process.join()
                    if not stopping:
                        log.error("%s exited with code %s; stopping the others", process.name, process.exitcode)
                        code = process.exitcode or 1
                        stop()
            return code
        finally:
            _close(listeners)
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _close(listeners: list) -> None:
    for listener in listeners:
        for sock in listener.insecure_sockets:
            sock.close()


def _listeners(settings: config.Settings) -> list:
    """One set of listening sockets per worker, all on one port (SO_REUSEPORT), bound here.

    The kernel then spreads new connections evenly over the workers. With one
    shared socket, whichever worker woke first would take a whole burst of
    connections, and a game's socket stays where it landed.
    """
    hypercorn = hypercorn_config(settings)
    hypercorn.workers = settings.workers  # Hypercorn sets SO_REUSEPORT for more than one
    first = hypercorn.create_sockets()
    port = first.insecure_sockets[0].getsockname()[1]  # the one the system chose when PORT is 0
    hypercorn.bind = [f"{settings.host}:{port}"]
    return [first] + [hypercorn.create_sockets() for _ in range(settings.workers - 1)]


def _work(name: str, overrides: dict, log_level: str, log_format: str, sockets, open_total, ready) -> None:
    """One worker process: build the app (its own model), tell ``ready``, serve until told to stop."""
    from server import create_app

    logs.configure(log_level, log_format, worker=name)
    try:
        app = create_app(overrides, sweep=False, open_total=open_total)
    except (config.ConfigError, ModelError) as error:
        print(f"python -m server: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    ready.send(True)
    ready.close()
    serve(app, sockets, multiprocessing.parent_process().sentinel)

"""Serving the app with Uvicorn: in this process, or in N worker processes on one socket.

Uvicorn's sans-I/O WebSocket protocol (the ``websockets`` library) reads a
frame's length from its header and closes an oversized frame with 1009
before buffering it, pings every socket and closes one whose peer stops
answering (1011). ``SocketProtocol`` tells the app when a client pings, so a
pinging client counts as alive, and notes those closes the app never makes
itself, so they are counted (``quickdraw_closes_total``) and logged by code.

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
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from multiprocessing.connection import wait

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from core.model import ModelError
from server import config, logs, recovery

log = logging.getLogger("server")

CLIENT_PINGS = "quickdraw.client_pings"  # the scope extension where SocketProtocol notes a client's last ping
WIRE_CLOSE = "quickdraw.wire_close"  # ... and where it notes a close it made itself (1009, the keepalive's 1011)


class SocketProtocol(WebSocketsSansIOProtocol):
    """Uvicorn's WebSocket protocol, noting when the client last sent a WebSocket ping (``client_pinged_at``)
    and the code of a close the WebSocket layer made itself (``closed_on_the_wire``)."""

    def handle_connect(self, event) -> None:
        super().handle_connect(event)
        if hasattr(self, "scope"):  # a refused handshake has none
            self.scope["extensions"][CLIENT_PINGS] = {"last": None}
            self.scope["extensions"][WIRE_CLOSE] = {"code": None}

    def handle_ping(self) -> None:
        super().handle_ping()
        self.scope["extensions"][CLIENT_PINGS]["last"] = time.monotonic()

    def handle_parser_exception(self) -> None:
        """A frame refused as it arrives: over MAX_FRAME_BYTES (1009), or malformed (1002, 1007)."""
        was_open = self._open()
        super().handle_parser_exception()
        if was_open:
            self._note_close()

    def keepalive_timeout(self) -> None:
        """A ping unanswered for PING_TIMEOUT_S: 1011 "keepalive ping timeout"."""
        was_open = self._open()
        super().keepalive_timeout()
        if was_open:
            self._note_close()

    def _open(self) -> bool:
        """Accepted, and no side has begun to close it: a close now is the wire's, not the app's."""
        return self.handshake_complete and not self.close_sent and not self.transport.is_closing()

    def _note_close(self) -> None:
        if self.conn.close_sent is not None:  # the close frame that went out
            self.scope["extensions"][WIRE_CLOSE]["code"] = self.conn.close_sent.code


class HttpProtocol(H11Protocol):
    """Uvicorn's HTTP/1.1 protocol with a deadline for each request head.

    A connection must deliver a whole request head (a WebSocket handshake included) within
    ``head_timeout_s`` of opening, or of its previous response; a silent or trickling client
    (slowloris) is disconnected instead of holding a socket forever.
    """

    head_timeout_s = 10.0  # set per server by uvicorn_config

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        self.loop.call_later(self.head_timeout_s, self._head_timeout, self.cycle)

    def _head_timeout(self, cycle) -> None:
        if self.transport.get_protocol() is not self or self.transport.is_closing():
            return  # upgraded to a WebSocket, or closed already
        if self.cycle is not cycle:
            return  # a request head came in time (its response arms the next deadline)
        self.transport.close()


def client_pinged_at(scope) -> float | None:
    """When the client behind this socket's ASGI scope last pinged (``time.monotonic``), if ever."""
    return scope.get("extensions", {}).get(CLIENT_PINGS, {}).get("last")


def closed_on_the_wire(scope) -> int | None:
    """The close code of a socket that the WebSocket layer closed by itself (1009, 1011…), not the app."""
    return (scope.get("extensions") or {}).get(WIRE_CLOSE, {}).get("code")


def counting_wire_closes(app):
    """ASGI middleware: a socket closed on the wire counts in ``quickdraw_closes_total`` as the app's closes do."""

    async def wrapped(scope, receive, send):
        try:
            return await app(scope, receive, send)
        finally:  # the socket's handler has ended: a close on the wire came before it
            code = closed_on_the_wire(scope)
            if code is not None:
                app.extensions["metrics"].closes.labels(str(code)).inc()

    return wrapped


def with_both_frame_keys(app):
    """ASGI middleware: a ``websocket.receive`` event with both ``bytes`` and ``text``.

    Uvicorn leaves out the key of the frame type not sent; Quart 0.22 then fails on an empty
    binary frame (it reads ``event.get("bytes") or event["text"]``) and drops the socket.
    """

    async def wrapped(scope, receive, send):
        if scope["type"] != "websocket":
            return await app(scope, receive, send)

        async def receive_both():
            event = await receive()
            if event["type"] == "websocket.receive":
                event.setdefault("bytes", None)
                event.setdefault("text", None)
            return event

        return await app(scope, receive_both, send)

    return wrapped


def uvicorn_config(app, settings: config.Settings) -> uvicorn.Config:
    """The frame limit, the request-head deadline and the heartbeat go to Uvicorn, which enforces them."""

    class Http(HttpProtocol):
        head_timeout_s = settings.head_timeout_s

    return uvicorn.Config(
        with_both_frame_keys(counting_wire_closes(app)),
        host=settings.host,
        port=settings.port,
        http=Http,
        ws=SocketProtocol,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_timeout_s,
        ws_per_message_deflate=False,  # messages are a few hundred bytes: compressing costs more than it saves
        lifespan="on",
        proxy_headers=True,  # the client's address from X-Forwarded-For, when FORWARDED_ALLOW_IPS sent it
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_config=None,  # our log format (server.logs), said once
        access_log=False,
        server_header=False,
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        """Signals are ours (``serve_until_stopped``): open sockets get 1001 before Uvicorn stops."""
        yield


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
        runner.run(serve_until_stopped(app, uvicorn_config(app, settings), sockets, parent))


async def serve_until_stopped(app, config: uvicorn.Config, sockets=None, parent=None) -> None:
    """Serve until SIGTERM or SIGINT (or ``parent`` ends), then shut down gracefully.

    New sockets are refused and open ones closed with 1001 before Uvicorn
    stops listening; after_serving then waits for the saves still running.
    """
    server = _Server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if parent is not None:
        loop.add_reader(parent, stop.set)  # readable = closed: the supervisor is gone, even by SIGKILL

    async def shut_down():
        await stop.wait()
        await app.extensions["gate"].shut_down()
        server.should_exit = True

    stopping = asyncio.create_task(shut_down())
    try:
        await server.serve(sockets=sockets)
    finally:
        stopping.cancel()
    if not server.started:
        sys.exit(1)  # Uvicorn said why (the address is in use…)
    log.info("stopped")


def supervise(settings: config.Settings, overrides: dict, log_level: str, log_format: str) -> int:
    """Run ``settings.workers`` worker processes until stopped; returns the exit code."""
    recovery.sweep(settings.saved_dir)
    listeners = _listeners(settings)
    if not settings.secret:  # one secret for all workers: a resumed drawing may land on any of them
        overrides = {**overrides, "secret": config.stored_secret(settings.saved_dir)}
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
                port = listeners[0].getsockname()[1]
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
        listener.close()


def _listeners(settings: config.Settings) -> list[socket.socket]:
    """One listening socket per worker, all on one port (SO_REUSEPORT), bound here.

    The kernel then spreads new connections evenly over the workers. With one
    shared socket, whichever worker woke first would take a whole burst of
    connections, and a game's socket stays where it landed.
    """
    listeners, port = [], settings.port
    for _ in range(settings.workers):
        listener = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((settings.host, port))
        listener.listen(2048)
        listener.set_inheritable(True)
        port = listener.getsockname()[1]  # the one the system chose when PORT is 0
        listeners.append(listener)
    return listeners


def _work(name: str, overrides: dict, log_level: str, log_format: str, listener, open_total, ready) -> None:
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
    serve(app, [listener], multiprocessing.parent_process().sentinel)

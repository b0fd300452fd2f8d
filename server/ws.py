"""The ``/ws`` route: receive → parse → session → classify → send.

Each connection runs two tasks: the reader applies messages to its Session
and posts drawing states into a LatestSlot; the classifier task answers them
one at a time off the event loop. Finished drawings are saved in tracked tasks.
"""

import asyncio
import contextvars
import logging
import secrets
import time

from quart import Blueprint, current_app, websocket

from server import protocol
from server.flow import LatestSlot, Request, TokenBucket
from server.guard import Gate
from server.protocol import Clear, End, Points, ProtocolError, Start, StrokeEnd, Undo
from server.services import Services
from server.session import Drawing, Session

log = logging.getLogger("server.ws")
blueprint = Blueprint("ws", __name__)


@blueprint.websocket("/ws")
async def play():
    services: Services = current_app.extensions["quickdraw"]
    gate: Gate = current_app.extensions["gate"]
    origin = websocket.headers.get("Origin")
    if not gate.origin_allowed(origin, websocket.headers.get("Host")):  # before accept: a cross-site page gets a 403
        log.warning("refused a socket from another site", extra={"origin": origin[:100]})
        return "sockets from other sites are not allowed", 403
    connection = Connection(services, websocket)  # Quart's proxy: it works in tasks that copy this context
    with gate.admission(connection) as refusal:
        if refusal is not None:
            services.metrics.refused.inc()
            await websocket.accept()
            return await connection.close(*refusal)
        await connection.serve()


class Connection:
    """One player's socket: its session, its slot, its game timer."""

    def __init__(self, services: Services, socket):
        self.services, self.socket = services, socket
        self.context = contextvars.copy_context()  # holds the socket the proxy stands for
        settings = services.settings
        self.settings = settings
        self.limits = settings.limits  # built once: it is checked on every message
        self.session = Session(
            services.classifier.labels, self.limits, settings.game_time_limit_s, settings.recognition_threshold
        )
        self.slot = LatestSlot()
        self.bucket = TokenBucket(settings.messages_per_second, settings.message_burst)
        self.seq = 0
        self.last_live = float("-inf")
        self.timer: asyncio.Task | None = None
        self.open = True
        self.metrics = services.metrics
        self.id, self.began = secrets.token_hex(4), time.monotonic()  # the id ties this socket's log lines together
        self.drawings = self.errors = 0
        self.close_code: int | None = None

    async def serve(self) -> None:
        self.metrics.connections.inc()
        self.metrics.connections_total.inc()
        log.info("connection open", extra={"conn": self.id})
        tasks = [asyncio.create_task(self.receive()), asyncio.create_task(self.classify())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("connection failed", exc_info=task.exception())
                    await self.send(
                        protocol.Error(protocol.ErrorCode.INTERNAL_ERROR, "the server failed; please reconnect")
                    )
                    await self.close(protocol.CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            self.open = False
            tasks += [self.timer] if self.timer is not None else []
            self.timer = None  # a finished timer task would keep its traceback, and through it this connection
            for task in tasks:
                task.cancel()
            self.slot.close()
            self.conclude(self.session.finish(), "disconnected")  # the open drawing is saved too
            self.metrics.connections.dec()
            log.info(
                "connection closed",
                extra={
                    "conn": self.id,
                    "drawings": self.drawings,
                    "errors": self.errors,
                    "close": self.close_code or "peer",
                    "seconds": round(time.monotonic() - self.began, 1),
                },
            )
            # Last: the server may cancel this handler when the peer is gone, and nothing above may be skipped.
            await asyncio.gather(*tasks, return_exceptions=True)

    async def receive(self) -> None:
        limit = self.settings.max_frame_bytes
        while True:
            try:
                async with asyncio.timeout(self.settings.idle_timeout_s):
                    frame = await self.socket.receive()
            except TimeoutError:
                return await self.close(
                    protocol.CloseCode.NORMAL_CLOSURE, f"idle for {self.settings.idle_timeout_s:g} s"
                )
            if frame is None:  # Quart hands an empty binary frame over as None (b"" or None)
                frame = b""
            if len(frame.encode() if isinstance(frame, str) else frame) > limit:  # bytes, as on the wire
                return await self.close(protocol.CloseCode.MESSAGE_TOO_BIG, f"frames are limited to {limit} bytes")
            if not self.bucket.take():
                return await self.close(protocol.CloseCode.POLICY_VIOLATION, "too many messages")
            try:
                await self.handle(protocol.parse(frame, self.limits))
            except ProtocolError as error:
                await self.send(protocol.Error.of(error))

    async def handle(self, message) -> None:
        session = self.session
        match message:
            case Start():
                previous, drawing = session.start(message)
                await asyncio.shield(
                    self.conclude(previous, "replaced", after_guesses=True)
                )  # a disconnect must not cancel the save
                self.start_timer(drawing)
                await self.send(drawing.round_message())
            case Points(type="points", points=points):
                session.add_points(points)
                await self.live_guess()
            case StrokeEnd():
                await self.guess(session.end_stroke())
            case Points(type="stroke", points=points):
                await self.guess(session.add_stroke(points))
            case Undo():
                await self.guess(session.undo())
            case Clear():
                await self.guess(session.clear())
            case End():
                await asyncio.shield(self.conclude(session.end(), "ended", after_guesses=True))

    async def guess(self, strokes: int) -> None:
        """Ask for the one guess owed for a completed stroke, undo or clear."""
        drawing = self.session.drawing
        await self.slot.put(Request(drawing, list(drawing.strokes), strokes, required=True))

    async def live_guess(self) -> None:
        """Ask for a guess mid-stroke, at most every LIVE_GUESS_INTERVAL_MS and only while the classifier keeps up."""
        now = time.monotonic()
        if (now - self.last_live) * 1000 < self.settings.live_guess_interval_ms:
            return
        if self.services.backlog >= self.settings.live_guess_max_backlog:
            return
        self.last_live = now
        drawing = self.session.drawing
        await self.slot.put(Request(drawing, drawing.snapshot(), len(drawing.strokes), required=False))

    async def classify(self) -> None:
        while True:
            request = await self.slot.take()
            try:
                guesses, recognized = [], None
                if request.snapshot:
                    prediction = await self.services.predict(request.snapshot)
                    guesses, recognized = self.session.observe(request.drawing, prediction, request.strokes)
                self.seq += 1
                await self.send(protocol.GuessMessage(self.seq, request.strokes, guesses))
                self.metrics.guesses.labels("stroke" if request.required else "live").inc()
                if request.required:
                    self.metrics.latency.observe(time.perf_counter() - request.at)
                if recognized is not None:
                    self.conclude(request.drawing, "recognized", announce=recognized)
            finally:
                self.slot.done()

    def start_timer(self, drawing: Drawing) -> None:
        if self.timer is not None:
            self.timer.cancel()
        # Free drawings end too, after MAX_DRAWING_S, so an abandoned tab cannot hold a drawing forever.
        seconds = min(drawing.time_limit_s or float("inf"), self.settings.max_drawing_s)
        self.timer = asyncio.create_task(self.time_out(drawing, seconds))

    async def time_out(self, drawing: Drawing, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.session.time_out(drawing):
            self.conclude(drawing, "timeout", announce=protocol.Timeout(drawing.word))

    def conclude(
        self, drawing: Drawing | None, outcome: str, announce=None, after_guesses: bool = False
    ) -> asyncio.Task:
        """Count and save a drawing that left the session, then send ``saved``, in a task Services tracks.

        ``announce`` (recognized, timeout) goes out first, in the same task, so a closing
        connection cannot lose the save after it; with ``after_guesses`` the guesses still
        owed for it go out before ``saved``. Await it under ``asyncio.shield``.
        """
        kept = drawing is not None and bool(drawing.strokes)
        if kept:
            self.drawings += 1
            self.metrics.drawings.labels(outcome).inc()

        async def save():
            if announce is not None:
                await self.send(announce)
            if after_guesses:
                await self.slot.join()
            if kept:
                result = await self.services.save_async(drawing)
                self.metrics.saves.labels("ok" if isinstance(result, protocol.Saved) else "failed").inc()
                await self.send(result)

        return self.services.spawn(save())

    async def send(self, message) -> None:
        if isinstance(message, protocol.Error):
            self.errors += 1
            self.metrics.errors.labels(message.code).inc()
        if self.open:
            try:
                await self.socket.send(message.encode())
            except Exception:  # the peer is gone; the reader notices and ends the connection
                self.open = False

    def close_soon(self, code: int, reason: str) -> asyncio.Task:
        """``close`` from another task (shutdown), run in this connection's context, where its socket is."""
        return asyncio.get_running_loop().create_task(self.close(code, reason), context=self.context.copy())

    async def close(self, code: int, reason: str) -> None:
        if self.close_code is not None:  # shutdown and a limit may race; a socket closes once
            return
        log.info("closing a connection: %d %s", code, reason, extra={"conn": self.id})
        self.open, self.close_code = False, code
        self.metrics.closes.labels(str(code)).inc()
        await self.socket.close(code, reason)

"""The ``/ws`` route: receive → parse → session → classify → send, in the order the client asked.

A ``Connection`` routes. It runs three tasks: its reader applies each message
to the ``Session`` (the drawing's rules, ``server.session``) and queues the
answers in its ``Outbox`` (``server.outbox``), its ``Guesser``
(``server.guesser``) classifies what the session owes or what is being drawn,
and the outbox's writer sends the answers in order. In a room, the
connection is the ``Player`` its ``Seat`` (``server.roomplay``) plays through.
"""

import asyncio
import contextvars
import logging
import secrets
import time
from typing import Any

from quart import Blueprint, current_app, websocket

from core import sketch
from core.model import Prediction
from server import protocol, roomplay
from server.flow import Request, TokenBucket
from server.guard import Gate
from server.guesser import Guesser
from server.hosting import client_pinged_at, closed_on_the_wire
from server.outbox import Outbox
from server.protocol import (
    Clear,
    End,
    ErrorCode,
    Join,
    Leave,
    Ping,
    Points,
    ProtocolError,
    RoomStart,
    Start,
    StrokeEnd,
    Undo,
)
from server.roomhub import RoomsUnavailable
from server.rooms import RoomError
from server.services import Services
from server.session import Drawing, Session

log = logging.getLogger("server.ws")
blueprint = Blueprint("ws", __name__)

CLOSE_FLUSH_S = 2.0  # at a server-side close, how long the last answers (saved, closing) may take to go out
REFUSED_WINDOW_S = 10.0  # a client may have MAX_REFUSED_MESSAGES refused messages per this many seconds


@blueprint.websocket("/ws")
async def play():
    services: Services = current_app.extensions["quickdraw"]
    gate: Gate = current_app.extensions["gate"]
    origin = websocket.headers.get("Origin")
    if not gate.origin_allowed(origin, websocket.headers.get("Host")):  # before accept: a cross-site page gets a 403
        log.warning("refused a socket from another site", extra={"origin": origin[:100]})
        return "sockets from other sites are not allowed", 403
    asked = websocket.requested_subprotocols
    if asked and protocol.SUBPROTOCOL not in asked:
        error = protocol.Error(
            protocol.ErrorCode.UNSUPPORTED_PROTOCOL, f"this server speaks {protocol.SUBPROTOCOL} (or no subprotocol)"
        )
        return error.to_json(), 400
    await websocket.accept(subprotocol=protocol.SUBPROTOCOL if asked else None)
    connection = Connection(services, websocket)  # Quart's proxy: it works in tasks that copy this context
    with gate.admission(connection) as refusal:
        if refusal is not None:
            services.metrics.refused.inc()
            return await connection.close(*refusal)
        await connection.serve()


class Connection:
    """One player's socket: routes its messages to its session, guesser, outbox and seat."""

    def __init__(self, services: Services, socket):
        self.services, self.socket = services, socket
        self.context = contextvars.copy_context()  # holds the socket the proxy stands for
        settings = services.settings
        self.settings = settings
        self.limits = settings.limits  # built once: it is checked on every message
        self.session = Session(
            services.classifier.labels,
            self.limits,
            settings.game_time_limit_s,
            settings.recognition_threshold,
            settings.first_stroke_threshold,
            settings.recognition_top_guess,
            secret=services.secret,
            max_resume_s=settings.max_drawing_s,
        )
        self.id, self.began = secrets.token_hex(4), time.monotonic()  # the id ties this socket's log lines together
        self.outbox = Outbox()
        self.guesser = Guesser(services, self.session, self.id)
        self.bucket = TokenBucket(settings.messages_per_second, settings.message_burst)
        # Refusals have their own bucket: MAX_REFUSED_MESSAGES at once, refilled over REFUSED_WINDOW_S.
        self.refusals = TokenBucket(settings.max_refused_messages / REFUSED_WINDOW_S, settings.max_refused_messages)
        self.seq = 0
        self.timer: asyncio.Task | None = None
        self.writer: asyncio.Task | None = None
        self.open = True
        self.metrics = services.metrics
        self.drawings = self.errors = self.frames = 0
        self.close_code: int | None = None
        self.seat: roomplay.Seat | None = None  # this player's place in a room, after ``join``

    async def serve(self) -> None:
        self.metrics.connections.inc()
        self.metrics.connections_total.inc()
        # The client's address: behind nginx, the one X-Forwarded-For names (FORWARDED_ALLOW_IPS)
        log.info("connection open", extra={"conn": self.id, "client": self.socket.remote_addr})
        self.tell(self.hello())
        work = (self.receive(), self.guesser.run(self.answered), self.outbox.write(self.send))
        tasks = [asyncio.create_task(job) for job in work]
        self.writer = tasks[2]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("connection failed", exc_info=task.exception())
                    self.outbox.forget()  # they will not be computed: the writer must not wait for them
                    self.tell(protocol.Error(protocol.ErrorCode.INTERNAL_ERROR, "the server failed; please reconnect"))
                    await self.close(protocol.CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            self.open = False
            tasks += [self.timer] if self.timer is not None else []
            self.timer = self.writer = None  # a finished task keeps its traceback, and through it this connection
            for task in tasks:
                task.cancel()
            self.guesser.close()
            self.outbox.forget()
            self.conclude(self.session.finish(), "disconnected")  # the open drawing is saved too
            if self.seat is not None:
                self.seat.close(away=True)  # the player keeps the seat: a reconnect takes it back
                self.seat = None  # (a seat points back at its connection)
            self.metrics.connections.dec()
            log.info(
                "connection closed",
                extra={
                    "conn": self.id,
                    "drawings": self.drawings,
                    "errors": self.errors,
                    "close": self.close_code or closed_on_the_wire(self.socket.scope) or "peer",
                    "seconds": round(time.monotonic() - self.began, 1),
                },
            )
            # Last: the server may cancel this handler when the peer is gone, and nothing above may be skipped.
            await asyncio.gather(*tasks, return_exceptions=True)

    def hello(self) -> protocol.Hello:
        settings, classifier = self.settings, self.services.classifier
        limit_names = (
            "max_frame_bytes",
            "max_points_per_message",
            "max_points_per_stroke",
            "max_points",
            "max_strokes",
            "messages_per_second",
            "message_burst",
            "max_refused_messages",
            "classify_points_per_second",
            "classify_points_burst",
            "max_drawing_s",
        )
        return protocol.Hello(
            protocol.VERSION,
            classifier.version,
            classifier.labels,
            settings.recognition_threshold,
            settings.first_stroke_threshold,
            settings.recognition_top_guess,
            settings.game_time_limit_s,
            settings.live_guess_interval_ms,
            {
                "ping_interval_s": settings.ping_interval_s,
                "ping_timeout_s": settings.ping_timeout_s,
                "idle_timeout_s": settings.idle_timeout_s,
            },
            {name: getattr(settings, name) for name in limit_names} | {"max_coordinate": sketch.MAX_COORDINATE},
        )

    async def receive(self) -> None:
        limit, idle_s = self.settings.max_frame_bytes, self.settings.idle_timeout_s
        while True:
            await self.guesser.affordable()  # over its share of the classifier: its next frame waits unread
            try:
                frame = await self.next_frame(idle_s)
            except TimeoutError:
                return await self.close(protocol.CloseCode.NORMAL_CLOSURE, f"idle for {idle_s:g} s")
            self.frames += 1
            if frame is None:  # Quart hands an empty binary frame over as None (b"" or None)
                frame = b""
            if len(frame.encode() if isinstance(frame, str) else frame) > limit:  # bytes, as on the wire
                return await self.close(protocol.CloseCode.MESSAGE_TOO_BIG, f"frames are limited to {limit} bytes")
            message = None
            try:
                within_rate = self.bucket.take()
                message = protocol.parse(frame, self.limits)
                if not within_rate:
                    wait = round(self.bucket.retry_after(), 3)
                    raise ProtocolError(
                        ErrorCode.RATE_LIMITED,
                        f"over {self.settings.messages_per_second:g} messages/s: refused, retry after {wait:g} s",
                        retry_after=wait,
                    )
                await self.handle(message)
            except ProtocolError as error:
                if error.code is ErrorCode.DRAWING_ENDED and _unasked_points(message):
                    continue  # the rest of a stroke that crossed the round's end: nobody waits for an answer
                # Every refusal counts but the ended drawing's (the client could not have known); one too many closes.
                if error.code is not ErrorCode.DRAWING_ENDED and not self.refusals.take():
                    flood = "too many messages" if error.code is ErrorCode.RATE_LIMITED else "too many refused messages"
                    return await self.close(protocol.CloseCode.POLICY_VIOLATION, flood)
                if error.reply_to is None and message is not None:  # parse sets it; the session cannot
                    error.reply_to = message.id
                self.tell(protocol.Error.of(error))
            while self.outbox.full:  # the client does not read: stop reading it too
                await asyncio.sleep(0.05)

    async def next_frame(self, idle_s: float):
        """The next frame; TimeoutError after ``idle_s`` with neither a message nor a WebSocket ping from the client."""
        wait = idle_s
        while True:
            try:
                async with asyncio.timeout(wait):
                    return await self.socket.receive()
            except TimeoutError:
                pinged = client_pinged_at(self.socket.scope)
                wait = idle_s - (time.monotonic() - pinged) if pinged is not None else 0
                if wait <= 0:
                    raise

    async def handle(self, message) -> None:
        session = self.session
        drawing = session.drawing  # what it draws is shared even if a guess ends the drawing meanwhile
        match message:
            case Start():
                if self.seat is not None:
                    raise ProtocolError(ErrorCode.IN_ROOM, "in a room, its rounds start the drawings: leave it first")
                self.opened(*session.start(message), message.id)
            case Points(type="points", points=points):
                session.add_points(points)
                self.share(drawing, ["points", points])
                self.guesser.drawn()
            case StrokeEnd():
                await self.owe(session.end_stroke(), message.id)
                self.share(drawing, ["stroke_end"])
            case Points(type="stroke", points=points):
                closes = [["stroke_end"]] if drawing is not None and drawing.open else []  # the open stroke first
                await self.owe(session.add_stroke(points), message.id)
                self.share(drawing, *closes, ["points", points], ["stroke_end"])
            case Undo():
                await self.owe(session.undo(), message.id)
                self.share(drawing, ["undo"])
            case Clear():
                await self.owe(session.clear(), message.id)
                self.share(drawing, ["clear"])
            case End():
                self.conclude(session.end(), "ended", message.id)
            case Ping():
                self.tell(protocol.Pong(message.id))
            case Join() | RoomStart() | Leave():
                await self.room_request(message)

    def opened(self, previous: Drawing | None, drawing: Drawing, reply_to: protocol.RequestId = None) -> Drawing:
        """A drawing began (the previous one ended): its clock runs, and ``round`` tells the client."""
        self.conclude(previous, "replaced")
        self.start_timer(drawing)
        self.guesser.reset()
        self.tell(drawing.round_message(reply_to))
        return drawing

    # The Player a Seat plays through (server.roomplay.Player) ---------------------------------

    def tell(self, message) -> None:
        """Queue a message (or a future of one, or of a list) to go out after everything queued before it."""
        self.outbox.put(message)

    def open_round(self, word: str, time_limit_s: float, elapsed_ms: int, carry: tuple[str, str] | None) -> Drawing:
        """Open this player's drawing of a room round, on the room's clock, carrying on ``carry`` if it can."""
        if carry is not None:
            try:
                return self.opened(*self.session.start_round(word, time_limit_s, elapsed_ms, carry))
            except ProtocolError as error:  # bad_resume: a fresh drawing instead
                log.info("a room drawing could not be carried on: %s", error.message, extra={"conn": self.id})
        return self.opened(*self.session.start_round(word, time_limit_s, elapsed_ms))

    def close_soon(self, code: int, reason: str) -> asyncio.Task:
        """``close`` from another task (shutdown, a room), run in this connection's context, where its socket is."""
        return asyncio.get_running_loop().create_task(self.close(code, reason), context=self.context.copy())

    # -------------------------------------------------------------------------------------------

    async def room_request(self, message: Join | RoomStart | Leave) -> None:
        """``join``, ``room_start`` and ``leave``: the room's rules decide; a refusal is an error with its code."""
        try:
            match message:
                case Join():
                    if self.seat is not None:  # one room, one seat: a second join changes nothing
                        raise ProtocolError(ErrorCode.IN_ROOM, f"already in room {self.seat.code}: leave it first")
                    self.seat = await roomplay.join(self, self.services, message)
                case RoomStart():
                    words = roomplay.pick_words(self.services.classifier.labels)
                    await self.seated().start_game(words, message.id)
                case Leave():
                    seat, self.seat = self.seated(), None
                    if seat.holds(self.session.drawing):  # the round's drawing ends with the seat: saved, unscored
                        self.conclude(self.session.finish(), "left")
                    await seat.leave(message.id)
        except RoomError as error:
            raise ProtocolError(error.code, str(error)) from None
        except RoomsUnavailable:
            message = "rooms are unavailable right now (single play still works); try again soon"
            raise ProtocolError(ErrorCode.ROOMS_UNAVAILABLE, message) from None

    def seated(self) -> roomplay.Seat:
        if self.seat is None:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "join a room first")
        return self.seat

    def share(self, drawing: Drawing | None, *ops: list[Any]) -> None:
        """Pass what the player just drew in ``drawing``, if it is their room round's, to the others in the room."""
        if self.seat is not None and self.seat.holds(drawing):
            for op in ops:
                self.seat.note(op)

    async def owe(self, strokes: int, reply_to) -> None:
        """Queue the guess owed for a completed stroke, undo or clear; it covers the open stroke's points too."""
        await self.guesser.owe(self.session.drawing, self.outbox.owe(), reply_to)

    def answered(self, request: Request, prediction: Prediction | None) -> None:
        """The guesser's answer for a request: a guess to send (owed or live), which may win the round."""
        drawing, guesses, won = request.drawing, [], False
        if prediction is not None:
            guesses, won = self.session.observe(drawing, prediction, request.strokes, len(request.snapshot))
        else:
            drawing.guesses = []
        self.seq += 1
        message = protocol.GuessMessage(self.seq, drawing.id, request.strokes, request.live, guesses, request.reply_to)
        self.metrics.guesses.labels("live" if request.live else "stroke").inc()
        if request.live:
            self.tell(message)
        else:
            if self.seat is not None and self.seat.holds(drawing):
                self.seat.guessed(request.strokes, guesses)
            self.metrics.latency.observe(time.perf_counter() - request.at)
            self.outbox.settle(request.reply, message)
        if won:
            self.conclude(drawing, "recognized")

    def start_timer(self, drawing: Drawing) -> None:
        if self.timer is not None:
            self.timer.cancel()
        # Free drawings end too, after MAX_DRAWING_S, so an abandoned tab cannot hold a drawing forever.
        seconds = min(drawing.time_limit_s or float("inf"), self.settings.max_drawing_s)
        left = seconds - (time.monotonic() - drawing.began)  # a resumed drawing has used some already
        self.timer = asyncio.create_task(self.time_out(drawing, max(0.0, left)))

    async def time_out(self, drawing: Drawing, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.session.time_out(drawing):
            self.conclude(drawing, "timeout")

    def conclude(self, drawing: Drawing | None, outcome: str, reply_to=None) -> None:
        """Queue the end of a drawing that left the session: after the guesses still owed for it (which
        may still win its round), ``recognized`` or ``timeout`` for a round, as soon as they are known,
        then its one final message, ``saved`` or ``not_saved``. The save runs in a task Services
        tracks: a disconnect cannot cancel it. A room round's drawing is scored by its seat, unless the
        player left or dropped (a dropped player may come back to it)."""
        if drawing is None:
            return
        owed = drawing.last_owed
        score = None
        if self.seat is not None and self.seat.holds(drawing):
            self.seat.flush_now()  # the drawing's last points reach the others tagged with its own round
            if outcome not in ("disconnected", "closed"):
                score = self.seat.scorer(drawing)
        if drawing.strokes:
            self.drawings += 1

        async def verdict() -> list:
            if owed is not None:
                await asyncio.wait([owed])
            if drawing.win is not None:
                return [drawing.win]
            return [protocol.Timeout(drawing.id, drawing.word)] if outcome == "timeout" else []

        async def finish():
            await asyncio.wait([announced])
            if not drawing.strokes:
                result = protocol.NotSaved(drawing.id, "empty", reply_to)
            else:
                self.metrics.drawings.labels("recognized" if drawing.recognized else outcome).inc()
                result = await self.services.save_async(drawing, reply_to)
                self.metrics.saves.labels("ok" if isinstance(result, protocol.Saved) else "failed").inc()
            if score is not None:  # a room round: score it
                await score(result.id if isinstance(result, protocol.Saved) else None)
            return result

        announced = asyncio.ensure_future(verdict())
        self.tell(announced)
        self.tell(self.services.spawn(finish()))

    async def send(self, message) -> None:
        if isinstance(message, protocol.Error):
            self.errors += 1
            self.metrics.errors.labels(message.code).inc()
        if self.open:
            try:
                await self.socket.send(message.encode())
            except Exception:  # the peer is gone; the reader notices and ends the connection
                self.open = False

    async def close(self, code: int, reason: str) -> None:
        """Close from the server's side: the open drawing ends (and is saved), its final message and a
        ``closing`` notice go out after everything queued, for at most CLOSE_FLUSH_S, then the close frame."""
        if self.close_code is not None:  # shutdown and a limit may race; a socket closes once
            return
        log.info("closing a connection: %d %s", code, reason, extra={"conn": self.id})
        self.close_code = code
        self.metrics.closes.labels(str(code)).inc()
        self.conclude(self.session.finish(), "closed")
        self.tell(protocol.Closing(code, reason))
        if self.writer is not None and not self.writer.done():
            if not await self.outbox.drain(CLOSE_FLUSH_S):
                log.warning("a closing socket did not take its last messages", extra={"conn": self.id})
        else:  # refused before serving: only ready messages wait (the notice)
            await self.outbox.send_ready(self.send)
        self.open = False
        await self.socket.close(code, reason)


def _unasked_points(message) -> bool:
    """A ``points`` message without an id: nobody waits for its answer."""
    return isinstance(message, Points) and message.type == "points" and message.id is None

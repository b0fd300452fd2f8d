"""``Client``: one socket speaking protocol version 1, its requests matched to their answers.

Each request gets a fresh ``id``, and the awaited call returns the answer whose
``reply_to`` is that id, or raises ``ServerError``. The client stays under the
server's rate limit, re-sends a request refused as ``rate_limited`` after
``retry_after``, and pings when it has sent nothing for a third of the idle
timeout. Messages that answer no call (live guesses, ``recognized``,
``timeout``, a final message nobody asked for, ``closing``, errors about
``points``) come from ``events()``.

A drawing the server ended (recognized, timed out, a room's round over) is over
for the client too: ``verdict`` holds the ``recognized`` or ``timeout``, and
drawing calls send nothing more and return None instead of raising.
"""

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from quickdraw_client.pacing import TokenBucket
from quickdraw_client.wire import (
    DRAWING_ENDED,
    NO_DRAWING,
    RATE_LIMITED,
    SUBPROTOCOL,
    VERSION,
    ServerClosed,
    ServerError,
)

ANSWER_TIMEOUT_S = 30.0  # a missing answer is a failure, not a hang
PACE_MARGIN = 0.9  # pace at 90% of the server's rate and burst: its bucket and ours run on different clocks
EVENTS_KEPT = 1000  # unread events beyond this drop the oldest: a client that never reads them stays small


@dataclass(eq=False)
class _Sent:
    message: dict
    reply: asyncio.Future | None  # None: fire-and-forget (points)
    sent: float = 0.0  # perf_counter when it last went out
    received: float = 0.0  # ... and when its answer came


class Client:
    """One socket speaking protocol version 1; use ``async with Client(url) as client:``.

    ``max_rate``: messages per second, None for the server's own limit (from ``hello``), 0 for no pacing.
    ``heartbeat_s``: ping after this long without sending, None for a third of the idle timeout, 0 for never.
    """

    def __init__(
        self,
        url: str,
        *,
        max_rate: float | None = None,
        heartbeat_s: float | None = None,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
        deflate: bool = False,
    ):
        self.url, self.max_rate, self.heartbeat_s = url, max_rate, heartbeat_s
        self.answer_timeout_s, self.deflate = answer_timeout_s, deflate
        self.hello: dict = {}
        self.closing: dict | None = None  # the server's notice before it closed the socket
        self.close_code: int | None = None
        self.retries = 0  # requests re-sent after rate_limited
        self.round_trip_s = 0.0  # of the last call answered: sent → answer received
        self._ids = 0
        self._waiting: dict[int, _Sent] = {}  # requests by id, until answered
        self._points: dict[int, _Sent] = {}  # points by id, until a later answer shows they were taken
        self._events: asyncio.Queue = asyncio.Queue(EVENTS_KEPT)
        self._sending = asyncio.Lock()  # frames go out in the order they were asked for
        self._bucket: TokenBucket | None = None
        self._hold = 0.0  # after rate_limited: nothing goes out before this (monotonic) ...
        self._refused: deque[_Sent] = deque()  # ... and then these first, in their order
        self._last_sent = time.monotonic()
        # Whether the last drawing started has ended or is about to: recognized, timeout or its final message
        # came, or a guess gave the prompt p ≥ the threshold (recognized follows). Drawing more is wasted then.
        self.round_over = False
        self.verdict: dict | None = None  # the server's recognized or timeout for the last drawing started
        self._round: dict | None = None  # the last round started ...
        self._final: dict | None = None  # ... its saved or not_saved
        self._finished = asyncio.Event()  # ... set when that came or the socket closed
        self._reader: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()  # the heartbeat, re-sends

    async def __aenter__(self) -> "Client":
        return await self.connect()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self) -> "Client":
        """Open the socket and read ``hello``.

        Raises:
            ServerClosed: the server refused the socket (1013 full, 1001 shutting down).
        """
        compression = "deflate" if self.deflate else None
        self.socket = await connect(
            self.url, subprotocols=[SUBPROTOCOL], max_size=2**22, open_timeout=30, compression=compression
        )
        first = json.loads(await asyncio.wait_for(self.socket.recv(), self.answer_timeout_s))
        if first["type"] == "closing":
            await self.socket.close()
            raise ServerClosed(first["code"])
        if first["type"] != "hello" or first["protocol"] != VERSION:
            await self.socket.close()
            raise ConnectionError(f"expected hello for protocol {VERSION}, got {first}")
        self.hello, limits = first, first["limits"]
        rate = limits["messages_per_second"] * PACE_MARGIN if self.max_rate is None else self.max_rate
        if rate:
            self._bucket = TokenBucket(rate, max(1, int(limits["message_burst"] * PACE_MARGIN)))
        self._reader = asyncio.create_task(self._read())
        heartbeat_s = first["heartbeat"]["idle_timeout_s"] / 3 if self.heartbeat_s is None else self.heartbeat_s
        if heartbeat_s:
            self._spawn(self._beat(heartbeat_s))
        return self

    async def close(self) -> None:
        """Close the socket; calls still waiting raise ``ServerClosed``."""
        for task in self._tasks:
            task.cancel()
        await self.socket.close()
        await asyncio.gather(self._reader, *self._tasks, return_exceptions=True)

    # Requests -----------------------------------------------------------------

    async def start(self, mode: str = "free", word: str | None = None) -> dict:
        """Begin a drawing (a drawing still open is finished first); returns the ``round``."""
        return await self.request("start", mode=mode, **({} if word is None else {"word": word}))

    async def stroke(self, x: list, y: list, t: list | None = None) -> dict | None:
        """One whole stroke (at most ``limits.max_points_per_message`` points); returns its owed ``guess``,
        or None when the server had ended the drawing (see ``verdict``)."""
        return await self._draw("stroke", **_points(x, y, t))

    async def points(self, x: list, y: list, t: list | None = None) -> None:
        """Extend the open stroke; returns once sent (an error about it comes from ``events()``).
        Nothing is sent once the server has ended the drawing."""
        if self.verdict is None:
            await self._send(_Sent({"type": "points", **_points(x, y, t)}, None))

    async def stroke_end(self) -> dict | None:
        """Complete the open stroke; returns its owed ``guess``, or None when the drawing had ended."""
        return await self._draw("stroke_end")

    async def undo(self) -> dict | None:
        """Take back the last stroke; returns the ``guess`` without it, or None when the drawing had ended."""
        return await self._draw("undo")

    async def clear(self) -> dict | None:
        """Take back every stroke; returns the empty ``guess``, or None when the drawing had ended."""
        return await self._draw("clear")

    async def ping(self) -> dict:
        return await self.request("ping")

    async def end(self) -> dict:
        """Finish the drawing; returns its final message, ``saved`` or ``not_saved``. A drawing that already
        ended (recognized, timeout, or ``end``) is not ended again: its final message is returned.

        Raises:
            ServerError: ``no_drawing`` when no drawing was started.
        """
        if self._final is None:
            try:
                return await self.request("end")
            except ServerError as error:  # the drawing ended by itself: its final message comes (or came) alone
                if error.code not in (NO_DRAWING, DRAWING_ENDED) or self._round is None:
                    raise
        async with asyncio.timeout(self.answer_timeout_s):
            await self._finished.wait()
        if self._final is None:
            raise ServerClosed(self.close_code or 1006)
        return self._final

    async def _draw(self, kind: str, **fields) -> dict | None:
        """A drawing request, or None for a drawing the server ended: that is the game, not a mistake."""
        if self.verdict is not None:
            return None
        try:
            return await self.request(kind, **fields)
        except ServerError as error:
            # A server older than drawing_ended says no_drawing; recognized or timeout came before that answer.
            if error.code == DRAWING_ENDED or (error.code == NO_DRAWING and self.verdict is not None):
                self.round_over = True
                return None
            raise

    # Rooms: ``room``, ``peer_drawing`` and ``peer_guess`` news, and a room's ``round``, come from ``events()``.

    async def join(self, name: str | None = None, room: str | None = None, player=None, token=None) -> dict:
        """Create a room (no ``room``) or join one as ``name``, or take a seat back (``player``, ``token``);
        returns the ``room``."""
        fields = {"name": name, "room": room, "player": player, "token": token}
        return await self.request("join", **{key: value for key, value in fields.items() if value is not None})

    async def room_start(self) -> dict:
        """Start the room's game (the host only); returns the ``room``, now playing."""
        return await self.request("room_start")

    async def leave(self) -> dict:
        return await self.request("leave")

    async def request(self, kind: str, **fields) -> dict:
        """Send one message and return the server's answer to it.

        Raises:
            ServerError: the server answered with an ``error``.
            ServerClosed: the socket closed first.
            TimeoutError: no answer within ``answer_timeout_s``.
        """
        request = _Sent({"type": kind, **fields}, asyncio.get_running_loop().create_future())
        try:
            async with asyncio.timeout(self.answer_timeout_s):
                await self._send(request)
                if self.close_code is not None and not request.reply.done():
                    raise ServerClosed(self.close_code)
                answer = await request.reply
        finally:
            self._waiting.pop(request.message.get("id"), None)
        self.round_trip_s = request.received - request.sent
        return answer

    async def events(self):
        """Messages that answer no call, in the order they came; ends when the socket has closed."""
        while (message := await self._events.get()) is not None:
            yield message
        self._events.put_nowait(None)  # for the next reader too

    # The socket ---------------------------------------------------------------

    async def _send(self, sent: _Sent | None) -> None:
        """Send ``sent`` (None: nothing new) after the refused messages waiting to go again, all paced."""
        async with self._sending:
            while self._refused or sent is not None:
                await self._pace()
                item = self._refused.popleft() if self._refused else sent
                sent = None if item is sent else sent
                if item.reply is not None and item.reply.done():  # its call gave up (timeout) while it waited
                    continue
                mine = self._points if item.reply is None else self._waiting
                mine.pop(item.message.get("id"), None)  # a re-send gets a new id
                self._ids += 1  # ids grow in sending order: an answer to one shows every earlier message was read
                item.message["id"] = self._ids
                mine[self._ids] = item
                try:
                    await self.socket.send(json.dumps(item.message, separators=(",", ":")))
                except ConnectionClosed as closed:
                    raise ServerClosed(self.close_code or (closed.rcvd.code if closed.rcvd else 1006)) from None
                item.sent, self._last_sent = time.perf_counter(), time.monotonic()

    async def _pace(self) -> None:
        """Wait out a rate_limited hold, then for a token of the client's own bucket."""
        while True:
            if (hold := self._hold - time.monotonic()) > 0:
                await asyncio.sleep(hold)
            elif self._bucket is None or self._bucket.take():
                return
            else:
                await asyncio.sleep(self._bucket.retry_after())

    async def _read(self) -> None:
        try:
            while True:
                self._route(json.loads(await self.socket.recv()))
        except ConnectionClosed as closed:  # the close frame's code, else the notice's
            self.close_code = closed.rcvd.code if closed.rcvd else self.closing and self.closing["code"]
        finally:
            self.close_code = self.close_code or 1006
            for request in self._waiting.values():
                if not request.reply.done():
                    request.reply.set_exception(ServerClosed(self.close_code))
            self._finished.set()
            self._event(None)

    def _route(self, message: dict) -> None:
        kind, reply_to = message["type"], message.get("reply_to")
        self._follow(message)
        if isinstance(reply_to, int):
            for taken in [i for i in self._points if i < reply_to]:
                del self._points[taken]
            if kind == "error" and message["code"] == RATE_LIMITED:
                refused = self._waiting.get(reply_to) or self._points.get(reply_to)
                if refused is not None:  # it stays where it is until re-sent, so a close still fails it
                    self.retries += 1
                    self._hold = max(self._hold, time.monotonic()) + (message.get("retry_after") or 0.0)
                    self._refused.append(refused)
                    self._spawn(self._resend())
                    return
            request = self._waiting.get(reply_to)
            if request is not None and not request.reply.done():
                request.received = time.perf_counter()
                if kind == "error":
                    request.reply.set_exception(ServerError(message))
                else:
                    request.reply.set_result(message)
                return
            self._points.pop(reply_to, None)  # an error about it: refused
        if kind == "closing":
            self.closing = message
        self._event(message)

    def _follow(self, message: dict) -> None:
        """Keep track of the last round started: whether it is over, its final message."""
        kind, current = message["type"], self._round or {}
        if kind == "round":
            self._round, self._final, self._finished = message, None, asyncio.Event()
            self.round_over, self.verdict = False, None
        elif kind == "guess" and message["drawing"] == current.get("id") and current["mode"] in ("game", "room"):
            drawn = message["strokes"] + message["live"]  # a live guess sees the open stroke too
            rule = "first_stroke_threshold" if drawn <= 1 else "recognition_threshold"
            ranked = message["guesses"][:1] if self.hello.get("recognition_top_guess") else message["guesses"]
            self.round_over |= any(g["word"] == current["word"] and g["p"] >= self.hello[rule] for g in ranked)
        elif kind in ("recognized", "timeout") and message["drawing"] == current.get("id"):
            self.round_over, self.verdict = True, message
        elif kind in ("saved", "not_saved") and message["id"] == current.get("id"):
            self._final, self.round_over = message, True
            self._finished.set()

    async def _resend(self) -> None:
        try:
            await self._send(None)
        except ServerClosed:
            pass  # the reader fails the calls still waiting

    def _event(self, message: dict | None) -> None:
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(message)

    async def _beat(self, every_s: float) -> None:
        """Ping whenever nothing was sent for ``every_s``, so the server does not close an idle socket."""
        try:
            while True:
                await asyncio.sleep(max(0.0, self._last_sent + every_s - time.monotonic()))
                if time.monotonic() - self._last_sent >= every_s:
                    await self.ping()
        except (ServerClosed, TimeoutError):
            pass

    def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _points(x: list, y: list, t: list | None) -> dict:
    return {"x": x, "y": y} if t is None else {"x": x, "y": y, "t": t}

"""One player's seat in a room, on one socket: join, follow the room, play its rounds, show the others.

The connection (``server.ws``) hands the room messages (``join``, ``room_start``, ``leave``) to
``join``/``Seat`` and tells its seat what the player draws in the seat's own round drawing. The seat
plays through a narrow ``Player`` (the connection): it tells the player messages and opens their round
drawings. It changes the room through the hub (``server.roomhub``: this process or Redis) and publishes
what everyone in the room should see:

* ``room`` (``protocol.RoomState``): the room's state after every change, with a ``version`` that only
  grows (each socket adds its own ``you`` and ``token``);
* ``peer_drawing``: a player's drawing as operations, batched every ``PEER_BATCH_S``, each batch tagged with
  the round of the drawing it belongs to;
* ``peer_guess``: the network's top guesses after each of a player's completed strokes.

Each round's drawing is started by the room: when a round begins, every seat opens its player's drawing
(mode ``room``) with the room's word on the room's clock, and when the round's time is up, any seat may
end the round (the hub makes sure only one does). A seat taken back mid-round (a reconnect, a reload)
clears the player's drawing on the others' screens, and asks them to send theirs again whole
(``resync``), so every screen shows the same picture.
"""

import asyncio
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import numpy as np

from server import protocol, rooms
from server.protocol import ErrorCode
from server.roomhub import LocalHub, RedisHub, RoomsUnavailable
from server.rooms import CODE_PATTERN, ROUNDS, Room, RoomError, display_name
from server.services import Services
from server.session import Drawing

log = logging.getLogger("server.rooms")

PEER_BATCH_S = 0.05  # a player's strokes reach the others in batches this often
PEER_GUESSES = 3  # guesses shown under a player's drawing on the others' screens
_background: set[asyncio.Task[None]] = set()  # room changes that outlive their socket (marking a player away)


class Player(Protocol):
    """What a seat needs of the connection it plays through."""

    def tell(self, message: object) -> None:
        """Queue a message for the player, after everything queued before it."""

    def open_round(self, word: str, time_limit_s: float, elapsed_ms: int, carry: tuple[str, str] | None) -> Drawing:
        """Open the player's drawing of a round (``carry``: the id and token of the one to carry on)."""
        ...

    def close_soon(self, code: int, reason: str) -> object:
        """Close the player's socket from another task."""


async def settle(timeout_s: float = 2.0) -> None:
    """Wait a little for the room changes closed sockets left behind (at shutdown: a player whose socket the
    server closed is marked away before the hub closes, so the room does not wait for them)."""
    if _background:
        await asyncio.wait(list(_background), timeout=timeout_s)


def now_ms() -> int:
    """Wall-clock milliseconds: instances behind one balancer agree on it (NTP), unlike their monotonic clocks."""
    return round(time.time() * 1000)


def seat_token(secret: bytes, code: str, player: str) -> str:
    """What lets a player take their seat back after a reconnect, on any instance that shares SECRET."""
    return hmac.new(secret, f"room:{code}:{player}".encode(), hashlib.sha256).hexdigest()[:32]


def view(room: Room, you: str, token: str, reply_to: protocol.RequestId = None) -> protocol.RoomState:
    """The ``room`` message: the room's state as one player sees it."""
    scores = room.scores()
    return protocol.RoomState(
        room.code,
        room.version,
        you,
        token,
        room.host,
        room.state,
        min(room.round, ROUNDS),
        ROUNDS,
        room.word,
        room.words[: min(room.round, ROUNDS)],  # the words of the rounds begun so far
        room.round_started_ms - now_ms() if room.state == "playing" else None,
        room.time_limit_ms / 1000,
        [{"id": p, "name": name, "score": scores.get(p, 0), "away": room.away(p)} for p, name in room.players.items()],
        [{p: vars(result) for p, result in rnd.items()} for rnd in room.results],
        reply_to,
    )


def pick_words(labels: list[str]) -> list[str]:
    """A game's words: ``ROUNDS`` different words the model knows."""
    return random.sample(labels, ROUNDS)


def advance_if_over(number: int) -> Callable[[Room], bool]:
    """A rule: end round ``number`` if it is still the current one and over."""

    def rule(room: Room) -> bool:
        if room.round != number or not room.round_over(now_ms()):
            return False
        room.advance(now_ms())
        return True

    return rule


async def join(player: Player, services: Services, message: protocol.Join) -> "Seat":
    """Create a room (no code) or join one, or take a seat back (player and token); the player gets ``room``.

    Raises:
        RoomError: with the protocol's code (``no_room``, ``room_full``, ``bad_name``, ``bad_seat`` …).
        RoomsUnavailable: the room store is out of reach.
    """
    hub, socket = services.rooms, secrets.token_hex(4)
    if message.player is not None:
        code = (message.room or "").strip().upper()
        player_id = message.player
        if not hmac.compare_digest(message.token or "", seat_token(services.secret, code, player_id)):
            raise RoomError(ErrorCode.BAD_SEAT, "this seat cannot be taken back here: join the room again")

        def rule(room: Room) -> None:
            if player_id not in room.players:
                raise RoomError(ErrorCode.BAD_SEAT, "this player is no longer in the room: join it again")
            room.connect(player_id, socket)
    else:
        name = display_name(message.name)
        player_id = secrets.token_hex(4)
        if message.room is None:
            settings = services.settings
            limit_ms, break_ms = round(settings.game_time_limit_s * 1000), round(settings.room_break_s * 1000)
            code = (await hub.create(limit_ms, break_ms)).code
        else:
            code = message.room.strip().upper()

        def rule(room: Room) -> None:
            room.join(player_id, name)
            room.connect(player_id, socket)

    if not CODE_PATTERN.fullmatch(code):
        raise RoomError(ErrorCode.NO_ROOM, "a room code is five letters and digits, like K7QXM")
    seat = Seat(player, hub, services.secret, code, player_id, socket)
    seat.rejoined = message.player is not None
    if message.drawing is not None:
        seat.resume = (message.drawing, message.drawing_token or "")  # parse requires the token
    try:
        await hub.ready(seat.listener)  # our own join's event must reach us
        room = await seat.change(rule)
    except BaseException:
        seat.close()
        raise
    if room.state == "playing":  # back mid-game: the others send their drawings of the round again, whole
        await seat.safely(hub.publish(code, {"type": "resync", "player": player_id}))
    seat.show(room, message.id)
    seat.follower = asyncio.create_task(seat.follow())  # only now: a refused join hears nothing of the room
    return seat


class Seat:
    """A player's place in a room, held by one connection."""

    def __init__(
        self, player: Player, hub: LocalHub | RedisHub, secret: bytes, code: str, player_id: str, socket: str
    ) -> None:
        self.player, self.hub, self.code, self.id, self.socket = player, hub, code, player_id, socket
        self.token = seat_token(secret, code, player_id)
        self.listener = self.hub.listen(code)
        self.shown = -1  # the newest room version this player has seen
        self.round = 0  # the round whose drawing this seat opened (or chose not to: a result was in)
        self.drawing: Drawing | None = None  # this seat's drawing of round ``drawing_round``
        self.drawing_round = 0
        self.started_ms = 0  # when that round began (wall clock)
        self.ops: list[list[Any]] = []  # operations of ``drawing`` the others have not seen yet
        self.flusher: asyncio.Task[None] | None = None
        self.clock: asyncio.Task[None] | None = None  # opens a round's drawing, then ends the round when time is up
        self.resume: tuple[str, str] | None = None  # (id, resume token) of the round's drawing, after a reconnect
        self.rejoined = False  # a seat taken back: the others' view of this player's drawing starts again
        self.lost = False  # another socket took this seat
        self.follower: asyncio.Task[None] | None = None  # follows the room's events once the join succeeded

    def holds(self, drawing: Drawing | None) -> bool:
        """Whether ``drawing`` is this seat's round drawing (what the player draws is shared only then)."""
        return drawing is not None and drawing is self.drawing

    async def change(self, rule: Callable[[Room], object]) -> Room:
        """Apply a rule to the room and tell everyone in it."""
        room, _ = await self.hub.change(self.code, rule)
        await self.hub.publish(self.code, {"type": "room", "room": room.to_json()})
        return room

    def show(self, room: Room, reply_to: protocol.RequestId = None) -> None:
        """Send the room's state to this player (once per version), and play a round that has begun."""
        if room.version <= self.shown and reply_to is None:
            return
        if room.online.get(self.id) not in (self.socket, None):
            return self.lose()
        self.shown = max(self.shown, room.version)
        self.player.tell(view(room, self.id, self.token, reply_to))
        if room.state == "playing" and room.round > self.round and self.id in room.players:
            self.round = room.round
            if self.clock is not None:
                self.clock.cancel()
            self.clock = asyncio.create_task(self.play(room))

    async def follow(self) -> None:
        """The room's events, as they come: its state, and the other players' drawings and guesses."""
        while True:
            event = await self.listener.get()
            if self.listener.overflowed:
                self.player.close_soon(protocol.CloseCode.TRY_AGAIN_LATER, "too far behind the room")
                return
            kind = event.get("type")
            if kind == "room":
                self.show(Room.from_json(event["room"]))
                if self.lost:  # another socket holds the seat now: nothing more to follow
                    return
            elif event.get("player") == self.id:
                continue
            elif kind == "resync":
                self.send_whole()
            elif kind in protocol.PEER_MESSAGES:
                try:
                    self.player.tell(protocol.PEER_MESSAGES[kind].from_json(event))
                except (KeyError, TypeError, ValueError) as error:
                    log.warning("room %s: an event that is not one (%s): %r", self.code, error, str(event)[:200])

    async def play(self, room: Room) -> None:
        """Open this player's drawing when the round begins; end the round when its time (and grace) is up."""
        number = room.round
        await asyncio.sleep(max(0, room.round_started_ms - now_ms()) / 1000)
        if self.id not in room.results[number - 1]:  # not if the player already finished this round
            self.begin(room, number)
        await asyncio.sleep(max(0, room.round_started_ms + room.time_limit_ms + rooms.GRACE_MS - now_ms()) / 1000)
        await self.safely(self.change(advance_if_over(number)))

    def begin(self, room: Room, number: int) -> None:
        """Open this player's drawing of the round on the round's clock: the one they were drawing before a
        reconnect, if it can be carried on here (same id), else a fresh one; the others' view of it starts
        empty (the player sends its strokes again)."""
        carry, self.resume = self.resume, None
        elapsed = max(0, now_ms() - room.round_started_ms)
        self.flush_now()
        self.drawing_round, self.started_ms = number, room.round_started_ms
        word = cast(str, room.word)  # a round that has begun has its word
        self.drawing = self.player.open_round(word, room.time_limit_ms / 1000, elapsed, carry)
        if self.rejoined:  # what the others saw of this player's drawing before the reconnect goes
            self.rejoined = False
            self.note(["clear"])

    def note(self, op: list[Any]) -> None:
        """An operation on this seat's drawing (``["points", array]``, ``["stroke_end"]``, ``["undo"]``,
        ``["clear"]``), for the others: points in the next batch, the rest (a stroke's end…) at once."""
        if op[0] == "points":  # as the others' screens draw them: x and y, 0.1 px is plenty
            op = ["points", *(np.round(op[1][:2], 1).tolist())]
        self.ops.append(op)
        if op[0] != "points":
            self.flush_now()
        elif self.flusher is None:
            self.flusher = asyncio.create_task(self.flush(PEER_BATCH_S))

    async def flush(self, after_s: float) -> None:
        await asyncio.sleep(after_s)
        self.flusher = None
        self.flush_now()

    def flush_now(self) -> None:
        """Publish the operations waiting, as one ``peer_drawing`` of the round their drawing belongs to."""
        if self.flusher is not None and self.flusher is not asyncio.current_task():
            self.flusher.cancel()
        self.flusher = None
        if self.ops:
            ops, self.ops = self.ops, []
            self.publish(protocol.PeerDrawing(self.id, self.drawing_round, ops))

    def send_whole(self) -> None:
        """This round's drawing again, whole, after ``clear``: for a player who was away."""
        drawing = self.drawing
        if drawing is None or self.drawing_round != self.round:
            return
        self.flush_now()
        ops: list[list[Any]] = [["clear"]]
        for stroke in drawing.snapshot():
            ops += [["points", *np.round(stroke[:2], 1).tolist()], ["stroke_end"]]
        if drawing.open and not drawing.ended:
            ops.pop()  # the open stroke goes on
        self.publish(protocol.PeerDrawing(self.id, self.drawing_round, ops))

    def guessed(self, strokes: int, guesses: list[dict[str, Any]]) -> None:
        """The network's guesses for this player's completed strokes, for the others."""
        self.publish(protocol.PeerGuess(self.id, self.drawing_round, strokes, guesses[:PEER_GUESSES]))

    def publish(self, message: protocol.PeerDrawing | protocol.PeerGuess) -> None:
        asyncio.get_running_loop().create_task(self.safely(self.hub.publish(self.code, message.to_json())))

    def scorer(self, drawing: Drawing) -> Callable[[str | None], Awaitable[None]] | None:
        """What scores this seat's round drawing once it is saved (None for any other drawing): its result,
        and the round's end if everyone connected is done."""
        if drawing is not self.drawing:
            return None
        number, started = self.drawing_round, self.started_ms

        async def score(saved_id: str | None) -> None:
            win = drawing.win if drawing.recognized else None
            at = started + win.elapsed_ms if win is not None else now_ms()

            def rule(room: Room) -> None:
                if room.round == number:
                    room.finish(self.id, drawing.recognized, at, saved_id)
                    if room.round_over(now_ms()):
                        room.advance(now_ms())
                elif saved_id and room.round > number:  # the round ended first: its result only wants the drawing
                    result = room.results[number - 1].get(self.id)
                    if result is not None and result.drawing is None:
                        result.drawing = saved_id

            await self.safely(self.change(rule))

        return score

    async def start_game(self, words: list[str], reply_to: protocol.RequestId) -> None:
        """The host starts the game (the rules refuse anyone else)."""
        self.show(await self.change(lambda room: room.start(self.id, words, now_ms())), reply_to)

    async def leave(self, reply_to: protocol.RequestId) -> None:
        """Leave for good: the seat goes, the host's role passes on; the player sees the room without them."""
        self.close()

        def rule(room: Room) -> None:
            room.leave(self.id)
            if room.round_over(now_ms()):  # the one the round waited for may have left
                room.advance(now_ms())

        room = await self.change(rule)
        self.player.tell(view(room, self.id, self.token, reply_to))

    def lose(self) -> None:
        """Another socket took this seat (a second tab, a reload before this socket closed): this one stops
        drawing for it and following the room; what it had not shared yet is dropped."""
        if self.flusher is not None:
            self.flusher.cancel()
        self.ops, self.flusher, self.drawing, self.lost = [], None, None, True
        for task in (self.follower, self.clock):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self.listener.close()

    def close(self, away: bool = False) -> None:
        """This socket is done with the room. ``away``: it dropped, and the player keeps the seat for a
        reconnect; the room stops waiting for them meanwhile."""
        self.flush_now()
        for task in (self.follower, self.clock):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self.listener.close()
        if away:

            def rule(room: Room) -> None:
                room.disconnect(self.id, self.socket)
                if room.round_over(now_ms()):
                    room.advance(now_ms())

            task = asyncio.get_running_loop().create_task(self.safely(self.change(rule)))
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def safely(self, work: Awaitable[object]) -> None:
        """Room work that may fail without the player's game failing: a lost room or store is logged."""
        try:
            await work
        except (RoomError, RoomsUnavailable) as error:
            log.warning("room %s: %s", self.code, error)

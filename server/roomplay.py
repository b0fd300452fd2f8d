"""One player's seat in a room, on one socket: join, follow the room, play its rounds, show the others.

The connection (``server.ws``) hands the room messages (``join``, ``room_start``, ``leave``) to
``join``/``Seat`` and tells its seat what the player draws. The seat changes the room through the hub
(``server.roomhub``: this process or Redis) and publishes what everyone in the room should see:

* ``room``: the room's state after every change, with a ``version`` that only grows (each socket adds
  its own ``you`` and ``token``);
* ``peer_drawing``: a player's drawing as operations, batched every ``PEER_BATCH_S``;
* ``peer_guess``: the network's top guesses after each of a player's completed strokes.

Each round's drawing is started by the room: when a round begins, every seat starts its player's
drawing (mode ``room``) with the room's word, and when the round's time is up, any seat may end the
round (the hub makes sure only one does).
"""

import asyncio
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Callable

import numpy as np

from server import protocol, rooms
from server.roomhub import RoomsUnavailable
from server.rooms import CODE_PATTERN, ROUNDS, Room, RoomError, display_name

log = logging.getLogger("server.rooms")

PEER_BATCH_S = 0.05  # a player's strokes reach the others in batches this often
PEER_GUESSES = 3  # guesses shown under a player's drawing on the others' screens


def now_ms() -> int:
    """Wall-clock milliseconds: instances behind one balancer agree on it (NTP), unlike their monotonic clocks."""
    return round(time.time() * 1000)


def seat_token(secret: bytes, code: str, player: str) -> str:
    """What lets a player take their seat back after a reconnect, on any instance that shares SECRET."""
    return hmac.new(secret, f"room:{code}:{player}".encode(), hashlib.sha256).hexdigest()[:32]


def view(room: Room, you: str, token: str, reply_to: protocol.RequestId = None) -> dict:
    """The ``room`` message: the room's state as one player sees it."""
    scores = room.scores()
    return {
        "type": "room",
        "code": room.code,
        "version": room.version,
        "you": you,
        "token": token,
        "host": room.host,
        "state": room.state,
        "round": min(room.round, ROUNDS),
        "rounds": ROUNDS,
        "word": room.word,
        "words": room.words[: min(room.round, ROUNDS)],  # the words of the rounds begun so far
        "starts_in_ms": room.round_started_ms - now_ms() if room.state == "playing" else None,
        "time_limit_s": room.time_limit_ms / 1000,
        "players": [{"id": p, "name": name, "score": scores.get(p, 0)} for p, name in room.players.items()],
        "results": [{p: vars(result) for p, result in rnd.items()} for rnd in room.results],
        "reply_to": reply_to,
    }


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


async def join(connection, message: protocol.Join) -> "Seat":
    """Create a room (no code) or join one, or take a seat back (player and token); the player gets ``room``.

    Raises:
        RoomError: with the protocol's code (``no_room``, ``room_full``, ``bad_name``, ``bad_seat`` …).
        RoomsUnavailable: the room store is out of reach.
    """
    services = connection.services
    hub = services.rooms
    if message.player is not None:
        code = (message.room or "").strip().upper()
        player = message.player
        if not hmac.compare_digest(message.token, seat_token(services.secret, code, player)):
            raise RoomError("bad_seat", "this seat cannot be taken back here: join the room again")

        def rule(room: Room) -> None:
            if player not in room.players:
                raise RoomError("bad_seat", "this player is no longer in the room: join it again")
    else:
        name = display_name(message.name)
        player = secrets.token_hex(4)
        if message.room is None:
            settings = services.settings
            limit_ms, break_ms = round(settings.game_time_limit_s * 1000), round(settings.room_break_s * 1000)
            code = (await hub.create(limit_ms, break_ms)).code
        else:
            code = message.room.strip().upper()

        def rule(room: Room) -> None:
            room.join(player, name)

    if not CODE_PATTERN.fullmatch(code):
        raise RoomError("no_room", "a room code is five letters and digits, like K7QXM")
    seat = Seat(connection, code, player)
    if message.drawing is not None:
        seat.resume = (message.drawing, message.drawing_token)
    try:
        await hub.ready(seat.listener)  # our own join's event must reach us
        room = await seat.change(rule)
    except BaseException:
        seat.close()
        raise
    seat.show(room, message.id)
    return seat


class Seat:
    """A player's place in a room, held by one connection."""

    def __init__(self, connection, code: str, player: str):
        self.connection, self.code, self.player = connection, code, player
        self.hub = connection.services.rooms
        self.token = seat_token(connection.services.secret, code, player)
        self.listener = self.hub.listen(code)
        self.shown = -1  # the newest room version this player has seen
        self.round = 0  # the round whose drawing this seat started
        self.rounds: dict[str, tuple[int, int]] = {}  # drawing id → (round, wall ms it started)
        self.ops: list[list] = []  # this player's drawing operations the others have not seen yet
        self.flusher: asyncio.Task | None = None
        self.clock: asyncio.Task | None = None  # starts a round's drawing, then ends the round when time is up
        self.resume: tuple[str, str] | None = None  # (id, resume token) of the round's drawing, after a reconnect
        self.follower = asyncio.create_task(self.follow())

    async def change(self, rule: Callable[[Room], object]) -> Room:
        """Apply a rule to the room and tell everyone in it."""
        room, _ = await self.hub.change(self.code, rule)
        await self.hub.publish(self.code, {"type": "room", "room": room.to_json()})
        return room

    def show(self, room: Room, reply_to: protocol.RequestId = None) -> None:
        """Send the room's state to this player (once per version), and play a round that has begun."""
        if room.version <= self.shown and reply_to is None:
            return
        self.shown = max(self.shown, room.version)
        self.connection.answer(protocol.Relayed(view(room, self.player, self.token, reply_to)))
        if room.state == "playing" and room.round > self.round and self.player in room.players:
            self.round = room.round
            if self.clock is not None:
                self.clock.cancel()
            self.clock = asyncio.create_task(self.play(room))

    async def follow(self) -> None:
        """The room's events, as they come: its state, and the other players' drawings and guesses."""
        while True:
            event = await self.listener.get()
            if self.listener.overflowed:
                self.connection.close_soon(protocol.CloseCode.TRY_AGAIN_LATER, "too far behind the room")
                return
            if event["type"] == "room":
                self.show(Room.from_json(event["room"]))
            elif event.get("player") != self.player:
                self.connection.answer(protocol.Relayed(event))

    async def play(self, room: Room) -> None:
        """Start this player's drawing when the round begins; end the round when its time (and grace) is up."""
        number = room.round
        await asyncio.sleep(max(0, room.round_started_ms - now_ms()) / 1000)
        drawing = self.begin(room)
        self.rounds[drawing.id] = (number, room.round_started_ms)
        await asyncio.sleep((room.time_limit_ms + rooms.GRACE_MS) / 1000)
        await self.safely(self.change(advance_if_over(number)))

    def begin(self, room: Room):
        """Open this player's drawing of the round: the one they were drawing before a reconnect, if it can be
        carried on here (same id, the round's clock), else a fresh one."""
        resume, self.resume = self.resume, None
        if resume is not None:
            elapsed = max(0, now_ms() - room.round_started_ms)
            carried = protocol.Start("room", room.word, None, resume[0], resume[1], elapsed)
            try:
                return self.connection.begin(carried)
            except protocol.ProtocolError as error:  # bad_resume: a fresh drawing instead
                log.info("room %s: a drawing could not be carried on: %s", self.code, error.message)
        return self.connection.begin(protocol.Start("room", room.word))

    def note(self, op: list) -> None:
        """A drawing operation of this player (``["points", array]``, ``["stroke_end"]``, ``["undo"]``,
        ``["clear"]``), for the others: points in the next batch, the rest (a stroke's end…) at once."""
        if op[0] == "points":  # as the others' screens draw them: x and y, 0.1 px is plenty
            op = ["points", *(np.round(op[1][:2], 1).tolist())]
        self.ops.append(op)
        if op[0] != "points":
            if self.flusher is not None:
                self.flusher.cancel()
            self.flusher = asyncio.create_task(self.flush(0))
        elif self.flusher is None:
            self.flusher = asyncio.create_task(self.flush(PEER_BATCH_S))

    async def flush(self, after_s: float) -> None:
        await asyncio.sleep(after_s)
        ops, self.ops, self.flusher = self.ops, [], None
        event = {"type": "peer_drawing", "player": self.player, "round": self.round, "ops": ops}
        await self.safely(self.hub.publish(self.code, event))

    def guessed(self, strokes: int, guesses: list[dict]) -> None:
        """The network's guesses for this player's completed strokes, for the others."""
        event = {
            "type": "peer_guess",
            "player": self.player,
            "round": self.round,
            "strokes": strokes,
            "guesses": guesses[:PEER_GUESSES],
        }
        asyncio.get_running_loop().create_task(self.safely(self.hub.publish(self.code, event)))

    async def finished(self, drawing, saved_id: str | None) -> None:
        """This player's drawing of a round is over: score it, and end the round if everyone is done."""
        number, started = self.rounds.pop(drawing.id, (None, None))
        if number is None:
            return
        at = started + drawing.win.elapsed_ms if drawing.recognized and drawing.win is not None else now_ms()

        def rule(room: Room) -> None:
            if room.round == number:
                room.finish(self.player, drawing.recognized, at, saved_id)
                if room.round_over(now_ms()):
                    room.advance(now_ms())
            elif saved_id and room.round > number:  # the round ended first: its result only wants the drawing
                result = room.results[number - 1].get(self.player)
                if result is not None and result.drawing is None:
                    result.drawing = saved_id

        await self.safely(self.change(rule))

    async def start_game(self, words: list[str], reply_to: protocol.RequestId) -> None:
        """The host starts the game (the rules refuse anyone else)."""
        self.show(await self.change(lambda room: room.start(self.player, words, now_ms())), reply_to)

    async def leave(self, reply_to: protocol.RequestId) -> None:
        """Leave for good: the seat goes, the host's role passes on; the player sees the room without them."""
        self.close()
        room = await self.change(lambda room: room.leave(self.player))
        self.connection.answer(protocol.Relayed(view(room, self.player, self.token, reply_to)))

    def close(self) -> None:
        """This socket is done with the room (the player keeps the seat for a reconnect, unless they left)."""
        for task in (self.follower, self.flusher, self.clock):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self.listener.close()

    async def safely(self, work) -> None:
        """Room work that may fail without the player's game failing: a lost room or store is logged."""
        try:
            await work
        except (RoomError, RoomsUnavailable) as error:
            log.warning("room %s: %s", self.code, error)

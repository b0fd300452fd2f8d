"""Rooms where friends race on the same word: the room as plain data and the rules that change it.

No I/O here. A room is a small JSON-able value — who is in it, who runs it, which round, each player's
result per round — so one instance can keep it in memory and several can keep it in Redis
(``server.roomhub``), which makes every change atomic and tells the players about it.

A game: the host starts it with at least two players; every round all players get the same word and
``time_limit_ms``; a drawing the network recognizes scores by how early in the round it was recognized
(the first scores most), an unrecognized one scores nothing; the round is over when every player has a
result or the clock (plus a grace for the last guesses) has run out; after ``ROUNDS`` rounds the room shows
the scoreboard.
"""

import re
import secrets
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from server.protocol import ErrorCode

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I/L: codes are read aloud and typed on phones
CODE_LENGTH = 5  # 31^5 ≈ 29 million codes: guessing a live one is hopeless at the server's message rate
CODE_PATTERN = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
MIN_PLAYERS, MAX_PLAYERS = 2, 8
MAX_NAME = 24  # characters of a display name, after trimming
ROUNDS = 6
GRACE_MS = 1500  # past the time limit, for the guesses still owed to the last strokes
MIN_POINTS, MAX_POINTS = 10, 100  # a drawing recognized at the last moment, and one recognized at once


class RoomError(ValueError):
    """A request the room's rules refuse; ``code`` is the protocol's error code."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def display_name(name: object) -> str:
    """A player's name as shown to the others: trimmed, inner spaces collapsed, 1–``MAX_NAME`` characters.

    Raises:
        RoomError: ``bad_name`` for a non-string, an empty name, a long one, or control or format characters.
    """
    if not isinstance(name, str):
        raise RoomError(ErrorCode.BAD_NAME, "the name must be a string")
    name = unicodedata.normalize("NFC", name)
    # Before spaces are collapsed, which would turn a newline or a tab into a space: controls, format marks,
    # unassigned code points, and the line and paragraph separators.
    if any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in name):
        raise RoomError(ErrorCode.BAD_NAME, "the name may not hold control or invisible characters")
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise RoomError(ErrorCode.BAD_NAME, f"the name must have 1 to {MAX_NAME} characters")
    return name


def points(elapsed_ms: int, time_limit_ms: int) -> int:
    """What a drawing recognized ``elapsed_ms`` into the round scores: ``MAX_POINTS`` at once, down to
    ``MIN_POINTS`` at the end, so the first player recognized scores most."""
    left = min(max(time_limit_ms - elapsed_ms, 0), time_limit_ms) / time_limit_ms
    return MIN_POINTS + round((MAX_POINTS - MIN_POINTS) * left)


@dataclass
class Result:
    """One player's drawing in one round."""

    recognized: bool
    elapsed_ms: int | None = None  # since the round began, when recognized
    points: int = 0
    drawing: str | None = None  # the saved drawing's id, once saved


@dataclass
class Room:
    code: str
    time_limit_ms: int
    break_ms: int = 5000  # before each round: "get ready", and the last round's drawings side by side
    version: int = 0  # one more at every stored change: the newest state wins on every screen
    players: dict[str, str] = field(default_factory=dict)  # player id → display name, in joining order
    host: str | None = None  # the player who starts the game; the next to join takes over when they leave
    words: list[str] = field(default_factory=list)  # one per round, chosen at the start
    round: int = 0  # 0: the lobby; 1..ROUNDS: playing; ROUNDS + 1: over
    round_started_ms: int = 0  # wall clock (ms since the epoch): instances agree on it
    results: list[dict[str, Result]] = field(default_factory=list)  # per round played: player id → result
    online: dict[str, str] = field(default_factory=dict)  # player id → the socket holding their seat now

    @property
    def state(self) -> str:
        return "lobby" if self.round == 0 else "over" if self.round > ROUNDS else "playing"

    @property
    def word(self) -> str | None:
        return self.words[self.round - 1] if self.state == "playing" else None

    def scores(self) -> dict[str, int]:
        """Each player's total so far (players who left keep theirs in the rounds they played)."""
        totals = dict.fromkeys(self.players, 0)
        for results in self.results:
            for player, result in results.items():
                totals[player] = totals.get(player, 0) + result.points
        return totals

    def join(self, player: str, name: str) -> None:
        """Add a player to the lobby (a player already in the room just comes back).

        Raises:
            RoomError: ``room_full``, ``game_started`` for a newcomer after the start, or ``name_taken``.
        """
        if player in self.players:
            return
        if self.state != "lobby":
            raise RoomError(ErrorCode.GAME_STARTED, "this room's game has started; ask for a new room")
        if len(self.players) >= MAX_PLAYERS:
            raise RoomError(ErrorCode.ROOM_FULL, f"this room already has {MAX_PLAYERS} players")
        if name.casefold() in (other.casefold() for other in self.players.values()):
            raise RoomError(ErrorCode.NAME_TAKEN, "someone in this room has that name already")
        self.players[player] = name
        self.host = self.host or player

    def connect(self, player: str, socket: str) -> None:
        """``socket`` holds ``player``'s seat now (a join, or a seat taken back)."""
        if player in self.players:
            self.online[player] = socket

    def disconnect(self, player: str, socket: str) -> None:
        """``socket`` is gone; the player is away unless another socket took their seat meanwhile."""
        if self.online.get(player) == socket:
            del self.online[player]

    def away(self, player: str) -> bool:
        return player not in self.online

    def leave(self, player: str) -> None:
        """Remove a player; the host's role passes to the player who joined next."""
        self.players.pop(player, None)
        self.online.pop(player, None)
        if self.host == player:
            self.host = next(iter(self.players), None)

    def start(self, by: str, words: list[str], now_ms: int) -> None:
        """The host starts the game with one word per round.

        Raises:
            RoomError: ``not_host``, ``game_started`` or ``too_few_players``.
        """
        if by != self.host:
            raise RoomError(ErrorCode.NOT_HOST, "only the room's host can start the game")
        if self.state != "lobby":
            raise RoomError(ErrorCode.GAME_STARTED, "the game has started already")
        if len(self.players) < MIN_PLAYERS:
            raise RoomError(ErrorCode.TOO_FEW_PLAYERS, f"a room game needs at least {MIN_PLAYERS} players")
        if len(words) != ROUNDS:
            raise ValueError(f"a game has {ROUNDS} words, not {len(words)}")
        self.words = list(words)
        self._begin_round(1, now_ms + self.break_ms)

    def finish(self, player: str, recognized: bool, now_ms: int, drawing: str | None = None) -> Result | None:
        """Record a player's drawing for the current round (once; the first word counts) and score it.

        Returns the result, or None when there is nothing to record: no round, not a player, a result
        already in (``drawing`` then only fills in the saved drawing's id).
        """
        if self.state != "playing" or player not in self.players:
            return None
        results = self.results[-1]
        if player in results:
            if drawing and results[player].drawing is None:
                results[player].drawing = drawing
            return None
        elapsed = max(0, now_ms - self.round_started_ms)
        recognized = recognized and elapsed <= self.time_limit_ms + GRACE_MS
        result = Result(recognized, elapsed if recognized else None, 0, drawing)
        if recognized:
            result.points = points(elapsed, self.time_limit_ms)
        results[player] = result
        return result

    def round_over(self, now_ms: int) -> bool:
        """Every connected player has a result (a round does not wait for a player who is gone), or the
        round's time (and grace) has run out."""
        if self.state != "playing":
            return False
        connected = [player for player in self.players if player in self.online]
        everyone = bool(connected) and all(player in self.results[-1] for player in connected)
        return everyone or now_ms >= self.round_started_ms + self.time_limit_ms + GRACE_MS

    def advance(self, now_ms: int) -> None:
        """End the current round (players without a result are not recognized); the next begins after a break."""
        for player in self.players:
            self.results[-1].setdefault(player, Result(False))
        self._begin_round(self.round + 1, now_ms + self.break_ms)

    def _begin_round(self, number: int, now_ms: int) -> None:
        self.round = number
        if number <= ROUNDS:
            self.round_started_ms = now_ms
            self.results.append({})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Room":
        results = [{player: Result(**r) for player, r in rnd.items()} for rnd in data["results"]]
        return cls(**{**data, "results": results})

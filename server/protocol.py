"""The wire protocol of ``/ws``, version 1: a closed set of JSON messages, each with a ``type``.

Client messages are frozen dataclasses built by ``parse(text, limits)``, which
raises one ``ProtocolError(code, message)`` for anything malformed; each may
carry a client ``id``, echoed as ``reply_to`` in the answers to it. Server
messages have ``to_json()``. ``ErrorCode`` and ``CloseCode`` are defined here
once. See docs/PROTOCOL.md for the contract.
"""

import json
from dataclasses import Field, dataclass, fields
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

import numpy as np

from core import records, sketch


class ErrorCode(StrEnum):
    """Codes of ``{"type": "error"}`` messages: the client made a mistake, the connection goes on."""

    BAD_JSON = "bad_json"  # not JSON text, or not a JSON object
    UNKNOWN_TYPE = "unknown_type"  # "type" missing or not one of the client messages
    BAD_FIELD = "bad_field"  # a field has the wrong type or value (mode, word, drawing)
    BAD_POINTS = "bad_points"  # x/y/t not lists of finite numbers of one length, or empty
    TOO_MANY_POINTS = "too_many_points"  # over the points per message / stroke / drawing
    TOO_MANY_STROKES = "too_many_strokes"  # over the strokes per drawing
    NO_DRAWING = "no_drawing"  # a drawing message with no open drawing (before any start, after the client's end)
    DRAWING_ENDED = "drawing_ended"  # a drawing message after the server ended the drawing (won, timed out): ignore
    NO_STROKE = "no_stroke"  # stroke_end with no open stroke, undo with nothing to undo
    UNKNOWN_WORD = "unknown_word"  # start with a word the model does not know
    SAVE_FAILED = "save_failed"  # the drawing could not be stored; the game goes on
    INTERNAL_ERROR = "internal_error"  # a server fault; the connection closes with CloseCode.INTERNAL_ERROR
    RATE_LIMITED = "rate_limited"  # over MESSAGES_PER_SECOND: refused, retry after ``retry_after`` seconds
    BAD_RESUME = "bad_resume"  # start with a resume id and token that do not match, or a drawing too old to resume
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"  # the handshake asked only for subprotocols this server lacks
    # Rooms (server/rooms.py says when each applies)
    NO_ROOM = "no_room"  # join: no room with that code (or it expired)
    ROOM_FULL = "room_full"  # join: MAX_PLAYERS are in it already
    ROOMS_FULL = "rooms_full"  # join without a code: the server has MAX_ROOMS rooms open
    NAME_TAKEN = "name_taken"  # join: someone in the room has that name
    BAD_NAME = "bad_name"  # join: an empty, long or invisible name
    GAME_STARTED = "game_started"  # join as a newcomer, or room_start, after the game began
    NOT_HOST = "not_host"  # room_start by a player who is not the host
    TOO_FEW_PLAYERS = "too_few_players"  # room_start alone
    NOT_IN_ROOM = "not_in_room"  # room_start or leave without having joined
    IN_ROOM = "in_room"  # start, or a second join, while seated in a room: leave it first
    BAD_SEAT = "bad_seat"  # join with a player id and token that do not match
    ROOMS_UNAVAILABLE = "rooms_unavailable"  # the room store (Redis) is out of reach; single play goes on
    NOT_FOUND = "not_found"  # HTTP 404: no such path under /api, or no saved drawing with that id
    METHOD_NOT_ALLOWED = "method_not_allowed"  # HTTP 405: the path exists, the method does not (see Allow)
    BODY_TOO_LARGE = "body_too_large"  # HTTP 413: a request body over MAX_BODY_BYTES
    BAD_REQUEST = "bad_request"  # any other HTTP 4xx the server refuses (the status says which)


class CloseCode(IntEnum):
    """WebSocket close codes (RFC 6455 §7.4.1) the server uses: the connection itself is over."""

    NORMAL_CLOSURE = 1000  # idle for IDLE_TIMEOUT_S: nothing wrong, reconnect when needed
    GOING_AWAY = 1001  # the server shuts down
    POLICY_VIOLATION = 1008  # message flood
    MESSAGE_TOO_BIG = 1009  # frame over the size limit
    INTERNAL_ERROR = 1011  # unexpected server fault
    TRY_AGAIN_LATER = 1013  # server full (MAX_CONNECTIONS open sockets)


VERSION = 1
SUBPROTOCOL = f"quickdraw.v{VERSION}"  # the Sec-WebSocket-Protocol a versioned client asks for
MODES = ("free", "game")  # what a client may start; "room" drawings are started by their room
ROUND_MODES = ("game", "room")  # drawings with a word and a clock, won when the network recognizes the word
MAX_ID_CHARS = 64  # a client's request id: a short string ...
MAX_ID_INT = 2**53 - 1  # ... or an integer that survives a JavaScript number
RequestId = str | int | None


class ProtocolError(ValueError):
    """A message the server refuses: ``code`` says what kind of mistake, ``message`` says why."""

    def __init__(self, code: ErrorCode, message: str, reply_to: RequestId = None, retry_after: float | None = None):
        super().__init__(message)
        self.code, self.message = code, message
        self.reply_to, self.retry_after = reply_to, retry_after


# Client → server -------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    type: ClassVar[str] = "start"
    mode: str = "free"
    word: str | None = None
    id: RequestId = None
    resume: str | None = None  # the id of a drawing to carry on (after a reconnect), with its token
    token: str | None = None
    elapsed_ms: int = 0  # how long the resumed drawing had been open, by the client's clock

    @classmethod
    def from_json(cls, data: dict[str, Any], limits: sketch.Limits) -> "Start":
        mode = data.get("mode", "free")
        if mode not in MODES:
            raise ProtocolError(ErrorCode.BAD_FIELD, f'"mode" must be "free" or "game", got {mode!r}'[:200])
        word = data.get("word")
        if word is not None and not isinstance(word, str):
            raise ProtocolError(ErrorCode.BAD_FIELD, '"word" must be a string or null')
        resume, token, elapsed_ms = data.get("resume"), data.get("token"), data.get("elapsed_ms", 0)
        if resume is not None and not (isinstance(resume, str) and records.ID_PATTERN.fullmatch(resume)):
            raise ProtocolError(ErrorCode.BAD_FIELD, '"resume" must be a drawing id, with its "token"')
        if resume is not None and not isinstance(token, str):  # the id is fine; what proves it is missing
            raise ProtocolError(ErrorCode.BAD_RESUME, '"resume" needs the round\'s "resume_token" as "token"')
        if not isinstance(elapsed_ms, int) or isinstance(elapsed_ms, bool) or not 0 <= elapsed_ms <= MAX_ID_INT:
            raise ProtocolError(ErrorCode.BAD_FIELD, '"elapsed_ms" must be a whole number of milliseconds, ≥ 0')
        return cls(mode, word, data.get("id"), resume, token[:200] if token else None, elapsed_ms)


@dataclass(frozen=True, eq=False)
class Points:
    """Points as a (2|3, n) float array of x, y and optionally t: ``points`` extend the open stroke,
    ``stroke`` is one whole stroke; either carries at most ``max_points_per_message``."""

    type: str  # "points" or "stroke"
    points: np.ndarray
    id: RequestId = None

    @classmethod
    def from_json(cls, data: dict[str, Any], limits: sketch.Limits) -> "Points":
        return cls(data["type"], _points(data, limits.max_points_per_message), data.get("id"))


@dataclass(frozen=True)
class StrokeEnd:
    type: ClassVar[str] = "stroke_end"
    id: RequestId = None


@dataclass(frozen=True)
class Undo:
    type: ClassVar[str] = "undo"
    id: RequestId = None


@dataclass(frozen=True)
class Clear:
    type: ClassVar[str] = "clear"
    id: RequestId = None


@dataclass(frozen=True)
class End:
    type: ClassVar[str] = "end"
    id: RequestId = None


@dataclass(frozen=True)
class Ping:
    """A heartbeat: answered with ``pong``; like any message it keeps the socket from idling."""

    type: ClassVar[str] = "ping"
    id: RequestId = None


@dataclass(frozen=True)
class Join:
    """Join the room ``room`` as ``name``, or create one (no ``room``); ``player`` and ``token`` take back a seat,
    and ``drawing`` with its ``drawing_token`` (the round's ``resume_token``) carries the round's drawing on."""

    type: ClassVar[str] = "join"
    room: str | None = None
    name: str | None = None
    player: str | None = None
    token: str | None = None
    drawing: str | None = None
    drawing_token: str | None = None
    id: RequestId = None

    @classmethod
    def from_json(cls, data: dict[str, Any], limits: sketch.Limits) -> "Join":
        values = {key: data.get(key) for key in ("room", "name", "player", "token", "drawing", "drawing_token")}
        for key, value in values.items():
            if value is not None and not (isinstance(value, str) and len(value) <= 200):
                raise ProtocolError(ErrorCode.BAD_FIELD, f'"{key}" must be a string (or absent)')
        if (values["player"] is None) != (values["token"] is None):
            raise ProtocolError(ErrorCode.BAD_FIELD, '"player" and "token" come together')
        if values["player"] is None and values["name"] is None:
            raise ProtocolError(ErrorCode.BAD_FIELD, 'a new player needs a "name"')
        if values["drawing"] is not None and not (
            records.ID_PATTERN.fullmatch(values["drawing"]) and values["drawing_token"] and values["player"]
        ):
            raise ProtocolError(ErrorCode.BAD_FIELD, '"drawing" is a drawing id, with its "drawing_token" and a seat')
        return cls(**values, id=data.get("id"))


@dataclass(frozen=True)
class RoomStart:
    """The room's host starts its game."""

    type: ClassVar[str] = "room_start"
    id: RequestId = None


@dataclass(frozen=True)
class Leave:
    """Leave the room for good (a dropped socket keeps the seat for a reconnect)."""

    type: ClassVar[str] = "leave"
    id: RequestId = None


ClientMessage = Start | Points | StrokeEnd | Undo | Clear | End | Ping | Join | RoomStart | Leave
CLIENT_TYPES: dict[str, type[ClientMessage]] = {
    "start": Start,
    "points": Points,
    "stroke": Points,
    "stroke_end": StrokeEnd,
    "undo": Undo,
    "clear": Clear,
    "end": End,
    "ping": Ping,
    "join": Join,
    "room_start": RoomStart,
    "leave": Leave,
}


def parse(frame: str | bytes, limits: sketch.Limits = sketch.Limits()) -> ClientMessage:
    """One client frame → its message; extra fields are ignored.

    Raises:
        ProtocolError: with the code that says what is wrong, and ``reply_to`` set when the message had a valid id.
    """
    data = _object(frame)
    request_id = _request_id(data)
    try:
        kind = data.get("type")
        if not isinstance(kind, str) or kind not in CLIENT_TYPES:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f'"type" must be one of {", ".join(CLIENT_TYPES)}')
        cls = CLIENT_TYPES[kind]
        if hasattr(cls, "from_json"):
            return cls.from_json(data, limits)
        return cls(request_id)
    except ProtocolError as error:
        error.reply_to = request_id
        raise


def parse_drawing(body: object, limits: sketch.Limits = sketch.Limits()) -> list[np.ndarray]:
    """The ``{"drawing": [[[x…],[y…]], …]}`` body of POST /api/guess → a validated drawing.

    Raises:
        ProtocolError: the same codes as the socket uses.
    """
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "the body must be a JSON object")
    strokes = body.get("drawing")
    if not isinstance(strokes, list) or not strokes:
        raise ProtocolError(ErrorCode.BAD_FIELD, '"drawing" must be a non-empty list of strokes')
    if len(strokes) > limits.max_strokes:
        raise ProtocolError(ErrorCode.TOO_MANY_STROKES, f"more than {limits.max_strokes} strokes")
    if sum(_length(stroke) for stroke in strokes) > limits.max_points:
        raise ProtocolError(ErrorCode.TOO_MANY_POINTS, f"more than {limits.max_points} points in the drawing")
    # Each stroke comes whole, as in a socket's ``stroke`` message: at most MAX_POINTS_PER_MESSAGE points.
    longest = min(limits.max_points_per_stroke, limits.max_points_per_message)
    if any(_length(stroke) > longest for stroke in strokes):
        raise ProtocolError(ErrorCode.TOO_MANY_POINTS, f"more than {longest} points in a stroke")
    try:
        return sketch.validate(strokes, limits)
    except sketch.SketchError as error:
        raise ProtocolError(ErrorCode.BAD_POINTS, str(error)) from None


def _object(frame: str | bytes) -> dict[str, Any]:
    if not isinstance(frame, str):
        raise ProtocolError(ErrorCode.BAD_JSON, "frames must be JSON text, not binary")
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_JSON, "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "a message must be a JSON object")
    return data


def _request_id(data: dict[str, Any]) -> RequestId:
    """The message's optional ``id``: a string of 1..MAX_ID_CHARS characters or an integer within ±MAX_ID_INT."""
    value = data.get("id")
    if value is None:
        return None
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID_INT:
        return value
    raise ProtocolError(
        ErrorCode.BAD_FIELD, f'"id" must be a string of 1 to {MAX_ID_CHARS} characters or an integer within ±2^53'
    )


def _length(stroke: object) -> int:
    """The point count a stroke claims (its x row), 0 if it has no list there."""
    if isinstance(stroke, list) and stroke and isinstance(stroke[0], list):
        return len(stroke[0])
    return 0


def _points(data: dict[str, Any], max_points: int) -> np.ndarray:
    rows: list[Any] = [data.get("x"), data.get("y")] + ([data["t"]] if data.get("t") is not None else [])
    if not all(isinstance(row, list) for row in rows):
        raise ProtocolError(ErrorCode.BAD_POINTS, '"x" and "y" (and "t" if given) must be lists of numbers')
    if max(len(row) for row in rows) > max_points:
        raise ProtocolError(ErrorCode.TOO_MANY_POINTS, f"more than {max_points} points in one message")
    try:
        points = sketch.validate_stroke(rows, sketch.Limits(max_points_per_stroke=max_points), "points")
    except sketch.SketchError as error:
        raise ProtocolError(ErrorCode.BAD_POINTS, str(error)) from None
    if len(points) == 3 and points[2].min() < 0:
        raise ProtocolError(ErrorCode.BAD_POINTS, '"t" counts milliseconds since the drawing began: no negative values')
    return points


# Server → client -------------------------------------------------------------


class _ServerMessage:
    type: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # every subclass is a dataclass: what ``fields`` reads

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies the guesses, and guesses go out often.
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in fields(self)}}

    def encode(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


@dataclass(frozen=True)
class Hello(_ServerMessage):
    """The server's first message on every socket: what a client needs to know before it draws."""

    type: ClassVar[str] = "hello"
    protocol: int
    model_version: str
    words: list[str]
    recognition_threshold: float
    first_stroke_threshold: float  # what a drawing of a single stroke needs instead
    recognition_top_guess: bool  # the prompt must also be the top guess
    game_time_limit_s: float
    live_guess_interval_ms: int
    heartbeat: dict[str, float]  # {"ping_interval_s", "ping_timeout_s", "idle_timeout_s"}
    limits: dict[str, float]  # every limit a client must stay under, by its setting's name in lower case


@dataclass(frozen=True)
class Round(_ServerMessage):
    type: ClassVar[str] = "round"
    id: str
    mode: str
    word: str | None
    time_limit_s: float | None
    elapsed_ms: int  # > 0 for a resumed drawing: the time it had been open already
    resume_token: str  # with ``id``, what a client sends in ``start`` to carry this drawing on after a reconnect
    reply_to: RequestId = None


@dataclass(frozen=True)
class GuessMessage(_ServerMessage):
    type: ClassVar[str] = "guess"
    seq: int
    drawing: str  # the drawing's id
    strokes: int
    live: bool  # True: mid-stroke, nobody asked for it; False: owed for stroke_end, stroke, undo or clear
    guesses: list[dict[str, Any]]  # [{"word", "p"}], best first
    reply_to: RequestId = None


@dataclass(frozen=True)
class Recognized(_ServerMessage):
    type: ClassVar[str] = "recognized"
    drawing: str
    word: str
    p: float
    strokes: int
    elapsed_ms: int  # server wall time from the round's start to the winning guess


@dataclass(frozen=True)
class Timeout(_ServerMessage):
    type: ClassVar[str] = "timeout"
    drawing: str
    word: str | None


@dataclass(frozen=True)
class Saved(_ServerMessage):
    type: ClassVar[str] = "saved"
    id: str
    word: str | None
    mode: str
    recognized: bool
    strokes: int
    record_url: str
    png_url: str
    reply_to: RequestId = None


@dataclass(frozen=True)
class NotSaved(_ServerMessage):
    type: ClassVar[str] = "not_saved"
    id: str
    reason: str  # "empty" (no strokes) or "save_failed" (the store refused it)
    reply_to: RequestId = None


@dataclass(frozen=True)
class Pong(_ServerMessage):
    type: ClassVar[str] = "pong"
    reply_to: RequestId = None


@dataclass(frozen=True)
class Closing(_ServerMessage):
    """Sent just before the server closes the socket; ``code`` is the close code that follows."""

    type: ClassVar[str] = "closing"
    code: int
    reason: str


@dataclass(frozen=True)
class RoomState(_ServerMessage):
    """A room as one player sees it, after every change (``server.roomplay.view`` builds it)."""

    type: ClassVar[str] = "room"
    code: str
    version: int  # grows with every change: show the newest
    you: str  # this player's id ...
    token: str  # ... and what takes the seat back after a reconnect
    host: str | None
    state: str  # "lobby", "playing" or "over"
    round: int
    rounds: int
    word: str | None
    words: list[str]  # of the rounds begun so far
    starts_in_ms: int | None  # until the round's clock starts; negative once it runs
    time_limit_s: float
    players: list[dict[str, Any]]  # [{"id", "name", "score", "away"}] in joining order
    results: list[dict[str, Any]]  # per round played: player id → {"recognized", "elapsed_ms", "points", "drawing"}
    reply_to: RequestId = None


PEER_OPS = ("points", "stroke_end", "undo", "clear")


@dataclass(frozen=True)
class PeerDrawing(_ServerMessage):
    """Another player's drawing operations in round ``round``: ``["points", [x…], [y…]]``, ``["stroke_end"]``,
    ``["undo"]``, ``["clear"]``."""

    type: ClassVar[str] = "peer_drawing"
    player: str
    round: int
    ops: list[list[Any]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PeerDrawing":
        """Raises: KeyError, TypeError or ValueError for an event that is not one."""
        ops = data["ops"]
        if not isinstance(ops, list) or not all(isinstance(op, list) and op and op[0] in PEER_OPS for op in ops):
            raise ValueError("peer_drawing ops must be lists that name an operation")
        return cls(str(data["player"]), int(data["round"]), ops)


@dataclass(frozen=True)
class PeerGuess(_ServerMessage):
    """The network's top guesses after another player's completed strokes."""

    type: ClassVar[str] = "peer_guess"
    player: str
    round: int
    strokes: int
    guesses: list[dict[str, Any]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PeerGuess":
        """Raises: KeyError, TypeError or ValueError for an event that is not one."""
        guesses = data["guesses"]
        if not isinstance(guesses, list):
            raise ValueError("peer_guess guesses must be a list")
        return cls(str(data["player"]), int(data["round"]), int(data["strokes"]), guesses)


PEER_MESSAGES: dict[str, type[PeerDrawing] | type[PeerGuess]] = {"peer_drawing": PeerDrawing, "peer_guess": PeerGuess}


@dataclass(frozen=True)
class Error(_ServerMessage):
    type: ClassVar[str] = "error"
    code: ErrorCode
    message: str
    reply_to: RequestId = None
    retry_after: float | None = None  # rate_limited only: seconds until a message is accepted again

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.retry_after is None:
            del data["retry_after"]
        return data

    @classmethod
    def of(cls, error: ProtocolError) -> "Error":
        return cls(error.code, error.message, error.reply_to, error.retry_after)

"""The wire protocol of ``/ws``: a closed set of JSON messages, each with a ``type``.

Client messages are frozen dataclasses built by ``parse(text, limits)``, which
raises one ``ProtocolError(code, message)`` for anything malformed; server
messages have ``to_json()``. ``ErrorCode`` and ``CloseCode`` are defined here once.
See docs/PROTOCOL.md for the contract.
"""

import json
from dataclasses import dataclass, fields
from enum import IntEnum, StrEnum
from typing import ClassVar

import numpy as np

from core import sketch


class ErrorCode(StrEnum):
    """Codes of ``{"type": "error"}`` messages: the client made a mistake, the connection goes on."""

    BAD_JSON = "bad_json"  # not JSON text, or not a JSON object
    UNKNOWN_TYPE = "unknown_type"  # "type" missing or not one of the client messages
    BAD_FIELD = "bad_field"  # a field has the wrong type or value (mode, word, drawing)
    BAD_POINTS = "bad_points"  # x/y/t not lists of finite numbers of one length, or empty
    TOO_MANY_POINTS = "too_many_points"  # over the points per message / stroke / drawing
    TOO_MANY_STROKES = "too_many_strokes"  # over the strokes per drawing
    NO_DRAWING = "no_drawing"  # a drawing message with no open drawing (before start, after the round ended)
    NO_STROKE = "no_stroke"  # stroke_end with no open stroke, undo with nothing to undo
    UNKNOWN_WORD = "unknown_word"  # start with a word the model does not know
    SAVE_FAILED = "save_failed"  # the drawing could not be stored; the game goes on
    INTERNAL_ERROR = "internal_error"  # a server fault; the connection closes with CloseCode.INTERNAL_ERROR


class CloseCode(IntEnum):
    """WebSocket close codes (RFC 6455 §7.4.1) the server uses: the connection itself is over."""

    NORMAL_CLOSURE = 1000  # idle for IDLE_TIMEOUT_S: nothing wrong, reconnect when needed
    GOING_AWAY = 1001  # the server shuts down
    POLICY_VIOLATION = 1008  # message flood
    MESSAGE_TOO_BIG = 1009  # frame over the size limit
    INTERNAL_ERROR = 1011  # unexpected server fault
    TRY_AGAIN_LATER = 1013  # server full (MAX_CONNECTIONS open sockets)


MODES = ("free", "game")


class ProtocolError(ValueError):
    """A message the server refuses: ``code`` says what kind of mistake, ``message`` says why."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# Client → server -------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    type: ClassVar[str] = "start"
    mode: str = "free"
    word: str | None = None

    @classmethod
    def from_json(cls, data: dict, limits: sketch.Limits) -> "Start":
        mode = data.get("mode", "free")
        if mode not in MODES:
            raise ProtocolError(ErrorCode.BAD_FIELD, f'"mode" must be "free" or "game", got {mode!r}'[:200])
        word = data.get("word")
        if word is not None and not isinstance(word, str):
            raise ProtocolError(ErrorCode.BAD_FIELD, '"word" must be a string or null')
        return cls(mode, word)


@dataclass(frozen=True, eq=False)
class Points:
    """Points as a (2|3, n) float array of x, y and optionally t: ``points`` extend the open stroke
    (at most ``max_points_per_message``), ``stroke`` is one whole stroke (at most ``max_points_per_stroke``)."""

    type: str  # "points" or "stroke"
    points: np.ndarray

    @classmethod
    def from_json(cls, data: dict, limits: sketch.Limits) -> "Points":
        most = limits.max_points_per_message if data["type"] == "points" else limits.max_points_per_stroke
        return cls(data["type"], _points(data, most))


@dataclass(frozen=True)
class StrokeEnd:
    type: ClassVar[str] = "stroke_end"


@dataclass(frozen=True)
class Undo:
    type: ClassVar[str] = "undo"


@dataclass(frozen=True)
class Clear:
    type: ClassVar[str] = "clear"


@dataclass(frozen=True)
class End:
    type: ClassVar[str] = "end"


ClientMessage = Start | Points | StrokeEnd | Undo | Clear | End
CLIENT_TYPES = {
    "start": Start,
    "points": Points,
    "stroke": Points,
    "stroke_end": StrokeEnd,
    "undo": Undo,
    "clear": Clear,
    "end": End,
}


def parse(frame: str | bytes, limits: sketch.Limits = sketch.Limits()) -> ClientMessage:
    """One client frame → its message; extra fields are ignored.

    Raises:
        ProtocolError: with the code that says what is wrong.
    """
    data = _object(frame)
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f'"type" must be one of {", ".join(CLIENT_TYPES)}')
    cls = CLIENT_TYPES[kind]
    if hasattr(cls, "from_json"):
        return cls.from_json(data, limits)
    return cls()


def parse_drawing(body, limits: sketch.Limits = sketch.Limits()) -> list[np.ndarray]:
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
    if any(_length(stroke) > limits.max_points_per_stroke for stroke in strokes):
        raise ProtocolError(ErrorCode.TOO_MANY_POINTS, f"more than {limits.max_points_per_stroke} points in a stroke")
    try:
        return sketch.validate(strokes, limits)
    except sketch.SketchError as error:
        raise ProtocolError(ErrorCode.BAD_POINTS, str(error)) from None


def _object(frame: str | bytes) -> dict:
    if not isinstance(frame, str):
        raise ProtocolError(ErrorCode.BAD_JSON, "frames must be JSON text, not binary")
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_JSON, "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "a message must be a JSON object")
    return data


def _length(stroke) -> int:
    """The point count a stroke claims (its x row), 0 if it has no list there."""
    if isinstance(stroke, list) and stroke and isinstance(stroke[0], list):
        return len(stroke[0])
    return 0


def _points(data: dict, max_points: int) -> np.ndarray:
    rows = [data.get("x"), data.get("y")] + ([data["t"]] if data.get("t") is not None else [])
    if not all(isinstance(row, list) for row in rows):
        raise ProtocolError(ErrorCode.BAD_POINTS, '"x" and "y" (and "t" if given) must be lists of numbers')
    if max(len(row) for row in rows) > max_points:
        raise ProtocolError(ErrorCode.TOO_MANY_POINTS, f"more than {max_points} points in one message")
    try:
        return sketch.validate_stroke(rows, sketch.Limits(max_points_per_stroke=max_points), "points")
    except sketch.SketchError as error:
        raise ProtocolError(ErrorCode.BAD_POINTS, str(error)) from None


# Server → client -------------------------------------------------------------


class _ServerMessage:
    type: ClassVar[str]

    def to_json(self) -> dict:
        # Shallow on purpose: dataclasses.asdict deep-copies the guesses, and guesses go out often.
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in fields(self)}}

    def encode(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


@dataclass(frozen=True)
class Round(_ServerMessage):
    type: ClassVar[str] = "round"
    id: str
    mode: str
    word: str | None
    time_limit_s: float | None


@dataclass(frozen=True)
class GuessMessage(_ServerMessage):
    type: ClassVar[str] = "guess"
    seq: int
    strokes: int
    guesses: list[dict]  # [{"word", "p"}], best first


@dataclass(frozen=True)
class Recognized(_ServerMessage):
    type: ClassVar[str] = "recognized"
    word: str
    p: float
    strokes: int
    elapsed_ms: int


@dataclass(frozen=True)
class Timeout(_ServerMessage):
    type: ClassVar[str] = "timeout"
    word: str | None


@dataclass(frozen=True)
class Saved(_ServerMessage):
    type: ClassVar[str] = "saved"
    id: str
    word: str | None
    recognized: bool
    strokes: int


@dataclass(frozen=True)
class Error(_ServerMessage):
    type: ClassVar[str] = "error"
    code: ErrorCode
    message: str

    @classmethod
    def of(cls, error: ProtocolError) -> "Error":
        return cls(error.code, error.message)

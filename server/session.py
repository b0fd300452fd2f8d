"""One connection's drawing and game rules, with no I/O: messages in, facts out.

``Session`` holds the open ``Drawing`` (strokes in client pixels, t in ms since
it began). A rejected call raises ``ProtocolError`` and changes nothing. A
drawing leaves the session exactly once (end, new start, timeout, recognized,
disconnect); the caller saves what it gets back. Guesses owed for a drawing
still count for its round after it left (``observe``), so what decides a round
is what was sent before it ended, not how fast the classifier was.
"""

import hashlib
import hmac
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from core import records, sketch
from core.model import Prediction
from server import protocol
from server.protocol import ProtocolError

TOP_K = 5


@dataclass(eq=False)
class Drawing:
    """One drawing (a round in game mode) and what the model last said about it."""

    id: str
    mode: str
    word: str | None
    time_limit_s: float | None
    began: float  # session clock, seconds
    began_at: datetime  # wall clock, for the record's timestamp
    strokes: list[np.ndarray] = field(default_factory=list)  # completed, each (3, n): x, y, t
    open: list[np.ndarray] = field(default_factory=list)  # chunks of the stroke being drawn
    guesses: list[dict[str, Any]] = field(default_factory=list)  # the last top-5 sent for it
    recognized: bool = False
    win: protocol.Recognized | None = None  # the guess that won the round
    epoch: int = 0  # counts stroke_end, stroke, undo, clear and the end: a live guess from an older epoch is stale
    ended: bool = False
    last_owed: object = None  # the future of the last guess owed for it: its end waits for that guess
    resume_token: str = ""
    elapsed_ms: int = 0  # how long it had been open when it began here: a resumed drawing, a room round joined late
    ended_ms: int | None = None  # ms from its start to its end, by the session's clock (resumed: the client's start)
    timed_by_client: bool | None = None  # whether its points carry the client's t (decided by the first ones)
    points: int = 0  # in the whole drawing, open stroke included (kept as a count: messages come often)
    open_points: int = 0

    def snapshot(self) -> list[np.ndarray]:
        """The drawing as it looks now, open stroke included (arrays are never mutated)."""
        return self.strokes + ([np.concatenate(self.open, axis=1)] if self.open else [])

    def round_message(self, reply_to: protocol.RequestId = None) -> protocol.Round:
        return protocol.Round(
            self.id, self.mode, self.word, self.time_limit_s, self.elapsed_ms, self.resume_token, reply_to
        )

    def record(self) -> dict[str, Any]:
        """The Quick, Draw! raw-format record (plus mode and guesses) to save."""
        return records.raw_record(
            self.id,
            self.word,
            self.strokes,
            self.began_at,
            self.recognized,
            mode=self.mode,
            guesses=self.guesses,
            ended_ms=self.ended_ms,
        )


def recognizes(prediction: Prediction, word: str, threshold: float, top_guess: bool = False) -> bool:
    """The game's acceptance rule: the prompt's probability, as a guess shows it (4 decimals), reaches the
    threshold; with ``top_guess``, the prompt must also lead the guesses."""
    if top_guess and prediction.top(1)[0].word != word:
        return False
    return round(prediction.p(word), 4) >= threshold


class Session:
    """Drawing state of one connection; every method is synchronous and pure of I/O."""

    def __init__(
        self,
        labels: list[str],
        limits: sketch.Limits = sketch.Limits(),
        time_limit_s: float = 20.0,
        threshold: float = 0.5,
        first_stroke_threshold: float = 0.9,
        top_guess: bool = False,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        new_id: Callable[[], str] = records.new_id,
        secret: bytes = b"",
        max_resume_s: float = 600.0,
    ) -> None:
        self.labels, self.limits = labels, limits
        self.time_limit_s, self.threshold = time_limit_s, threshold
        self.first_stroke_threshold, self.top_guess = first_stroke_threshold, top_guess
        self.clock, self.rng, self.new_id = clock, rng or random.Random(), new_id
        self.secret, self.max_resume_s = secret, max_resume_s
        self.drawing: Drawing | None = None
        self.over: Drawing | None = None  # the drawing the server ended (won, timed out) until the next one begins

    def resume_token(self, drawing_id: str, mode: str, word: str | None) -> str:
        """What proves a client started ``drawing_id`` in ``mode`` with ``word``: an HMAC of the three with the
        server's secret, so a resume cannot change the prompt or the mode."""
        message = f"{drawing_id}|{mode}|{word or ''}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def start(self, message: protocol.Start) -> tuple[Drawing | None, Drawing]:
        """Begin a drawing, or carry one on (``resume``); returns (the previous drawing, now finished, or None;
        the new one).

        Raises:
            ProtocolError: ``unknown_word``; ``bad_resume`` for a token that is not this drawing's, mode's and
                word's, or a drawing too old to resume.
        """
        if message.word is not None and message.word not in self.labels:
            raise ProtocolError(protocol.ErrorCode.UNKNOWN_WORD, f"the model does not know {message.word!r}"[:200])
        if message.resume is not None:
            self._check_resume(message.resume, message.token or "", message.mode, message.word, message.elapsed_ms)
            return self._begin(
                message.resume, message.mode, message.word, self._time_limit(message.mode), message.elapsed_ms
            )
        word = message.word
        if message.mode in protocol.ROUND_MODES and word is None:
            word = self.rng.choice(self.labels)
        return self._begin(self.new_id(), message.mode, word, self._time_limit(message.mode), 0)

    def start_round(
        self, word: str, time_limit_s: float, elapsed_ms: int, carry: tuple[str, str] | None = None
    ) -> tuple[Drawing | None, Drawing]:
        """Begin a room round's drawing on the room's clock (``elapsed_ms`` since the round began), carrying on
        ``carry`` = (id, resume token) of the player's drawing before a reconnect.

        Raises:
            ProtocolError: ``bad_resume`` when ``carry`` is not this round's drawing (nothing changes).
        """
        drawing_id = self.new_id()
        if carry is not None:
            self._check_resume(carry[0], carry[1], "room", word, elapsed_ms)
            drawing_id = carry[0]
        return self._begin(drawing_id, "room", word, time_limit_s, elapsed_ms)

    def _time_limit(self, mode: str) -> float | None:
        return self.time_limit_s if mode in protocol.ROUND_MODES else None

    def _begin(
        self, drawing_id: str, mode: str, word: str | None, time_limit_s: float | None, elapsed_ms: int
    ) -> tuple[Drawing | None, Drawing]:
        previous = self.finish()
        elapsed_s = elapsed_ms / 1000
        self.drawing = Drawing(
            drawing_id,
            mode,
            word,
            time_limit_s,
            self.clock() - elapsed_s,
            datetime.now(timezone.utc) - timedelta(seconds=elapsed_s),
            resume_token=self.resume_token(drawing_id, mode, word),
            elapsed_ms=elapsed_ms,
        )
        return previous, self.drawing

    def _check_resume(self, drawing_id: str, token: str, mode: str, word: str | None, elapsed_ms: int) -> None:
        """A resumed drawing must carry its own token (for its mode and word) and could still be open (its id
        holds its start time)."""
        if not hmac.compare_digest(token, self.resume_token(drawing_id, mode, word)):
            raise ProtocolError(
                protocol.ErrorCode.BAD_RESUME,
                "this drawing cannot be resumed here (a resume keeps its id, mode and word): start a new one",
            )
        started = datetime.strptime(drawing_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
        age_s = (datetime.now(timezone.utc) - started).total_seconds()
        if age_s > self.max_resume_s or elapsed_ms / 1000 > self.max_resume_s:
            raise ProtocolError(protocol.ErrorCode.BAD_RESUME, "this drawing is too old to resume: start a new one")

    def add_points(self, points: np.ndarray) -> None:
        """Append points to the open stroke, opening one if none is open."""
        drawing = self._open()
        self._check_room(drawing, points.shape[1], opens_stroke=not drawing.open, stroke_points=drawing.open_points)
        points = self._timed(drawing, points)
        drawing.open.append(points)
        drawing.open_points += points.shape[1]
        drawing.points += points.shape[1]

    def end_stroke(self) -> int:
        """Close the open stroke; returns the number of completed strokes."""
        drawing = self._open()
        if not drawing.open:
            raise ProtocolError(protocol.ErrorCode.NO_STROKE, "stroke_end without an open stroke")
        drawing.strokes = drawing.strokes + [np.concatenate(drawing.open, axis=1)]
        drawing.open, drawing.open_points = [], 0
        drawing.epoch += 1
        return len(drawing.strokes)

    def add_stroke(self, points: np.ndarray) -> int:
        """Add one whole stroke (an open stroke is closed first); returns the completed count."""
        drawing = self._open()
        self._check_room(drawing, points.shape[1], opens_stroke=True, stroke_points=0, extra_open=bool(drawing.open))
        points = self._timed(drawing, points)
        if drawing.open:
            self.end_stroke()
        drawing.strokes = drawing.strokes + [points]
        drawing.points += points.shape[1]
        drawing.epoch += 1
        return len(drawing.strokes)

    def undo(self) -> int:
        """Drop the open stroke if there is one, else the last stroke; returns the completed count."""
        drawing = self._open()
        if drawing.open:
            drawing.points -= drawing.open_points
            drawing.open, drawing.open_points = [], 0
        elif drawing.strokes:
            drawing.points -= drawing.strokes[-1].shape[1]
            drawing.strokes = drawing.strokes[:-1]
        else:
            raise ProtocolError(protocol.ErrorCode.NO_STROKE, "nothing to undo")
        drawing.epoch += 1
        return len(drawing.strokes)

    def clear(self) -> int:
        drawing = self._open()
        drawing.strokes, drawing.open, drawing.points, drawing.open_points = [], [], 0, 0
        drawing.epoch += 1
        return 0

    def end(self) -> Drawing:
        """Finish the drawing on the client's word (an open stroke counts as completed)."""
        drawing = self._open()
        self.finish()
        return drawing

    def time_out(self, drawing: Drawing) -> bool:
        """Finish ``drawing`` if it is still the open one; False if it already ended."""
        if self.drawing is not drawing:
            return False
        self.finish()
        self.over = drawing
        return True

    def current(self, drawing: Drawing, epoch: int) -> bool:
        """Whether ``drawing`` is still open and unchanged since ``epoch`` but for points added to its open stroke."""
        return self.drawing is drawing and drawing.epoch == epoch

    def observe(
        self, drawing: Drawing, prediction: Prediction, strokes: int, drawn: int | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """The guesses to send for ``drawing`` (kept as its latest, for the saved record), and whether they
        just won its round while it was open: the session has then closed it. ``strokes`` is the completed
        strokes the guess covers, ``drawn`` the strokes it saw (an open one too; default ``strokes``).

        One stroke wins only at ``first_stroke_threshold``: a lone arc is a banana to the net.

        A guess that wins a round that already ended (by ``end``, a new ``start`` or time) marks it
        recognized too: it was owed for a message sent before the end. Only owed guesses reach a closed
        drawing; the caller drops stale live ones (``current``).
        """
        drawing.guesses = [guess.to_json() for guess in prediction.top(TOP_K)]
        threshold = self.first_stroke_threshold if (strokes if drawn is None else drawn) <= 1 else self.threshold
        if (
            drawing.mode not in protocol.ROUND_MODES
            or drawing.word is None  # never, for a round (start picks one): for the type checker
            or drawing.recognized
            or not recognizes(prediction, drawing.word, threshold, self.top_guess)
        ):
            return drawing.guesses, False
        drawing.recognized = True
        elapsed_ms = round((self.clock() - drawing.began) * 1000)
        drawing.win = protocol.Recognized(
            drawing.id, drawing.word, round(prediction.p(drawing.word), 4), strokes, elapsed_ms
        )
        if self.drawing is not drawing:
            return drawing.guesses, False
        self.finish()
        self.over = drawing
        return drawing.guesses, True

    def finish(self) -> Drawing | None:
        """Close the open drawing (the client's end, a new start, a disconnect); returns it, or None if none was
        open."""
        drawing, self.drawing, self.over = self.drawing, None, None
        if drawing is not None:
            drawing.ended = True
            drawing.ended_ms = round((self.clock() - drawing.began) * 1000)
            drawing.epoch += 1
            if drawing.open:
                drawing.strokes = drawing.strokes + [np.concatenate(drawing.open, axis=1)]
                drawing.open, drawing.open_points = [], 0
        return drawing

    def _open(self) -> Drawing:
        if self.drawing is None and self.over is not None:
            message = "the drawing has ended (recognized or out of time): nothing changed; wait for the next round"
            raise ProtocolError(protocol.ErrorCode.DRAWING_ENDED, message)
        if self.drawing is None:
            raise ProtocolError(protocol.ErrorCode.NO_DRAWING, "no open drawing: send start first")
        return self.drawing

    def _check_room(
        self, drawing: Drawing, n: int, opens_stroke: bool, stroke_points: int, extra_open: bool = False
    ) -> None:
        if opens_stroke and len(drawing.strokes) + extra_open + 1 > self.limits.max_strokes:
            raise ProtocolError(protocol.ErrorCode.TOO_MANY_STROKES, f"more than {self.limits.max_strokes} strokes")
        if stroke_points + n > self.limits.max_points_per_stroke:
            raise ProtocolError(
                protocol.ErrorCode.TOO_MANY_POINTS, f"more than {self.limits.max_points_per_stroke} points in a stroke"
            )
        if drawing.points + n > self.limits.max_points:
            raise ProtocolError(
                protocol.ErrorCode.TOO_MANY_POINTS, f"more than {self.limits.max_points} points in the drawing"
            )

    def _timed(self, drawing: Drawing, points: np.ndarray) -> np.ndarray:
        """Give points a t row (ms since the drawing began, by the server clock) when the client sent none.

        One drawing keeps one clock: once its points came with ``t`` (or without), all must.
        """
        client_t = points.shape[0] == 3
        if drawing.timed_by_client is None:
            drawing.timed_by_client = client_t
        elif drawing.timed_by_client != client_t:
            raise ProtocolError(
                protocol.ErrorCode.BAD_POINTS,
                f'this drawing\'s points came {"with" if drawing.timed_by_client else "without"} "t": '
                "send t with every message of a drawing or with none",
            )
        if client_t:
            return points
        t = np.full((1, points.shape[1]), round((self.clock() - drawing.began) * 1000), dtype=np.float64)
        return np.vstack([points, t])

"""Random message sequences at /ws against a small model of the protocol's promises (Hypothesis).

Valid and invalid messages are mixed; after each one the test takes exactly
the answers the protocol promises (PROTOCOL.md): one ``guess`` per completed
stroke, undo and clear with the right stroke count, ``saved`` once per
drawing with strokes (``not_saved`` for one without), ``error`` with the
right code otherwise — in the order of the messages, and nothing else. Tight limits make the limit paths common.
"""

import asyncio
import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server import protocol
from tests.serving import make_app, receive

LIMITS = {"MAX_POINTS_PER_MESSAGE": 4, "MAX_POINTS_PER_STROKE": 8, "MAX_POINTS": 20, "MAX_STROKES": 3}
QUIET_S = 0.05  # after the promised answers, nothing more may arrive within this time


class Model:
    """What the server should hold and answer, from the rules in session.py / PROTOCOL.md."""

    def __init__(self):
        self.drawing = False
        self.strokes: list[int] = []  # point counts of completed strokes
        self.open = 0  # points of the stroke being drawn (0: none open)
        self.live_sent = False  # the first accepted points of a connection get a live guess

    def points_total(self) -> int:
        return sum(self.strokes) + self.open

    def room(self, n: int, opens: bool, stroke_points: int, extra_open: int = 0) -> str | None:
        if opens and len(self.strokes) + extra_open + 1 > LIMITS["MAX_STROKES"]:
            return protocol.ErrorCode.TOO_MANY_STROKES
        if stroke_points + n > LIMITS["MAX_POINTS_PER_STROKE"] or self.points_total() + n > LIMITS["MAX_POINTS"]:
            return protocol.ErrorCode.TOO_MANY_POINTS
        return None

    def apply(self, kind: str, n: int) -> list[tuple]:
        """The answers owed for one message, as (type, detail) pairs."""
        if kind in ("points", "stroke") and n == 0:
            return [("error", protocol.ErrorCode.BAD_POINTS)]
        if kind in ("points", "stroke") and n > LIMITS["MAX_POINTS_PER_MESSAGE"]:
            return [("error", protocol.ErrorCode.TOO_MANY_POINTS)]
        if kind == "start":
            answers = self.finish()
            self.drawing = True
            return answers + [("round", None)]
        if not self.drawing:
            return [("error", protocol.ErrorCode.NO_DRAWING)]
        if kind == "points":
            if code := self.room(n, opens=not self.open, stroke_points=self.open):
                return [("error", code)]
            self.open += n
            if not self.live_sent:
                self.live_sent = True
                return [("guess", (len(self.strokes), True))]  # a live guess also sees the open stroke
            return []
        if kind == "stroke":
            if code := self.room(n, opens=True, stroke_points=0, extra_open=bool(self.open)):
                return [("error", code)]
            if self.open:
                self.strokes.append(self.open)
                self.open = 0
            self.strokes.append(n)
            return [("guess", (len(self.strokes), bool(self.strokes)))]
        if kind == "stroke_end":
            if not self.open:
                return [("error", protocol.ErrorCode.NO_STROKE)]
            self.strokes.append(self.open)
            self.open = 0
            return [("guess", (len(self.strokes), bool(self.strokes)))]
        if kind == "undo":
            if self.open:
                self.open = 0
            elif self.strokes:
                self.strokes.pop()
            else:
                return [("error", protocol.ErrorCode.NO_STROKE)]
            return [("guess", (len(self.strokes), bool(self.strokes)))]
        if kind == "clear":
            self.strokes, self.open = [], 0
            return [("guess", (0, False))]
        if kind == "end":
            return self.finish()
        raise AssertionError(kind)

    def finish(self) -> list[tuple]:
        if self.open:
            self.strokes.append(self.open)
        final = []
        if self.drawing:
            final = [("saved", len(self.strokes))] if self.strokes else [("not_saved", "empty")]
        self.drawing, self.strokes, self.open = False, [], 0
        return final


KINDS = ["start"] + ["points"] * 4 + ["stroke"] * 3 + ["stroke_end"] * 2 + ["undo", "clear", "end"]
messages = st.tuples(st.sampled_from(KINDS), st.integers(1, 4) | st.integers(0, 10))


def frame(kind: str, n: int) -> str:
    if kind in ("points", "stroke"):
        return json.dumps({"type": kind, "x": [i * 7 for i in range(n)], "y": [(i * 13) % 50 for i in range(n)]})
    return json.dumps({"type": kind})


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(sequence=st.lists(messages, min_size=1, max_size=40).map(lambda rest: [("start", 0)] + rest))
async def test_random_sequences_get_exactly_the_promised_answers(tmp_path, sequence):
    app = make_app(tmp_path, LIVE_GUESS_INTERVAL_MS=100_000, MESSAGES_PER_SECOND=1e6, MESSAGE_BURST=10**6, **LIMITS)
    model = Model()
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        for kind, n in sequence:
            await ws.send(frame(kind, n))
            for want_type, detail in model.apply(kind, n):
                event(f"{want_type} {detail}" if want_type == "error" else want_type)  # coverage in the statistics
                answer = await receive(ws)
                assert answer["type"] == want_type, (kind, n, answer, want_type)
                if want_type == "guess":
                    strokes, ink = detail
                    assert (answer["strokes"], len(answer["guesses"])) == (strokes, 5 if ink else 0), (kind, n, answer)
                elif want_type == "saved":
                    assert answer["strokes"] == detail
                elif want_type == "not_saved":
                    assert answer["reason"] == detail
                elif want_type == "error":
                    assert answer["code"] == detail, (kind, n, answer)
        try:  # and nothing else
            extra = await asyncio.wait_for(ws.receive(), QUIET_S)
        except asyncio.TimeoutError:
            extra = None
        assert extra is None, extra

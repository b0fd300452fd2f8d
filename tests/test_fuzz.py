"""Property-based fuzzing of /ws and POST /api/guess with Hypothesis.

Random JSON, random types, huge and deeply nested arrays, NaN/Infinity tokens,
huge integers, unicode, binary frames and truncated frames go to one player's
socket while a second, well-behaved player draws beside it. Invariants: every
bad frame gets an ``error`` with the code ``protocol.parse`` gives it, the
fuzzed drawing is unchanged, the neighbour keeps getting the right guesses,
and the app keeps serving. Frames over the size limit close with 1009.
"""

import asyncio
import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from quart.testing.connections import WebsocketDisconnectError

from core import sketch
from server import protocol
from tests.serving import make_app, receive, send

LIMITS = {
    "MAX_POINTS_PER_MESSAGE": 64,
    "MAX_POINTS_PER_STROKE": 256,
    "MAX_POINTS": 1024,
    "MAX_STROKES": 16,
    "MAX_FRAME_BYTES": 64 * 1024,
    "MAX_BODY_BYTES": 64 * 1024,
}
FAST = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
LINE = {"x": [0, 50, 100], "y": [0, 40, 80]}

# Strategies ---------------------------------------------------------------------

numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(min_value=10**300, max_value=10**400),  # integers no float can hold
    st.floats(allow_nan=True, allow_infinity=True),  # json.dumps writes NaN / Infinity tokens for these
    st.floats(min_value=-1e9, max_value=1e9, allow_subnormal=True),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=25,
)
coordinate_lists = st.one_of(st.lists(numbers, max_size=80), json_values)
typed = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["points", "stroke", "start", "Points", "", "draw", "stroke_end "])
        | st.text(max_size=12)
        | json_values
    },
    optional={
        "x": coordinate_lists,
        "y": coordinate_lists,
        "t": coordinate_lists,
        "mode": json_values,
        "word": json_values | st.text(),
    },
)
valid_messages = st.sampled_from(
    [
        {"type": "points", **LINE},
        {"type": "stroke", **LINE, "t": [0, 10, 20]},
        {"type": "start", "mode": "game"},
    ]
)


@st.composite
def truncated(draw) -> str:
    """A valid message cut short somewhere."""
    text = json.dumps(draw(valid_messages))
    return text[: draw(st.integers(0, len(text) - 1))]


@st.composite
def oversized_batches(draw) -> str:
    """A points/stroke message with more points than one message may carry (64 here)."""
    n = draw(st.integers(65, 2000))
    kind = draw(st.sampled_from(["points", "stroke"]))
    return json.dumps(
        {"type": kind, "x": list(range(n)), "y": [1] * n}
        if kind == "points"
        else {"type": kind, "x": list(range(300)), "y": [1] * 300}
    )


def nested(depth: int) -> str:
    return '{"type":"points","x":' + "[" * depth + "]" * depth + ',"y":[1]}'


text_frames = st.one_of(
    json_values.map(json.dumps),
    typed.map(json.dumps),
    truncated(),
    oversized_batches(),
    # Nested far below or far above the JSON parser's recursion limit: near it, whether a frame parses depends
    # on how deep the caller's stack is (the test's or the server's), and either error is right.
    (st.integers(2, 200) | st.integers(5_000, 30_000)).map(nested),
    st.text(max_size=200),  # not JSON at all, any unicode
)
# Not b"": Quart's test client cannot send an empty binary frame (test_faults sends one to the real server).
binary_frames = (st.binary(max_size=300) | text_frames.map(str.encode)).filter(len)


def expected_code(frame) -> str | None:
    """The error code the protocol gives a frame, or None if it is a valid message."""
    try:
        protocol.parse(
            frame,
            sketch.Limits(
                LIMITS["MAX_STROKES"],
                LIMITS["MAX_POINTS_PER_STROKE"],
                LIMITS["MAX_POINTS"],
                LIMITS["MAX_POINTS_PER_MESSAGE"],
            ),
        )
    except protocol.ProtocolError as error:
        return error.code
    return None


# The arena: a fuzzed player and a well-behaved neighbour on one app ---------------


class Arena:
    def __init__(self, app, fuzzed, neighbour):
        self.app, self.fuzzed, self.neighbour = app, fuzzed, neighbour
        classifier = app.extensions["quickdraw"].classifier
        self.right_guesses = [
            g.to_json() for g in classifier.classify(sketch.validate([[LINE["x"], LINE["y"]]])).top(5)
        ]
        self.cases = 0

    def state(self) -> tuple:
        """The fuzzed player's drawing as the server holds it."""
        (connection,) = [
            c
            for c in self.app.extensions["gate"].open
            if c.session.drawing is not None and c.session.drawing.id == self.drawing_id
        ]
        drawing = connection.session.drawing
        return drawing.id, [s.tolist() for s in drawing.strokes], [c.tolist() for c in drawing.open]

    async def neighbour_draws(self) -> None:
        """The neighbour adds a stroke and takes it back; both answers must be right."""
        await send(self.neighbour, type="stroke", **LINE)
        guess = await receive(self.neighbour)
        assert (guess["type"], guess["strokes"]) == ("guess", 1)
        assert [g["word"] for g in guess["guesses"]] == [g["word"] for g in self.right_guesses]
        assert np.allclose([g["p"] for g in guess["guesses"]], [g["p"] for g in self.right_guesses], atol=1e-3)
        await send(self.neighbour, type="undo")
        assert (await receive(self.neighbour))["strokes"] == 0

    async def throw(self, frame) -> None:
        """Send one bad frame; it must get its error and change nothing."""
        code = expected_code(frame)
        assume(code is not None)
        event(f"error {code}")  # --hypothesis-show-statistics shows how the cases spread over the codes
        before = self.state()
        await self.fuzzed.send(frame)
        answer = await receive(self.fuzzed)
        assert answer["type"] == "error" and answer["code"] == code, (frame[:200], answer)
        assert isinstance(answer["message"], str) and answer["code"] in tuple(protocol.ErrorCode)
        assert self.state() == before
        self.cases += 1
        if self.cases % 5 == 0:
            await self.neighbour_draws()


@pytest.fixture
async def arena(tmp_path):
    # Every refusal counts towards MAX_REFUSED_MESSAGES: the fuzzed socket may have as many as it likes here.
    app = make_app(
        tmp_path,
        LIVE_GUESS_INTERVAL_MS=100_000,
        MESSAGES_PER_SECOND=1e6,
        MESSAGE_BURST=10**6,
        MAX_REFUSED_MESSAGES=10**6,
        **LIMITS,
    )
    async with app.test_app():
        client = app.test_client()
        async with client.websocket("/ws") as fuzzed, client.websocket("/ws") as neighbour:
            arena = Arena(app, fuzzed, neighbour)
            await send(neighbour, type="start")
            await receive(neighbour)
            await send(fuzzed, type="start")
            arena.drawing_id = (await receive(fuzzed))["id"]
            await send(fuzzed, type="stroke", **LINE)  # one completed stroke ...
            await receive(fuzzed)
            await send(fuzzed, type="points", x=[5, 6], y=[7, 8])  # ... and one being drawn,
            assert (await receive(fuzzed))["strokes"] == 1  # which gets the first live guess
            yield arena
            # After everything: the drawing still has exactly its two strokes and gets its guess.
            await send(fuzzed, type="stroke_end")
            assert (await receive(fuzzed))["strokes"] == 2
            await arena.neighbour_draws()


@settings(FAST, max_examples=400)
@given(frame=text_frames)
async def test_bad_text_frames_get_an_error_and_change_nothing(arena, frame):
    await arena.throw(frame)


@settings(FAST, max_examples=100)
@given(frame=binary_frames)
async def test_binary_frames_get_bad_json_and_change_nothing(arena, frame):
    await arena.throw(frame)


def test_nan_and_infinity_tokens_are_parsed_then_refused():
    # json.loads accepts NaN/Infinity (not JSON); the points check must catch them.
    for token in ("NaN", "Infinity", "-Infinity", "1e999"):
        assert expected_code(f'{{"type":"points","x":[{token}],"y":[1]}}') == protocol.ErrorCode.BAD_POINTS


def test_an_integer_too_big_for_a_float_is_bad_points_not_a_crash():
    assert expected_code('{"type":"stroke","x":[' + "9" * 400 + '],"y":[1]}') == protocol.ErrorCode.BAD_POINTS


@st.composite
def oversized_frames(draw) -> str:
    filler = draw(st.sampled_from(["x", "é", "[", "1,"]))
    return filler * draw(st.integers(64 * 1024 + 1, 200 * 1024))


@settings(FAST, max_examples=15)
@given(frame=oversized_frames())
async def test_a_frame_over_the_size_limit_closes_with_1009_and_spares_the_neighbour(arena, frame):
    async with arena.app.test_client().websocket("/ws") as victim:
        await victim.send(frame)
        with pytest.raises(WebsocketDisconnectError) as closed:
            while True:
                await asyncio.wait_for(victim.receive(), 10)
        assert closed.value.args[0] == protocol.CloseCode.MESSAGE_TOO_BIG
    await arena.neighbour_draws()


# POST /api/guess ------------------------------------------------------------------

drawings = st.lists(st.lists(coordinate_lists, min_size=0, max_size=4), max_size=6)
finite = st.floats(min_value=-sketch.MAX_COORDINATE, max_value=sketch.MAX_COORDINATE, allow_subnormal=True)


@st.composite
def valid_strokes(draw) -> list:
    n = draw(st.integers(1, 40))
    return [draw(st.lists(finite, min_size=n, max_size=n)) for _ in range(2)]


bodies = st.one_of(
    st.lists(valid_strokes(), min_size=1, max_size=3).map(lambda d: json.dumps({"drawing": d})),
    st.fixed_dictionaries({"drawing": drawings | json_values}).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
)


@pytest.fixture
async def api_app(tmp_path):
    app = make_app(tmp_path, **LIMITS)
    async with app.test_app():
        yield app


@settings(FAST, max_examples=300)
@given(body=bodies)
async def test_api_guess_answers_every_body_with_guesses_or_a_400_code(api_app, body):
    response = await api_app.test_client().post("/api/guess", data=body, headers={"Content-Type": "application/json"})
    answer = await response.get_json()
    event(f"status {response.status_code} {answer.get('code', '')}")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    if response.status_code == 200:
        assert len(answer["guesses"]) == 5
        protocol.parse_drawing(parsed, sketch.Limits(16, 256, 1024))  # it was valid
    else:
        assert response.status_code == 400, (body[:200], response.status_code)
        assert answer["code"] in tuple(protocol.ErrorCode) and answer["type"] == "error"


# The pipeline under it ------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(strokes=st.lists(valid_strokes(), min_size=1, max_size=5))
def test_any_drawing_that_validates_rasterizes_without_warnings(strokes):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning here is a wrong picture
        image = sketch.to_model_input(sketch.validate(strokes))
    assert image.shape == (28, 28) and image.dtype == np.uint8 and image.max() > 0

"""Parsing client frames: every message type, every error code the parser owns."""

import json
import math

import numpy as np
import pytest

from core import sketch
from server import protocol
from server.protocol import ProtocolError, parse


def frame(**message) -> str:
    return json.dumps(message)


def code_of(text, **kwargs) -> str:
    with pytest.raises(ProtocolError) as caught:
        parse(text, **kwargs)
    return caught.value.code


def test_start_defaults_to_free_mode_without_word():
    assert parse(frame(type="start")) == protocol.Start("free", None)


def test_start_game_with_word():
    assert parse(frame(type="start", mode="game", word="cat")) == protocol.Start("game", "cat")


def test_points_become_a_float_array_with_optional_t():
    message = parse(frame(type="points", x=[1, 2.5], y=[3, 4], t=[0, 16]))
    assert isinstance(message, protocol.Points) and message.type == "points"
    np.testing.assert_array_equal(message.points, [[1, 2.5], [3, 4], [0, 16]])
    assert parse(frame(type="points", x=[1], y=[2])).points.shape == (2, 1)


def test_stroke_is_its_own_type():
    message = parse(frame(type="stroke", x=[1, 2], y=[3, 4]))
    assert isinstance(message, protocol.Points) and message.type == "stroke" and message.points.shape == (2, 2)


@pytest.mark.parametrize(
    "kind, cls",
    [("stroke_end", protocol.StrokeEnd), ("undo", protocol.Undo), ("clear", protocol.Clear), ("end", protocol.End)],
)
def test_field_less_messages(kind, cls):
    assert parse(frame(type=kind, extra="ignored")) == cls()


@pytest.mark.parametrize("text", ["not json", "{", '"a string"', "[1, 2]", "null"])
def test_non_object_frames_are_bad_json(text):
    assert code_of(text) == protocol.ErrorCode.BAD_JSON


def test_binary_frame_is_bad_json():
    assert code_of(b'{"type": "end"}') == protocol.ErrorCode.BAD_JSON


def test_deeply_nested_json_is_bad_json():
    assert code_of("[" * 100_000 + "]" * 100_000) == protocol.ErrorCode.BAD_JSON


@pytest.mark.parametrize("message", [{}, {"type": "draw"}, {"type": 5}, {"type": None}])
def test_missing_or_unknown_type(message):
    assert code_of(json.dumps(message)) == protocol.ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize(
    "message",
    [
        {"type": "start", "mode": "race"},
        {"type": "start", "mode": 1},
        {"type": "start", "word": 3},
        {"type": "start", "word": ["cat"]},
    ],
)
def test_bad_start_fields(message):
    assert code_of(json.dumps(message)) == protocol.ErrorCode.BAD_FIELD


@pytest.mark.parametrize(
    "fields",
    [
        {"x": [1, 2], "y": [1]},  # ragged
        {"x": [1], "y": [1], "t": [1, 2]},  # ragged t
        {"x": [], "y": []},  # empty
        {"x": [1], "y": ["1"]},  # not a number
        {"x": [True], "y": [1]},  # booleans are not numbers
        {"x": [[1]], "y": [1]},  # nested
        {"x": 1, "y": 1},  # not lists
        {"y": [1]},  # missing x
    ],
)
def test_bad_points(fields):
    assert code_of(json.dumps({"type": "points", **fields})) == protocol.ErrorCode.BAD_POINTS


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_coordinates_are_bad_points(literal):
    assert code_of('{"type":"points","x":[%s],"y":[1]}' % literal) == protocol.ErrorCode.BAD_POINTS


def test_too_many_points_in_one_message():
    text = frame(type="points", x=list(range(11)), y=list(range(11)))
    assert code_of(text, limits=sketch.Limits(max_points_per_message=10)) == protocol.ErrorCode.TOO_MANY_POINTS


def test_a_stroke_message_is_bounded_by_the_stroke_limit():
    text = frame(type="stroke", x=list(range(11)), y=list(range(11)))
    assert code_of(text, limits=sketch.Limits(max_points_per_stroke=10)) == protocol.ErrorCode.TOO_MANY_POINTS
    assert parse(text, limits=sketch.Limits(max_points_per_stroke=11, max_points_per_message=5)).points.shape == (2, 11)


def test_parse_drawing_accepts_the_api_body():
    drawing = protocol.parse_drawing({"drawing": [[[0, 10], [0, 10]], [[5], [5], [0]]]})
    assert [s.shape for s in drawing] == [(2, 2), (3, 1)]


@pytest.mark.parametrize(
    "body, code",
    [
        ([], protocol.ErrorCode.BAD_JSON),
        ({}, protocol.ErrorCode.BAD_FIELD),
        ({"drawing": []}, protocol.ErrorCode.BAD_FIELD),
        ({"drawing": [[[0, math.nan], [0, 1]]]}, protocol.ErrorCode.BAD_POINTS),
        ({"drawing": [[[0, 1], [0]]]}, protocol.ErrorCode.BAD_POINTS),
        ({"drawing": [[[1], [1]]] * 3}, protocol.ErrorCode.TOO_MANY_STROKES),
        ({"drawing": [[list(range(5)), list(range(5))]]}, protocol.ErrorCode.TOO_MANY_POINTS),
    ],
)
def test_parse_drawing_errors(body, code):
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_drawing(body, sketch.Limits(max_strokes=2, max_points_per_stroke=4, max_points=100))
    assert caught.value.code == code


def test_error_codes_are_distinct_strings():
    assert len(set(tuple(protocol.ErrorCode))) == len(tuple(protocol.ErrorCode))


def test_server_messages_encode_with_their_type():
    assert json.loads(protocol.Saved("id", None, False, 2).encode()) == {
        "type": "saved",
        "id": "id",
        "word": None,
        "recognized": False,
        "strokes": 2,
    }
    assert protocol.Error.of(ProtocolError("bad_json", "why")).to_json() == {
        "type": "error",
        "code": "bad_json",
        "message": "why",
    }

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


@pytest.mark.parametrize("kind", ["points", "stroke"])
def test_every_message_with_points_has_one_limit(kind):
    text = frame(type=kind, x=list(range(11)), y=list(range(11)))
    assert code_of(text, limits=sketch.Limits(max_points_per_message=10)) == protocol.ErrorCode.TOO_MANY_POINTS
    assert parse(text, limits=sketch.Limits(max_points_per_message=11)).points.shape == (2, 11)


def test_negative_t_is_refused():
    assert code_of(frame(type="points", x=[1, 2], y=[1, 2], t=[0, -1])) == protocol.ErrorCode.BAD_POINTS


@pytest.mark.parametrize("request_id", ["a", "x" * 64, 0, -7, 2**53 - 1])
def test_a_valid_id_is_kept_and_echoed_on_errors(request_id):
    assert parse(frame(type="undo", id=request_id)).id == request_id
    assert parse(frame(type="stroke", x=[1], y=[2], id=request_id)).id == request_id
    with pytest.raises(ProtocolError) as caught:
        parse(frame(type="points", x=[1], y=[], id=request_id))
    assert caught.value.reply_to == request_id and caught.value.code == protocol.ErrorCode.BAD_POINTS
    assert protocol.Error.of(caught.value).to_json()["reply_to"] == request_id


@pytest.mark.parametrize("request_id", ["", "x" * 65, 2**53, 1.5, True, [1], {"a": 1}])
def test_a_bad_id_is_a_bad_field_without_reply_to(request_id):
    with pytest.raises(ProtocolError) as caught:
        parse(frame(type="undo", id=request_id))
    assert caught.value.code == protocol.ErrorCode.BAD_FIELD and caught.value.reply_to is None


def test_ping_is_a_message():
    assert parse(frame(type="ping", id="hb")) == protocol.Ping("hb")


def test_retry_after_appears_on_rate_limited_errors_only():
    limited = protocol.Error(protocol.ErrorCode.RATE_LIMITED, "slow down", 3, 0.25).to_json()
    assert limited == {
        "type": "error",
        "code": "rate_limited",
        "message": "slow down",
        "reply_to": 3,
        "retry_after": 0.25,
    }
    assert "retry_after" not in protocol.Error(protocol.ErrorCode.BAD_JSON, "no").to_json()


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
    saved = protocol.Saved("id", None, "free", False, 2, "/api/drawings/id", "/api/drawings/id.png")
    assert json.loads(saved.encode()) == {
        "type": "saved",
        "id": "id",
        "word": None,
        "mode": "free",
        "recognized": False,
        "strokes": 2,
        "record_url": "/api/drawings/id",
        "png_url": "/api/drawings/id.png",
        "reply_to": None,
    }
    assert protocol.Error.of(ProtocolError("bad_json", "why")).to_json() == {
        "type": "error",
        "code": "bad_json",
        "message": "why",
        "reply_to": None,
    }

"""Drawing state and game rules without a server: every operation, every refusal."""

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from core import sketch
from core.model import Prediction
from server import protocol
from server.protocol import ProtocolError, Start
from server.session import Session, recognizes

LABELS = ["cat", "dog", "sun"]


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def points(n=3, t=False):
    rows = [list(range(n)), list(range(n))] + ([list(range(0, 10 * n, 10))] if t else [])
    return np.array(rows, dtype=np.float64)


def prediction(**p):
    return Prediction(LABELS, np.array([p.get(w, 0.0) for w in LABELS]))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def session(clock):
    return Session(
        LABELS,
        sketch.Limits(max_strokes=3, max_points_per_stroke=10, max_points=20),
        time_limit_s=20.0,
        threshold=0.5,
        clock=clock,
        rng=random.Random(0),
    )


def code(call, *args) -> str:
    with pytest.raises(ProtocolError) as caught:
        call(*args)
    return caught.value.code


def test_start_free_has_no_word_and_no_limit(session):
    previous, drawing = session.start(Start("free"))
    assert previous is None and drawing.word is None and drawing.time_limit_s is None
    assert session.drawing is drawing


def test_start_game_picks_a_prompt_from_the_labels(session):
    _, drawing = session.start(Start("game"))
    assert drawing.word in LABELS and drawing.time_limit_s == 20.0


def test_start_game_keeps_a_known_word(session):
    assert session.start(Start("game", "sun"))[1].word == "sun"


def test_unknown_word_is_refused_and_changes_nothing(session):
    _, drawing = session.start(Start("free"))
    session.add_stroke(points())
    assert code(session.start, Start("game", "unicorn")) == protocol.ErrorCode.UNKNOWN_WORD
    assert session.drawing is drawing and len(drawing.strokes) == 1


def test_drawing_before_start_is_refused(session):
    for call, args in [
        (session.add_points, (points(),)),
        (session.end_stroke, ()),
        (session.add_stroke, (points(),)),
        (session.undo, ()),
        (session.clear, ()),
        (session.end, ()),
    ]:
        assert code(call, *args) == protocol.ErrorCode.NO_DRAWING


def test_points_then_stroke_end_make_one_stroke(session):
    session.start(Start())
    session.add_points(points(2))
    session.add_points(points(3))
    assert session.end_stroke() == 1
    assert session.drawing.strokes[0].shape == (3, 5)


def test_points_without_t_get_server_time(session, clock):
    session.start(Start())
    clock.now += 0.25
    session.add_points(points(2))
    session.end_stroke()
    assert session.drawing.strokes[0][2].tolist() == [250, 250]


def test_client_t_is_kept(session):
    session.start(Start())
    session.add_stroke(points(3, t=True))
    assert session.drawing.strokes[0][2].tolist() == [0, 10, 20]


def test_stroke_end_without_open_stroke(session):
    session.start(Start())
    assert code(session.end_stroke) == protocol.ErrorCode.NO_STROKE


def test_stroke_closes_an_open_stroke_first(session):
    session.start(Start())
    session.add_points(points(2))
    assert session.add_stroke(points(3)) == 2


def test_undo_drops_the_open_stroke_first_then_the_last(session):
    session.start(Start())
    session.add_stroke(points())
    session.add_points(points())
    assert session.undo() == 1 and not session.drawing.open
    assert session.undo() == 0
    assert code(session.undo) == protocol.ErrorCode.NO_STROKE


def test_clear_removes_everything(session):
    session.start(Start())
    session.add_stroke(points())
    session.add_points(points())
    assert session.clear() == 0 and session.drawing.snapshot() == []


def test_too_many_points_in_a_stroke_changes_nothing(session):
    session.start(Start())
    session.add_points(points(8))
    assert code(session.add_points, points(3)) == protocol.ErrorCode.TOO_MANY_POINTS
    assert session.drawing.points == 8


def test_too_many_points_in_the_drawing(session):
    session.start(Start())
    session.add_stroke(points(10))
    session.add_stroke(points(10))
    assert code(session.add_stroke, points(1)) == protocol.ErrorCode.TOO_MANY_POINTS
    assert len(session.drawing.strokes) == 2


def test_too_many_strokes(session):
    session.start(Start())
    for _ in range(3):
        session.add_stroke(points(1))
    assert code(session.add_points, points(1)) == protocol.ErrorCode.TOO_MANY_STROKES
    assert code(session.add_stroke, points(1)) == protocol.ErrorCode.TOO_MANY_STROKES


def test_end_closes_the_open_stroke_and_leaves_no_drawing(session):
    _, drawing = session.start(Start())
    session.add_points(points())
    assert session.end() is drawing and len(drawing.strokes) == 1
    assert session.drawing is None


def test_new_start_hands_back_the_previous_drawing_once(session):
    _, first = session.start(Start())
    previous, second = session.start(Start())
    assert previous is first and second is not first
    assert session.start(Start())[0] is second


def test_observe_recognizes_the_prompt_once_and_ends_the_round(session, clock):
    _, drawing = session.start(Start("game", "sun"))
    session.add_stroke(points())
    session.add_stroke(points())
    clock.now += 1.5
    assert session.observe(drawing, prediction(cat=0.6, sun=0.4), 2)[1] is False
    guesses, won = session.observe(drawing, prediction(cat=0.45, sun=0.55), 2)
    assert guesses[0] == {"word": "sun", "p": 0.55} and won
    assert drawing.win == protocol.Recognized(drawing.id, "sun", 0.55, 2, 1500)
    assert drawing.recognized and drawing.ended and session.drawing is None
    assert session.observe(drawing, prediction(sun=0.9), 2)[1] is False
    assert drawing.win.p == 0.55  # the first win stands


def test_a_single_stroke_wins_only_at_the_first_stroke_threshold(session):
    _, drawing = session.start(Start("game", "sun"))
    session.add_points(points())
    assert session.observe(drawing, prediction(sun=0.85), 0, drawn=1)[1] is False  # the open first stroke
    session.end_stroke()
    assert session.observe(drawing, prediction(sun=0.85), 1)[1] is False
    assert session.observe(drawing, prediction(sun=0.9), 1)[1] is True


def test_an_owed_guess_still_wins_a_round_that_ended_before_it_was_computed(session):
    _, drawing = session.start(Start("game", "sun"))
    session.add_stroke(points())
    assert session.end() is drawing
    guesses, won = session.observe(drawing, prediction(sun=0.8), 2)
    assert not won  # the round had already left the session: whoever ended it announces the win
    assert drawing.recognized and drawing.win.word == "sun" and drawing.record()["recognized"] is True


def test_the_prompt_wins_at_the_threshold_even_when_it_is_not_the_top_guess(clock):
    lenient = Session(LABELS, time_limit_s=20.0, threshold=0.3, clock=clock, rng=random.Random(0))
    _, drawing = lenient.start(Start("game", "sun"))
    lenient.add_stroke(points())
    _, won = lenient.observe(drawing, prediction(cat=0.6, sun=0.35), 2)
    assert won and drawing.win.word == "sun"


def test_observe_never_recognizes_in_free_mode(session):
    _, drawing = session.start(Start("free", "sun"))
    assert session.observe(drawing, prediction(sun=1.0), 0)[1] is False
    assert drawing.guesses[0] == {"word": "sun", "p": 1.0} and not drawing.recognized


def test_every_change_but_added_points_makes_a_new_epoch(session):
    _, drawing = session.start(Start())
    epochs = [drawing.epoch]
    session.add_points(points())
    assert session.current(drawing, epochs[0])  # a live guess of the same stroke is still current
    for change in (session.end_stroke, lambda: session.add_stroke(points()), session.undo, session.clear, session.end):
        change()
        assert drawing.epoch > epochs[-1]
        epochs.append(drawing.epoch)
    assert not session.current(drawing, drawing.epoch)  # ended: nothing about it is current


def test_a_drawing_keeps_one_clock(session):
    session.start(Start())
    session.add_points(points(2, t=True))
    with pytest.raises(ProtocolError) as caught:
        session.add_points(points(2))
    assert caught.value.code == protocol.ErrorCode.BAD_POINTS
    with pytest.raises(ProtocolError):
        session.add_stroke(points(2))
    session.start(Start())
    session.add_stroke(points(2))
    with pytest.raises(ProtocolError):
        session.add_points(points(2, t=True))


def test_time_out_ends_only_the_current_drawing(session):
    _, first = session.start(Start("game"))
    session.start(Start("game"))
    assert not session.time_out(first)
    assert session.time_out(session.drawing) and session.drawing is None


def test_recognition_rule_is_the_threshold_on_the_prompt():
    assert recognizes(prediction(cat=0.5, sun=0.5), "sun", 0.5)
    assert not recognizes(prediction(cat=0.51, sun=0.49), "sun", 0.5)


def test_the_top_guess_rule_wins_only_the_prompt_that_leads_above_the_floor():
    assert recognizes(prediction(cat=0.35, sun=0.3, moon=0.35 - 1e-6), "cat", 0.3, top_guess=True)
    assert not recognizes(prediction(cat=0.35, sun=0.3), "sun", 0.3, top_guess=True)  # above the floor, second
    assert recognizes(prediction(cat=0.35, sun=0.3), "sun", 0.3)  # which the plain rule accepts
    assert not recognizes(prediction(cat=0.25, sun=0.2), "cat", 0.3, top_guess=True)  # leads, under the floor


def test_a_session_with_the_top_guess_rule_wins_only_when_the_prompt_leads():
    session = Session(["cat", "sun"], threshold=0.3, first_stroke_threshold=0.3, top_guess=True)
    _, drawing = session.start(Start("game", "sun"))
    session.add_stroke(points(2))
    assert session.observe(drawing, prediction(cat=0.6, sun=0.4), 1)[1] is False
    assert session.observe(drawing, prediction(cat=0.4, sun=0.6), 1)[1] is True


def test_record_has_the_raw_dataset_keys(session):
    _, drawing = session.start(Start("game", "cat"))
    session.add_stroke(points(2, t=True))
    session.observe(drawing, prediction(cat=0.9), 1)
    record = drawing.record()
    assert list(record)[:6] == ["word", "countrycode", "timestamp", "recognized", "key_id", "drawing"]
    assert record["word"] == "cat" and record["recognized"] is True and record["mode"] == "game"
    assert record["drawing"] == [[[0, 1], [0, 1], [0, 10]]]
    assert record["key_id"].isdigit() and record["timestamp"].endswith(" UTC")
    assert record["guesses"][0] == {"word": "cat", "p": 0.9}


def test_undo_and_clear_give_the_point_budget_back(session):
    session.start(Start())
    session.add_stroke(points(10))
    session.add_points(points(10))
    session.undo()
    session.add_stroke(points(10))
    session.clear()
    session.add_stroke(points(10))
    session.add_stroke(points(10))
    assert session.drawing.points == 20


def resume(session, drawing_id, token=None, elapsed_ms=0, mode="free", word=None):
    token = session.resume_token(drawing_id, mode, word) if token is None else token
    return session.start(Start(mode, word, None, drawing_id, token, elapsed_ms))


def test_a_drawing_resumes_under_its_own_id_with_its_token(session, clock):
    _, first = session.start(Start("game", "cat"))
    clock.now += 5.0
    _, again = resume(Session(LABELS, clock=clock), first.id, first.resume_token, 3000, "game", "cat")
    assert again.id == first.id and again.resume_token == first.resume_token
    assert again.began == clock.now - 3.0  # its clock carries on: 3 s of the round are gone


@pytest.mark.parametrize("tamper", ["token", "age", "elapsed"])
def test_a_resume_with_a_wrong_token_or_too_old_is_refused_and_changes_nothing(session, tamper):
    _, drawing = session.start(Start())
    drawing_id, token, elapsed_ms = drawing.id, drawing.resume_token, 0
    if tamper == "token":
        token = "0" * 32
    elif tamper == "age":  # an id from an hour ago, with its right token
        drawing_id = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y%m%dT%H%M%S") + "-0123456789ab"
        token = session.resume_token(drawing_id, "free", None)
    else:
        elapsed_ms = 3_600_000
    with pytest.raises(ProtocolError) as caught:
        resume(session, drawing_id, token, elapsed_ms)
    assert caught.value.code == protocol.ErrorCode.BAD_RESUME and session.drawing is drawing


def test_another_secret_makes_other_tokens():
    one, other = Session(LABELS, secret=b"one"), Session(LABELS, secret=b"other")
    drawing_id = "20261202T101010-0123456789ab"
    assert one.resume_token(drawing_id, "free", None) != other.resume_token(drawing_id, "free", None)


@pytest.mark.parametrize(
    "mode, word",
    [("game", None), ("game", "dog"), ("free", "cat"), ("free", None)],
    ids=["without-the-word", "another-word", "game-to-free-with-the-word", "game-to-free"],
)
def test_a_resume_keeps_the_mode_and_the_word_its_token_was_made_for(session, mode, word):
    _, first = session.start(Start("game", "cat"))
    other = Session(LABELS)
    other.secret = session.secret
    with pytest.raises(ProtocolError) as caught:
        resume(other, first.id, first.resume_token, 1000, mode, word)
    assert caught.value.code == protocol.ErrorCode.BAD_RESUME and other.drawing is None
    _, again = resume(other, first.id, first.resume_token, 1000, "game", "cat")
    assert (again.id, again.mode, again.word) == (first.id, "game", "cat")


def test_a_drawing_the_server_ended_refuses_with_drawing_ended_until_the_next_start(session):
    _, drawing = session.start(Start("game", "cat"))
    session.add_stroke(points(3))
    assert session.time_out(drawing)
    for call in (lambda: session.add_points(points(2)), session.end_stroke, session.undo, session.clear, session.end):
        with pytest.raises(ProtocolError) as caught:
            call()
        assert caught.value.code == protocol.ErrorCode.DRAWING_ENDED
    assert drawing.strokes and len(drawing.strokes) == 1  # nothing changed
    session.start(Start("game", "cat"))
    session.end()
    with pytest.raises(ProtocolError) as caught:  # the client's own end: no open drawing, as before any start
        session.undo()
    assert caught.value.code == protocol.ErrorCode.NO_DRAWING


def test_a_room_round_starts_on_the_rooms_clock_and_carries_its_drawing_on(session, clock):
    _, first = session.start_round("cat", 20.0, 8000)
    assert first.began == clock.now - 8.0 and first.round_message().elapsed_ms == 8000
    other = Session(LABELS, clock=clock)
    other.secret = session.secret
    _, again = other.start_round("cat", 20.0, 9000, (first.id, first.resume_token))
    assert again.id == first.id and again.round_message().elapsed_ms == 9000
    with pytest.raises(ProtocolError) as caught:  # another word's round cannot take it
        other.start_round("dog", 20.0, 9000, (first.id, first.resume_token))
    assert caught.value.code == protocol.ErrorCode.BAD_RESUME and other.drawing is again

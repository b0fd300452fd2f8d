"""Game rounds and saving: recognized and timeout paths, and every way a drawing is saved exactly once."""

import asyncio
import json

import cv2
import numpy as np
import pytest

from core import sketch
from core.records import read_saved_dir
from server import protocol
from tests.serving import make_app, receive, receive_type, saved_message, send

LINE = {"x": [0, 50, 100], "y": [0, 40, 80]}
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def recognizable(simplified_drawings):
    """A real drawing the shipped model recognizes: p(word) ≥ THRESHOLD after its last stroke."""
    app = make_app_for_model()
    classifier = app.extensions["quickdraw"].classifier
    for record in simplified_drawings:
        if record["word"] in classifier.labels and len(record["drawing"]) >= 2:  # one stroke needs 0.9
            if classifier.classify(sketch.validate(record["drawing"])).p(record["word"]) >= THRESHOLD:
                return record
    pytest.skip("the shipped model recognizes none of the real drawings")


def make_app_for_model():
    from server import create_app
    from tests.serving import MODEL

    return create_app({"MODEL_DIR": str(MODEL)})


def saved_files(app):
    """The drawings' files (the secret kept beside them aside)."""
    directory = app.extensions["quickdraw"].store.directory
    return sorted(p for p in directory.glob("*") if p.name != ".secret") if directory.exists() else []


def check_saved(app, drawing_id, strokes, word=None, recognized=False, mode="game"):
    """Both files exist, the record parses and round-trips through the training reader, the PNG decodes."""
    store = app.extensions["quickdraw"].store
    assert [p.name for p in saved_files(app)] == [f"{drawing_id}.ndjson", f"{drawing_id}.png"]
    record = json.loads((store.directory / f"{drawing_id}.ndjson").read_text())
    assert (record["word"], record["recognized"], record["mode"], len(record["drawing"])) == (
        word,
        recognized,
        mode,
        strokes,
    )
    image = cv2.imdecode(np.fromfile(store.png_path(drawing_id), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.min() < 128
    (sample,) = read_saved_dir(store.directory)
    assert (sample.word, sample.key_id, len(sample.drawing)) == (word, record["key_id"], strokes)
    return record


async def test_recognized_round_ends_and_saves(tmp_path, recognizable):
    app = make_app(tmp_path, RECOGNITION_THRESHOLD=THRESHOLD, LIVE_GUESS_INTERVAL_MS=100_000)
    word, strokes = recognizable["word"], recognizable["drawing"]
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="start", mode="game", word=word)
        round_id = (await receive(ws))["id"]
        for stroke in strokes:
            await send(ws, type="stroke", x=stroke[0], y=stroke[1])
        recognized = await receive_type(ws, "recognized")
        saved = await receive_type(ws, "saved")
    assert recognized["word"] == word and recognized["p"] >= THRESHOLD
    assert 1 <= recognized["strokes"] <= len(strokes) and recognized["elapsed_ms"] >= 0
    # Strokes already received when the win was noticed are part of the drawing (all were sent at once here).
    assert recognized["strokes"] <= saved["strokes"] <= len(strokes)
    assert saved == saved_message(round_id, word, saved["strokes"], recognized=True, mode="game")
    assert recognized["drawing"] == round_id
    record = check_saved(app, round_id, saved["strokes"], word, recognized=True)
    assert len(record["guesses"]) == 5 and all(set(g) == {"word", "p"} for g in record["guesses"])


async def test_end_right_after_the_last_stroke_still_wins_the_round(tmp_path, recognizable):
    """Guesses owed for strokes sent before ``end`` decide the round, however late they are computed."""
    app = make_app(tmp_path, RECOGNITION_THRESHOLD=THRESHOLD, LIVE_GUESS_INTERVAL_MS=100_000)
    word, strokes = recognizable["word"], recognizable["drawing"]
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="start", mode="game", word=word)
        round_id = (await receive(ws))["id"]
        for k, stroke in enumerate(strokes):
            await send(ws, type="stroke", x=stroke[0], y=stroke[1], id=k)
        await send(ws, type="end", id="end")
        answers = [await receive(ws)]
        while answers[-1]["type"] not in ("saved", "not_saved"):
            answers.append(await receive(ws))
    kinds = [a["type"] for a in answers]
    assert kinds == ["guess"] * len(kinds[:-2]) + ["recognized", "saved"]  # one order, one final message
    assert [a["reply_to"] for a in answers if a["type"] == "guess"] == list(range(len(kinds) - 2))
    assert answers[-1] == saved_message(round_id, word, len(strokes), recognized=True, mode="game", reply_to="end")
    check_saved(app, round_id, len(strokes), word, recognized=True)


async def test_drawing_after_the_round_is_recognized_gets_drawing_ended_and_changes_nothing(tmp_path, recognizable):
    app = make_app(tmp_path, RECOGNITION_THRESHOLD=THRESHOLD)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="start", mode="game", word=recognizable["word"])
        for stroke in recognizable["drawing"]:
            await send(ws, type="stroke", x=stroke[0], y=stroke[1])
        saved = await receive_type(ws, "saved")
        await send(ws, type="points", **LINE)  # the rest of a stroke that crossed the win: dropped, no answer
        await send(ws, type="ping", id="p")
        assert await receive(ws) == {"type": "pong", "reply_to": "p"}
        for kind in ("points", "stroke_end", "stroke", "undo", "clear", "end"):
            await send(ws, type=kind, id=kind, **(LINE if kind in ("points", "stroke") else {}))
            error = await receive(ws)
            assert (error["type"], error["code"], error["reply_to"]) == ("error", "drawing_ended", kind)
        await send(ws, type="start", mode="free")  # the next drawing opens as usual
        assert (await receive(ws))["type"] == "round"
    check_saved(app, saved["id"], saved["strokes"], recognizable["word"], recognized=True)


async def test_timeout_ends_the_round_and_saves(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=1.0, RECOGNITION_THRESHOLD=1.0)  # time for the stroke on a busy machine
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="start", mode="game", word="cat")
        round_id = (await receive(ws))["id"]
        await send(ws, type="stroke", **LINE)
        timeout = await receive_type(ws, "timeout")
        saved = await receive_type(ws, "saved")
    assert timeout == {"type": "timeout", "drawing": round_id, "word": "cat"}
    assert saved == saved_message(round_id, "cat", 1, mode="game")
    check_saved(app, round_id, 1, "cat")


async def test_timeout_without_strokes_saves_nothing(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=0.2)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="start", mode="game")
        round_id = (await receive(ws))["id"]
        assert (await receive(ws))["type"] == "timeout"
        assert await receive(ws) == {"type": "not_saved", "id": round_id, "reason": "empty", "reply_to": None}
        await send(ws, type="stroke", **LINE)
        assert (await receive(ws))["code"] == protocol.ErrorCode.DRAWING_ENDED
    assert saved_files(app) == []


async def test_end_saves_once(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=1.0, RECOGNITION_THRESHOLD=1.0)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="start", mode="game", word="cat")
        round_id = (await receive(ws))["id"]
        await send(ws, type="stroke", **LINE)
        await send(ws, type="stroke", x=[0, 100], y=[80, 0])
        await send(ws, type="end")
        saved = await receive_type(ws, "saved")
        await asyncio.sleep(1.2)  # past the time limit: the ended round must not time out and save again
        await send(ws, type="end")
        assert (await receive(ws))["code"] == protocol.ErrorCode.NO_DRAWING
    assert saved["strokes"] == 2
    check_saved(app, round_id, 2, "cat")


async def test_new_start_saves_the_previous_drawing(tmp_path):
    app = make_app(tmp_path)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="start")
        first = (await receive(ws))["id"]
        await send(ws, type="points", **LINE)  # an open stroke counts
        await send(ws, type="start")
        saved = await receive_type(ws, "saved")
        second = await receive(ws)
    assert saved["id"] == first and second["type"] == "round" and second["id"] != first
    check_saved(app, first, 1, mode="free")


async def test_disconnect_saves_the_open_drawing(tmp_path):
    app = make_app(tmp_path)
    async with app.test_app():
        async with app.test_client().websocket("/ws") as ws:
            await send(ws, type="start", mode="game", word="cat")
            round_id = (await receive(ws))["id"]
            await send(ws, type="stroke", **LINE)
            await receive_type(ws, "guess")
            await send(ws, type="points", x=[5, 6], y=[7, 8])
        await asyncio.wait_for(app.extensions["quickdraw"].drain(), 10)
        check_saved(app, round_id, 2, "cat")

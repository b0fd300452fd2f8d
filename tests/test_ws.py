"""The /ws protocol through Quart's test client: every message type and error code, one behaviour each."""

import asyncio
import json
import math
import time

import numpy as np
import pytest
from quart.testing.connections import WebsocketDisconnectError

from core import sketch
from core.records import ID_PATTERN
from server import create_app, protocol
from server.classifier import Classifier
from tests.serving import MODEL, make_app, receive, receive_type, saved_message, send

LINE = {"x": [0, 50, 100], "y": [0, 40, 80]}


async def started(ws, **start):
    await send(ws, type="start", **start)
    return await receive(ws)


async def error_code(ws, **message) -> str:
    await send(ws, **message)
    answer = await receive(ws)
    assert answer["type"] == "error", answer
    return answer["code"]


async def test_start_free_answers_round(app):
    async with app.test_client().websocket("/ws") as ws:
        answer = await started(ws)
    assert answer["type"] == "round" and ID_PATTERN.match(answer["id"])
    assert (answer["mode"], answer["word"], answer["time_limit_s"]) == ("free", None, None)


async def test_start_game_picks_a_known_prompt(app):
    labels = app.extensions["quickdraw"].classifier.labels
    async with app.test_client().websocket("/ws") as ws:
        answer = await started(ws, mode="game")
    assert answer["word"] in labels and answer["time_limit_s"] == 20.0


async def test_points_then_stroke_end_push_one_guess(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="points", x=[0, 50], y=[0, 40])
        await send(ws, type="points", x=[100], y=[80])
        await send(ws, type="stroke_end")
        while (answer := await receive(ws))["live"]:  # the first points may get a live guess
            assert answer["strokes"] == 0
    assert answer["type"] == "guess" and answer["strokes"] == 1
    assert len(answer["guesses"]) == 5
    ps = [g["p"] for g in answer["guesses"]]
    assert ps == sorted(ps, reverse=True) and 0 < sum(ps) <= 1.0001


async def test_stroke_pushes_one_guess(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **LINE)
        answer = await receive(ws)
    assert answer["type"] == "guess" and answer["strokes"] == 1


async def test_every_completed_stroke_gets_exactly_one_guess_in_order(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        for i in range(6):
            await send(ws, type="stroke", x=[i * 10, i * 10 + 40], y=[0, 60])
        await send(ws, type="end")
        answers = [await receive(ws) for _ in range(7)]
    assert [(a["type"], a.get("strokes")) for a in answers] == [("guess", k) for k in range(1, 7)] + [("saved", 6)]
    assert [a["seq"] for a in answers[:6]] == list(range(1, 7))


async def test_undo_pushes_a_guess_for_the_remaining_strokes(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **LINE)
        await send(ws, type="stroke", x=[0, 100], y=[80, 0])
        await receive(ws), await receive(ws)
        await send(ws, type="undo")
        answer = await receive(ws)
    assert answer["type"] == "guess" and answer["strokes"] == 1 and len(answer["guesses"]) == 5


async def test_undo_to_empty_and_clear_push_empty_guesses(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **LINE)
        await receive(ws)
        await send(ws, type="undo")
        undone = await receive(ws)
        await send(ws, type="stroke", **LINE)
        await receive(ws)
        await send(ws, type="clear")
        cleared = await receive(ws)
    assert (undone["strokes"], undone["guesses"]) == (0, [])
    assert (cleared["type"], cleared["strokes"], cleared["guesses"]) == ("guess", 0, [])


async def test_end_saves_the_drawing(app):
    async with app.test_client().websocket("/ws") as ws:
        round_id = (await started(ws))["id"]
        await send(ws, type="stroke", **LINE)
        await receive(ws)
        await send(ws, type="end")
        answer = await receive(ws)
    assert answer == saved_message(round_id, None, 1)


async def test_end_of_an_empty_drawing_says_there_is_nothing_to_save(app):
    async with app.test_client().websocket("/ws") as ws:
        round_id = (await started(ws))["id"]
        await send(ws, type="end", id="bye")
        assert await receive(ws) == {"type": "not_saved", "id": round_id, "reason": "empty", "reply_to": "bye"}
        assert await error_code(ws, type="stroke_end") == protocol.ErrorCode.NO_DRAWING  # the next answer is this one


async def test_the_newest_points_get_a_live_guess_without_more_points(tmp_path):
    """Points that come within the live-guess interval are classified when it has passed, not lost."""
    app = make_app(tmp_path, LIVE_GUESS_INTERVAL_MS=300)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        drawing_id = (await started(ws))["id"]
        await send(ws, type="points", x=[0, 50], y=[0, 40])
        first = await receive(ws)
        await send(ws, type="points", x=[100], y=[80])  # too soon for a second live guess: it comes later
        second = await receive(ws, timeout=5)
    assert [(g["live"], g["strokes"], g["drawing"]) for g in (first, second)] == [(True, 0, drawing_id)] * 2
    assert second["seq"] == first["seq"] + 1


async def test_a_live_guess_never_follows_a_newer_owed_one(tmp_path):
    app = make_app(tmp_path, LIVE_GUESS_INTERVAL_MS=1)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        for _ in range(20):
            await send(ws, type="points", x=[0, 50, 90], y=[0, 40, 10])
            await send(ws, type="undo", id="u")
            while (answer := await receive(ws))["live"]:
                pass
            assert answer["reply_to"] == "u" and answer["strokes"] == 0
        await send(ws, type="ping", id="p")
        assert await receive(ws) == {"type": "pong", "reply_to": "p"}  # no live guess of an undone stroke after


async def test_live_guesses_while_a_stroke_is_drawn(tmp_path):
    app = make_app(tmp_path, LIVE_GUESS_INTERVAL_MS=1)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        for i in range(3):
            await send(ws, type="points", x=[i * 30], y=[i * 20])
            await asyncio.sleep(0.05)
        answer = await receive(ws)
    assert answer["type"] == "guess" and answer["strokes"] == 0 and len(answer["guesses"]) == 5


async def test_bad_json(app):
    async with app.test_client().websocket("/ws") as ws:
        await ws.send("{nope")
        assert (await receive(ws))["code"] == protocol.ErrorCode.BAD_JSON


async def test_binary_frame_is_bad_json(app):
    async with app.test_client().websocket("/ws") as ws:
        await ws.send(b'{"type":"start"}')
        assert (await receive(ws))["code"] == protocol.ErrorCode.BAD_JSON


async def test_unknown_type(app):
    async with app.test_client().websocket("/ws") as ws:
        assert await error_code(ws, type="draw") == protocol.ErrorCode.UNKNOWN_TYPE


async def test_bad_field(app):
    async with app.test_client().websocket("/ws") as ws:
        assert await error_code(ws, type="start", mode="race") == protocol.ErrorCode.BAD_FIELD


async def test_bad_points(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        assert await error_code(ws, type="points", x=[1, 2], y=[1]) == protocol.ErrorCode.BAD_POINTS


async def test_nan_coordinate_is_bad_points(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        await ws.send('{"type":"points","x":[NaN],"y":[1]}')
        assert (await receive(ws))["code"] == protocol.ErrorCode.BAD_POINTS


async def test_too_many_points_in_a_message(tmp_path):
    app = make_app(tmp_path, MAX_POINTS_PER_MESSAGE=4)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        assert await error_code(ws, type="points", x=[1] * 5, y=[1] * 5) == protocol.ErrorCode.TOO_MANY_POINTS


async def test_too_many_points_in_a_stroke(tmp_path):
    app = make_app(tmp_path, MAX_POINTS_PER_MESSAGE=4, MAX_POINTS_PER_STROKE=6)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="points", x=[1] * 4, y=[1] * 4)
        assert await error_code(ws, type="points", x=[1] * 3, y=[1] * 3) == protocol.ErrorCode.TOO_MANY_POINTS


async def test_too_many_points_in_a_drawing(tmp_path):
    app = make_app(tmp_path, MAX_POINTS_PER_MESSAGE=4, MAX_POINTS_PER_STROKE=4, MAX_POINTS=6)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", x=[1] * 4, y=[1] * 4)
        await receive(ws)
        assert await error_code(ws, type="stroke", x=[1] * 3, y=[1] * 3) == protocol.ErrorCode.TOO_MANY_POINTS


async def test_too_many_strokes(tmp_path):
    app = make_app(tmp_path, MAX_STROKES=2)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        for _ in range(2):
            await send(ws, type="stroke", **LINE)
            await receive(ws)
        assert await error_code(ws, type="stroke", **LINE) == protocol.ErrorCode.TOO_MANY_STROKES


async def test_no_drawing_before_start(app):
    async with app.test_client().websocket("/ws") as ws:
        assert await error_code(ws, type="points", **LINE) == protocol.ErrorCode.NO_DRAWING


async def test_no_stroke_for_a_stroke_end_without_points(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        assert await error_code(ws, type="stroke_end") == protocol.ErrorCode.NO_STROKE


async def test_unknown_word(app):
    async with app.test_client().websocket("/ws") as ws:
        assert await error_code(ws, type="start", mode="game", word="unicorn") == protocol.ErrorCode.UNKNOWN_WORD


async def test_save_failed_is_reported_and_the_game_goes_on(tmp_path):
    (tmp_path / "saved").write_text("a file where the directory should be")
    app = make_app(tmp_path)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **LINE)
        await receive(ws)
        await send(ws, type="end")
        answer = await receive(ws)
        assert (answer["type"], answer["reason"]) == ("not_saved", protocol.ErrorCode.SAVE_FAILED)
        assert (await started(ws))["type"] == "round"


async def test_an_error_changes_nothing_and_the_connection_goes_on(app):
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="points", **LINE)
        await send(ws, type="points", x=[1, 2], y=[1])
        assert (await receive_type(ws, "error"))["code"] == protocol.ErrorCode.BAD_POINTS
        await send(ws, type="stroke_end")
        while (answer := await receive_type(ws, "guess"))["strokes"] == 0:  # a live guess may come first
            pass
    assert answer["strokes"] == 1


async def close_code(ws) -> int:
    with pytest.raises(WebsocketDisconnectError) as closed:
        while True:
            await asyncio.wait_for(ws.receive(), 10)
    return closed.value.args[0]


async def test_oversized_frame_closes_with_1009(tmp_path):
    app = make_app(tmp_path, MAX_FRAME_BYTES=1000)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await ws.send(json.dumps({"type": "points", "x": [1] * 400, "y": [1] * 400}))
        assert await close_code(ws) == protocol.CloseCode.MESSAGE_TOO_BIG


async def test_the_frame_limit_counts_bytes_not_characters(tmp_path):
    app = make_app(tmp_path, MAX_FRAME_BYTES=1000)
    frame = json.dumps({"type": "start", "mode": "free", "word": "€" * 400}, ensure_ascii=False)
    assert len(frame) < 1000 < len(frame.encode())  # 400 characters of 3 bytes each
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await ws.send(frame)
        assert await close_code(ws) == protocol.CloseCode.MESSAGE_TOO_BIG


async def test_over_the_rate_a_message_is_refused_with_retry_after_and_changes_nothing(tmp_path):
    app = make_app(tmp_path, MESSAGES_PER_SECOND=1.0, MESSAGE_BURST=2)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **LINE)
        assert (await receive(ws))["strokes"] == 1
        await send(ws, type="undo", id=7)
        refused = await receive(ws)
        assert refused["code"] == protocol.ErrorCode.RATE_LIMITED and refused["reply_to"] == 7
        assert 0 < refused["retry_after"] <= 1.0
        await asyncio.sleep(refused["retry_after"])
        await send(ws, type="end", id=8)
        saved = await receive(ws)
    assert (saved["type"], saved["strokes"], saved["reply_to"]) == ("saved", 1, 8)  # the undo never happened


async def test_a_flood_gets_rate_limited_errors_then_1008(tmp_path):
    app = make_app(tmp_path, MESSAGES_PER_SECOND=1.0, MESSAGE_BURST=3, MAX_REFUSED_MESSAGES=2)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        for _ in range(6):
            await send(ws, type="ping")
        answers = [(await receive(ws))["type"] for _ in range(3)] + [(await receive(ws)).get("code") for _ in range(2)]
        assert answers == ["pong"] * 3 + [protocol.ErrorCode.RATE_LIMITED] * 2
        assert await receive(ws) == {"type": "closing", "code": 1008, "reason": "too many messages"}
        assert await close_code(ws) == protocol.CloseCode.POLICY_VIOLATION


async def test_api_labels(app):
    response = await app.test_client().get("/api/labels")
    assert response.status_code == 200
    assert (await response.get_json())["labels"] == app.extensions["quickdraw"].classifier.labels


async def test_healthz(app):
    body = await (await app.test_client().get("/healthz")).get_json()
    classifier = app.extensions["quickdraw"].classifier
    assert body == {"ready": True, "model_version": classifier.version, "labels": len(classifier.labels)}


async def test_api_guess_returns_the_same_guesses_as_the_socket(app):
    response = await app.test_client().post("/api/guess", json={"drawing": [[LINE["x"], LINE["y"]]]})
    async with app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **LINE)
        over_socket = await receive(ws)
    assert response.status_code == 200
    assert (await response.get_json())["guesses"] == over_socket["guesses"]


@pytest.mark.parametrize(
    "body, code",
    [
        ("not json", protocol.ErrorCode.BAD_JSON),
        ("[]", protocol.ErrorCode.BAD_JSON),
        ('{"drawing": 3}', protocol.ErrorCode.BAD_FIELD),
        ('{"drawing": [[[1, 2], [1]]]}', protocol.ErrorCode.BAD_POINTS),
        ('{"drawing": [[[NaN], [1]]]}', protocol.ErrorCode.BAD_POINTS),
    ],
)
async def test_api_guess_errors(app, body, code):
    response = await app.test_client().post("/api/guess", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert (await response.get_json())["code"] == code


async def test_api_guess_too_many_strokes(tmp_path):
    app = make_app(tmp_path, MAX_STROKES=1)
    response = await app.test_client().post("/api/guess", json={"drawing": [[[1], [1]]] * 2})
    assert (await response.get_json())["code"] == protocol.ErrorCode.TOO_MANY_STROKES


async def test_api_guess_body_over_the_limit_is_413(tmp_path):
    app = make_app(tmp_path, MAX_BODY_BYTES=100)
    response = await app.test_client().post("/api/guess", json={"drawing": [[[1] * 100, [1] * 100]]})
    assert response.status_code == 413


class FailingClassifier(Classifier):
    """The real model, except that every inference fails (a fault no real input can cause)."""

    def classify(self, drawing):
        raise RuntimeError("injected fault")


async def test_a_server_fault_is_internal_error_then_close_1011(tmp_path):
    app = create_app({"SAVED_DIR": str(tmp_path / "saved")}, classifier=FailingClassifier(MODEL))
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **LINE)
        assert (await receive(ws))["code"] == protocol.ErrorCode.INTERNAL_ERROR
        assert await close_code(ws) == protocol.CloseCode.INTERNAL_ERROR


async def test_a_connection_over_its_classification_budget_waits_for_its_guesses(tmp_path):
    app = make_app(tmp_path, MAX_POINTS=100, CLASSIFY_POINTS_BURST=1000, CLASSIFY_POINTS_PER_SECOND=2000.0)
    stroke = {"x": list(range(50)), "y": list(range(50))}
    line = np.array([stroke["x"], stroke["y"]], dtype=float)
    first, second = sketch.work([line]), sketch.work([line, line])  # the owed guesses' costs
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **stroke)
        assert (await receive(ws))["strokes"] == 1
        sent = time.monotonic()
        await send(ws, type="stroke", **stroke)  # more than is left of the burst
        answer = await receive(ws)
        waited = time.monotonic() - sent
    assert answer["strokes"] == 2 and len(answer["guesses"]) == 5  # slowed, never dropped
    assert waited >= (min(second, 1000) - (1000 - first)) / 2000 - 0.01  # what was missing, at 2,000 a second


async def test_api_guesses_over_a_clients_budget_get_429_rate_limited(tmp_path):
    app = make_app(tmp_path, MAX_POINTS=100, CLASSIFY_POINTS_BURST=500, API_POINTS_PER_SECOND=10.0)
    body = {"drawing": [[list(range(60)), list(range(60))]]}
    cost = sketch.work([np.array(body["drawing"][0], dtype=float)])  # 60 points and 361 of ink
    async with app.test_app():
        client = app.test_client()
        assert (await client.post("/api/guess", json=body)).status_code == 200
        refused = await client.post("/api/guess", json=body)
        error = await refused.get_json()
    assert refused.status_code == 429 and error["code"] == protocol.ErrorCode.RATE_LIMITED
    missing_s = (min(cost, 500) - (500 - cost)) / 10.0  # a cost over the burst leaves the bucket owing
    assert missing_s - 1 <= error["retry_after"] <= missing_s
    assert refused.headers["Retry-After"] == str(math.ceil(error["retry_after"]))


async def test_a_dropped_drawing_resumes_under_its_id_and_is_stored_once_whole(tmp_path):
    app = make_app(tmp_path, SECRET="shared")
    async with app.test_app():
        async with app.test_client().websocket("/ws") as ws:
            first = await started(ws)
            await send(ws, type="stroke", **LINE, t=[0, 10, 20])
            await receive(ws)
        await asyncio.wait_for(app.extensions["quickdraw"].drain(), 10)  # the drop saved one stroke
        store = app.extensions["quickdraw"].store
        assert len(store.record(first["id"])["drawing"]) == 1
        async with app.test_client().websocket("/ws") as ws:
            resumed = await started(ws, resume=first["id"], token=first["resume_token"], elapsed_ms=1500)
            assert (resumed["id"], resumed["elapsed_ms"]) == (first["id"], 1500)
            for k in (1, 2):  # the page replays the drawing, then goes on
                await send(ws, type="stroke", x=[k, 50], y=[0, 9], t=[1600 * k, 1700 * k])
                assert (await receive(ws))["strokes"] == k
            await send(ws, type="end")
            assert (await receive(ws))["strokes"] == 2
            assert await error_code(ws, type="start", resume=first["id"], token="f" * 32) == "bad_resume"
    (record,) = store.recent(10)
    assert record["id"] == first["id"] and len(record["drawing"]) == 2  # one record, the whole drawing


@pytest.mark.parametrize("partial_ended_ms", [4000, 12000], ids=["ended-earlier", "ended-later-by-its-clock"])
def test_the_saved_version_with_the_most_points_is_kept(tmp_path, partial_ended_ms):
    from server.store import SavedDrawingStore

    store = SavedDrawingStore(tmp_path)
    drawing_id = "20261202T101010-0123456789ab"
    whole = {"word": None, "drawing": [[[1], [2]], [[3], [4]]], "ended_ms": 9000}
    store.save(whole, b"png", drawing_id)
    partial = {"word": None, "drawing": [[[1], [2]]], "ended_ms": partial_ended_ms}  # a late partial
    store.save(partial, b"partial", drawing_id)
    assert store.record(drawing_id)["drawing"] == whole["drawing"]
    assert (tmp_path / f"{drawing_id}.png").read_bytes() == b"png"
    bigger = {"word": None, "drawing": [[[1, 5], [2, 6]], [[3], [4]]], "ended_ms": 1}
    store.save(bigger, b"bigger", drawing_id)  # more points: kept, whatever its clock says
    assert store.record(drawing_id)["drawing"] == bigger["drawing"]


@pytest.mark.parametrize("elapsed_ms", [None, 0, 50], ids=["none", "zero", "less-than-spent"])
async def test_a_resume_that_says_less_time_was_spent_still_stores_the_whole_drawing(tmp_path, elapsed_ms):
    """The client's clock does not decide which copy stays: the one with the most points does."""
    app = make_app(tmp_path, SECRET="shared")
    async with app.test_app():
        async with app.test_client().websocket("/ws") as ws:
            first = await started(ws, mode="game", word="cat")
            await send(ws, type="stroke", **LINE)
            await receive(ws)
            await asyncio.sleep(0.4)  # the partial copy saved at the drop ends ~400 ms in
        await asyncio.wait_for(app.extensions["quickdraw"].drain(), 10)
        carry = {"resume": first["id"], "token": first["resume_token"], "mode": "game", "word": "cat"}
        async with app.test_client().websocket("/ws") as ws:
            assert (await started(ws, **carry, **({} if elapsed_ms is None else {"elapsed_ms": elapsed_ms})))["id"]
            for k in range(3):  # the stroke from before the drop, replayed, and two more
                await send(ws, type="stroke", x=[k, 50], y=[0, 9])
                await receive_type(ws, "guess")
            await send(ws, type="end")
            saved = await receive_type(ws, "saved")
    record = app.extensions["quickdraw"].store.record(first["id"])
    assert saved["strokes"] == 3 and len(record["drawing"]) == 3


@pytest.mark.parametrize(
    "change",
    [{"token": None}, {"word": None}, {"word": "dog"}, {"mode": "free"}],
    ids=["no-token", "no-word", "another-word", "game-to-free"],
)
async def test_a_resume_cannot_drop_its_token_or_change_its_prompt_or_mode(tmp_path, change):
    app = make_app(tmp_path)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        first = await started(ws, mode="game", word="cat")
        carry = {"resume": first["id"], "token": first["resume_token"], "mode": "game", "word": "cat"} | change
        carry = {key: value for key, value in carry.items() if value is not None}
        assert await error_code(ws, type="start", **carry) == "bad_resume"
        await send(ws, type="stroke", **LINE, id="s")  # nothing changed: the first round is still open
        assert (await receive(ws))["reply_to"] == "s"


async def test_every_refusal_counts_toward_the_limit_not_only_rate_limited(tmp_path):
    app = make_app(tmp_path, MAX_REFUSED_MESSAGES=5)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        for _ in range(8):
            await ws.send("not json")
        codes = [(await receive(ws)).get("code") for _ in range(5)]
        assert codes == [protocol.ErrorCode.BAD_JSON] * 5
        assert await receive(ws) == {"type": "closing", "code": 1008, "reason": "too many refused messages"}


def the_connection(app):
    (connection,) = app.extensions["gate"].open
    return connection


async def test_a_connection_over_its_budget_is_not_read_until_it_has_paid(tmp_path):
    """Its frames wait unread (in the socket's buffers): a client over its share costs the event loop nothing."""
    app = make_app(tmp_path, MAX_POINTS=100, CLASSIFY_POINTS_BURST=100, CLASSIFY_POINTS_PER_SECOND=100.0)
    rng = np.random.default_rng(0)
    scribble = {"x": (rng.random(50) * 1000).tolist(), "y": (rng.random(50) * 1000).tolist()}  # ~6,000 of work
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        await send(ws, type="stroke", **scribble, id="s")
        assert (await receive(ws))["reply_to"] == "s"  # taken from the full bucket, which now owes a minute
        read = the_connection(app).frames
        for k in range(3):
            await send(ws, type="ping", id=k)
        with pytest.raises(TimeoutError):
            await receive(ws, timeout=0.5)
        assert the_connection(app).frames == read  # not one of the pings was read
        assert the_connection(app).guesser.budget.available() < 0


async def test_an_undo_is_charged_the_classification_it_causes(tmp_path):
    app = make_app(tmp_path, MAX_POINTS=100, CLASSIFY_POINTS_BURST=100_000, CLASSIFY_POINTS_PER_SECOND=1e-3)
    strokes = [{"x": [0, 50, 100], "y": [0, 80, 0]}, {"x": [0, 100], "y": [100, 100]}]
    arrays = [np.array([s["x"], s["y"]], dtype=float) for s in strokes]
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await started(ws)
        for stroke in strokes:
            await send(ws, type="stroke", **stroke)
            await receive(ws)
        await send(ws, type="undo")
        assert (await receive(ws))["strokes"] == 1
        spent = 100_000 - the_connection(app).guesser.budget.available()
    charged = sketch.work(arrays[:1]) + sketch.work(arrays) + sketch.work(arrays[:1])  # stroke, stroke, undo
    assert spent == pytest.approx(charged, abs=1)


async def test_without_a_secret_a_restarted_server_still_resumes_its_drawings(tmp_path):
    """The secret is kept beside the saved drawings: a restart does not turn a resume into a second record."""
    before = make_app(tmp_path)  # no SECRET
    async with before.test_app(), before.test_client().websocket("/ws") as ws:
        first = await started(ws, mode="game", word="cat")
        await send(ws, type="stroke", **LINE)
        await receive(ws)
    secret_file = tmp_path / "saved" / ".secret"
    assert secret_file.stat().st_mode & 0o077 == 0  # readable by this user only
    after = make_app(tmp_path)  # the restart
    carry = {"resume": first["id"], "token": first["resume_token"], "mode": "game", "word": "cat"}
    async with after.test_app(), after.test_client().websocket("/ws") as ws:
        assert (await started(ws, **carry, elapsed_ms=900))["id"] == first["id"]
        for stroke in (LINE, {"x": [5, 60], "y": [9, 90]}):
            await send(ws, type="stroke", **stroke)
            await receive_type(ws, "guess")
        await send(ws, type="end")
        await receive_type(ws, "saved")
    records = list((tmp_path / "saved").glob("*.ndjson"))
    assert [path.stem for path in records] == [first["id"]]  # one record, the whole drawing
    assert len(after.extensions["quickdraw"].store.record(first["id"])["drawing"]) == 2

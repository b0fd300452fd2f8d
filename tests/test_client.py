"""``quickdraw_client.Client`` against a real ``python -m server``: its docstring example, answers matched
to requests, errors, pacing, retries after rate_limited, the heartbeat, a server stop, rounds won mid-drawing;
its import boundary; and the replay sending real drawings' long strokes as batches."""

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from websockets.asyncio.server import serve

import quickdraw_client
from quickdraw_client import Client, ServerClosed, ServerError
from server import protocol, replay
from tests.serving import LINE, MODEL, ROOT, Server

RATE, BURST, MAX_REFUSED = 30, 5, 20  # a low rate limit: an unpaced script of 60 messages is closed (1008)
IDLE_S, GAME_S, MESSAGE_POINTS = 1, 2, 50
EXAMPLE_URL = "ws://127.0.0.1:5000/ws"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client")
    server = Server(
        tmp,
        tmp / "saved",
        messages_per_second=RATE,
        message_burst=BURST,
        max_refused_messages=MAX_REFUSED,
        idle_timeout_s=IDLE_S,
        game_time_limit_s=GAME_S,
        max_points_per_message=MESSAGE_POINTS,
    ).start()
    yield server
    server.stop()


def example() -> str:
    """The usage example in quickdraw_client's docstring: the indented block after its ``::``."""
    block = quickdraw_client.__doc__.split("::\n", 1)[1].splitlines()
    return textwrap.dedent("\n".join(itertools.takewhile(lambda line: not line or line.startswith("    "), block)))


def record(server: Server, drawing_id: str) -> dict:
    with urllib.request.urlopen(f"{server.http}/api/drawings/{drawing_id}", timeout=10) as response:
        return json.load(response)


async def events(talker: Client) -> list[dict]:
    """Every message that answered no call (read once the client has closed: the iterator then ends)."""
    return [message async for message in talker.events()]


def stand_in_hello() -> str:
    limits = {"messages_per_second": 200, "message_burst": 400, "max_points_per_message": 1024}
    heartbeat = {"ping_interval_s": 20, "idle_timeout_s": 300}
    return protocol.Hello(protocol.VERSION, "fake", ["apple"], 0.5, 0.9, False, 20.0, 100, heartbeat, limits).encode()


def test_the_docstring_example_plays_a_game_round(server):
    code = example()
    assert EXAMPLE_URL in code and "client.end()" in code
    done = subprocess.run(
        [sys.executable, "-c", code.replace(EXAMPLE_URL, server.url)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    prompt, *guessed, final = done.stdout.splitlines()
    assert prompt == f"draw ladder in {GAME_S:.1f} s"
    rails = [[[60, 60], [0, 255]], [[180, 180], [0, 255]]]
    for k, line in enumerate(guessed, 1):  # what the server says about the drawing so far, top 3
        assert line == ", ".join(f"{g['word']} {g['p']:.2f}" for g in server.guess(rails[:k])[:3])
    assert len(guessed) == 2
    kind, drawing_id, verdict = final.split(" ", 2)
    saved = record(server, drawing_id)
    assert kind == "saved" and saved["word"] == "ladder" and saved["mode"] == "game"
    assert [stroke[:2] for stroke in saved["drawing"]] == rails
    assert verdict == ("recognized" if saved["recognized"] else "not recognized")


async def test_answers_go_to_the_calls_that_asked(server):
    async with Client(server.url) as talker:
        drawing = (await talker.start())["id"]
        answers = await asyncio.gather(
            talker.stroke(*LINE.values()),
            talker.ping(),
            talker.stroke(*LINE.values()),
            talker.undo(),
            talker.stroke_end(),
            talker.clear(),
            return_exceptions=True,
        )
        saved = await talker.end()
    stroke, pong, second, undone, refused, cleared = answers
    assert pong["type"] == "pong"
    assert [(a["type"], a["live"], a["drawing"], a["strokes"]) for a in (stroke, second, undone, cleared)] == [
        ("guess", False, drawing, 1),
        ("guess", False, drawing, 2),
        ("guess", False, drawing, 1),
        ("guess", False, drawing, 0),
    ]
    assert isinstance(refused, ServerError) and refused.code == protocol.ErrorCode.NO_STROKE
    assert cleared["guesses"] == [] and stroke["guesses"]
    assert len({a["reply_to"] for a in (stroke, pong, second, undone, cleared)}) == 5
    assert saved == {"type": "not_saved", "id": drawing, "reason": "empty", "reply_to": saved["reply_to"]}


async def test_a_refused_request_raises_server_error_and_the_client_goes_on(server):
    async with Client(server.url) as talker:
        with pytest.raises(ServerError) as refused:
            await talker.end()
        assert refused.value.code == protocol.ErrorCode.NO_DRAWING
        with pytest.raises(ServerError) as refused:
            await talker.start("game", word="unicorn")
        assert refused.value.code == protocol.ErrorCode.UNKNOWN_WORD and "unicorn" in refused.value.message
        drawing = (await talker.start("free"))["id"]
        with pytest.raises(ServerError) as refused:
            await talker.stroke_end()
        assert refused.value.code == protocol.ErrorCode.NO_STROKE
        await talker.points([0, 10], [0, 10], t=[0, -5])  # fire and forget: its error is an event
        guess = await talker.stroke(*LINE.values())
        saved = await talker.end()
        with pytest.raises(ServerError) as refused:  # the script ended it, not the server: drawing on is a mistake
            await talker.stroke(*LINE.values())
        assert refused.value.code == protocol.ErrorCode.NO_DRAWING and talker.verdict is None
    assert guess["strokes"] == 1 and saved["type"] == "saved" and saved["id"] == drawing and saved["strokes"] == 1
    errors = [m for m in await events(talker) if m["type"] == "error"]
    assert [e["code"] for e in errors] == [protocol.ErrorCode.BAD_POINTS] and isinstance(errors[0]["reply_to"], int)


async def test_pacing_keeps_a_fast_script_under_the_rate_limit(server):
    async with Client(server.url) as talker:
        began = time.monotonic()
        await talker.start()
        for k in range(20):  # 61 messages, each sent as soon as the client lets it go
            await talker.points([k, k + 5], [0, 10])
            await talker.points([k + 10], [20])
            assert (await talker.stroke_end())["strokes"] == k + 1
        saved = await talker.end()
        seconds = time.monotonic() - began
    assert talker.retries == 0 and not [m for m in await events(talker) if m["type"] == "error"]
    assert talker.closing is None and saved["type"] == "saved" and saved["strokes"] == 20
    assert seconds > (62 - BURST) / RATE  # it was paced; unpaced, the server would have closed it (1008)


async def test_without_pacing_refused_messages_are_sent_again_in_order(server):
    async with Client(server.url, max_rate=0, heartbeat_s=0) as talker:
        pongs = await asyncio.gather(*(talker.ping() for _ in range(2 * BURST)))
        await asyncio.sleep(2 * BURST / RATE)  # the bucket fills again
        await talker.start()
        for k in range(2 * BURST):  # points are fire-and-forget: refused ones go again before anything newer
            await talker.points([k], [k], [k])
        await asyncio.sleep(0.02)  # their refusals are back, waiting out retry_after
        guess = await talker.stroke_end()
        saved = await talker.end()
    assert [p["type"] for p in pongs] == ["pong"] * 2 * BURST and len({p["reply_to"] for p in pongs}) == 2 * BURST
    assert talker.retries >= BURST and talker.closing is None
    assert not [m for m in await events(talker) if m["type"] == "error"]
    assert guess["strokes"] == 1 and record(server, saved["id"])["drawing"] == [[list(range(2 * BURST))] * 3]


async def test_the_heartbeat_keeps_an_idle_client_open(server):
    async with Client(server.url) as beating, Client(server.url, heartbeat_s=0) as silent:
        await asyncio.sleep(3 * IDLE_S)
        assert (await beating.ping())["type"] == "pong" and beating.closing is None
        with pytest.raises(ServerClosed) as closed:
            await silent.ping()
    assert closed.value.code == silent.closing["code"] == protocol.CloseCode.NORMAL_CLOSURE


async def test_end_after_a_round_ended_by_itself_returns_its_saved_drawing(server):
    assert server.guess([list(LINE.values())])[0]["word"] != "ladder"
    async with Client(server.url) as talker:
        drawing = (await talker.start("game", word="ladder"))["id"]
        await talker.stroke(*LINE.values())
        async with asyncio.timeout(GAME_S + 5):
            while not talker.round_over:
                await asyncio.sleep(0.05)
        saved = await talker.end()
        late = await talker.stroke(*LINE.values())  # the round is over: nothing is drawn, nothing is wrong
    timeout = {"type": "timeout", "drawing": drawing, "word": "ladder"}
    assert timeout in await events(talker) and talker.verdict == timeout and late is None
    assert saved["type"] == "saved" and saved["id"] == drawing and saved["reply_to"] is None
    assert not saved["recognized"] and saved["strokes"] == 1


def winning_stroke(server: Server, record: dict, thresholds: tuple[float, float]) -> int | None:
    """The number of strokes after which the server recognizes ``record`` as its word, None if never."""
    first, rest = thresholds
    for k in range(1, len(record["drawing"]) + 1):
        p = {g["word"]: g["p"] for g in server.guess(record["drawing"][:k])}.get(record["word"], 0.0)
        if p >= (first if k == 1 else rest):
            return k
    return None


async def test_a_round_won_mid_drawing_ends_the_drawing_calls_without_an_error(server, simplified_drawings):
    """Real drawings played stroke by stroke with their word as the prompt, the plain loop of a script: the
    strokes after the winning one return None, none raises, and ``verdict`` is the server's recognized."""
    labels = set((MODEL / "labels.txt").read_text().splitlines())
    by_word = {}  # the first drawing of each word with 3 strokes or more, each stroke one message
    for d in simplified_drawings:
        if d["word"] in labels and len(d["drawing"]) >= 3 and all(len(x) <= MESSAGE_POINTS for x, _ in d["drawing"]):
            by_word.setdefault(d["word"], d)
    fitting = list(by_word.values())[:10]
    async with Client(server.url) as talker:
        thresholds = talker.hello["first_stroke_threshold"], talker.hello["recognition_threshold"]
    wins = [winning_stroke(server, d, thresholds) for d in fitting]  # before playing: a blocking HTTP call each
    assert sum(k is not None and k < len(d["drawing"]) for k, d in zip(wins, fitting)) >= 3  # won mid-drawing
    async with Client(server.url) as talker:
        for record, won in zip(fitting, wins):
            drawing = (await talker.start("game", word=record["word"]))["id"]
            guesses = [await talker.stroke(x, y) for x, y in record["drawing"]]
            final = await talker.end()
            strokes = len(record["drawing"]) if won is None else won
            assert [g is not None for g in guesses] == [k < strokes for k in range(len(guesses))], record["key_id"]
            assert final["type"] == "saved" and final["id"] == drawing and final["strokes"] == strokes
            assert final["recognized"] == (won is not None)
            if won is not None:
                assert talker.verdict["type"] == "recognized" and talker.verdict["drawing"] == drawing
                assert talker.verdict["strokes"] == won and talker.round_over
            else:
                assert talker.verdict is None
    assert not [m for m in await events(talker) if m["type"] == "error"]


async def test_drawing_ended_answers_make_drawing_calls_return_none():
    """A stand-in server that says ``drawing_ended`` without a verdict first (a room's round over, say)."""

    async def ended(socket):
        await socket.send(stand_in_hello())
        async for frame in socket:
            message = json.loads(frame)
            if message["type"] == "start":
                answer = {"type": "round", "id": "d1", "mode": "free", "word": None, "time_limit_s": None}
            else:
                answer = {"type": "error", "code": "drawing_ended", "message": "the drawing has ended"}
            await socket.send(json.dumps({**answer, "reply_to": message["id"]}))

    async with serve(ended, "127.0.0.1", 0, subprotocols=[protocol.SUBPROTOCOL]) as stand_in:
        port = stand_in.sockets[0].getsockname()[1]
        async with Client(f"ws://127.0.0.1:{port}/ws") as talker:
            await talker.start()
            assert not talker.round_over
            await talker.points([0, 10], [0, 10])  # fire and forget: its answer is an event
            answers = [await talker.stroke(*LINE.values()), await talker.stroke_end()]
            answers += [await talker.undo(), await talker.clear()]
            assert answers == [None] * 4 and talker.round_over and talker.verdict is None
            with pytest.raises(ServerError) as refused:  # not a drawing call: the code is the caller's to read
                await talker.ping()
    assert refused.value.code == "drawing_ended"
    assert [m["code"] for m in await events(talker) if m["type"] == "error"] == ["drawing_ended"]


def test_the_client_imports_neither_the_server_nor_its_stack(tmp_path):
    heavy = {"core", "server", "training", "quart", "uvicorn", "numpy", "cv2", "ai_edge_litert", "tensorflow"}
    code = f"import quickdraw_client, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_readme_scripts_with_the_docstring_example():
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{example().strip()}\n```" in readme


async def test_a_server_stop_fails_pending_calls_with_server_closed(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved").start()
    async with Client(server.url) as talker:
        await talker.start()
        await talker.stroke(*LINE.values())

        async def keep_asking():
            while True:
                await talker.ping()

        asker = asyncio.create_task(keep_asking())  # nearly always waiting for a pong
        await asyncio.sleep(0.05)
        server.process.terminate()
        with pytest.raises(ServerClosed) as closed:
            await asyncio.wait_for(asker, 10)
    assert closed.value.code == protocol.CloseCode.GOING_AWAY
    assert talker.closing["code"] == protocol.CloseCode.GOING_AWAY
    assert [m["type"] for m in await events(talker)][-2:] == ["saved", "closing"]  # the open drawing was saved
    assert server.process.wait(30) == 0


async def test_replay_sends_whole_strokes_over_the_message_limit_as_batches(server, raw_drawings):
    labels = set((MODEL / "labels.txt").read_text().splitlines())
    drawings = [d for d in raw_drawings if d["word"] in labels and len(d["drawing"]) <= 4]
    drawings = [d for d in drawings if max(len(s[0]) for s in d["drawing"]) > MESSAGE_POINTS][:2]
    assert any(len(s[0]) <= MESSAGE_POINTS for d in drawings for s in d["drawing"])  # both kinds of stroke
    summary = await replay.replay(server.url, drawings, whole_strokes=True)
    assert summary.strokes == len(summary.latencies_ms) == sum(len(d["drawing"]) for d in drawings)
    assert summary.saved == summary.drawings == 2 and summary.missing_guesses == 0
    assert not summary.errors and not summary.closes and summary.late_errors == 0
    assert re.search(r"saved 2 .* errors 0 {2}abnormal closes 0", summary.report("free"))


async def test_a_call_waiting_when_the_socket_closes_raises_server_closed():
    """A stand-in server that reads a request and closes without answering: a real one rarely lets a call
    be caught waiting at its close."""

    async def take_one_and_leave(socket):
        await socket.send(stand_in_hello())
        await socket.recv()
        await socket.close(protocol.CloseCode.GOING_AWAY, "going away")

    async with serve(take_one_and_leave, "127.0.0.1", 0, subprotocols=[protocol.SUBPROTOCOL]) as stand_in:
        port = stand_in.sockets[0].getsockname()[1]
        async with Client(f"ws://127.0.0.1:{port}/ws") as talker:
            with pytest.raises(ServerClosed) as closed:
                await asyncio.wait_for(talker.ping(), 5)
            with pytest.raises(ServerClosed):
                await talker.ping()  # and later calls at once
    assert closed.value.code == protocol.CloseCode.GOING_AWAY and talker.closing is None


async def test_two_clients_join_a_room_and_see_each_other_draw(server):
    async with Client(server.url) as ada, Client(server.url) as bob:
        room = await ada.join("Ada")
        joined = await bob.join("Bob", room=room["code"])
        assert joined["code"] == room["code"] and [p["name"] for p in joined["players"]] == ["Ada", "Bob"]
        with pytest.raises(ServerError) as refused:
            await bob.room_start()
        assert refused.value.code == "not_host"
        assert (await ada.room_start())["state"] == "playing"

        async def first(talker: Client, kind: str) -> dict:
            async with asyncio.timeout(30):
                async for message in talker.events():
                    if message["type"] == kind:
                        return message

        drawing = await first(bob, "round")  # the room opens each player's drawing when the round begins
        assert drawing["mode"] == "room" and drawing["word"] == (await first(ada, "round"))["word"]
        await bob.stroke(LINE["x"], LINE["y"])
        seen = await first(ada, "peer_drawing")
        assert seen["player"] == joined["you"] and seen["ops"][-1] == ["stroke_end"]
        left = await bob.leave()
        assert [p["name"] for p in left["players"]] == ["Ada"]

"""A real ``python -m server`` (Uvicorn) on a free port, driven by ``quickdraw_client`` and raw websockets."""

import asyncio
import json
import socket
import subprocess
import sys
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server import protocol, replay
from tests.serving import MODEL, ROOT, Server, answer_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    server = Server(tmp, tmp / "saved").start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def labels():
    return set((MODEL / "labels.txt").read_text().splitlines())


def known(drawings, labels, n):
    return [d for d in drawings if d["word"] in labels][:n]


async def test_replaying_raw_drawings_gives_a_guess_per_stroke(url, raw_drawings, labels):
    drawings = known(raw_drawings, labels, 6)
    summary = await replay.replay(url, drawings)
    assert summary.drawings == summary.saved == len(drawings)
    assert summary.strokes == len(summary.latencies_ms) == sum(len(d["drawing"]) for d in drawings)
    assert summary.missing_guesses == 0 and not summary.errors and not summary.closes


async def test_replaying_whole_strokes_answers_every_stroke_like_point_batches(url, raw_drawings, labels):
    drawings = known(raw_drawings[::5], labels, 4)
    batched = await replay.replay(url, drawings)
    whole = await replay.replay(url, drawings, whole_strokes=True, deflate=True)
    assert whole.strokes == batched.strokes == sum(len(d["drawing"]) for d in drawings)
    assert whole.correct == batched.correct and whole.saved == len(drawings)
    assert not whole.errors and not whole.closes and whole.missing_guesses == 0


async def test_replaying_simplified_drawings_concurrently(url, simplified_drawings, labels):
    drawings = known(simplified_drawings[::7], labels, 12)
    summary = await replay.replay(url, drawings, concurrency=4)
    assert summary.strokes == sum(len(d["drawing"]) for d in drawings)
    assert summary.saved == len(drawings) and not summary.errors and not summary.closes


async def test_game_mode_replay_in_realtime(url, raw_drawings, labels):
    drawings = [d for d in known(raw_drawings, labels, 40) if d["drawing"][-1][2][-1] < 3000][:2]
    summary = await replay.replay(url, drawings, mode="game", realtime=True)
    assert summary.drawings == summary.saved == len(drawings)
    assert summary.recognized + summary.timeouts <= summary.drawings and not summary.errors


async def test_oversized_frame_closes_with_1009(url):
    async with connect(url, max_size=None) as socket:
        await socket.send(json.dumps({"type": "points", "x": [1] * 40_000, "y": [1] * 40_000}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd.code == protocol.CloseCode.MESSAGE_TOO_BIG


async def test_message_flood_closes_with_1008(tmp_path):
    # A low rate (20/s, burst 40, 20 refusals) that 600 messages overrun however slowly this machine sends
    # them; far more unread data could make the kernel reset the socket before the close frame is read,
    # which would test TCP rather than the server.
    server = Server(tmp_path, tmp_path / "saved", messages_per_second=20, message_burst=40, max_refused_messages=20)
    try:
        async with connect(server.start().url) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                for _ in range(600):
                    await socket.send('{"type":"undo"}')
                while True:
                    await asyncio.wait_for(socket.recv(), 10)
    finally:
        server.stop()
    assert closed.value.rcvd.code == protocol.CloseCode.POLICY_VIOLATION


async def test_other_connections_do_not_notice_a_closed_one(url):
    async with connect(url) as steady:
        await steady.send('{"type":"start"}')
        await asyncio.wait_for(steady.recv(), 10)
        async with connect(url, max_size=None) as rude:
            await rude.send("x" * 100_000)
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(rude.recv(), 10)
        await steady.send('{"type":"stroke","x":[0,9],"y":[0,9]}')
        answer = await answer_of(steady, "guess")
    assert answer["type"] == "guess" and answer["strokes"] == 1


def test_a_missing_model_is_a_one_line_start_up_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "server", "--model-dir", str(tmp_path / "none"), "--port", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot load the model" in result.stderr


def test_a_bad_setting_is_a_start_up_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "server", "--model-dir", str(MODEL)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"QUICKDRAW_GAME_TIME_LIMIT_S": "-1", "PATH": ""},
    )
    assert result.returncode == 2 and "GAME_TIME_LIMIT_S" in result.stderr


def test_serving_does_not_import_tensorflow():
    code = (
        "import sys, server.__main__, quickdraw_client; from server import create_app; "
        f"create_app({{'MODEL_DIR': {str(MODEL)!r}}}); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr


async def test_the_client_stays_under_the_flood_limit_by_default(url, simplified_drawings, labels):
    drawings = known(simplified_drawings, labels, 10_000)
    drawings = [d for d in drawings if len(d["drawing"]) >= 4][:60]  # well over the 400-message burst
    summary = await replay.replay(url, drawings)
    assert sum(len(d["drawing"]) for d in drawings) * 2 > 400
    assert summary.saved == len(drawings) and not summary.closes and not summary.errors


def test_read_drawings_takes_the_words_in_turn(quickdraw_dir, labels):
    drawings = replay.read_drawings(
        quickdraw_dir / "strokes" / "simplified.ndjson.gz", limit=2 * len(labels), words=labels
    )
    words = [d["word"] for d in drawings]
    assert len(drawings) == 2 * len(labels) and set(words) == labels
    assert all(words.count(word) == 2 for word in labels)


def test_uvicorn_gets_the_frame_limit_heartbeat_and_address():
    from server import config
    from server.hosting import SocketProtocol, uvicorn_config

    overrides = {"MAX_FRAME_BYTES": 1234, "PING_INTERVAL_S": 7.5, "PING_TIMEOUT_S": 3.0, "PORT": 5999}
    uvicorn = uvicorn_config(None, config.load(overrides, environ={}))
    assert (uvicorn.ws_max_size, uvicorn.ws_ping_interval, uvicorn.ws_ping_timeout) == (1234, 7.5, 3.0)
    assert (uvicorn.host, uvicorn.port, uvicorn.ws) == ("127.0.0.1", 5999, SocketProtocol)


def test_command_line_options_become_settings():
    from server.__main__ import parse_args

    args = parse_args(["--port", "5001", "--model-dir", "m", "--saved-dir", "s", "--host", "0.0.0.0"])
    assert {key: args[key] for key in ("port", "model_dir", "saved_dir", "host")} == {
        "port": 5001,
        "model_dir": "m",
        "saved_dir": "s",
        "host": "0.0.0.0",
    }
    assert not {"port", "model_dir", "saved_dir", "host"} & set(parse_args([]))  # unset: the environment decides


@pytest.fixture(scope="module")
def heartbeat_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("heartbeat")
    server = Server(tmp, tmp / "saved", idle_timeout_s=2, ping_interval_s=0.3, ping_timeout_s=0.3).start()
    yield server.url
    server.stop()


async def test_websocket_pings_from_the_client_keep_it_from_idling(heartbeat_url):
    async with connect(heartbeat_url, ping_interval=0.3) as socket:  # the library pings; no message for 5 s
        await asyncio.sleep(5)
        await socket.send('{"type":"ping","id":1}')
        assert await answer_of(socket, "pong") == {"type": "pong", "reply_to": 1}


async def test_without_pings_or_messages_a_socket_idles_out(heartbeat_url):
    async with connect(heartbeat_url, ping_interval=None) as socket:
        began = time.monotonic()
        closing = await answer_of(socket, "closing")
        assert closing == {"type": "closing", "code": 1000, "reason": "idle for 2 s"}
        assert 1.9 <= time.monotonic() - began < 6


def test_a_peer_that_stops_answering_pings_is_closed(heartbeat_url):
    port = int(heartbeat_url.split(":")[2].split("/")[0])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    began, received = time.monotonic(), b""
    while chunk := sock.recv(65536):  # read everything (pings too), answer nothing
        received += chunk
    sock.close()
    # A ping after 0.3 s, no pong by 0.3 s later: closed long before the 2 s idle limit could do it.
    assert time.monotonic() - began < 1.5
    assert b"\x89" in received and b"keepalive ping timeout" in received  # a ping frame, then the close reason


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("impatient")
    server = Server(tmp, tmp / "saved", head_timeout_s=1).start()
    yield server
    server.stop()


def seconds_until_dropped(port: int, trickle: bytes = b"") -> float:
    """Connect, send ``trickle`` one byte every 0.2 s (then nothing), and time until the server hangs up."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    began = time.monotonic()
    try:
        for byte in trickle:
            sock.sendall(bytes([byte]))
            time.sleep(0.2)
        while sock.recv(4096):
            pass
    except (ConnectionError, OSError):
        pass
    finally:
        sock.close()
    return time.monotonic() - began


@pytest.mark.parametrize("trickle", [b"", b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"])
def test_a_client_that_sends_no_whole_request_head_is_dropped(impatient, trickle):
    assert seconds_until_dropped(impatient.port, trickle) < 3  # HEAD_TIMEOUT_S = 1: silent or trickling
    assert impatient.healthy()  # and the server answers others


def test_the_head_deadline_spares_a_connection_that_asks_in_time(impatient):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", impatient.port, timeout=10)
    for _ in range(3):  # keep-alive: each request comes well within the deadline
        connection.request("GET", "/healthz")
        assert connection.getresponse().read()
        time.sleep(0.5)
    connection.close()

"""GET /metrics in Prometheus text format, and one structured log line per connection at open and close."""

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time

import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from server import create_app, hosting, logs, protocol
from tests.conftest import FakeClassifier
from tests.serving import MODEL, ROOT, free_port, make_app, receive, send

LINE = {"x": [0, 50, 100], "y": [0, 40, 80]}


async def scrape(app) -> dict:
    """{(sample name, frozenset(labels)): value} from GET /metrics."""
    response = await app.test_client().get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = await response.get_data(as_text=True)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def play_a_short_session(app) -> None:
    """Two strokes (one whole, one streamed), one bad message, end: one drawing saved."""
    async with app.test_client().websocket("/ws") as ws:
        await send(ws, type="start")
        await receive(ws)
        await send(ws, type="stroke", **LINE)
        await receive(ws)
        await send(ws, type="points", x=[0, 100], y=[80, 0])
        await send(ws, type="stroke_end")
        await receive(ws)
        await ws.send("{not json")
        assert (await receive(ws))["code"] == protocol.ErrorCode.BAD_JSON
        await send(ws, type="end")
        assert (await receive(ws))["type"] == "saved"
    gate = app.extensions["gate"]
    for _ in range(200):  # the handler's clean-up runs just after the client side closes
        if not gate.open:
            break
        await asyncio.sleep(0.01)


async def test_metrics_count_a_short_session(tmp_path):
    app = make_app(tmp_path, LIVE_GUESS_INTERVAL_MS=100_000)
    async with app.test_app():
        before = await scrape(app)
        await play_a_short_session(app)
        after = await scrape(app)
    assert before[("quickdraw_connections_total", frozenset())] == 0
    assert after[("quickdraw_connections_total", frozenset())] == 1
    assert after[("quickdraw_open_connections", frozenset())] == 0
    assert after[("quickdraw_guesses_total", frozenset({("trigger", "stroke")}))] == 2
    assert after[("quickdraw_guess_latency_seconds_count", frozenset())] == 2
    assert after[("quickdraw_guess_latency_seconds_sum", frozenset())] > 0
    assert after[("quickdraw_saves_total", frozenset({("result", "ok")}))] == 1
    assert after[("quickdraw_drawings_total", frozenset({("outcome", "ended")}))] == 1
    assert after[("quickdraw_errors_total", frozenset({("code", "bad_json")}))] == 1


async def test_metrics_count_closes_by_code(tmp_path):
    app = make_app(tmp_path, MESSAGES_PER_SECOND=1.0, MESSAGE_BURST=2, MAX_REFUSED_MESSAGES=1)
    async with app.test_app():
        async with app.test_client().websocket("/ws") as ws:
            for _ in range(4):
                await send(ws, type="draw")
            for _ in range(6):
                try:
                    await asyncio.wait_for(ws.receive(), 5)
                except Exception:
                    break
        after = await scrape(app)
    assert after[("quickdraw_closes_total", frozenset({("code", str(protocol.CloseCode.POLICY_VIOLATION))}))] == 1


@contextlib.asynccontextmanager
async def served(app):
    """``app`` served by Uvicorn in this process, set up as ``python -m server`` sets it up; yields the port."""
    server = uvicorn.Server(hosting.uvicorn_config(app, app.extensions["quickdraw"].settings))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "Uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await serving


async def closed_socket(port: int, frame: bytes = b"") -> bytes:
    """Open /ws by hand, send ``frame`` once accepted, answer nothing (no pong), read until the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)  # the handshake's answer
        writer.write(frame)
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def close_code(data: bytes) -> int | None:
    """The code of the close frame among the server's (unmasked) frames in ``data``."""
    while len(data) >= 2:
        length, at = data[1] & 0x7F, 2
        if length >= 126:
            at = 4 if length == 126 else 10
            length = int.from_bytes(data[2:at])
        if data[0] & 0x0F == 0x8:
            return int.from_bytes(data[at : at + 2])
        data = data[at + length :]
    return None


async def closes_counted(app, code: int) -> float:
    """``quickdraw_closes_total{code}``, waited for: a close on the wire is counted as the socket's handler ends."""
    key = ("quickdraw_closes_total", frozenset({("code", str(code))}))
    for _ in range(500):
        if count := (await scrape(app)).get(key, 0):
            return count
        await asyncio.sleep(0.01)
    return 0


async def test_a_frame_over_the_limit_closed_by_uvicorn_counts_as_1009(tmp_path):
    app = create_app({"SAVED_DIR": str(tmp_path), "PORT": 0, "MAX_FRAME_BYTES": 1000}, FakeClassifier())
    async with served(app) as port:
        header = bytes([0x81, 0x80 | 126]) + (5000).to_bytes(2) + b"mask"  # a text frame of 5,000 bytes, no payload
        assert close_code(await closed_socket(port, header)) == protocol.CloseCode.MESSAGE_TOO_BIG
        assert await closes_counted(app, protocol.CloseCode.MESSAGE_TOO_BIG) == 1


async def test_a_peer_closed_for_unanswered_pings_counts_as_1011(tmp_path):
    overrides = {"SAVED_DIR": str(tmp_path), "PORT": 0, "PING_INTERVAL_S": 0.2, "PING_TIMEOUT_S": 0.2}
    app = create_app(overrides, FakeClassifier())
    async with served(app) as port:
        assert close_code(await closed_socket(port)) == protocol.CloseCode.INTERNAL_ERROR
        assert await closes_counted(app, protocol.CloseCode.INTERNAL_ERROR) == 1


async def test_each_app_has_its_own_counters(tmp_path):
    first, second = make_app(tmp_path), make_app(tmp_path)
    async with first.test_app(), second.test_app():
        await play_a_short_session(first)
        assert (await scrape(second))[("quickdraw_connections_total", frozenset())] == 0


async def test_a_connection_logs_one_line_at_open_and_one_at_close(tmp_path, caplog):
    app = make_app(tmp_path, LIVE_GUESS_INTERVAL_MS=100_000)
    with caplog.at_level(logging.INFO, logger="server.ws"):
        async with app.test_app():
            await play_a_short_session(app)
    opened = [r for r in caplog.records if r.getMessage() == "connection open"]
    closed = [r for r in caplog.records if r.getMessage() == "connection closed"]
    assert len(opened) == len(closed) == 1
    assert logs.fields(closed[0]) | {"seconds": 0} == {
        "conn": opened[0].conn,
        "drawings": 1,
        "errors": 1,
        "close": "peer",
        "seconds": 0,
    }


def record(**extra) -> logging.LogRecord:
    entry = logging.LogRecord("server.ws", logging.INFO, __file__, 1, "connection closed", None, None)
    entry.__dict__.update(extra)
    return entry


def test_json_log_lines_parse_and_carry_the_fields():
    line = logs.JsonFormatter().format(record(conn="ab12", drawings=3, errors=0, close=1001))
    entry = json.loads(line)
    assert (entry["message"], entry["level"], entry["logger"]) == ("connection closed", "INFO", "server.ws")
    assert (entry["conn"], entry["drawings"], entry["errors"], entry["close"]) == ("ab12", 3, 0, 1001)


def test_text_log_lines_end_in_key_value_pairs():
    line = logs.KeyValueFormatter().format(record(conn="ab12", drawings=3, reason="too many messages"))
    assert line.endswith('connection closed conn=ab12 drawings=3 reason="too many messages"')


def test_uvicorn_says_where_it_listens_once_in_the_servers_log_format(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "--port",
            str(port),
            "--saved-dir",
            str(tmp_path),
            "--model-dir",
            str(MODEL),
            "--log-format",
            "json",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    listening = [line for line in err.splitlines() if "Uvicorn running on" in line]
    assert len(listening) == 1, err
    assert json.loads(listening[0])["logger"] == "uvicorn.error"
    assert "color_message" not in listening[0]


async def test_the_log_names_a_close_on_the_wire_by_its_code(tmp_path, caplog):
    overrides = {"SAVED_DIR": str(tmp_path), "PORT": 0, "PING_INTERVAL_S": 0.2, "PING_TIMEOUT_S": 0.2}
    app = create_app(overrides, FakeClassifier())
    with caplog.at_level(logging.INFO, logger="server.ws"):
        async with served(app) as port:
            await closed_socket(port)
            await closes_counted(app, protocol.CloseCode.INTERNAL_ERROR)
    [closed] = [r for r in caplog.records if r.getMessage() == "connection closed"]
    assert closed.close == protocol.CloseCode.INTERNAL_ERROR

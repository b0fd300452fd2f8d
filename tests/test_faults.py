"""Faults against a real ``python -m server``: disconnects, SIGTERM, SIGKILL mid-save, an unwritable or full disk, bad models.

Each test starts its own server process on a free port, with its log in a file
so the test can read what the server said.
"""

import asyncio
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from core import records
from server import protocol, recovery, store
from tests.serving import (
    ANSWER_S,
    LINE,
    MODEL,
    ROOT,
    START_S,
    answer,
    answer_of,
    check_saved_directory,
    free_port,
    make_app,
    problems,
    receive,
    saved_ids,
    send,
    start_drawing,
    wait_until,
)

# Disconnects ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "abort"])
def test_a_client_gone_mid_stroke_gets_its_drawing_saved_once_without_error_spam(servers, tmp_path, how):
    server = servers(tmp_path, tmp_path / "saved", "--log-format", "json").start()

    async def draw_and_vanish():
        ws = await connect(server.url)
        drawing_id = await start_drawing(ws, strokes=2, open_stroke=True)
        if how == "abort":
            ws.transport.abort()  # the tab crashed: no close frame, the TCP connection just ends
        else:
            await ws.close()
        return drawing_id

    drawing_id = asyncio.run(draw_and_vanish())
    wait_until(lambda: saved_ids(server.saved_dir))
    time.sleep(0.5)  # a second save would come now
    assert server.stop() == 0
    assert saved_ids(server.saved_dir) == [drawing_id] and check_saved_directory(server.saved_dir) == 1
    record = json.loads((server.saved_dir / f"{drawing_id}.ndjson").read_text())
    assert len(record["drawing"]) == 3  # two whole strokes and the open one
    assert problems(server.log()) == []
    closed = [json.loads(line) for line in server.log().splitlines() if '"connection closed"' in line]
    assert [(c["conn"] > "", c["drawings"], c["errors"], c["close"]) for c in closed] == [(True, 1, 0, "peer")]


# SIGTERM ---------------------------------------------------------------------------


def test_sigterm_closes_sockets_with_1001_finishes_saves_and_exits_0(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved").start()
    players = 12

    async def play_then_terminate():
        sockets = [await connect(server.url) for _ in range(players)]
        for i, ws in enumerate(sockets):
            await start_drawing(ws, strokes=1 + i % 3, open_stroke=i % 2 == 0)
        for ws in sockets[: players // 2]:
            await ws.send('{"type":"end"}')  # these saves are in flight when the signal comes
        server.process.send_signal(signal.SIGTERM)
        codes, lasts = [], []
        for ws in sockets:
            last = []
            try:
                while True:
                    last = (last + [json.loads(await asyncio.wait_for(ws.recv(), ANSWER_S))["type"]])[-2:]
            except ConnectionClosed:
                codes.append(ws.close_code)
                lasts.append(last)
        try:  # a latecomer is not let in: at most a closing notice, never a hello
            async with connect(server.url, open_timeout=5) as late:
                notice = json.loads(await asyncio.wait_for(late.recv(), ANSWER_S))
                assert notice == {"type": "closing", "code": 1001, "reason": "the server is shutting down"}
                await asyncio.wait_for(late.recv(), ANSWER_S)
            refused = False
        except (OSError, ConnectionClosed, InvalidStatus, InvalidMessage, TimeoutError):  # or hung up mid-handshake
            refused = True
        return codes, lasts, refused

    codes, lasts, refused = asyncio.run(play_then_terminate())
    assert codes == [protocol.CloseCode.GOING_AWAY] * players
    assert lasts == [["saved", "closing"]] * players  # every drawing's final message, then the notice
    assert refused
    assert server.process.wait(30) == 0
    assert check_saved_directory(server.saved_dir) == players
    assert problems(server.log()) == []


# SIGKILL -----------------------------------------------------------------------------


def test_sigkill_during_a_burst_of_saves_leaves_only_whole_drawings_after_restart(servers, tmp_path):
    saved = tmp_path / "saved"
    server = servers(tmp_path, saved).start()
    saved_messages = []

    async def save_forever(ws):
        while True:
            await ws.send('{"type":"start"}')
            await ws.send(json.dumps({"type": "stroke", **LINE}))
            await ws.send('{"type":"end"}')
            saved_messages.append(await answer_of(ws, "saved"))

    async def burst():
        sockets = [await connect(server.url) for _ in range(8)]
        tasks = [asyncio.create_task(save_forever(ws)) for ws in sockets]
        while len(saved_messages) < 40:
            await asyncio.sleep(0.01)
        server.process.kill()  # SIGKILL: no clean-up of any kind
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(burst())
    server.process.wait(10)
    on_disk = saved_ids(saved)
    assert len(on_disk) >= len(saved_messages) >= 40  # every "saved" told to a player is on disk
    # What a kill between the two renames would leave (the kill above may or may not have hit one):
    (saved / ".tmp-k1ll3d.ndjson").write_text('{"word": nul')
    (saved / ".tmp-k1ll3d.png").write_bytes(b"\x89PNG\r\n")
    orphan = records.new_id()
    (saved / f"{orphan}.png").write_bytes(store.render_png([[[0, 5], [0, 5]]]))
    servers(tmp_path, saved).start()  # restart on the same directory
    assert check_saved_directory(saved) >= len(saved_messages)
    assert orphan not in saved_ids(saved)


def test_the_start_up_sweep_removes_temp_files_and_record_less_pictures_only(tmp_path):
    saved = tmp_path / "saved"
    kept = store.SavedDrawingStore(saved).save({"drawing": [[[0, 1], [0, 1], [0, 1]]]}, b"png", records.new_id())
    leftovers = [saved / ".tmp-abc.ndjson", saved / ".tmp-def.png", saved / f"{records.new_id()}.png"]
    for path in leftovers:
        path.write_bytes(b"partial")
    (saved / "notes.txt").write_text("not ours, left alone")
    assert sorted(recovery.sweep(saved)) == sorted(leftovers)
    assert sorted(p.name for p in saved.iterdir()) == sorted([f"{kept}.ndjson", f"{kept}.png", "notes.txt"])
    assert recovery.sweep(tmp_path / "absent") == []


# Unwritable or full disk ------------------------------------------------------------------


def test_an_unwritable_saved_directory_gives_save_failed_and_the_game_goes_on(servers, tmp_path):
    # chmod does not stop root; a saved directory below a regular file cannot be created by anyone.
    (tmp_path / "a-file").write_text("")
    server = servers(tmp_path, tmp_path / "a-file" / "saved").start()

    async def play():
        async with connect(server.url) as ws:
            await start_drawing(ws, strokes=1, open_stroke=False)
            await ws.send('{"type":"end"}')
            failed = await answer_of(ws, "not_saved")
            await start_drawing(ws, strokes=2, open_stroke=False)  # the game goes on
            return failed

    failed = asyncio.run(play())
    assert failed["reason"] == protocol.ErrorCode.SAVE_FAILED
    assert server.stop() == 0
    assert any("saving drawing" in line and "failed" in line for line in server.log().splitlines())


async def test_a_full_disk_gives_save_failed_leaves_no_temp_file_and_the_game_goes_on(tmp_path, monkeypatch):
    # Simulated in-process: the rename that would publish the file fails with ENOSPC.
    def disk_full(source, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "replace", disk_full)
    app = make_app(tmp_path, LIVE_GUESS_INTERVAL_MS=100_000)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        for _ in range(2):
            await send(ws, type="start")
            await receive(ws)
            await send(ws, type="stroke", **LINE)
            assert (await receive(ws))["type"] == "guess"
            await send(ws, type="end")
            assert (await receive(ws))["reason"] == protocol.ErrorCode.SAVE_FAILED
    assert [path.name for path in (tmp_path / "saved").iterdir()] == [".secret"]  # no drawing, no temp file
    assert app.extensions["metrics"].saves.labels("failed")._value.get() == 2


# Bad models and bad frames on the wire ------------------------------------------------------


def broken_models(tmp_path) -> dict:
    models = {"missing": tmp_path / "no-such-model"}
    for name, damage in [
        ("garbage", lambda d: (d / "model.tflite").write_bytes(os.urandom(2000))),
        ("truncated", lambda d: (d / "model.tflite").write_bytes((MODEL / "model.tflite").read_bytes()[:5000])),
        ("empty", lambda d: (d / "model.tflite").write_bytes(b"")),
        ("no card", lambda d: (d / "model_card.json").unlink()),
    ]:
        models[name] = tmp_path / name.replace(" ", "-")
        shutil.copytree(MODEL, models[name], ignore=shutil.ignore_patterns("*.keras", "*.png"))
        damage(models[name])
    return models


def test_a_missing_or_corrupt_model_is_a_clear_start_up_error(tmp_path):
    for name, model_dir in broken_models(tmp_path).items():
        done = subprocess.run(
            [sys.executable, "-m", "server", "--port", str(free_port()), "--model-dir", str(model_dir)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=START_S,
        )
        assert done.returncode == 2, (name, done.stderr)
        message = [line for line in done.stderr.splitlines() if line.startswith("python -m server:")]
        assert len(message) == 1 and "model" in message[0], (name, done.stderr)
        assert "Traceback" not in done.stderr, name


def raw_socket(port: int) -> socket.socket:
    """A TCP connection that has completed the WebSocket handshake by hand."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 101")
    return sock


def test_truncated_and_malformed_frames_on_the_wire_do_not_disturb_the_server(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved").start()
    frame = json.dumps({"type": "stroke", **LINE}).encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(frame))
    whole = bytes([0x81, 0x80 | len(frame)]) + mask + masked
    for broken in [
        whole[:1],
        whole[:2],
        whole[: len(whole) // 2],  # cut short, then the peer vanishes
        b"\x81\x7f" + b"\xff" * 8,  # a 2^64-byte length
        b"\x81" + bytes([len(frame)]) + frame,  # unmasked client frame: a protocol error
        os.urandom(64),
    ]:
        sock = raw_socket(server.port)
        sock.sendall(broken)
        sock.close()

    async def still_serving():
        async with connect(server.url) as ws:
            await ws.send(b"")  # an empty binary frame is bad JSON, not a crash
            assert (await answer(ws))["code"] == protocol.ErrorCode.BAD_JSON
            await start_drawing(ws, strokes=1, open_stroke=False)

    asyncio.run(still_serving())
    assert server.stop() == 0
    assert problems(server.log()) == []


def test_a_cross_site_page_gets_403_from_the_real_server_and_a_same_site_one_plays(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved").start()

    async def try_origins():
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.url, origin="https://evil.example"):
                pass
        async with connect(server.url, origin=f"http://127.0.0.1:{server.port}") as ws:
            await start_drawing(ws, strokes=1, open_stroke=False)
        return refused.value.response.status_code

    assert asyncio.run(try_origins()) == 403
    assert server.stop() == 0


def test_a_player_sent_away_by_sigterm_resumes_on_another_instance_and_is_saved_once(servers, tmp_path):
    saved = tmp_path / "saved"  # one store for both instances, as PostgreSQL or a shared disk would be
    leaving = servers(tmp_path, saved, secret="shared by the instances").start()
    staying = servers(tmp_path, saved, secret="shared by the instances").start()
    strokes = [{"x": [0, 50 + k], "y": [k, 80], "t": [100 * k, 100 * k + 50]} for k in range(3)]

    async def play():
        async with connect(leaving.url) as ws:
            await ws.send(json.dumps({"type": "start", "mode": "game", "word": "cat"}))
            round_ = await answer_of(ws, "round")
            for stroke in strokes[:2]:
                await ws.send(json.dumps({"type": "stroke", **stroke}))
                await answer_of(ws, "guess")
            leaving.process.send_signal(signal.SIGTERM)
            assert (await answer_of(ws, "saved"))["strokes"] == 2
            assert (await answer_of(ws, "closing"))["code"] == protocol.CloseCode.GOING_AWAY
        async with connect(staying.url) as ws:
            resume = {"resume": round_["id"], "token": round_["resume_token"], "elapsed_ms": 400}
            await ws.send(json.dumps({"type": "start", "mode": "game", "word": "cat", **resume}))
            assert (await answer_of(ws, "round"))["id"] == round_["id"]
            for stroke in strokes:  # the drawing replayed, and one more stroke
                await ws.send(json.dumps({"type": "stroke", **stroke}))
                await answer_of(ws, "guess")
            await ws.send('{"type":"end"}')
            final = await answer_of(ws, "saved")
        return round_["id"], final

    drawing_id, final = asyncio.run(play())
    assert leaving.process.wait(30) == 0
    assert (final["id"], final["strokes"]) == (drawing_id, 3)
    assert saved_ids(saved) == [drawing_id]  # one drawing, stored once, whole
    record = json.loads((saved / f"{drawing_id}.ndjson").read_text())
    assert len(record["drawing"]) == 3 and record["word"] == "cat"

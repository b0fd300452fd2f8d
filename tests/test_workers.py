"""``python -m server --workers 2``: two processes on one port, one connection limit, one set of metrics.

Which worker accepts a connection is the kernel's choice. To make it ours, a
test freezes one worker with SIGSTOP: only the other can accept until SIGCONT.
"""

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request
from contextlib import contextmanager

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server import client, protocol
from tests.serving import (ANSWER_S, MODEL, ROOT, START_S, answer_of, check_saved_directory, free_port, problems,
                           start_drawing, wait_until)

WORKERS = ("--workers", "2")


def worker_pids(server) -> dict[str, int]:
    """``{"worker-0": pid, "worker-1": pid}`` from the supervisor's log."""
    wait_until(lambda: server.log().count("started worker-") == 2)
    return {name: int(pid) for name, pid in re.findall(r"started (worker-\d) pid=(\d+)", server.log())}


def ended(pids) -> bool:
    """True once none of ``pids`` runs any more (a zombie waiting to be reaped counts as ended)."""
    def running(pid):
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    return not any(running(pid) for pid in pids)


@contextmanager
def frozen(pid: int):
    """The process stopped (it accepts nothing) inside the block."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def workers_that_opened(log: str) -> list[str]:
    return [re.search(r"worker=(worker-\d)", line).group(1) for line in log.splitlines() if "connection open" in line]


def metric(server, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=ANSWER_S) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.split(" ")[0].split("{")[0] == name)


def test_each_worker_serves_on_the_same_port_and_metrics_add_up_both(servers, tmp_path):
    leftover = tmp_path / "saved" / ".tmp-killed.png"  # what a killed run leaves; the supervisor sweeps it once
    leftover.parent.mkdir()
    leftover.write_bytes(b"partial")
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def open_on(frozen_worker: str, count: int) -> list:
        with frozen(pids[frozen_worker]):
            sockets = [await connect(server.url) for _ in range(count)]
            for ws in sockets:
                await start_drawing(ws)
        return sockets

    async def scenario():
        sockets = await open_on("worker-0", 2) + await open_on("worker-1", 1)
        opened = workers_that_opened(server.log())
        assert opened == ["worker-1", "worker-1", "worker-0"]
        assert await asyncio.to_thread(metric, server, "quickdraw_open_connections") == 3
        assert await asyncio.to_thread(metric, server, "quickdraw_connections_total") == 3
        for ws in sockets:
            await ws.send('{"type":"end"}')
            assert (await answer_of(ws, "saved"))["strokes"] == 2  # the whole stroke and the open one
            await ws.close()

    asyncio.run(scenario())
    assert not leftover.exists()
    assert check_saved_directory(tmp_path / "saved") == 3
    wait_until(lambda: metric(server, "quickdraw_open_connections") == 0)
    assert metric(server, "quickdraw_drawings_total") == 3
    assert server.stop() == 0
    assert ended(pids.values())
    assert problems(server.log()) == []


def test_the_connection_limit_counts_the_sockets_of_every_worker(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKDRAW_MAX_CONNECTIONS", "2")
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def scenario():
        with frozen(pids["worker-0"]):
            held = [await connect(server.url) for _ in range(2)]  # both on worker-1: the server is now full
            for ws in held:
                await start_drawing(ws, open_stroke=False)
        with frozen(pids["worker-1"]):
            async with connect(server.url) as late:  # worker-0 holds no socket itself, yet must refuse
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(late.recv(), ANSWER_S)
        for ws in held:
            await ws.close()
        return late.close_code

    assert asyncio.run(scenario()) == protocol.TRY_AGAIN_LATER
    assert workers_that_opened(server.log()) == ["worker-1", "worker-1"]


async def test_two_workers_answer_every_stroke_of_real_drawings(servers, tmp_path, raw_drawings):
    labels = set((MODEL / "labels.txt").read_text().splitlines())
    drawings = [d for d in raw_drawings if d["word"] in labels][:40]
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    summary = await client.replay(server.url, drawings, concurrency=8)
    assert summary.saved == len(drawings) and summary.strokes == sum(len(d["drawing"]) for d in drawings)
    assert not summary.errors and not summary.closes and not summary.missing_guesses
    assert check_saved_directory(tmp_path / "saved") == len(drawings)


def test_sigterm_stops_every_worker_gracefully_and_exits_0(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def scenario():
        sockets = []
        for busy in ("worker-0", "worker-1"):  # two players on each worker, drawing when the signal comes
            with frozen(pids[busy]):
                sockets += [await connect(server.url) for _ in range(2)]
                for ws in sockets[-2:]:
                    await start_drawing(ws)
        server.process.send_signal(signal.SIGTERM)
        codes = []
        for ws in sockets:
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), ANSWER_S)
            codes.append(ws.close_code)
        return codes

    assert asyncio.run(scenario()) == [protocol.GOING_AWAY] * 4
    assert server.process.wait(30) == 0 and ended(pids.values())
    assert check_saved_directory(tmp_path / "saved") == 4
    assert sorted(workers_that_opened(server.log())) == ["worker-0"] * 2 + ["worker-1"] * 2
    assert problems(server.log()) == []


def test_a_worker_that_dies_stops_the_other_gracefully_and_the_server_exits_non_zero(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def scenario():
        with frozen(pids["worker-0"]):
            ws = await connect(server.url)  # a player on worker-1
            await start_drawing(ws)
        os.kill(pids["worker-0"], signal.SIGKILL)
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), ANSWER_S)
        return ws.close_code

    assert asyncio.run(scenario()) == protocol.GOING_AWAY
    assert server.process.wait(30) != 0 and ended(pids.values())
    assert "worker-0 exited with code -9; stopping the others" in server.log()
    assert check_saved_directory(tmp_path / "saved") == 1  # the player's drawing on worker-1 was saved


def test_a_broken_model_is_one_start_up_error_with_workers(tmp_path):
    (tmp_path / "model").mkdir()
    done = subprocess.run([sys.executable, "-m", "server", *WORKERS, "--port", str(free_port()),
                           "--model-dir", str(tmp_path / "model"), "--saved-dir", str(tmp_path / "saved")],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=START_S)
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if line.startswith("python -m server:")] == [
        next(line for line in done.stderr.splitlines() if "cannot load the model" in line)]
    assert "worker-1" not in done.stderr  # the second worker never started


def test_workers_end_gracefully_when_the_supervisor_is_killed(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def scenario():
        async with connect(server.url) as ws:
            await start_drawing(ws)
            server.process.kill()  # SIGKILL: the supervisor forwards nothing
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), ANSWER_S)
            return ws.close_code

    assert asyncio.run(scenario()) == protocol.GOING_AWAY
    wait_until(lambda: ended(pids.values()))
    assert check_saved_directory(tmp_path / "saved") == 1

"""``python -m server --workers 2``: two processes on one port, one connection limit, one set of metrics.

Which worker gets a connection is the kernel's choice (each worker has its
own socket on the shared port, and the kernel hashes connections over them),
so these tests open enough sockets that both workers get some: with 16, the
chance that one worker gets them all is 2 in 65,536.
"""

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server import protocol, replay
from tests.serving import (
    ANSWER_S,
    MODEL,
    ROOT,
    START_S,
    answer_of,
    check_saved_directory,
    free_port,
    problems,
    start_drawing,
    wait_until,
)

WORKERS = ("--workers", "2")
SOCKETS = 16


def worker_pids(server) -> dict[str, int]:
    """``{"worker-0": pid, "worker-1": pid}`` from the supervisor's log, once both serve."""
    wait_until(lambda: "serving on" in server.log(), START_S)
    return {name: int(pid) for name, pid in re.findall(r"started (worker-\d) pid=(\d+)", server.log())}


def ended(pids) -> bool:
    """True once none of ``pids`` runs any more (a zombie waiting to be reaped counts as ended)."""

    def running(pid):
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return not any(running(pid) for pid in pids)


def workers_that_opened(log: str, what: str = "server.ws: connection open") -> list[str]:
    """The worker that logged ``what``, once per line that says it."""
    return [re.search(r"worker=(worker-\d)", line).group(1) for line in log.splitlines() if what in line]


def metric(server, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=ANSWER_S) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.split(" ")[0].split("{")[0] == name)


async def until_closed(ws) -> int:
    """Read until the server closes ``ws``; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), ANSWER_S)
    return ws.close_code


def test_both_workers_serve_on_one_port_and_metrics_add_up_both(servers, tmp_path):
    leftover = tmp_path / "saved" / ".tmp-killed.png"  # what a killed run leaves; the supervisor sweeps it once
    leftover.parent.mkdir()
    leftover.write_bytes(b"partial")
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def scenario():
        sockets = [await connect(server.url) for _ in range(SOCKETS)]
        for ws in sockets:
            await start_drawing(ws)
        assert sorted(set(workers_that_opened(server.log()))) == ["worker-0", "worker-1"]
        for _ in range(4):  # each scrape is answered by one worker or the other; each gives the sum
            assert await asyncio.to_thread(metric, server, "quickdraw_open_connections") == SOCKETS
            assert await asyncio.to_thread(metric, server, "quickdraw_connections_total") == SOCKETS
        for ws in sockets:
            await ws.send('{"type":"end"}')
            assert (await answer_of(ws, "saved"))["strokes"] == 2  # the whole stroke and the open one
            await ws.close()

    asyncio.run(scenario())
    assert not leftover.exists()
    assert check_saved_directory(tmp_path / "saved") == SOCKETS
    wait_until(lambda: metric(server, "quickdraw_open_connections") == 0)
    assert metric(server, "quickdraw_drawings_total") == SOCKETS
    assert server.stop() == 0
    assert ended(pids.values())
    assert problems(server.log()) == []


def test_the_connection_limit_counts_the_sockets_of_every_worker(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKDRAW_MAX_CONNECTIONS", "2")
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    worker_pids(server)

    async def scenario():
        sockets = [await connect(server.url) for _ in range(SOCKETS)]
        outcomes = []
        for ws in sockets:
            try:
                await ws.send('{"type":"start"}')
                outcomes.append((await answer_of(ws, "round"))["type"])
            except ConnectionClosed:
                outcomes.append(ws.close_code)
        for ws in sockets:
            await ws.close()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert sorted(outcomes, key=str) == sorted(
        ["round"] * 2 + [protocol.CloseCode.TRY_AGAIN_LATER] * (SOCKETS - 2), key=str
    )
    admitted, refused = workers_that_opened(server.log()), workers_that_opened(server.log(), "connection: 1013")
    assert len(admitted) == 2 and len(refused) == SOCKETS - 2
    assert set(admitted + refused) == {"worker-0", "worker-1"}  # both workers took part


async def test_two_workers_answer_every_stroke_of_real_drawings(servers, tmp_path, raw_drawings):
    labels = set((MODEL / "labels.txt").read_text().splitlines())
    drawings = [d for d in raw_drawings if d["word"] in labels][:40]
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    summary = await replay.replay(server.url, drawings, concurrency=8)
    assert summary.saved == len(drawings) and summary.strokes == sum(len(d["drawing"]) for d in drawings)
    assert not summary.errors and not summary.closes and not summary.missing_guesses
    assert check_saved_directory(tmp_path / "saved") == len(drawings)


def test_sigterm_stops_every_worker_gracefully_and_exits_0(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def scenario():
        sockets = [await connect(server.url) for _ in range(SOCKETS)]
        for ws in sockets:
            await start_drawing(ws)  # drawing when the signal comes
        server.process.send_signal(signal.SIGTERM)
        return [await until_closed(ws) for ws in sockets]

    assert asyncio.run(scenario()) == [protocol.CloseCode.GOING_AWAY] * SOCKETS
    assert server.process.wait(30) == 0 and ended(pids.values())
    assert check_saved_directory(tmp_path / "saved") == SOCKETS
    assert sorted(set(workers_that_opened(server.log()))) == ["worker-0", "worker-1"]
    assert problems(server.log()) == []


def test_a_worker_that_dies_stops_the_other_gracefully_and_the_server_exits_non_zero(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def scenario():
        sockets = [await connect(server.url) for _ in range(SOCKETS)]
        for ws in sockets:
            await start_drawing(ws)
        os.kill(pids["worker-0"], signal.SIGKILL)
        return [await until_closed(ws) for ws in sockets]

    codes = asyncio.run(scenario())
    on_worker_1 = workers_that_opened(server.log()).count("worker-1")
    assert codes.count(protocol.CloseCode.GOING_AWAY) == on_worker_1 > 0  # worker-0's players just lose the connection
    assert server.process.wait(30) != 0 and ended(pids.values())
    assert "worker-0 exited with code -9; stopping the others" in server.log()
    assert check_saved_directory(tmp_path / "saved") == on_worker_1  # the players on worker-1 had theirs saved


def test_workers_end_gracefully_when_the_supervisor_is_killed(servers, tmp_path):
    server = servers(tmp_path, tmp_path / "saved", *WORKERS).start()
    pids = worker_pids(server)

    async def scenario():
        sockets = [await connect(server.url) for _ in range(SOCKETS)]
        for ws in sockets:
            await start_drawing(ws)
        server.process.kill()  # SIGKILL: the supervisor forwards nothing
        return [await until_closed(ws) for ws in sockets]

    assert asyncio.run(scenario()) == [protocol.CloseCode.GOING_AWAY] * SOCKETS
    wait_until(lambda: ended(pids.values()))
    assert check_saved_directory(tmp_path / "saved") == SOCKETS


def test_a_broken_model_is_one_start_up_error_with_workers(tmp_path):
    (tmp_path / "model").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            *WORKERS,
            "--port",
            str(free_port()),
            "--model-dir",
            str(tmp_path / "model"),
            "--saved-dir",
            str(tmp_path / "saved"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=START_S,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("python -m server:")]
    assert len(errors) == 1 and "cannot load the model" in errors[0]
    assert "worker-1" not in done.stderr  # the second worker never started

"""Helpers for the server tests: an app on the shipped model, bounded receives, a live server."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from server import create_app

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "model"
TIMEOUT_S = 10.0  # every receive is bounded: a missing answer fails, never hangs


def make_app(tmp_path, **overrides):
    """An app on the shipped model that saves into ``tmp_path / "saved"``."""
    return create_app({"MODEL_DIR": str(MODEL), "SAVED_DIR": str(tmp_path / "saved"), **overrides})


async def receive(ws, timeout: float = TIMEOUT_S) -> dict:
    return json.loads(await asyncio.wait_for(ws.receive(), timeout))


async def receive_type(ws, kind: str, timeout: float = TIMEOUT_S) -> dict:
    """The next message of ``kind``, skipping others (live guesses)."""
    while (message := await receive(ws, timeout))["type"] != kind:
        pass
    return message


async def send(ws, **message) -> None:
    await ws.send(json.dumps(message))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(saved_dir, *args, env=None):
    """``python -m server`` on a free port; yields its ws URL and stops it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), "--saved-dir", str(saved_dir), "--model-dir", str(MODEL), *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()

"""Helpers for the server tests: an app on the shipped model, bounded receives, live servers.

``Server`` runs one ``python -m server`` process on a free port with its log in
a file, so a test can read what the server said (the ``servers`` fixture in
conftest starts them and kills any left running).
"""

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from core import records
from server import create_app

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "model"
TIMEOUT_S = 10.0  # every receive is bounded: a missing answer fails, never hangs


def make_app(tmp_path, **overrides):
    """An app on the shipped model that saves into ``tmp_path / "saved"``."""
    return create_app({"MODEL_DIR": str(MODEL), "SAVED_DIR": str(tmp_path / "saved"), **overrides})


async def receive(ws, timeout: float = TIMEOUT_S) -> dict:
    """The next message, passing over the ``hello`` every socket begins with (test_ws checks that one)."""
    while (message := json.loads(await asyncio.wait_for(ws.receive(), timeout)))["type"] == "hello":
        pass
    return message


async def receive_type(ws, kind: str, timeout: float = TIMEOUT_S) -> dict:
    """The next message of ``kind``, skipping others (live guesses)."""
    while (message := await receive(ws, timeout))["type"] != kind:
        pass
    return message


def saved_message(drawing_id: str, word, strokes: int, recognized=False, mode="free", reply_to=None) -> dict:
    """The ``saved`` message the server sends for a stored drawing."""
    return {
        "type": "saved",
        "id": drawing_id,
        "word": word,
        "mode": mode,
        "recognized": recognized,
        "strokes": strokes,
        "record_url": f"/api/drawings/{drawing_id}",
        "png_url": f"/api/drawings/{drawing_id}.png",
        "reply_to": reply_to,
    }


async def send(ws, **message) -> None:
    await ws.send(json.dumps(message))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


LINE = {"x": [0, 50, 100], "y": [0, 40, 80]}
START_S = 60  # model load on a busy 2-core machine
ANSWER_S = 10


class Server:
    """One ``python -m server`` process on a free port, its log in a file: for the tests and the benchmarks.

    ``settings`` become ``QUICKDRAW_<NAME>`` variables (``idle_timeout_s=2``);
    ``program`` runs another entry point with the same command line (a
    benchmark's wrapped server). ``start()`` waits until ``/healthz`` says the
    model is loaded.
    """

    def __init__(
        self,
        tmp_path: Path,
        saved_dir: Path,
        *args: str,
        model_dir: Path = MODEL,
        port: int | None = None,
        program: tuple[str, ...] = ("-m", "server"),
        **settings,
    ):
        self.port = port or free_port()
        self.log_path = Path(tmp_path) / f"server-{self.port}.log"
        self.saved_dir = Path(saved_dir)
        self.command = [sys.executable, *program, "--port", str(self.port), "--saved-dir", str(saved_dir)]
        self.command += ["--model-dir", str(model_dir), *args]
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.env.update({f"QUICKDRAW_{name.upper()}": _env_text(value) for name, value in settings.items()})
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True, seconds: float = START_S) -> "Server":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds
        while wait and not self.healthy():
            assert self.process.poll() is None, f"server exited early:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.http + "/healthz", timeout=2) as response:
                return json.load(response).get("ready") is True
        except OSError:
            return False

    def open_sockets(self) -> int:
        """This instance's own count of open sockets, from its Prometheus metrics."""
        with urllib.request.urlopen(self.http + "/metrics", timeout=5) as response:
            text = response.read().decode()
        return int(float(re.search(r"^quickdraw_open_connections (\S+)$", text, re.M).group(1)))

    def guess(self, drawing) -> list[dict]:
        """The server's own verdict on a drawing (POST /api/guess)."""
        body = json.dumps({"drawing": [stroke[:2] for stroke in drawing]}).encode()
        request = urllib.request.Request(self.http + "/api/guess", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["guesses"]

    def saved(self) -> list[dict]:
        """The records saved so far, each checked to have its PNG."""
        records = []
        for path in sorted(self.saved_dir.glob("*.ndjson")):
            if path.name.startswith(".tmp-"):
                continue  # a save still being written
            records.append(json.loads(path.read_text()))
            assert path.with_suffix(".png").is_file()
        return records

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


async def answer(ws) -> dict:
    """The next message from a real server, passing over the opening ``hello``."""
    while (message := json.loads(await asyncio.wait_for(ws.recv(), ANSWER_S)))["type"] == "hello":
        pass
    return message


async def answer_of(ws, kind: str) -> dict:
    while (message := await answer(ws))["type"] != kind:
        pass
    return message


async def start_drawing(ws, strokes: int = 1, open_stroke: bool = True) -> str:
    """Begin a drawing with ``strokes`` whole strokes and, if asked, one still being drawn; returns its id."""
    await ws.send(json.dumps({"type": "start"}))
    drawing_id = (await answer_of(ws, "round"))["id"]
    for k in range(1, strokes + 1):
        await ws.send(json.dumps({"type": "stroke", **LINE}))
        while (await answer_of(ws, "guess"))["strokes"] != k:
            pass
    if open_stroke:
        await ws.send(json.dumps({"type": "points", "x": [10, 20, 30], "y": [90, 60, 90]}))
    return drawing_id


def saved_ids(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.ndjson") if records.ID_PATTERN.match(p.stem))


def check_saved_directory(directory: Path) -> int:
    """Every file is a finished drawing: records parse, their PNGs decode, nothing else is there (but the secret
    kept beside them, server.config.SECRET_FILE); returns the count."""
    names = {p.name for p in directory.iterdir()} - {".secret"}
    ids = saved_ids(directory)
    assert names == {f"{i}.ndjson" for i in ids} | {f"{i}.png" for i in ids}, sorted(names)[:10]
    for drawing_id in ids:
        text = (directory / f"{drawing_id}.ndjson").read_text()
        assert text.endswith("\n") and text.count("\n") == 1
        record = json.loads(text)
        assert record["drawing"] and all(len(stroke) == 3 for stroke in record["drawing"])
        image = cv2.imdecode(np.frombuffer((directory / f"{drawing_id}.png").read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.size > 0
    return len(ids)


def wait_until(condition, seconds: float = ANSWER_S) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if "ERROR" in line or "Traceback" in line or "exception" in line.lower()]


class RedisServer:
    """A throwaway Debian ``redis-server`` on a free loopback port, nothing written to disk."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Balancer:
    """Debian's nginx running deploy/nginx.conf on a free port, in front of instances on ``upstreams``."""

    def __init__(self, tmp_path: Path, upstreams: list[int]):
        self.port = free_port()
        self.url, self.http = f"ws://127.0.0.1:{self.port}/ws", f"http://127.0.0.1:{self.port}"
        config = self.config(tmp_path, upstreams)
        options = f"daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/nginx-error.log;"
        self.process = subprocess.Popen(
            [NGINX, "-c", str(config), "-p", str(tmp_path), "-g", options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.http + "/healthz", timeout=2) as answer:
                    assert json.load(answer)["ready"]
                return
            except OSError:
                error_log = Path(tmp_path, "nginx-error.log")
                assert self.process.poll() is None and time.monotonic() < deadline, error_log.read_text()
                time.sleep(0.1)

    def config(self, tmp_path: Path, upstreams: list[int]) -> Path:
        """deploy/nginx.conf with these ports, and its pid, logs and temporary files under ``tmp_path``."""
        text = (ROOT / "deploy" / "nginx.conf").read_text()
        servers = re.findall(r"server 127\.0\.0\.1:\d+", text)
        assert len(servers) == len(upstreams)
        for old, new in zip(servers, upstreams):
            text = text.replace(old, f"server 127.0.0.1:{new}", 1)
        text = text.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        temp = " ".join(
            f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        text = text.replace("http {", f"http {{\n    access_log off;\n    {temp}", 1)
        path = Path(tmp_path) / "nginx.conf"
        path.write_text(text)
        return path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _env_text(value) -> str:
    """A setting as the server reads it from the environment: JSON for yes/no, else as written."""
    return json.dumps(value) if isinstance(value, bool) else str(value)

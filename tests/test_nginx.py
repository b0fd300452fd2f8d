"""deploy/nginx.conf in front of two real instances: real drawings through nginx, and one instance stopped mid-game.

Debian's nginx (``make test`` installs nginx-light as root) runs the repository's
own config, with its ports and paths pointed at this test. Players whose
instance is stopped with SIGTERM get ``closing`` 1001, reconnect through nginx
to the other instance, resume their drawing and finish: every drawing is
stored once, whole.
"""

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import skip_unless_required
from tests.serving import ANSWER_S, MODEL, NGINX, Balancer, Server

if not Path(NGINX).is_file():
    skip_unless_required("nginx", "no nginx (install Debian's nginx-light: `make browser` as root)")

SECRET = "one secret for both instances"
PLAYERS = 6


@pytest.fixture
def balanced(tmp_path):
    """nginx on a free port in front of two instances sharing a saved directory and a secret."""
    saved = tmp_path / "saved"
    instances = [
        Server(tmp_path, saved, secret=SECRET, recognition_threshold=1.0, game_time_limit_s=120).start()
        for _ in range(2)
    ]
    balancer = Balancer(tmp_path, [server.port for server in instances])
    yield balancer.url, instances, saved
    balancer.stop()
    for server in instances:
        server.stop()


class Player:
    """Draws one real drawing in a game round, stroke by stroke, resuming it wherever nginx sends it."""

    def __init__(self, url: str, record: dict):
        self.url, self.word, self.strokes = url, record["word"], [s[:2] for s in record["drawing"]]
        self.sent = 0  # strokes the server has answered
        self.round: dict = {}
        self.began = 0.0
        self.closes: list[int] = []

    async def open(self, ws, resume: bool) -> None:
        start = {"type": "start", "mode": "game", "word": self.word}
        if resume:
            elapsed_ms = round((time.monotonic() - self.began) * 1000)
            start |= {"resume": self.round["id"], "token": self.round["resume_token"], "elapsed_ms": elapsed_ms}
        await ws.send(json.dumps(start))
        round_ = await self.answer(ws, lambda m: m["type"] == "round")
        if not resume:
            self.round, self.began = round_, time.monotonic()
        assert round_["id"] == self.round["id"]
        for k in range(self.sent):  # the drawing as it is on the player's screen
            await self.stroke(ws, k)

    async def stroke(self, ws, k: int) -> None:
        x, y = self.strokes[k]
        await ws.send(json.dumps({"type": "stroke", "x": x, "y": y, "id": k}))
        await self.answer(ws, lambda m: m.get("reply_to") == k)

    async def answer(self, ws, wanted) -> dict:
        while not wanted(message := json.loads(await asyncio.wait_for(ws.recv(), ANSWER_S))):
            assert message["type"] != "error", message
        return message

    async def play(self, halfway: asyncio.Barrier, resumed: asyncio.Event) -> dict:
        ws = await connect(self.url)
        await self.open(ws, resume=False)
        while True:
            try:
                while self.sent < len(self.strokes):
                    if self.sent == len(self.strokes) // 2 and halfway is not None:
                        await halfway.wait()  # every player is halfway: now an instance goes away
                        halfway = None
                        await resumed.wait()
                    await self.stroke(ws, self.sent)
                    self.sent += 1
                await ws.send('{"type":"end"}')
                final = await self.answer(ws, lambda m: m["type"] == "saved")
                await ws.close()
                return final
            except ConnectionClosed:
                self.closes.append(ws.close_code)
                ws = await connect(self.url)  # nginx finds the instance that is still there
                await self.open(ws, resume=True)


async def test_real_drawings_through_nginx_survive_an_instance_stopped_mid_game(balanced, raw_drawings):
    url, (leaving, staying), saved = balanced
    labels = set((MODEL / "labels.txt").read_text().splitlines())
    records = [r for r in raw_drawings if r["word"] in labels and len(r["drawing"]) >= 4][:PLAYERS]
    players = [Player(url, record) for record in records]
    halfway, resumed = asyncio.Barrier(PLAYERS + 1), asyncio.Event()
    games = [asyncio.create_task(player.play(halfway, resumed)) for player in players]
    await asyncio.wait_for(halfway.wait(), 60)
    leaving.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(leaving.process.wait, 30) == 0
    resumed.set()
    finals = await asyncio.wait_for(asyncio.gather(*games), 120)

    moved = [p for p in players if p.closes]
    assert 0 < len(moved) < PLAYERS  # least_conn put players on both instances; the stopped one's moved
    assert all(p.closes == [1001] for p in moved)
    assert [f["id"] for f in finals] == [p.round["id"] for p in players]
    assert [f["strokes"] for f in finals] == [len(p.strokes) for p in players]
    stored = {path.stem: json.loads(path.read_text()) for path in saved.glob("*.ndjson")}
    assert sorted(stored) == sorted(p.round["id"] for p in players)  # started 6, saved 6, none twice
    assert all(len(stored[p.round["id"]]["drawing"]) == len(p.strokes) for p in players)  # nothing lost
    print(f"players {PLAYERS}, moved by SIGTERM {len(moved)}, saved {len(stored)}, duplicates 0")


def test_the_origin_check_sees_the_browsers_host_through_nginx(balanced):
    url, _, _ = balanced

    async def origin(value: str) -> bool:
        try:
            async with connect(url, origin=value) as ws:
                return json.loads(await ws.recv())["type"] == "hello"
        except Exception:
            return False

    host = url.split("/")[2]
    assert asyncio.run(origin(f"http://{host}")) is True  # the game page, served through nginx
    assert asyncio.run(origin("http://evil.example")) is False


def test_the_instances_log_the_players_address_that_nginx_forwards(balanced):
    url, instances, _ = balanced

    async def visit():
        async with connect(url, additional_headers={"X-Forwarded-For": "203.0.113.9"}) as ws:
            await ws.recv()

    asyncio.run(visit())
    logs = "".join(server.log() for server in instances)
    opened = [line for line in logs.splitlines() if "server.ws: connection open" in line]
    assert opened and all("client=203.0.113.9" in line for line in opened), opened

"""Rooms under load: many rooms of friends racing at human pace, through nginx, on two instances sharing Redis.

    PYTHONPATH=. .venv/bin/python bench/rooms.py [--rooms 50] [--players 4] [--rounds 2] [--instances 2]

Starts Debian's redis-server, ``--instances`` servers (``REDIS_URL``, one ``SECRET``, one saved directory)
and nginx with deploy/nginx.conf in front of them, all on loopback. Each room's players join through
nginx, the first starts the game, and in each of ``--rounds`` rounds every player draws a real raw Quick,
Draw! drawing of the round's word at the pace it was drawn (its own ``t``), in ~50 ms batches, then ends
it. Measured, on one clock (everything runs on this machine):

* stroke → own guess: ``stroke_end`` sent → its owed ``guess`` received;
* stroke → peers' screens: ``stroke_end`` sent → each other player's ``peer_drawing`` holding it;
* errors (any ``error`` message, any unexpected close) and drawings stored once (saved files = drawings
  with strokes, each id once);
* CPU per player: the server processes' CPU time over the rounds / players / seconds; memory per room:
  the servers' RSS during play minus before the rooms, / rooms.

Prints a Markdown table. The machine is shared and small: read the figures as this machine's, with the
load generator, nginx and Redis on the same two cores.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from server import replay  # noqa: E402
from tests.serving import Balancer, RedisServer, Server  # noqa: E402

DATA = Path(os.environ.get("QUICKDRAW_DATA", ROOT.parent / "shared" / "quickdraw"))
BATCH_MS = 50  # points go out as the page sends them


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


class Player:
    """One socket in a room: draws what it is given, at the drawing's own pace, and notes every arrival."""

    def __init__(self, url: str, drawings: dict[str, list[dict]], stats: dict):
        self.url, self.drawings, self.stats = url, drawings, stats
        self.messages: asyncio.Queue = asyncio.Queue()
        self.sent_ends: dict[int, list[float]] = {}  # round → when each of this player's stroke_ends left
        self.round = 0
        self.owed: dict[int, float] = {}  # request id → when sent
        self.next_id = 0
        self.peers_seen: dict[tuple, int] = {}  # (player id, round) → stroke_ends seen in their peer_drawing
        self.over = False  # this round's drawing was recognized (or timed out): stop drawing

    async def run(self, room: dict | None, rounds: int, ready: asyncio.Event, started: asyncio.Event, peers):
        async with connect(self.url, max_size=2**20) as self.ws:
            reader = asyncio.create_task(self.read(peers))
            try:
                await self.send(type="join", name=f"p{random.randrange(10**6)}", **room)
                state = await self.wait_for("room")
                self.id, self.code = state["you"], state["code"]
                room["room"] = self.code  # the others join this one
                ready.set()
                await started.wait()
                for _ in range(rounds):
                    round_message = await self.wait_for("round")
                    self.over, self.round = False, self.round + 1
                    await self.draw(random.choice(self.drawings[round_message["word"]]))
                    await self.send(type="end")
                    await self.wait_for("saved", "not_saved")
                    self.stats["drawings"] += 1
                await self.send(type="leave")
                await asyncio.sleep(0.5)
            finally:
                reader.cancel()

    async def run_solo(self, words: list[str]) -> None:
        """The baseline: the same drawings as single-player game rounds, nobody else to show them to."""
        async with connect(self.url, max_size=2**20) as self.ws:
            reader = asyncio.create_task(self.read({}))
            try:
                for word in words:
                    await self.send(type="start", mode="game", word=word)
                    await self.wait_for("round")
                    self.over, self.round = False, self.round + 1
                    await self.draw(random.choice(self.drawings[word]))
                    await self.send(type="end")
                    await self.wait_for("saved", "not_saved")
                    self.stats["drawings"] += 1
            finally:
                reader.cancel()

    async def send(self, **message) -> int:
        self.next_id += 1
        await self.ws.send(json.dumps({**message, "id": self.next_id}))
        return self.next_id

    async def draw(self, record: dict) -> None:
        began = time.perf_counter()
        for x, y, t in record["drawing"]:
            if self.over:
                return
            start = 0
            while start < len(x) and not self.over:  # one batch per BATCH_MS of the drawing's own time
                end = start + 1
                while end < len(x) and t[end] - t[start] < BATCH_MS:
                    end += 1
                await asyncio.sleep(max(0.0, began + t[start] / 1000 - time.perf_counter()))
                await self.ws.send(json.dumps({"type": "points", "x": x[start:end], "y": y[start:end]}))
                start = end
            request = await self.send(type="stroke_end")
            now = time.perf_counter()
            self.owed[request] = now
            self.sent_ends.setdefault(self.round, []).append(now)

    async def read(self, peers) -> None:
        async for frame in self.ws:
            now = time.perf_counter()
            message = json.loads(frame)
            kind = message["type"]
            if kind == "error" and message["code"] == "no_drawing":
                self.stats["late"] += 1  # points in flight when the round was won: expected, not an error
            elif kind == "error":
                self.stats["errors"].append(message["code"])
            elif kind in ("recognized", "timeout"):
                self.over = True
            elif kind == "guess" and not message["live"] and message.get("reply_to") in self.owed:
                self.stats["own"].append(now - self.owed.pop(message["reply_to"]))
            elif kind == "peer_drawing":
                source = peers.get(message["player"])
                key = (message["player"], message["round"])  # a stroke refused after the round ended is never shared
                for op in message["ops"]:
                    if op[0] == "stroke_end" and source is not None:
                        k = self.peers_seen.get(key, 0)
                        self.peers_seen[key] = k + 1
                        sent = source.sent_ends.get(message["round"], [])
                        if k < len(sent):
                            self.stats["peers"].append(now - sent[k])
            self.messages.put_nowait(message)

    async def wait_for(self, *kinds: str) -> dict:
        while (message := await asyncio.wait_for(self.messages.get(), 120))["type"] not in kinds:
            pass
        return message


async def play_solo(url, players: int, rounds: int, drawings, stats) -> None:
    words = random.sample(sorted(drawings), rounds)  # one "room"'s words, each player on their own
    await asyncio.gather(*(Player(url, drawings, stats).run_solo(words) for _ in range(players)))


async def play_room(url, players: int, rounds: int, drawings, stats) -> None:
    room: dict = {}
    peers: dict[str, Player] = {}
    members = [Player(url, drawings, stats) for _ in range(players)]
    joined = [asyncio.Event() for _ in members]
    started = asyncio.Event()
    tasks = []
    for member, ready in zip(members, joined):  # the first creates the room, the others join it
        tasks.append(asyncio.create_task(member.run(room, rounds, ready, started, peers)))
        await ready.wait()
        peers[member.id] = member
    await members[0].send(type="room_start")
    started.set()
    await asyncio.gather(*tasks)


def server_processes(instances: list[Server]) -> list[psutil.Process]:
    return [psutil.Process(server.process.pid) for server in instances]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--players", type=int, default=4, help="per room (2-8)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds played before everyone leaves (1-6)")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--solo", action="store_true", help="the baseline: the same players in single-player rounds")
    parser.add_argument(
        "--redis",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rooms in Redis (else in process: one instance)",
    )
    args = parser.parse_args()
    if not shutil.which("redis-server") or not shutil.which("nginx"):
        sys.exit("needs Debian's redis-server and nginx (make browser, as root)")
    raw = replay.read_drawings(DATA / "strokes" / "raw.ndjson.gz")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        redis = RedisServer(tmp)
        saved = tmp / "saved"
        settings = {"secret": "bench", "max_connections": 2 * args.rooms * args.players}
        if args.redis:
            settings["redis_url"] = redis.url
        elif args.instances != 1:
            sys.exit("rooms in process need one instance (--instances 1)")
        instances = [Server(tmp, saved, **settings).start(seconds=120) for _ in range(args.instances)]
        words = set((ROOT / "model" / "labels.txt").read_text().splitlines())
        drawings: dict[str, list[dict]] = {}
        for record in raw:
            if record["word"] in words:
                drawings.setdefault(record["word"], []).append(record)
        balancer = Balancer(tmp, [server.port for server in instances]) if len(instances) > 1 else None
        url = balancer.url if balancer else instances[0].url  # one instance: no balancer in front
        processes = server_processes(instances)
        rss_before = sum(p.memory_info().rss for p in processes)
        cpu_before = sum(sum(p.cpu_times()[:2]) for p in processes)
        me = psutil.Process()
        own_before = sum(me.cpu_times()[:2])
        stats = {"own": [], "peers": [], "errors": [], "drawings": 0, "late": 0}
        began = time.monotonic()
        try:
            play = play_solo if args.solo else play_room
            rooms = [play(url, args.players, args.rounds, drawings, stats) for _ in range(args.rooms)]
            results = await asyncio.gather(*rooms, return_exceptions=True)
            rss_peak = sum(p.memory_info().rss for p in processes)
        finally:
            seconds = time.monotonic() - began
            cpu = sum(sum(p.cpu_times()[:2]) for p in processes) - cpu_before
            own_cpu = sum(me.cpu_times()[:2]) - own_before
            if balancer:
                balancer.stop()
            for server in instances:
                server.stop()
            redis.stop()
        failures = [repr(r) for r in results if isinstance(r, BaseException)]
        files = list(saved.glob("*.ndjson"))
        drawn = sum(1 for f in files if json.loads(f.read_text())["drawing"])
        players = args.rooms * args.players
        where = "single-player rounds (baseline)" if args.solo else "Redis" if args.redis else "in process"
        title = (
            f"{args.rooms} rooms × {args.players} players, {args.rounds} rounds, {args.instances} instances, {where}"
        )
        print(f"| {title} | |")
        print("|---|---:|")
        for name, values in (("stroke → own guess", stats["own"]), ("stroke → peers' screens", stats["peers"])):
            if values:
                median, p99 = statistics.median(values) * 1000, percentile(values, 99) * 1000
                print(f"| {name}: p50 / p99 (n={len(values)}) | {median:.1f} / {p99:.1f} ms |")
        print(f"| errors | {len(stats['errors'])} {sorted(set(stats['errors']))} |")
        print(f"| points in flight when a round was won (no_drawing) | {stats['late']} |")
        print(f"| rooms that failed | {len(failures)} {failures[:3]} |")
        print(f"| drawings ended / stored (ids unique) | {stats['drawings']} / {drawn} |")
        print(f"| CPU per player (servers) | {100 * cpu / seconds / players:.2f} % of a core |")
        print(f"| memory per room (servers' RSS) | {(rss_peak - rss_before) / args.rooms / 2**20:.2f} MB |")
        print(f"| the load generator's own CPU (one process) | {100 * own_cpu / seconds:.0f} % of a core |")
        print(f"| wall time | {seconds:.0f} s |")
        return 1 if failures or stats["errors"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

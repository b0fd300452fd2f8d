"""Can one player take the classifier from everyone? A normal player beside clients that stay inside every limit.

Two heavy patterns (``--pattern``), both inside every documented limit:

* ``walk`` (the first one measured): a drawing of ~19,000 points (19 strokes of
  1,000 integer points on a random walk), then ``undo`` + a 1,000-point
  ``stroke`` at ~180 messages/s, so every message costs a full pass over a big
  drawing;
* ``floats`` (issue 24): 19 strokes of 1,024 random *float* points in
  [0, 1000) (~36 KB frames), then, every 11 ms, ``undo`` followed by one
  pre-serialized 1,000-point float ``stroke``.

Neither waits for answers; a reader drains what arrives. A normal player sends
one small stroke every 100 ms and times stroke → its owed guess. Reported per
number of heavy clients: the player's p50 / p99 / max in ms, and how many
classifications the heavy clients got per second. Run it from the repository
root:

    python bench/fair_share.py --heavy 0 1 5 --seconds 10 --pattern walk floats
"""

import argparse
import asyncio
import json
import multiprocessing
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serving import Server  # noqa: E402

HEAVY_RATE = 180.0  # messages/s per heavy client: under the flood limit (200/s)
STROKE_POINTS = 1000
STROKES = 19
WARM_UP_S = 2.0
# The normal player's drawing holds at most this many strokes (real ones hold fewer): 200 stacked strokes, as
# this bench first had it, cost ~10 ms a guess, as much as a heavy client's (docs/RELIABILITY.md).
PLAYER_STROKES = 20


FLOAT_POINTS = 1024  # the floats pattern's first strokes: the message limit


def big_stroke(rng: np.random.Generator) -> dict:
    x = np.cumsum(rng.integers(-3, 4, STROKE_POINTS)).tolist()
    y = np.cumsum(rng.integers(-3, 4, STROKE_POINTS)).tolist()
    return {"type": "stroke", "x": x, "y": y}


def float_stroke(rng: np.random.Generator, n: int) -> dict:
    return {"type": "stroke", "x": (rng.random(n) * 1000).tolist(), "y": (rng.random(n) * 1000).tolist()}


async def heavy(url: str, stop: asyncio.Event, counts: list, seed: int, pattern: str) -> None:
    """One heavy client: it builds its big drawing, then sends its pattern until ``stop``, never waiting for
    answers; a reader drains them and counts the owed guesses."""
    rng = np.random.default_rng(seed)
    async with connect(url, max_size=None) as ws:

        async def read():
            async for frame in ws:
                message = json.loads(frame)
                if message["type"] == "guess" and not message["live"]:
                    counts[0] += 1

        reader = asyncio.create_task(read())
        await ws.send('{"type":"start"}')
        undo = json.dumps({"type": "undo"})
        if pattern == "floats":  # undo and a stroke back to back, every 11 ms
            first = [float_stroke(rng, FLOAT_POINTS) for _ in range(STROKES)]
            steps = [([undo, json.dumps(float_stroke(rng, STROKE_POINTS))], 0.011)]
        else:  # undo, then a stroke, one message every 1/HEAVY_RATE s
            first = [big_stroke(rng) for _ in range(STROKES)]
            steps = [([undo], 1 / HEAVY_RATE), ([json.dumps(big_stroke(rng))], 1 / HEAVY_RATE)]
        for stroke in first:
            await ws.send(json.dumps(stroke))
        k = 0
        while not stop.is_set():
            frames, gap = steps[k % len(steps)]
            for frame in frames:
                await ws.send(frame)
            await asyncio.sleep(gap)
            k += 1
        reader.cancel()


async def player(url: str, seconds: float) -> list[float]:
    latencies = []
    async with connect(url) as ws:
        await ws.send('{"type":"start"}')
        began = time.monotonic()
        k = 0
        while time.monotonic() - began < seconds:
            k += 1
            sent = time.perf_counter()
            await ws.send(json.dumps({"type": "stroke", "x": [0, 40, 80], "y": [0, 60, 0], "id": k}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("reply_to") == k:
                    latencies.append((time.perf_counter() - sent) * 1000)
                    break
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - sent)))
            if k % PLAYER_STROKES == 0:  # a new drawing, as a round's worth of strokes is done
                await ws.send('{"type":"clear"}')
    return latencies


async def heavies(url: str, n: int, seconds: float, counts, pattern: str) -> None:
    """The heavy clients, in a process of their own: their client-side work must not slow the player's."""
    stop, seen = asyncio.Event(), [0]
    tasks = [asyncio.create_task(heavy(url, stop, seen, seed, pattern)) for seed in range(n)]
    await asyncio.sleep(WARM_UP_S)  # the big drawings are built
    counted_from = seen[0]
    await asyncio.sleep(seconds)
    counts.value = seen[0] - counted_from
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


def run_heavies(url: str, n: int, seconds: float, counts, pattern: str) -> None:
    asyncio.run(heavies(url, n, seconds, counts, pattern))


async def scenario(url: str, n_heavy: int, seconds: float, pattern: str) -> dict:
    counts = multiprocessing.Value("i", 0)
    process = multiprocessing.Process(target=run_heavies, args=(url, n_heavy, seconds, counts, pattern))
    process.start()
    await asyncio.sleep(WARM_UP_S)
    latencies = await player(url, seconds)
    process.join()
    classified = counts.value
    return {
        "pattern": pattern,
        "heavy_clients": n_heavy,
        "player_guesses": len(latencies),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p99_ms": round(float(np.percentile(latencies, 99)), 1),
        "max_ms": round(max(latencies), 1),
        "heavy_guesses_per_s": round(classified / seconds, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heavy", type=int, nargs="+", default=[0, 1, 5], help="heavy clients per run")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the player plays per run")
    parser.add_argument(
        "--pattern",
        nargs="+",
        choices=("walk", "floats"),
        default=["walk", "floats"],
        help="the heavy clients' pattern",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="record the server with py-spy: a flame graph (.svg) or collapsed stacks (.txt)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), Path(tmp) / "saved").start()
        spy = None
        if args.profile:  # py-spy samples the server process from outside: the figures stay the server's own
            kind = "flamegraph" if args.profile.endswith(".svg") else "raw"
            command = ["py-spy", "record", "--pid", str(server.process.pid), "-o", args.profile, "-f", kind, "--idle"]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for pattern in args.pattern:
                for n in args.heavy:
                    print(json.dumps(asyncio.run(scenario(server.url, n, args.seconds, pattern))), flush=True)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                spy.wait(30)
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

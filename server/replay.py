"""``python -m server.replay``: replay Quick, Draw! drawings over ``/ws`` with ``quickdraw_client`` and measure.

Each drawing goes point by point (``points`` batches, then ``stroke_end``) or
with ``--whole-strokes`` one ``stroke`` per stroke, timing each stroke's owed
guess; ``--realtime`` keeps the drawings' own timing (raw files) or a human
pace (simplified files).
"""

import argparse
import asyncio
import gzip
import json
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from quickdraw_client import Client, ServerClosed, ServerError
from server import protocol

FRAME_MS = 16  # realtime: points are batched per ~60 Hz pointer frame
PACE_MS = 16  # realtime without timings (simplified files): one point per frame ...
STROKE_GAP_MS = 250  # ... and a pause between strokes
FAST_BATCH = 64  # not realtime: points per message


@dataclass
class Summary:
    """What a replay saw; latencies are stroke_end (or stroke) sent → its owed guess received, in ms."""

    drawings: int = 0
    strokes: int = 0
    guesses: int = 0
    correct: int = 0  # final top-1 == the drawing's word
    recognized: int = 0
    timeouts: int = 0
    saved: int = 0
    skipped: int = 0  # start refused (unknown word)
    missing_guesses: int = 0  # free mode: a stroke sent without its guess
    late_errors: int = 0  # strokes and points cut off by the end of the round while on their way: no fault
    errors: dict = field(default_factory=dict)  # code → count
    closes: dict = field(default_factory=dict)  # abnormal close code → count
    latencies_ms: list = field(default_factory=list)
    seconds: float = 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def report(self, mode: str) -> str:
        lines = [
            f"drawings {self.drawings}  strokes {self.strokes}  guesses {self.guesses} "
            f"({self.guesses / max(self.seconds, 1e-9):.0f}/s over {self.seconds:.1f} s)",
            f"accuracy (final top-1 = word) {self.correct}/{self.drawings} = {self.correct / max(self.drawings, 1):.1%}",
        ]
        if mode == "game":
            lines.append(
                f"recognized in time {self.recognized}/{self.drawings} = {self.recognized / max(self.drawings, 1):.1%}"
                f"  (timeouts {self.timeouts})"
            )
        lines.append(
            "stroke_end → guess latency ms: "
            + "  ".join(f"p{q} {self.percentile(q):.2f}" for q in (50, 90, 99))
            + f"  max {max(self.latencies_ms, default=float('nan')):.2f}"
        )
        lines.append(
            f"saved {self.saved}  skipped {self.skipped}  missing guesses {self.missing_guesses}  "
            f"errors {self.errors or 0}  abnormal closes {self.closes or 0}  late errors {self.late_errors}"
        )
        return "\n".join(lines)

    def error(self, code: str) -> None:
        if code in (protocol.ErrorCode.NO_DRAWING, "drawing_ended"):  # the replay only draws in a round: it ended
            self.late_errors += 1
        else:
            self.errors[code] = self.errors.get(code, 0) + 1


def read_drawings(path: Path | str, limit: int | None = None, words: set | None = None) -> list[dict]:
    """Records from an ndjson(.gz) file (only ``words`` if given), taking the words in turn.

    The files are sorted by word, so the first ``limit`` lines would be a few words only;
    round-robin over the words gives every word its share.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    by_word: dict[str, list[dict]] = {}
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if words is None or record.get("word") in words:
                by_word.setdefault(record.get("word"), []).append(record)
    records, queues = [], [iter(group) for group in by_word.values()]
    while queues and (limit is None or len(records) < limit):
        for queue in list(queues):
            record = next(queue, None)
            if record is None:
                queues.remove(queue)
            elif limit is None or len(records) < limit:
                records.append(record)
    return records


def fetch_labels(url: str) -> set[str]:
    """The model's labels from ``GET /api/labels`` beside the socket URL."""
    parts = urlsplit(url)
    http = urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "/api/labels", "", ""))
    with urllib.request.urlopen(http, timeout=10) as response:
        return set(json.load(response)["labels"])


def timed(drawing: list) -> list:
    """Strokes with a t row: their own, or a human pace (PACE_MS per point, STROKE_GAP_MS between strokes)."""
    if all(len(stroke) > 2 for stroke in drawing):
        return drawing
    out, now = [], 0
    for stroke in drawing:
        n = len(stroke[0])
        out.append([stroke[0], stroke[1], [now + PACE_MS * i for i in range(n)]])
        now += PACE_MS * n + STROKE_GAP_MS
    return out


def batches(stroke: list, realtime: bool, size: int = FAST_BATCH) -> list[tuple[float, list, list, list]]:
    """One timed stroke → [(send at ms, x, y, t)]: per pointer frame if realtime, else ``size`` points at once."""
    x, y, t = stroke[0], stroke[1], stroke[2]
    if not realtime:
        return [(0.0, x[i : i + size], y[i : i + size], t[i : i + size]) for i in range(0, len(x), size)]
    out, start = [], 0
    for i in range(1, len(x) + 1):
        if i == len(x) or t[i] // FRAME_MS != t[start] // FRAME_MS:
            out.append((t[i - 1], x[start:i], y[start:i], t[start:i]))
            start = i
    return out


class Player:
    """One connection replaying drawings one after another, tallying what it sees into ``summary``."""

    def __init__(self, client: Client, summary: Summary, mode: str, realtime: bool, verbose: bool, whole: bool):
        self.client, self.summary, self.mode = client, summary, mode
        self.realtime, self.verbose, self.whole_strokes = realtime, verbose, whole
        self.drawing, self.last, self.sent_strokes = None, [], 0

    async def watch(self) -> None:
        """Tally the messages that answer nothing: live guesses, round ends, errors about points."""
        async for message in self.client.events():
            kind = message["type"]
            if kind == "guess":
                self.summary.guesses += 1
                if message["drawing"] == self.drawing and message["guesses"]:
                    self.last = message["guesses"]
            elif kind == "recognized":
                self.summary.recognized += 1
            elif kind == "timeout":
                self.summary.timeouts += 1
            elif kind == "error":
                self.summary.error(message["code"])

    async def replay(self, record: dict) -> None:
        client, summary = self.client, self.summary
        try:
            opened = await client.start(self.mode, record["word"] if self.mode == "game" else None)
        except ServerError as error:
            summary.error(error.code)
            summary.skipped += 1
            return
        self.drawing, self.last, began = opened["id"], [], time.perf_counter()
        for k, stroke in enumerate(timed(record["drawing"]), 1):
            if client.round_over:
                break
            self.sent_strokes += 1
            guess = await self.draw(stroke, began)
            if guess is None:  # the round ended while this stroke was on its way
                summary.late_errors += 1
                break
            summary.latencies_ms.append(client.round_trip_s * 1000)
            summary.strokes += 1
            summary.guesses += 1
            self.last = guess["guesses"] or self.last
            if self.verbose:
                shown = ", ".join(f"{g['word']} {g['p']:.2f}" for g in self.last[:3])
                print(f"{record['word']!r} stroke {k}: {shown}  ({summary.latencies_ms[-1]:.1f} ms)")
        final = await client.end()
        summary.drawings += 1
        summary.saved += final["type"] == "saved"
        summary.correct += bool(self.last) and self.last[0]["word"] == record["word"]

    async def draw(self, stroke: list, began: float) -> dict | None:
        """Send one timed stroke as the replay is set to; returns its owed guess (None: the round had ended)."""
        realtime, limit = self.realtime, self.client.hello["limits"]["max_points_per_message"]
        if self.whole_strokes and len(stroke[0]) <= limit:  # one message once the stroke is drawn
            if realtime:
                await asyncio.sleep(max(0.0, began + stroke[2][-1] / 1000 - time.perf_counter()))
            return await self.client.stroke(stroke[0], stroke[1], stroke[2])
        for at_ms, x, y, t in batches(stroke, realtime, min(FAST_BATCH, limit)):
            if realtime:
                await asyncio.sleep(max(0.0, began + at_ms / 1000 - time.perf_counter()))
            await self.client.points(x, y, t)
        return await self.client.stroke_end()


async def replay(
    url: str,
    drawings: list[dict],
    mode: str = "free",
    realtime: bool = False,
    concurrency: int = 1,
    verbose: bool = False,
    max_rate: float | None = None,
    deflate: bool = False,
    whole_strokes: bool = False,
) -> Summary:
    """Replay ``drawings`` over ``concurrency`` connections at once; returns what was seen.

    ``max_rate`` caps each connection's messages per second (None: the server's own limit; 0: no cap).
    ``deflate`` offers permessage-deflate as browsers do; off by default, because compressing
    messages of a few hundred bytes costs both ends more CPU than it saves on the wire.
    ``whole_strokes`` sends each stroke as one ``stroke`` message instead of ``points`` + ``stroke_end``.
    """
    summary, pending = Summary(), iter(drawings)
    began, players = time.perf_counter(), []

    async def connection():
        try:
            async with Client(url, max_rate=max_rate, deflate=deflate) as client:
                player = Player(client, summary, mode, realtime, verbose, whole_strokes)
                players.append(player)
                watcher = asyncio.create_task(player.watch())
                for record in pending:
                    await player.replay(record)
            await watcher
        except ServerClosed as closed:
            summary.closes[closed.code] = summary.closes.get(closed.code, 0) + 1
        except (OSError, TimeoutError) as error:  # refused, or an answer that never came
            summary.closes[type(error).__name__] = summary.closes.get(type(error).__name__, 0) + 1

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    summary.seconds = time.perf_counter() - began
    if mode == "free":
        summary.missing_guesses = sum(p.sent_strokes for p in players) - summary.strokes
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m server.replay", description="Replay Quick, Draw! drawings over /ws and measure the answers."
    )
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:5000/ws", help="the socket (default %(default)s)")
    parser.add_argument(
        "--ndjson", required=True, type=Path, help="Quick, Draw! drawings, raw or simplified, .ndjson or .ndjson.gz"
    )
    parser.add_argument(
        "--realtime", action="store_true", help="keep the drawings' own timing (a human pace for simplified files)"
    )
    parser.add_argument(
        "--mode",
        choices=("free", "game"),
        default="free",
        help="free drawing or game rounds with the drawing's word as prompt",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="connections at once (default 1)")
    parser.add_argument("--limit", type=int, default=100, help="drawings to replay (default 100)")
    parser.add_argument("--all-words", action="store_true", help="also replay words the model does not know")
    parser.add_argument(
        "--max-rate",
        type=float,
        help="messages per second per connection, 0 for no cap (default: the server's limit, from its hello)",
    )
    parser.add_argument(
        "--whole-strokes",
        action="store_true",
        help="send each stroke as one 'stroke' message, as a script would, not point batches",
    )
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate compression, as browsers do")
    parser.add_argument("--quiet", action="store_true", help="only the summary, not every stroke's guesses")
    args = parser.parse_args(argv)
    words = None if args.all_words else fetch_labels(args.url)
    drawings = read_drawings(args.ndjson, args.limit, words)
    if not drawings:
        print(f"no drawings of the model's words in {args.ndjson}", file=sys.stderr)
        return 1
    summary = asyncio.run(
        replay(
            args.url,
            drawings,
            args.mode,
            args.realtime,
            args.concurrency,
            verbose=not args.quiet and args.concurrency == 1,
            max_rate=args.max_rate,
            deflate=args.deflate,
            whole_strokes=args.whole_strokes,
        )
    )
    print(summary.report(args.mode))
    return 0 if not summary.errors and not summary.closes else 1


if __name__ == "__main__":
    sys.exit(main())

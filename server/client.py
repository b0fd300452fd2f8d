"""``python -m server.client``: replay Quick, Draw! drawings over ``/ws`` and measure the answers.

Each drawing is sent point by point (``points`` batches, then ``stroke_end``),
or with ``--whole-strokes`` one ``stroke`` message per stroke; the client waits
for the guess owed for each stroke and times it. ``--realtime`` keeps the
drawings' own timing (raw files) or a human pace (simplified files).
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
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

FRAME_MS = 16  # realtime: points are batched per ~60 Hz pointer frame
PACE_MS = 16  # realtime without timings (simplified files): one point per frame ...
STROKE_GAP_MS = 250  # ... and a pause between strokes
FAST_BATCH = 64  # not realtime: points per message
WHOLE_STROKE_MAX = 1024  # the server's default MAX_POINTS_PER_MESSAGE: longer strokes still go in batches
ANSWER_TIMEOUT_S = 30.0  # a missing answer is a failure, not a hang
AFTER_ROUND = ("no_drawing",)  # errors expected for messages already in flight when a round ended
MAX_RATE = 150.0  # messages/s per connection by default: under the server's flood limit (200/s)


@dataclass
class Summary:
    """What a replay saw; latencies are stroke_end → its guess, in ms."""

    drawings: int = 0
    strokes: int = 0
    guesses: int = 0
    correct: int = 0  # final top-1 == the drawing's word
    recognized: int = 0
    timeouts: int = 0
    saved: int = 0
    skipped: int = 0  # start refused (unknown word)
    missing_guesses: int = 0  # a completed stroke without its guess
    late_errors: int = 0  # no_drawing for messages in flight when the round ended
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


def batches(stroke: list, realtime: bool) -> list[tuple[float, dict]]:
    """One timed stroke → [(send at ms, points message)]: per pointer frame if realtime, else big batches."""
    x, y, t = stroke[0], stroke[1], stroke[2]
    if not realtime:
        return [
            (0.0, {"type": "points", "x": x[i : i + FAST_BATCH], "y": y[i : i + FAST_BATCH]})
            for i in range(0, len(x), FAST_BATCH)
        ]
    out, start = [], 0
    for i in range(1, len(x) + 1):
        if i == len(x) or t[i] // FRAME_MS != t[start] // FRAME_MS:
            out.append((t[i - 1], {"type": "points", "x": x[start:i], "y": y[start:i], "t": t[start:i]}))
            start = i
    return out


class ServerClosed(ConnectionError):
    """The server closed the socket mid-replay; ``code`` is its close code (1008: flood, 1009: frame too big)."""

    def __init__(self, code: int):
        super().__init__(f"the server closed the connection with {code}")
        self.code = code


class Player:
    """One connection replaying drawings one after another."""

    def __init__(
        self,
        socket,
        summary: Summary,
        mode: str,
        realtime: bool,
        verbose: bool,
        max_rate: float,
        whole_strokes: bool = False,
    ):
        self.socket, self.summary, self.mode = socket, summary, mode
        self.realtime, self.verbose, self.whole_strokes = realtime, verbose, whole_strokes
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.round_over = False
        self.gap_s, self.next_send = 1 / max_rate if max_rate else 0.0, 0.0

    async def send(self, text: str) -> None:
        """Send one frame, no faster than ``max_rate`` frames per second."""
        if self.gap_s:
            now = time.perf_counter()
            if self.next_send > now:
                await asyncio.sleep(self.next_send - now)
            self.next_send = max(now, self.next_send) + self.gap_s
        await self.socket.send(text)

    async def read(self) -> None:
        try:
            async for frame in self.socket:
                self.inbox.put_nowait(json.loads(frame))
        except ConnectionClosed:
            pass
        finally:
            self.inbox.put_nowait(None)  # next() then raises ServerClosed with the close code

    async def next(self) -> dict:
        """The next server message; round-level messages are tallied on the way."""
        message = await asyncio.wait_for(self.inbox.get(), ANSWER_TIMEOUT_S)
        if message is None:
            raise ServerClosed(self.socket.close_code or 1006)
        kind = message["type"]
        if kind == "guess":
            self.summary.guesses += 1
        elif kind == "recognized":
            self.summary.recognized += 1
            self.round_over = True
        elif kind == "timeout":
            self.summary.timeouts += 1
            self.round_over = True
        elif kind == "saved":
            self.summary.saved += 1
        elif kind == "error":
            if self.round_over and message["code"] in AFTER_ROUND:
                self.summary.late_errors += 1
            else:
                self.summary.errors[message["code"]] = self.summary.errors.get(message["code"], 0) + 1
        return message

    async def replay(self, record: dict) -> None:
        start = {"type": "start", "mode": self.mode}
        if self.mode == "game":
            start["word"] = record["word"]
        await self.send(json.dumps(start))
        while not (
            (message := await self.next())["type"] == "round"
            or (message["type"] == "error" and message["code"] not in AFTER_ROUND)
        ):
            pass  # late answers to the previous round
        if message["type"] == "error":
            self.summary.skipped += 1
            return
        self.round_over, began, last = False, time.perf_counter(), None
        for k, stroke in enumerate(timed(record["drawing"]), 1):
            if self.round_over:
                break
            if self.whole_strokes and len(stroke[0]) <= WHOLE_STROKE_MAX:  # one message once the stroke is drawn
                if self.realtime:
                    await asyncio.sleep(max(0.0, began + stroke[2][-1] / 1000 - time.perf_counter()))
                await self.send(json.dumps({"type": "stroke", "x": stroke[0], "y": stroke[1], "t": stroke[2]}))
            else:
                for at_ms, message in batches(stroke, self.realtime):
                    if self.realtime:
                        await asyncio.sleep(max(0.0, began + at_ms / 1000 - time.perf_counter()))
                    await self.send(json.dumps(message))
                await self.send('{"type":"stroke_end"}')
            sent = time.perf_counter()
            while not self.round_over:
                message = await self.next()
                if message["type"] == "guess" and message["strokes"] == k:
                    self.summary.latencies_ms.append((time.perf_counter() - sent) * 1000)
                    self.summary.strokes += 1
                    last = message["guesses"]
                    if self.verbose:
                        shown = ", ".join(f"{g['word']} {g['p']:.2f}" for g in last[:3])
                        print(f"{record['word']!r} stroke {k}: {shown}  ({self.summary.latencies_ms[-1]:.1f} ms)")
                    break
        if not self.round_over:
            await self.send('{"type":"end"}')
        while (message := await self.next())["type"] != "saved":
            if message["type"] == "guess" and message["guesses"]:
                last = message["guesses"]
        self.summary.drawings += 1
        self.summary.correct += bool(last) and last[0]["word"] == record["word"]


async def replay(
    url: str,
    drawings: list[dict],
    mode: str = "free",
    realtime: bool = False,
    concurrency: int = 1,
    verbose: bool = False,
    max_rate: float = MAX_RATE,
    deflate: bool = False,
    whole_strokes: bool = False,
) -> Summary:
    """Replay ``drawings`` over ``concurrency`` connections at once; returns what was seen.

    ``max_rate`` caps each connection's messages per second (0: no cap, for servers with raised limits).
    ``deflate`` offers permessage-deflate as browsers do; off by default, because compressing
    messages of a few hundred bytes costs both ends more CPU than it saves on the wire.
    ``whole_strokes`` sends each stroke as one ``stroke`` message instead of ``points`` + ``stroke_end``.
    """
    summary, pending = Summary(), iter(drawings)
    began = time.perf_counter()

    async def client():
        try:
            async with connect(
                url, max_size=2**22, open_timeout=30, compression="deflate" if deflate else None
            ) as socket:
                player = Player(socket, summary, mode, realtime, verbose, max_rate, whole_strokes)
                reader = asyncio.create_task(player.read())
                try:
                    for record in pending:
                        await player.replay(record)
                finally:
                    reader.cancel()
        except (ConnectionClosed, ServerClosed) as closed:
            code = closed.code if isinstance(closed, ServerClosed) else closed.rcvd.code if closed.rcvd else 1006
            summary.closes[code] = summary.closes.get(code, 0) + 1
        except (OSError, TimeoutError) as error:  # refused, or an answer that never came
            summary.closes[type(error).__name__] = summary.closes.get(type(error).__name__, 0) + 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    summary.seconds = time.perf_counter() - began
    summary.missing_guesses = sum(len(d["drawing"]) for d in drawings) - summary.strokes if mode == "free" else 0
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.client", description=__doc__.split("\n\n")[0])
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
        default=MAX_RATE,
        help="messages per second per connection, 0 for no cap (default %(default)s: under the server's flood limit)",
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

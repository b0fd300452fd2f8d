"""Stroke → guess latency, load and saturation of the real server, beside a Keras baseline.

    PYTHONPATH=. .venv/bin/python bench/bench_server.py [--clients 100] [--no-baseline]

Starts ``python -m server`` (LiteRT), the same with ``--workers 2`` and
``bench/keras_server.py`` (the same app calling Keras ``model.predict`` per
guess, one process) on free ports, and drives each with ``quickdraw_client`` on
this machine, replaying real raw drawings: time to first answered guess, one
client, N clients at human speed (with the server's peak memory over all its
processes) and saturation, once with point batches + ``stroke_end`` and once
with one ``stroke`` message per stroke. Saves go to a temporary directory
under build/. Prints a Markdown table. Numbers, not asserts.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from server import replay  # noqa: E402
from tests.serving import Server  # noqa: E402

DATA = Path(os.environ.get("QUICKDRAW_DATA", ROOT.parent / "shared" / "quickdraw"))
HUMAN_MAX_MS = 8000  # human-speed runs use drawings drawn in under 8 s, so a run stays bounded


async def first_guess(url: str, deadline: float) -> None:
    """Retry until the server answers a stroke with a guess."""
    while time.monotonic() < deadline:
        try:
            async with connect(url, open_timeout=2) as ws:
                await ws.send('{"type":"start"}')
                await ws.send('{"type":"stroke","x":[0,50,100],"y":[0,60,0]}')
                while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "guess":
                    pass
                return
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.02)
    raise TimeoutError("the server never answered")


class MeasuredServer(Server):
    """``tests.serving.Server`` timed from launch to its first answered guess, with a peak-memory sampler."""

    def __init__(self, program: tuple[str, ...], saved_dir: Path, *args: str, model_dir: str):
        # The saturation run is a flood on purpose: the message limits and the classification budget are lifted.
        super().__init__(
            saved_dir.parent,
            saved_dir,
            *args,
            model_dir=model_dir,
            program=program,
            messages_per_second=10000,
            message_burst=10000,
            classify_points_per_second=1e9,
        )
        began = time.monotonic()
        self.start(wait=False)
        asyncio.run(first_guess(self.url, began + 120))
        self.startup_s = time.monotonic() - began
        while "serving on" not in self.log():  # with workers: all of them are up, not only the first
            assert self.process.poll() is None and time.monotonic() < began + 120, self.log()[-2000:]
            time.sleep(0.05)
        self.peak_rss, self.peak_pss, self._sampling = 0, 0, False

    def processes(self) -> list:
        """The server process and its workers (``--workers``), if any."""
        process = psutil.Process(self.process.pid)
        return [process, *process.children(recursive=True)]

    def sample_rss(self):
        """Start sampling memory every 50 ms in a thread; returns a function that stops it.

        Peaks of the sums over the process tree: RSS counts shared library pages once
        per process, PSS shares them out, so with workers PSS is the memory actually used.
        """
        self._sampling = True

        def loop():
            while self._sampling:
                memory = [p.memory_full_info() for p in self.processes()]
                self.peak_rss = max(self.peak_rss, sum(m.rss for m in memory))
                self.peak_pss = max(self.peak_pss, sum(m.pss for m in memory))
                time.sleep(0.05)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return lambda: (setattr(self, "_sampling", False), thread.join())

    def cpu_seconds(self) -> float:
        return sum(t.user + t.system for t in (p.cpu_times() for p in self.processes()))


def run_round(name: str, server: MeasuredServer, drawings: list, human: list, args) -> dict:
    """One pass of the three measurements against a running server."""
    n_single = args.single if name.startswith("litert") else args.single_baseline
    single = asyncio.run(replay.replay(server.url, drawings[:n_single], max_rate=0))
    stop, cpu = server.sample_rss(), server.cpu_seconds()
    load = asyncio.run(
        replay.replay(server.url, human[: args.clients], realtime=True, concurrency=args.clients, max_rate=0)
    )
    stop()
    load_cpu = server.cpu_seconds() - cpu
    n_sat = args.saturation if name.startswith("litert") else args.saturation_baseline
    cpu = server.cpu_seconds()
    saturation = asyncio.run(
        replay.replay(server.url, drawings[:n_sat], concurrency=args.saturation_clients, max_rate=0)
    )
    sat_cpu = server.cpu_seconds() - cpu
    whole = asyncio.run(
        replay.replay(server.url, drawings[:n_sat], concurrency=args.saturation_clients, max_rate=0, whole_strokes=True)
    )
    row = {
        "server": name,
        "startup_s": server.startup_s,
        "one_p50": single.percentile(50),
        "one_p99": single.percentile(99),
        "one_strokes": single.strokes,
        "load_p50": load.percentile(50),
        "load_p99": load.percentile(99),
        "load_strokes": load.strokes,
        "load_guesses": load.guesses,
        "load_errors": sum(load.errors.values()) + sum(load.closes.values()),
        "load_missing": load.missing_guesses,
        "rss_mb": server.peak_rss / 2**20,
        "pss_mb": server.peak_pss / 2**20,
        "sat_strokes_per_s": saturation.strokes / saturation.seconds,
        "sat_guesses_per_s": saturation.guesses / saturation.seconds,
        "whole_guesses_per_s": whole.guesses / whole.seconds,
        "sat_errors": sum(saturation.errors.values())
        + sum(saturation.closes.values())
        + saturation.missing_guesses
        + sum(whole.errors.values())
        + sum(whole.closes.values())
        + whole.missing_guesses,
        "load_cores": load_cpu / load.seconds,  # the server's CPU use while 100 people draw
        "sat_cpu_ms_per_guess": sat_cpu * 1000 / max(saturation.guesses, 1),  # contention-proof cost of a guess
        "accuracy": single.correct / max(single.drawings, 1),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def median_row(rows: list[dict]) -> dict:
    """Per metric, the median over the rounds (errors and missing guesses: the worst round)."""
    out = {"server": rows[0]["server"]}
    for key in rows[0]:
        if key == "server":
            continue
        values = [r[key] for r in rows]
        out[key] = max(values) if key in ("load_errors", "load_missing", "sat_errors") else float(np.median(values))
    return out


def table(rows: list[dict], clients: int) -> str:
    """Markdown, one column per server; with a Keras row, the first column's ratio to it (both one process)."""
    ratios = rows[-1]["server"] == "keras" and len(rows) > 1
    lines = [
        "| | " + " | ".join(r["server"] for r in rows) + (f" | {rows[0]['server']} vs keras |" if ratios else " |"),
        "|---|" + "---:|" * (len(rows) + ratios),
    ]
    spec = [
        ("time from process start to first answered guess", "startup_s", "{:.2f} s", False),
        ("one client: stroke_end → guess p50", "one_p50", "{:.2f} ms", False),
        ("one client: stroke_end → guess p99", "one_p99", "{:.2f} ms", False),
        (f"{clients} clients at human speed: p50", "load_p50", "{:.2f} ms", False),
        (f"{clients} clients at human speed: p99", "load_p99", "{:.2f} ms", False),
        (f"{clients} clients: strokes answered / errors / missing guesses", None, None, None),
        (f"{clients} clients: server peak RSS (all processes)", "rss_mb", "{:.0f} MB", False),
        (f"{clients} clients: server peak PSS (all processes)", "pss_mb", "{:.0f} MB", False),
        (f"{clients} clients: server CPU use", "load_cores", "{:.2f} cores", False),
        ("server CPU time per guess (saturation)", "sat_cpu_ms_per_guess", "{:.2f} ms", False),
        ("saturation, point batches + stroke_end: stroke guesses/s", "sat_strokes_per_s", "{:.0f}/s", True),
        ("saturation, point batches + stroke_end: all guesses/s", "sat_guesses_per_s", "{:.0f}/s", True),
        ("saturation, one stroke message per stroke: guesses/s", "whole_guesses_per_s", "{:.0f}/s", True),
        ("saturation: errors + abnormal closes + missing guesses", "sat_errors", "{:.0f}", False),
    ]
    for label, key, fmt, higher_better in spec:
        if key is None:
            cells = [f"{r['load_strokes']:.0f} / {r['load_errors']:.0f} / {r['load_missing']:.0f}" for r in rows]
            lines.append(f"| {label} | " + " | ".join(cells) + (" | |" if ratios else " |"))
            continue
        cells = [fmt.format(r[key]) for r in rows]
        ratio = " |" if ratios else ""
        if ratios and rows[0][key] and rows[-1][key]:
            value = rows[0][key] / rows[-1][key] if higher_better else rows[-1][key] / rows[0][key]
            ratio = f" {value:.1f}× |"
        lines.append(f"| {label} | " + " | ".join(cells) + f" |{ratio}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100, help="concurrent clients at human speed (default 100)")
    parser.add_argument("--single", type=int, default=150, help="drawings for the one-client run (LiteRT)")
    parser.add_argument("--single-baseline", type=int, default=40, help="drawings for the one-client run (Keras)")
    parser.add_argument("--saturation", type=int, default=600, help="drawings for the saturation run (LiteRT)")
    parser.add_argument("--saturation-baseline", type=int, default=120, help="drawings for the saturation run (Keras)")
    parser.add_argument("--saturation-clients", type=int, default=32, help="connections in the saturation run")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also measure LiteRT with this many worker processes (default 2; 1 skips it)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the Keras baseline")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the table shows medians (default 3)")
    parser.add_argument("--model-dir", default="model")
    args = parser.parse_args()

    labels = set((ROOT / args.model_dir / "labels.txt").read_text().splitlines())
    drawings = replay.read_drawings(DATA / "strokes" / "raw.ndjson.gz", words=labels)
    human = [d for d in drawings if d["drawing"][-1][2][-1] <= HUMAN_MAX_MS]
    print(
        f"{len(drawings)} raw drawings of {len(labels)} words ({len(human)} under {HUMAN_MAX_MS} ms); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    commands = {"litert": (("-m", "server"), ())}  # name: (program, extra arguments)
    if args.workers > 1:
        commands[f"litert, {args.workers} workers"] = (("-m", "server"), ("--workers", str(args.workers)))
    if not args.no_baseline:
        commands["keras"] = (("bench/keras_server.py",), ())
    # Saves go where the default saved_pictures/ lives: file creation costs differ a lot between
    # filesystems (on the development machine /tmp's are ~15× slower than the repository's).
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "build", prefix="bench-saved-") as saved:
        servers = {}
        try:
            for name, (program, extra) in commands.items():  # started one after the other: timed alone
                servers[name] = MeasuredServer(program, Path(saved) / name, *extra, model_dir=args.model_dir)
            rounds = {name: [] for name in commands}
            for _ in range(args.repeat):  # interleaved, so both see the same machine
                for name, server in servers.items():
                    rounds[name].append(run_round(name, server, drawings, human, args))
        finally:
            for server in servers.values():
                server.stop()
    rows = [median_row(rounds[name]) for name in commands]
    print(
        f"medians of {args.repeat} interleaved rounds; load average during the runs "
        f"{min(r['load_average'] for r in rows):.1f}–{max(r['load_average'] for r in rows):.1f}"
    )
    print(table(rows, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())

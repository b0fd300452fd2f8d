"""Soak: many clients replaying real drawings against ``python -m server`` for a while; nothing may be lost.

    PYTHONPATH=. .venv/bin/python bench/soak.py [--clients 200] [--seconds 60] [--rounds 6] [--realtime] [--no-deflate]

Starts the server on a free loopback port with its default limits and drives
it with ``server.replay`` (raw Quick, Draw! drawings, free mode),
offering permessage-deflate as browsers do. The run is split into rounds;
every round opens fresh connections, so both drawings and connections churn.
It samples the server's RSS every second (split into glibc's main heap and
other anonymous memory) and fits its slope over the second half of the load:
memory is flat when that slope is under ``FLAT_MB_PER_MIN``. Before and after
the load (once the closed sockets are gone) it asks the server for its live
Python objects and its RSS after ``malloc_trim`` (``bench/memprobe.py``).
Then it stops the server with SIGTERM and counts the saved files. Prints a Markdown table.
Bounded: at most ``--seconds`` of load (plus the drawings in flight) and
``--max-drawings`` drawings. Exit status 1 if anything was lost or refused.
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core import records  # noqa: E402
from server import replay  # noqa: E402
from tests.serving import Server  # noqa: E402

DATA = Path(os.environ.get("QUICKDRAW_DATA", ROOT.parent / "shared" / "quickdraw"))
SAMPLE_S = 1.0  # RSS sampling period
FLAT_MB_PER_MIN = 2.0  # RSS slope over the second half below which memory counts as flat
DRAIN_S = 25.0  # time for closed sockets' last tasks to end before a probe (Hypercorn's lingered until a ping)


def start_server(saved_dir: Path, log_dir: Path, clients: int) -> Server:
    """The server wrapped by bench/memprobe.py (memory probes on SIGUSR1), room for every client."""
    return Server(log_dir, saved_dir, program=("bench/memprobe.py",), max_connections=max(500, 2 * clients)).start(
        seconds=120
    )


class Feed:
    """Hands drawings out in a cycle until a deadline or a count; counts the strokes handed out."""

    def __init__(self, drawings: list[dict], max_drawings: int):
        self.drawings, self.max_drawings = drawings, max_drawings
        self.given = self.strokes = 0
        self.deadline = float("inf")

    def until(self, deadline: float):
        while time.monotonic() < deadline and self.given < self.max_drawings:
            drawing = self.drawings[self.given % len(self.drawings)]
            self.given += 1
            self.strokes += len(drawing["drawing"])
            yield drawing


def probe(process: subprocess.Popen, log_path: Path, drain_s: float) -> dict:
    """Ask the server for live objects and trimmed RSS (after the closed sockets are gone)."""
    time.sleep(drain_s)
    before = log_path.read_text(errors="replace").count("memprobe ")
    process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while (lines := [x for x in log_path.read_text(errors="replace").splitlines() if "memprobe " in x])[before:] == []:
        assert time.monotonic() < deadline, "the server did not answer the memory probe"
        time.sleep(0.1)
    return {key: float(value) for key, value in (item.split("=") for item in lines[-1].split("memprobe ")[1].split())}


def memory_map(pid: int) -> dict:
    """The server's RSS split by kind of mapping (MB): glibc's main heap, other anonymous memory, files."""
    kinds = {"heap": 0, "anon": 0, "file": 0}
    kind = "file"
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                name = line.split(None, 5)[5].strip() if len(line.split(None, 5)) > 5 else ""
                kind = "heap" if name == "[heap]" else "anon" if not name or name.startswith("[anon") else "file"
            elif line.startswith("Rss:"):
                kinds[kind] += int(line.split()[1]) / 1024
    return kinds


def saved_count(saved: Path) -> int:
    return sum(1 for p in saved.glob("*.ndjson") if records.ID_PATTERN.match(p.stem))


async def soak(url: str, feed: Feed, args, rss: psutil.Process, saved: Path) -> tuple[replay.Summary, list[tuple]]:
    """Rounds of ``args.clients`` connections; returns the merged summary and samples
    (t, drawings saved, RSS, main heap, other anonymous memory; MB)."""
    total, samples, began = replay.Summary(), [], time.monotonic()

    def sample():
        kinds = memory_map(rss.pid)
        samples.append(
            (time.monotonic() - began, saved_count(saved), rss.memory_info().rss / 2**20, kinds["heap"], kinds["anon"])
        )

    async def sample_every_second():
        while True:
            sample()
            await asyncio.sleep(SAMPLE_S)

    sampler = asyncio.create_task(sample_every_second())
    for k in range(args.rounds):
        end = began + args.seconds * (k + 1) / args.rounds
        part = await asyncio.wait_for(
            replay.replay(url, feed.until(end), realtime=args.realtime, concurrency=args.clients, deflate=args.deflate),
            args.seconds + 120,
        )
        merge(total, part)
    sampler.cancel()
    sample()
    total.seconds = time.monotonic() - began
    return total, samples


def second_half(samples: list[tuple], column: int) -> tuple[float, float]:
    """Least-squares slope (MB/min) of one column over the second half of the load, and the growth it makes there (MB)."""
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    slope = statistics.linear_regression([s[0] for s in half], [s[column] for s in half]).slope * 60
    return round(slope, 2), round(slope * (half[-1][0] - half[0][0]) / 60, 1)


def merge(total: replay.Summary, part: replay.Summary) -> None:
    for key in ("drawings", "strokes", "guesses", "saved", "skipped", "recognized", "timeouts", "late_errors"):
        setattr(total, key, getattr(total, key) + getattr(part, key))
    for key in ("errors", "closes"):
        for code, count in getattr(part, key).items():
            getattr(total, key)[code] = getattr(total, key).get(code, 0) + count
    total.latencies_ms.extend(part.latencies_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="concurrent connections (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of fresh connections (default %(default)s)")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="human pace (the drawings' own timing) instead of closed-loop as fast as the server answers",
    )
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="offer no permessage-deflate (browsers always offer it, so the default does)",
    )
    parser.add_argument("--max-drawings", type=int, default=50_000, help="stop handing out drawings after this many")
    parser.add_argument(
        "--drain-s",
        type=float,
        default=DRAIN_S,
        help="wait before each memory probe (default %(default)s: closed sockets' tasks end)",
    )
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    parser.add_argument("--ndjson", type=Path, default=DATA / "strokes" / "raw.ndjson.gz", help="drawings to replay")
    args = parser.parse_args()

    drawings = replay.read_drawings(args.ndjson)
    print(
        f"{len(drawings)} drawings from {args.ndjson}; {args.clients} clients × {args.rounds} rounds, "
        f"{args.seconds:g} s, {'human pace' if args.realtime else 'closed loop'}, "
        f"{'offering' if args.deflate else 'without'} permessage-deflate; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "saved", Path(tmp), args.clients)
        saved, process, url, log_path = server.saved_dir, server.process, server.url, server.log_path
        rss = psutil.Process(process.pid)
        try:
            # Warm-up: one round's worth of load, so first-time allocations are not counted as growth.
            warm = Feed(drawings[::-1], args.max_drawings)
            warm_up = asyncio.run(
                replay.replay(
                    url,
                    warm.until(time.monotonic() + args.seconds / args.rounds),
                    concurrency=args.clients,
                    deflate=args.deflate,
                )
            )
            base = saved_count(saved)
            probes = [probe(process, log_path, args.drain_s)]
            feed = Feed(drawings, args.max_drawings)
            summary, samples = asyncio.run(soak(url, feed, args, rss, saved))
            probes.append(probe(process, log_path, args.drain_s))
        finally:
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(60)
        files = sorted(p for p in saved.iterdir() if p.name != ".secret")  # the secret kept beside them aside
        record_files = [p for p in files if p.suffix == ".ndjson" and records.ID_PATTERN.match(p.stem)]
        pngs = [p for p in files if p.suffix == ".png" and records.ID_PATTERN.match(p.stem)]
        parsed = sum(1 for p in record_files if json.loads(p.read_text())["drawing"])
        log = log_path.read_text(errors="replace").splitlines()
        if args.server_log:
            args.server_log.write_text("\n".join(log) + "\n")
    after_round_1 = next((s for s in samples if s[0] >= args.seconds / args.rounds), samples[-1])
    result = {
        "clients": args.clients,
        "rounds": args.rounds,
        "seconds": round(summary.seconds, 1),
        "pace": "human" if args.realtime else "closed loop",
        "deflate": args.deflate,
        "connections": args.clients * args.rounds,
        "drawings_finished": summary.drawings,
        "strokes": summary.strokes,
        "strokes_sent": feed.strokes,
        "guesses": summary.guesses,
        "p50_ms": round(summary.percentile(50), 2),
        "p99_ms": round(summary.percentile(99), 2),
        "max_ms": round(max(summary.latencies_ms, default=float("nan")), 1),
        "errors": summary.errors,
        "closes": summary.closes,
        "saved_messages": summary.saved,
        "ndjson_files": len(record_files) - base,
        "png_files": len(pngs) - base,
        "records_parsed": parsed - base,
        "other_files": len(files) - len(record_files) - len(pngs),
        "warm_up_drawings": base,
        "warm_up_errors": sum(warm_up.errors.values()) + sum(warm_up.closes.values()),
        "rss_start_mb": round(samples[0][2], 1),
        "rss_warm_mb": round(after_round_1[2], 1),
        "rss_end_mb": round(samples[-1][2], 1),
        "rss_max_mb": round(max(s[2] for s in samples), 1),
        "rss_half_mb": round(next(s[2] for s in samples if s[0] >= samples[-1][0] / 2), 1),
        "rss_slope_mb_min": second_half(samples, 2)[0],
        "rss_second_half_growth_mb": second_half(samples, 2)[1],
        "rss_flat": second_half(samples, 2)[0] < FLAT_MB_PER_MIN,
        "heap_mb": [round(samples[0][3], 1), round(samples[-1][3], 1)],
        "heap_slope_mb_min": second_half(samples, 3)[0],
        "anon_mb": [round(samples[0][4], 1), round(samples[-1][4], 1)],
        "anon_slope_mb_min": second_half(samples, 4)[0],
        "objects_before": int(probes[0]["objects"]),
        "objects_after": int(probes[1]["objects"]),
        "trimmed_before_mb": probes[0]["trimmed_mb"],
        "trimmed_after_mb": probes[1]["trimmed_mb"],
        "untrimmed_after_mb": probes[1]["rss_mb"],
        "probes": probes,
        "server_exit": exit_code,
        "log_errors": sum("ERROR" in line or "Traceback" in line for line in log),
        "load_average": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(result), file=sys.stderr)
    print(table(result, samples))
    lost = (
        summary.errors
        or summary.closes
        or result["warm_up_errors"]
        or result["ndjson_files"] != summary.drawings
        or result["png_files"] != result["ndjson_files"]
        or result["other_files"]
        or feed.strokes != summary.strokes
        or exit_code != 0
    )
    return 1 if lost else 0


def table(r: dict, samples: list[tuple]) -> str:
    rows = [
        ("clients × rounds (connections)", f"{r['clients']} × {r['rounds']} ({r['connections']})"),
        (
            "pace / load duration / permessage-deflate offered",
            f"{r['pace']} / {r['seconds']} s / {'yes' if r['deflate'] else 'no'}",
        ),
        ("drawings finished / strokes / guesses", f"{r['drawings_finished']} / {r['strokes']} / {r['guesses']}"),
        ("strokes sent without their guess", f"{r['strokes_sent'] - r['strokes']}"),
        ("stroke_end → guess p50 / p99 / max", f"{r['p50_ms']} / {r['p99_ms']} / {r['max_ms']} ms"),
        ("protocol errors / abnormal closes", f"{sum(r['errors'].values())} / {sum(r['closes'].values())}"),
        (
            "`saved` answers / records (parsed) / PNGs / other files",
            f"{r['saved_messages']} / {r['ndjson_files']} ({r['records_parsed']}) / {r['png_files']} / {r['other_files']}",
        ),
        (
            "server RSS: start (after a warm-up round) / after round 1 / half-way / end / max",
            f"{r['rss_start_mb']} / {r['rss_warm_mb']} / {r['rss_half_mb']} / {r['rss_end_mb']} / {r['rss_max_mb']} MB",
        ),
        (
            f"server RSS over the second half: slope / fitted growth / flat (slope < {FLAT_MB_PER_MIN:g} MB/min)",
            f"{r['rss_slope_mb_min']} MB/min / {r['rss_second_half_growth_mb']} MB / {'yes' if r['rss_flat'] else 'no'}",
        ),
        (
            "main heap / other anonymous memory: start → end (slope over the second half)",
            f"{r['heap_mb'][0]} → {r['heap_mb'][1]} MB ({r['heap_slope_mb_min']} MB/min) / "
            f"{r['anon_mb'][0]} → {r['anon_mb'][1]} MB ({r['anon_slope_mb_min']} MB/min)",
        ),
        (
            "after the load and a drain: server RSS / after malloc_trim (before the load)",
            f"{r['untrimmed_after_mb']} / {r['trimmed_after_mb']} ({r['trimmed_before_mb']}) MB",
        ),
        ("live Python objects before / after the load", f"{r['objects_before']} / {r['objects_after']}"),
        ("server exit status / error lines in its log", f"{r['server_exit']} / {r['log_errors']}"),
    ]
    lines = ["| | |", "|---|---:|"] + [f"| {label} | {value} |" for label, value in rows]
    step = max(1, len(samples) // 6)
    lines += [
        "",
        "| t (s) | drawings saved | server RSS | main heap | other anonymous (MB) |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {t:.0f} | {n} | {m:.1f} | {h:.1f} | {a:.1f} |" for t, n, m, h, a in samples[::step] + samples[-1:]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

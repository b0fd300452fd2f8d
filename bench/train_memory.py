"""Training memory and throughput at a size that does not fit the old loader: does RSS stay flat?

    python bench/train_memory.py                    # 100 words × 30,000 rows (2.35 GB), 30 steps
    python bench/train_memory.py --words 20 --rows 5000 --steps 10   # a quick look

Writes a synthetic dataset in the bucket's layout (``numpy_bitmap/<word>.npy``,
the way ``python -m training fetch`` leaves it) once, then runs
``python -m training train --data D --epochs 1 --steps-per-epoch N`` in a child
process and samples its RSS every 50 ms. Prints the peak RSS, the time from
launch to the first training step, training images/s, the input pipeline's
own images/s (batches drawn and warped, no model), and from those a projection
for one epoch over the full dataset (345 words, ~50 million drawings).
"""

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
FULL_DATASET_DRAWINGS = 50_000_000  # ~ all 345 categories of the public numpy_bitmap files


def write_dataset(directory: Path, words: int, rows: int) -> Path:
    """``words`` files of ``rows`` random sketch-like rows (a few bright strokes on black), written once."""
    folder = directory / "numpy_bitmap"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for w in range(words):
        path = folder / f"word {w:03d}.npy"
        if path.exists() and np.load(path, mmap_mode="r").shape == (rows, 784):
            continue
        array = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), mode="w+", dtype=np.uint8, shape=(rows, 784))
        for start in range(0, rows, 10_000):
            block = np.zeros((min(10_000, rows - start), 784), np.uint8)
            block[:, rng.integers(0, 784, 120)] = 255  # ~15 % ink, like a sketch
            block[:, (w * 7) % 784] = 255  # something per word to learn
            array[start : start + len(block)] = block
        array.flush()
        del array
        path.with_suffix(".tmp.npy").replace(path)
    return directory


def run_training(data: Path, out: Path, steps: int) -> dict:
    """One epoch of ``steps`` steps in a child process: peak RSS, first-step time, images/s."""
    command = [
        sys.executable,
        "-m",
        "training",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--steps-per-epoch",
        str(steps),
    ]
    launched = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    process, peak, first_step, lines = psutil.Process(child.pid), 0, None, []

    def read():
        nonlocal first_step
        for line in child.stdout:
            lines.append(line)
            if first_step is None and line.startswith("first training step done"):
                first_step = time.perf_counter() - launched

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while child.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    reader.join()
    if child.returncode != 0:
        raise SystemExit("training failed:\n" + "".join(lines[-30:]))
    speed = [float(m.group(1).replace(",", "")) for m in map(re.compile(r"([\d,]+) images/s").search, lines) if m]
    return {
        "peak_rss_mb": peak / 2**20,
        "first_step_s": first_step,
        "train_images_per_s": speed[-1],
        "wall_s": time.perf_counter() - launched,
    }


def pipeline_speed(data: Path, batches: int = 200) -> float:
    """Images/s of the input pipeline alone (sampling, memory-mapped reads, warps), as a GPU would be fed."""
    from training import dataset
    from training.config import TrainConfig

    config = TrainConfig(data=data, evaluate=False)
    stream = iter(dataset.batches(dataset.load(config), config))
    for _ in range(10):
        next(stream)
    began = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * config.batch_size / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=100, help="categories (default 100)")
    parser.add_argument("--rows", type=int, default=30_000, help="rows per category (default 30,000)")
    parser.add_argument("--steps", type=int, default=30, help="training steps (default 30)")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(tempfile.gettempdir()) / "quickdraw-synthetic",
        help="where the synthetic dataset is written and reused (default: $TMPDIR/quickdraw-synthetic)",
    )
    args = parser.parse_args()
    data = write_dataset(args.data / f"{args.words}x{args.rows}", args.words, args.rows)
    size = sum(p.stat().st_size for p in (data / "numpy_bitmap").glob("*.npy"))
    print(f"dataset: {args.words} words × {args.rows:,} rows = {size / 1e9:.2f} GB in {data}")
    with tempfile.TemporaryDirectory() as out:
        result = run_training(data, Path(out), args.steps)
    feed = pipeline_speed(data)
    print(f"peak RSS of `train`: {result['peak_rss_mb']:.0f} MB (target < 1,536 MB)")
    print(
        f"first training step after {result['first_step_s']:.1f} s from launch (target ≤ 60 s); "
        f"whole run {result['wall_s']:.1f} s"
    )
    print(f"training on this machine's CPU: {result['train_images_per_s']:,.0f} images/s")
    print(f"input pipeline alone: {feed:,.0f} images/s")
    for name, rate in (("this CPU", result["train_images_per_s"]), ("the input pipeline's ceiling", feed)):
        hours = FULL_DATASET_DRAWINGS / rate / 3600
        print(f"one epoch over ~{FULL_DATASET_DRAWINGS / 1e6:.0f} M drawings at {name}: {hours:.1f} h")


if __name__ == "__main__":
    main()

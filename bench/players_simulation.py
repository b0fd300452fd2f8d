"""Does learning from players' drawings help? A simulation on real drawings.

    .venv/bin/python bench/players_simulation.py [--words 6] [--seeds 2] [--epochs 6] [--max-per-class 1000]

Takes the words the shipped model gets wrong most often (its model card), and
splits their real raw drawings from the data package by key_id: half become
"players' drawings", saved exactly as the game saves a round (mode "game",
the prompt as word, ``recognized`` = whether Google's game recognized it), the
other half are evaluated. Then trains the same reduced recipe three ways — no
players, ``--players recognized``, ``--players all`` — over several seeds and
prints top-1/top-3 on the held-out half of those words and on every other word.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core import records  # noqa: E402
from server import store  # noqa: E402
from training import dataset, evaluate  # noqa: E402

DATA = Path(os.environ.get("QUICKDRAW_DATA", ROOT.parent / "shared" / "quickdraw"))
CONDITIONS = {"no players": [], "recognized": ["--players", "recognized"], "all": ["--players", "all"]}


def weakest_words(card_path: Path, n: int) -> list[str]:
    """The ``n`` bitmap words with the lowest top-1 on real drawings (words trained from strokes are left out)."""
    card = json.loads(card_path.read_text(encoding="utf-8"))
    per_class = {w: r for w, r in card["metrics"]["combined"]["per_class"].items() if card["counts"][w]["bitmaps"]}
    return sorted(per_class, key=lambda word: (per_class[word]["top1"], per_class[word]["top3"]))[:n]


def read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def split_drawings(words: list[str], folder: Path) -> tuple[Path, Path, dict]:
    """Players' half saved as the game saves it; an evaluation file without the players' key_ids."""
    simplified, raw = read(DATA / "strokes" / "simplified.ndjson.gz"), read(DATA / "strokes" / "raw.ndjson.gz")
    players_ids, counts = set(), {}
    saved = folder / "saved"
    saved.mkdir(parents=True)
    for word in words:
        ids = sorted({r["key_id"] for r in simplified + raw if r["word"] == word})
        given, _ = dataset.split_key_ids(ids, 0.5, seed=7)
        players_ids |= set(given)
        drawings = [r for r in raw if r["key_id"] in set(given)]
        for record in drawings:
            game = {**record, "mode": "game", "guesses": []}
            store.SavedDrawingStore(saved).save(game, b"", records.new_id())
        counts[word] = {"players": len(drawings), "recognized": sum(r["recognized"] for r in drawings)}
    held = folder / "evaluate.ndjson"
    held.write_text(
        "".join(json.dumps(r) + "\n" for r in simplified + raw if r["key_id"] not in players_ids), encoding="utf-8"
    )
    return saved, held, counts


def train(out: Path, seed: int, extra: list[str], args) -> None:
    command = [
        sys.executable,
        "-m",
        "training",
        "train",
        "--data",
        str(DATA),
        "--out",
        str(out),
        "--stroke-classes",
        "grapes",
        "pineapple",
        "--max-per-class",
        str(args.max_per_class),
        "--stroke-renderings",
        str(args.max_per_class),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(seed),
        "--ensemble",
        "1",
        "--no-evaluate",
        *extra,
    ]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "model", help="whose card names the weak words")
    parser.add_argument("--words", type=int, default=6, help="how many of the weakest words (default 6)")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per condition (default 2)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--max-per-class", type=int, default=1000)
    args = parser.parse_args()
    words = weakest_words(args.model_dir / "model_card.json", args.words)
    with tempfile.TemporaryDirectory() as tmp:
        saved, held, counts = split_drawings(words, Path(tmp))
        print(f"weak words and their players' drawings: {json.dumps(counts)}", flush=True)
        rows = []
        for name, extra in CONDITIONS.items():
            for seed in range(1, args.seeds + 1):
                out = Path(tmp) / f"{name}-{seed}"
                train(out, seed, [*extra, "--saved", str(saved)] if extra else [], args)
                result = evaluate.evaluate(out, [held])
                weak = np.isin(result.y, [result.labels.index(w) for w in words])
                top1, top3 = result.hits(1), result.hits(3)
                card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
                rows.append(
                    (
                        name,
                        seed,
                        card["players"].get("drawings", 0),
                        weak.sum(),
                        top1[weak].mean(),
                        top3[weak].mean(),
                        (~weak).sum(),
                        top1[~weak].mean(),
                        top3[~weak].mean(),
                    )
                )
                print(
                    f"| {' | '.join(str(round(v, 3)) if isinstance(v, float) else str(v) for v in rows[-1])} |",
                    flush=True,
                )
    print("\n| players' drawings | seed | used | weak words n | top-1 | top-3 | other words n | top-1 | top-3 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        name, seed, used, n_weak, w1, w3, n_other, o1, o3 = row
        print(f"| {name} | {seed} | {used} | {n_weak} | {w1:.1%} | {w3:.1%} | {n_other} | {o1:.1%} | {o3:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which recognition rule fits the shipped model: measured on real drawings it was not trained on.

    PYTHONPATH=. .venv/bin/python bench/recognition_rule.py [--model-dir model]

Replays each raw drawing of the model's words stroke by stroke through the
serving classifier (LiteRT) and, for candidate rules, reports how many
drawings the rule accepts for their own word by the last stroke (hit), after
how many strokes, and how many it would accept for some *other* word at some
stroke (false accept: a wrong prompt that would have been won).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core import sketch  # noqa: E402
from server import replay  # noqa: E402
from server.classifier import Classifier  # noqa: E402

DATA = Path(os.environ.get("QUICKDRAW_DATA", ROOT.parent / "shared" / "quickdraw"))
# A rule sees the word's probability p, its rank, its margin over the best other word, and the stroke count k.
RULES = {
    "p ≥ 0.3": lambda p, rank, margin, k: p >= 0.3,
    "p ≥ 0.4": lambda p, rank, margin, k: p >= 0.4,
    "p ≥ 0.5": lambda p, rank, margin, k: p >= 0.5,
    "p ≥ 0.6": lambda p, rank, margin, k: p >= 0.6,
    "p ≥ 0.7": lambda p, rank, margin, k: p >= 0.7,
    "p ≥ 0.8": lambda p, rank, margin, k: p >= 0.8,
    "p ≥ 0.9": lambda p, rank, margin, k: p >= 0.9,
    "top-1": lambda p, rank, margin, k: rank == 0,
    "top-3 and p ≥ 0.2": lambda p, rank, margin, k: rank < 3 and p >= 0.2,
    "p ≥ 0.5, margin ≥ 0.3": lambda p, rank, margin, k: p >= 0.5 and margin >= 0.3,
    "p ≥ 0.5, margin ≥ 0.5": lambda p, rank, margin, k: p >= 0.5 and margin >= 0.5,
    "p ≥ 0.6, margin ≥ 0.4": lambda p, rank, margin, k: p >= 0.6 and margin >= 0.4,
    "first stroke p ≥ 0.9, then p ≥ 0.5": lambda p, rank, margin, k: p >= (0.9 if k == 1 else 0.5),
    "first stroke p ≥ 0.9, then p ≥ 0.6": lambda p, rank, margin, k: p >= (0.9 if k == 1 else 0.6),
    "first stroke p ≥ 0.95, then p ≥ 0.6, margin ≥ 0.3": lambda p, rank, margin, k: (
        p >= 0.95 if k == 1 else p >= 0.6 and margin >= 0.3
    ),
    "first two strokes p ≥ 0.9, then p ≥ 0.5": lambda p, rank, margin, k: p >= (0.9 if k <= 2 else 0.5),
    "first stroke p ≥ 0.95, then p ≥ 0.5": lambda p, rank, margin, k: p >= (0.95 if k == 1 else 0.5),
    "first stroke p ≥ 0.9, then p ≥ 0.45": lambda p, rank, margin, k: p >= (0.9 if k == 1 else 0.45),
    "first stroke p ≥ 0.95, then p ≥ 0.45": lambda p, rank, margin, k: p >= (0.95 if k == 1 else 0.45),
    "first stroke p ≥ 0.8, then p ≥ 0.55": lambda p, rank, margin, k: p >= (0.8 if k == 1 else 0.55),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default="model")
    args = parser.parse_args()
    classifier = Classifier(ROOT / args.model_dir)
    trained = set(map(str, classifier.card.get("train_key_ids", [])))
    drawings = [
        d
        for d in replay.read_drawings(DATA / "strokes" / "raw.ndjson.gz", words=set(classifier.labels))
        if d["key_id"] not in trained
    ]
    hits = {name: [] for name in RULES}  # strokes needed, or None
    false = {name: 0 for name in RULES}
    for record in drawings:
        strokes = sketch.validate(record["drawing"])
        target = classifier.labels.index(record["word"])
        first, wrong = {name: None for name in RULES}, {name: False for name in RULES}
        for k in range(1, len(strokes) + 1):
            p = classifier.probabilities(sketch.to_model_input(strokes[:k]))
            order = np.argsort(-p)
            ranks = np.empty(len(p), int)
            ranks[order] = np.arange(len(p))
            margins = p - np.where(np.arange(len(p)) == order[0], p[order[1]], p[order[0]])
            for name, rule in RULES.items():
                if first[name] is None and rule(p[target], ranks[target], margins[target], k):
                    first[name] = k
                if any(rule(p[i], ranks[i], margins[i], k) for i in range(len(p)) if i != target):
                    wrong[name] = True
        for name in RULES:
            hits[name].append(first[name])
            false[name] += wrong[name]
    n = len(drawings)
    google = sum(bool(d.get("recognized")) for d in drawings) / n
    print(f"{n} raw drawings of {len(classifier.labels)} words not used in training; model {classifier.version}")
    print(f"Google's own game recognized {google:.1%} of them (their `recognized` flag, 20 s each)\n")
    print("| rule | recognized by the last stroke | median strokes to recognition | would accept a wrong prompt |")
    print("|---|---:|---:|---:|")
    for name in RULES:
        won = [k for k in hits[name] if k is not None]
        print(
            f"| {name} | {len(won) / n:.1%} | {np.median(won) if won else float('nan'):.0f} | {false[name] / n:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

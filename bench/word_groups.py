"""A model card's real-drawing accuracy for the original 42 words and the 18 added on 2026-12-02.

    .venv/bin/python bench/word_groups.py [model/model_card.json ...]

Reads the per-class rows that `train` (or `evaluate`) left in the card's
``metrics.combined`` and pools them by group; lists the weakest words by top-3.
"""

import argparse
import json
import sys
from pathlib import Path

NEW_WORDS = {
    "The Eiffel Tower",
    "angel",
    "bed",
    "broom",
    "cookie",
    "couch",
    "crown",
    "hand",
    "hat",
    "helicopter",
    "hot air balloon",
    "ladder",
    "mushroom",
    "owl",
    "penguin",
    "sailboat",
    "sea turtle",
    "snail",
}


def pooled(per_class: dict, words) -> tuple[int, float, float]:
    rows = [per_class[w] for w in words if w in per_class]
    n = sum(r["n"] for r in rows)
    return n, sum(r["top1"] * r["n"] for r in rows) / n, sum(r["top3"] * r["n"] for r in rows) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cards", nargs="*", default=["model/model_card.json"], help="model_card.json files")
    paths = parser.parse_args().cards
    print("| model | words | n | top-1 | top-3 |")
    print("|---|---|---:|---:|---:|")
    for path in paths:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
        per_class = card["metrics"]["combined"]["per_class"]
        groups = {
            "all": per_class,
            "original": [w for w in per_class if w not in NEW_WORDS],
            "new (2026-12-02)": [w for w in per_class if w in NEW_WORDS],
        }
        for name, words in groups.items():
            if not words:
                continue
            n, top1, top3 = pooled(per_class, words)
            print(f"| {card['version']} | {name} ({len(words)}) | {n} | {top1:.1%} | {top3:.1%} |")
        weakest = sorted(per_class, key=lambda w: per_class[w]["top3"])[:5]
        low = ", ".join(f"{w} {per_class[w]['top3']:.0%}" for w in weakest)
        print(f"| {card['version']} | weakest top-3 | | | {low} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

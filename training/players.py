"""The players' own drawings, as the game saved them, added to the training pools.

Only game-mode and room drawings are labelled: their word is the prompt the player
was asked to draw. Which of those to trust is ``config.players``:

* ``recognized`` (default): only rounds the network recognized. A player who
  drew something else, or gave up after one line, is rarely recognized, so the
  labels are clean; the cost is that the drawings the model already gets add least.
* ``all``: every game drawing of a known word, recognized or not.

Free-mode drawings (no prompt), words the model does not know and unreadable
files are skipped and counted. Each kept drawing joins its word's pool as
``config.player_renderings`` augmented renderings through the sketch pipeline.
"""

from collections import Counter

import numpy as np

from core import records
from training import augment

TRUST = ("recognized", "all")


def read(directories, labels: list[str], trust: str) -> tuple[dict[str, list[records.Sample]], dict]:
    """Game drawings of known words from saved-drawing directories, by word, and what was skipped why."""
    if trust not in TRUST:
        raise ValueError(f"--players must be one of {', '.join(TRUST)}, not {trust!r}")
    known, kept, skipped = set(labels), {}, Counter()
    for directory in directories:
        stats = records.ReadStats()
        for sample in records.read_drawings(directory, stats):
            if sample.mode not in ("game", "room") or sample.word is None:
                skipped["free mode"] += 1
            elif sample.word not in known:
                skipped["unknown word"] += 1
            elif not sample.drawing:
                skipped["empty"] += 1
            elif trust == "recognized" and sample.recognized is not True:
                skipped["not recognized"] += 1
            else:
                kept.setdefault(sample.word, []).append(sample)
        for reason, n in stats.skipped.items():
            skipped[f"unreadable ({reason})"] += n
    return kept, dict(skipped)


def render(labels: list[str], config, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """Augmented renderings of the players' drawings in ``config.saved``, by word, and the model card's summary."""
    kept, skipped = read(config.saved, labels, config.players)
    renders = {
        word: np.stack(
            [
                augment.render_augmented(samples[i % len(samples)].drawing, rng)
                for i in range(len(samples) * config.player_renderings)
            ]
        )
        for word, samples in sorted(kept.items())
    }
    summary = {
        "drawings": sum(len(s) for s in kept.values()),
        "trust": config.players,
        "renderings_per_drawing": config.player_renderings,
        "skipped": skipped,
        "by_word": {word: len(samples) for word, samples in sorted(kept.items())},
        "directories": [str(d) for d in config.saved],
    }
    for reason in sorted(r for r in skipped if r.startswith("unreadable")):
        print(f"warning: skipped {skipped[reason]} saved drawings: {reason}")
    others = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()) if not why.startswith("unreadable"))
    print(
        f"players' drawings: {summary['drawings']} kept ({config.players}) of {len(kept)} words"
        + (f"; skipped {others}" if others else "")
    )
    return renders, summary

"""Accuracy on real stroke drawings through the serving path.

Each drawing goes validate → ``sketch.to_model_input`` → the exported .tflite in
``core.model.Classifier``, exactly as the server runs it. A ``.keras``
file can be evaluated too (same rendering, Keras instead of LiteRT).
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core import records, sketch
from core.model import CARD_FILE, LABELS_FILE, Classifier


@dataclass
class Evaluation:
    labels: list[str]
    y: np.ndarray  # true class index per drawing
    probabilities: np.ndarray  # (n, classes)
    skipped: Counter = field(default_factory=Counter)  # reason → count

    def hits(self, k: int) -> np.ndarray:
        top = np.argsort(-self.probabilities, axis=1)[:, :k]
        return (top == self.y[:, None]).any(axis=1)

    def summary(self) -> dict:
        """n, top-1 and top-3 overall and per class (only classes that occur), skip counts."""
        top1, top3 = self.hits(1), self.hits(3)
        per_class = {}
        for c, word in enumerate(self.labels):
            mask = self.y == c
            if mask.any():
                per_class[word] = {
                    "n": int(mask.sum()),
                    "top1": round(float(top1[mask].mean()), 4),
                    "top3": round(float(top3[mask].mean()), 4),
                }
        n = len(self.y)
        return {
            "n": n,
            "top1": round(float(top1.mean()), 4) if n else 0.0,
            "top3": round(float(top3.mean()), 4) if n else 0.0,
            "skipped": dict(self.skipped),
            "per_class": per_class,
        }


def load_model(path: Path | str, card: dict | None = None):
    """(labels, card, predict(images) → probabilities) for a model directory (``card`` instead of its
    model_card.json, if given) or a .keras file."""
    path = Path(path)
    if path.is_dir():
        classifier = Classifier(path, card)
        return (
            classifier.labels,
            classifier.card,
            lambda images: np.stack([classifier.probabilities(image) for image in images]),
        )
    import keras  # only for .keras files: evaluating the served model needs no TensorFlow

    model = keras.saving.load_model(path)
    labels = (path.parent / LABELS_FILE).read_text(encoding="utf-8").splitlines()
    card_path = path.parent / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    return (
        labels,
        card,
        lambda images: model.predict(np.asarray(images, np.float32)[..., None], batch_size=256, verbose=0),
    )


def evaluate(model_path: Path | str, stroke_paths: list[Path], card: dict | None = None) -> Evaluation:
    """Evaluate on every drawing of a known word that the model was not trained on (``card`` says which)."""
    labels, card, predict = load_model(model_path, card)
    index = {word: i for i, word in enumerate(labels)}
    trained_on = set(card.get("train_key_ids", []))
    images, y, skipped = [], [], Counter()
    for path in stroke_paths:
        stats = records.ReadStats()
        for sample in tqdm(records.read_drawings(path, stats), desc=f"render {Path(path).name}", unit="drawing"):
            if sample.word not in index:
                skipped["unknown word"] += 1
            elif sample.key_id in trained_on:
                skipped["trained on"] += 1
            else:
                images.append(sketch.to_model_input(sample.drawing))
                y.append(index[sample.word])
        skipped["invalid"] += stats.n_skipped
    probabilities = predict(images) if images else np.zeros((0, len(labels)), np.float32)
    return Evaluation(labels, np.array(y, dtype=np.int64), probabilities, skipped)


def headline(summary: dict) -> dict:
    """A summary without its per-class rows."""
    return {k: summary[k] for k in ("n", "top1", "top3", "skipped")}


def into_card(model_path: Path | str, card: dict, stroke_paths: list[Path]) -> Evaluation:
    """Evaluate on each stroke file and on all of them together, print the reports, and put the figures in
    ``card["metrics"]`` (a file's under its name, e.g. ``raw``; all of them under ``combined``)."""
    for path in stroke_paths:
        result = evaluate(model_path, [path], card)
        print(report(result, f"{Path(path).name}"))
        card["metrics"][Path(path).name.split(".")[0]] = headline(result.summary())
    result = evaluate(model_path, stroke_paths, card)
    print(report(result, "combined"))
    card["metrics"]["combined"] = result.summary()
    return result


def report(evaluation: Evaluation, title: str) -> str:
    """A per-class table, the overall line, and the summary as a final JSON line."""
    summary = evaluation.summary()
    skipped = summary["skipped"]
    lines = [
        f"# {title}",
        f"skipped: {skipped.get('unknown word', 0)} drawings of words the model does not know, "
        f"{skipped.get('trained on', 0)} trained on (key_id in the model card's train_key_ids), "
        f"{skipped.get('invalid', 0)} invalid",
        f"{'class':<18} {'n':>5} {'top-1':>7} {'top-3':>7}",
    ]
    for word, row in sorted(summary["per_class"].items(), key=lambda item: item[1]["top1"]):
        lines.append(f"{word:<18} {row['n']:>5} {row['top1']:>7.1%} {row['top3']:>7.1%}")
    lines.append(f"{'overall':<18} {summary['n']:>5} {summary['top1']:>7.1%} {summary['top3']:>7.1%}")
    lines.append(json.dumps(summary))
    return "\n".join(lines)

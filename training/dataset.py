"""Training data: the official bitmaps plus renderings of the stroke-only classes.

``load`` gathers images and labels, splits a stratified validation set and
renders augmented drawings for the classes that exist only as strokes (their
held-out drawings, by key_id, are validated plainly and never trained on).
``Batches`` feeds augmented, class-balanced batches to Keras.
"""

from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from server import sketch
from training import augment, readers
from training.config import TrainConfig

STROKE_FILES = ("simplified.ndjson.gz", "raw.ndjson.gz")


@dataclass
class Data:
    labels: list[str]
    x_train: np.ndarray  # (N, 28, 28) uint8
    y_train: np.ndarray  # (N,) int class index
    x_val: np.ndarray
    y_val: np.ndarray
    counts: dict = field(default_factory=dict)  # per class: bitmaps / drawings / renderings
    train_key_ids: list[str] = field(default_factory=list)  # stroke drawings trained on


def stroke_files(data_dir: Path) -> list[Path]:
    """The data package's stroke files that exist (the evaluation set)."""
    return [p for p in (Path(data_dir) / "strokes" / name for name in STROKE_FILES) if p.is_file()]


def split_key_ids(key_ids: list[str], train_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Deterministic train / held-out split of drawing ids (same ids, same seed → same split)."""
    ordered = sorted(set(key_ids))
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_train = round(len(ordered) * train_fraction)
    return sorted(ordered[i] for i in order[:n_train]), sorted(ordered[i] for i in order[n_train:])


def _stratified_split(y: np.ndarray, fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = int(round(len(idx) * fraction))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.concatenate(train), np.concatenate(val)


def _stroke_samples(data_dir: Path, words: tuple[str, ...]) -> dict[str, list[readers.Sample]]:
    found = {w: [] for w in words}
    for path in stroke_files(data_dir):
        for sample in readers.read_ndjson(path):
            if sample.word in found:
                found[sample.word].append(sample)
    return found


def load(config: TrainConfig) -> Data:
    """Bitmaps of every category in ``data/bitmaps`` plus the stroke-only classes."""
    rng = np.random.default_rng(config.seed)
    bitmaps = readers.read_bitmap_dir(Path(config.data) / "bitmaps")
    both = sorted(set(config.stroke_classes) & set(bitmaps))
    if both:  # their stroke drawings are evaluation data, never training data
        raise ValueError(f"{', '.join(both)} has bitmaps; only classes without bitmaps are trained from strokes")
    strokes = _stroke_samples(config.data, config.stroke_classes) if config.stroke_classes else {}
    missing = [w for w, samples in strokes.items() if not samples]
    if missing:
        raise FileNotFoundError(f"no stroke drawings of {', '.join(missing)} in {config.data}/strokes")
    labels = sorted(set(bitmaps) | set(strokes))
    xs, ys, counts = [], [], {}
    for word, images in tqdm(bitmaps.items(), desc="bitmaps", unit="class"):
        if config.max_per_class:
            images = images[rng.permutation(len(images))[: config.max_per_class]]
        xs.append(images)
        ys.append(np.full(len(images), labels.index(word)))
        counts[word] = {"bitmaps": len(images)}
    x, y = np.concatenate(xs), np.concatenate(ys)
    train, val = _stratified_split(y, config.validation_fraction, rng)
    x_train, y_train, x_val, y_val = [x[train]], [y[train]], [x[val]], [y[val]]
    train_key_ids = []
    for word, samples in strokes.items():
        train_ids, _ = split_key_ids([s.key_id for s in samples], config.stroke_train_fraction, config.seed)
        chosen = set(train_ids)
        fit = [s for s in samples if s.key_id in chosen]
        held = [s for s in samples if s.key_id not in chosen]
        renders = [augment.render_augmented(fit[i % len(fit)].drawing, rng)
                   for i in tqdm(range(config.stroke_renderings), desc=f"render {word}", unit="img")]
        x_train.append(np.stack(renders))
        y_train.append(np.full(len(renders), labels.index(word)))
        x_val.append(np.stack([sketch.to_model_input(s.drawing) for s in held]))
        y_val.append(np.full(len(held), labels.index(word)))
        counts[word] = {"bitmaps": 0, "stroke_drawings": len(train_ids), "stroke_forms": len(fit),
                        "augmented_renderings": len(renders), "held_out_drawings": len(set(s.key_id for s in held))}
        train_key_ids += train_ids
    return Data(labels, np.concatenate(x_train), np.concatenate(y_train),
                np.concatenate(x_val), np.concatenate(y_val), counts, sorted(train_key_ids))


def class_weights(y: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """Per-class weight ∝ (mean count / count)^power, so rare classes count as much (power 1)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = (counts.sum() / (n_classes * np.maximum(counts, 1))) ** power
    return (weights / weights[y].mean()).astype(np.float32)  # mean sample weight 1: same loss scale


class Batches(keras.utils.PyDataset):
    """Shuffled, augmented, class-weighted batches of (pixels, one-hot label, weight).

    One-hot because label smoothing needs it.
    """

    def __init__(self, x, y, weights, n_classes, batch_size, seed, augment_images=True, steps=0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.weights, self.n_classes = x, y, weights, n_classes
        self.batch_size, self.seed, self.augment_images = batch_size, seed, augment_images
        self.steps = steps or int(np.ceil(len(x) / batch_size))
        self.epoch = 0
        self.order = np.random.default_rng(seed).permutation(len(x))

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        start = (index * self.batch_size) % len(self.x)
        idx = np.take(self.order, range(start, start + self.batch_size), mode="wrap")
        images = self.x[idx]
        if self.augment_images:
            images = augment.augment_bitmaps(images, np.random.default_rng((self.seed, self.epoch, index)))
        y = self.y[idx]
        return images[..., None].astype(np.float32), keras.utils.to_categorical(y, self.n_classes), self.weights[y]

    def on_epoch_end(self):
        self.epoch += 1
        self.order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.x))

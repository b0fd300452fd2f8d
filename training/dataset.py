"""Training data as per-word pools that stay on disk, and the batches drawn from them.

``load`` gathers one ``Pool`` per word: its bitmap file memory-mapped, or
augmented renderings of its drawings when it has none, plus any players'
drawings of it. The validation rows of a bitmap file are chosen from its row
count alone (``Split``), so nothing is read until a batch needs it and memory
does not grow with the data. ``batches`` draws class-balanced, augmented
batches forever as a ``tf.data.Dataset``.
"""

import zlib
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core import records, sketch
from training import augment, players, sources
from training.config import TrainConfig

SIDE = sketch.SIZE


class Split:
    """A seeded pseudo-random split of rows 0..n-1 into validation and training, kept as two numbers.

    Row i has rank ``(a·i + b) mod n``, a permutation because gcd(a, n) = 1; the
    ``n_val`` lowest ranks are the validation rows. Drawing a training row inverts
    the map for a random rank ≥ ``n_val``: O(1) memory whatever n is.
    """

    def __init__(self, n: int, n_val: int, key: str, seed: int):
        rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
        self.n, self.n_val = n, n_val
        self.a = 1
        while n > 2:
            self.a = int(rng.integers(n // 3, n))
            if gcd(self.a, n) == 1:
                break
        self.b = int(rng.integers(0, max(n, 1)))
        self.a_inverse = pow(self.a, -1, n) if n > 1 else 0

    @property
    def n_train(self) -> int:
        return self.n - self.n_val

    def row(self, rank: np.ndarray) -> np.ndarray:
        return (self.a_inverse * (rank.astype(np.int64) - self.b)) % self.n

    def validation_rows(self) -> np.ndarray:
        return np.sort(self.row(np.arange(self.n_val)))

    def training_rows(self, rng: np.random.Generator, k: int) -> np.ndarray:
        return self.row(rng.integers(self.n_val, self.n, size=k))


@dataclass
class Part:
    """Rows of one word from one source; only ``split``'s training rows are drawn."""

    rows: np.ndarray  # (n, 28, 28) uint8: a memory map or renderings in memory
    split: Split

    def draw(self, rng: np.random.Generator, k: int) -> np.ndarray:
        picked = np.array(self.rows[np.sort(self.split.training_rows(rng, k))])
        records.unmap(self.rows)
        return picked


@dataclass
class Pool:
    """Everything one word trains on; parts are drawn in proportion to their training rows."""

    parts: list[Part] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return sum(part.split.n_train for part in self.parts)

    def draw(self, rng: np.random.Generator, k: int) -> np.ndarray:
        sizes = np.array([part.split.n_train for part in self.parts], dtype=np.float64)
        counts = rng.multinomial(k, sizes / sizes.sum())
        return np.concatenate([part.draw(rng, n) for part, n in zip(self.parts, counts) if n])


@dataclass
class Extra:
    """Rows beside the word pools, a fixed ``share`` of every batch: images, their word and how ``sure`` their
    target is (1: that word alone; 0: a flat guess over all words; between: a mix of the two)."""

    images: np.ndarray  # (N, 28, 28) uint8
    classes: np.ndarray  # (N,) int64
    sure: np.ndarray  # (N,) float32 in [0, 1]
    share: float

    def draw(self, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = rng.integers(len(self.images), size=k)
        return self.images[rows], self.classes[rows], self.sure[rows]


@dataclass
class Data:
    labels: list[str]
    pools: list[Pool]  # one per label
    x_val: np.ndarray  # (N, 28, 28) uint8, bounded by validation_max_per_class per word
    y_val: np.ndarray
    counts: dict = field(default_factory=dict)  # per word: bitmaps / drawings / renderings / players
    train_key_ids: list[str] = field(default_factory=list)  # stroke drawings trained on
    evaluation: list[Path] = field(default_factory=list)  # stroke files to evaluate on after training
    players: dict = field(default_factory=dict)  # what --saved contributed and skipped
    extras: list[Extra] = field(default_factory=list)  # outliers and partial drawings, their share of each batch

    @property
    def n_train(self) -> int:
        return sum(pool.n_train for pool in self.pools)

    def class_probabilities(self, balance_power: float) -> np.ndarray:
        """P(word) per batch row ∝ n_train^(1 − power): 1 = every word equally often, 0 = as the data falls."""
        sizes = np.array([pool.n_train for pool in self.pools], dtype=np.float64)
        weights = sizes ** (1.0 - balance_power)
        return weights / weights.sum()

    def draw(self, rng: np.random.Generator, k: int, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``k`` training images and their class indices, classes drawn with probabilities ``p``."""
        classes = np.sort(rng.choice(len(self.pools), size=k, p=p))
        words, starts = np.unique(classes, return_index=True)
        images = np.concatenate([self.pools[c].draw(rng, n) for c, n in zip(words, np.diff(np.append(starts, k)))])
        return images, classes


def split_key_ids(key_ids: list[str], train_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Deterministic train / held-out split of drawing ids (same ids, same seed → same split)."""
    ordered = sorted(set(key_ids))
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_train = round(len(ordered) * train_fraction)
    return sorted(ordered[i] for i in order[:n_train]), sorted(ordered[i] for i in order[n_train:])


def load(config: TrainConfig) -> Data:
    """Pools for every word of ``config.data`` (and players' drawings of those words), validation set in memory.

    Raises:
        FileNotFoundError: no data, or no drawings of a requested stroke class.
        ValueError: a bad bitmap file, or a stroke class that has bitmaps.
    """
    found = sources.find(config.data)
    both = sorted(set(config.stroke_classes) & set(found.bitmaps))
    if both:  # their stroke drawings are evaluation data, never training data
        raise ValueError(f"{', '.join(both)} has bitmaps; only words without bitmaps are trained from strokes")
    drawings = _stroke_drawings(found, config)
    labels = sorted(set(found.bitmaps) | set(drawings))
    rng = np.random.default_rng(config.seed)
    pools, x_val, y_val, counts, train_key_ids = [], [], [], {}, []
    for c, word in enumerate(tqdm(labels, desc="data", unit="word")):
        if word in found.bitmaps:
            pool, val, counts[word] = _bitmap_pool(word, found.bitmaps[word], config)
        else:
            pool, val, counts[word], trained = _stroke_pool(word, drawings[word], config, rng)
            train_key_ids += trained
        pools.append(pool)
        x_val.append(val)
        y_val.append(np.full(len(val), c))
    extras = []
    if config.outliers:
        extras.append(_outliers(found, set(labels), config, rng))
    if config.partials:
        partials, trained = _partials(found, labels, config, rng)
        extras.append(partials)
        train_key_ids += trained
    contributed = {}
    if config.saved:
        renders, contributed = players.render(labels, config, rng)
        for word, rows in renders.items():
            pools[labels.index(word)].parts.append(Part(rows, Split(len(rows), 0, word, config.seed)))
            counts[word]["player_drawings"] = contributed["by_word"][word]
    x_val = np.concatenate(x_val) if x_val else np.zeros((0, SIDE, SIDE), np.uint8)
    y_val = np.concatenate(y_val).astype(np.int64) if y_val else np.zeros(0, np.int64)
    return Data(
        labels,
        pools,
        x_val,
        y_val,
        counts,
        sorted(train_key_ids),
        found.evaluation if config.evaluate else [],
        contributed,
        extras,
    )


def _outliers(found: sources.Sources, known: set[str], config: TrainConfig, rng: np.random.Generator) -> Extra:
    """Augmented renderings of drawings of words the model does not know (in the multi-word stroke files), each
    whole or cut after a random number of its strokes: what a player's first lines look like before they are
    anything. A lone circle is then not yet a confident moon.

    Raises:
        FileNotFoundError: no stroke file holds a word outside ``known``.
    """
    drawings = [
        sample.drawing for path in found.evaluation for sample in records.read_ndjson(path) if sample.word not in known
    ]
    if not drawings:
        raise FileNotFoundError(f"--outliers needs drawings of other words in strokes/*.ndjson.gz under {config.data}")
    images = np.empty((config.outlier_renderings, SIDE, SIDE), np.uint8)
    for i in tqdm(range(len(images)), desc="render outliers", unit="img", leave=False):
        drawing = drawings[rng.integers(len(drawings))]
        images[i] = augment.render_augmented(drawing[: rng.integers(1, len(drawing) + 1)], rng)
    return Extra(images, np.zeros(len(images), np.int64), np.zeros(len(images), np.float32), config.outliers)


def _partials(
    found: sources.Sources, labels: list[str], config: TrainConfig, rng: np.random.Generator
) -> tuple[Extra, list[str]]:
    """Augmented renderings of the first k of n strokes of the model's own words' drawings in the multi-word
    stroke files, whose target is k/n sure of the word (the rest flat): a drawing half done is half sure. Only
    ``partial_train_fraction`` of the drawings (by key_id) are used; their ids are returned, to be kept out of
    every evaluation.

    Raises:
        FileNotFoundError: no stroke file holds a drawing of these words.
    """
    index = {word: c for c, word in enumerate(labels)}
    samples = [s for path in found.evaluation for s in records.read_ndjson(path) if s.word in index]
    if not samples:
        raise FileNotFoundError(f"--partials needs drawings of the words in strokes/*.ndjson.gz under {config.data}")
    trained, _ = split_key_ids([s.key_id for s in samples], config.partial_train_fraction, config.seed)
    chosen = set(trained)
    fit = [s for s in samples if s.key_id in chosen]
    images = np.empty((config.partial_renderings, SIDE, SIDE), np.uint8)
    classes = np.empty(len(images), np.int64)
    sure = np.empty(len(images), np.float32)
    for i in tqdm(range(len(images)), desc="render partial drawings", unit="img", leave=False):
        sample = fit[rng.integers(len(fit))]
        k = int(rng.integers(1, len(sample.drawing) + 1))
        images[i] = augment.render_augmented(sample.drawing[:k], rng)
        classes[i], sure[i] = index[sample.word], k / len(sample.drawing)
    return Extra(images, classes, sure, config.partials), trained


def _bitmap_pool(word: str, path: Path, config: TrainConfig) -> tuple[Pool, np.ndarray, dict]:
    rows = records.read_bitmaps(path)
    if config.max_per_class:
        rows = rows[: config.max_per_class]
    n_val = min(round(len(rows) * config.validation_fraction), config.validation_max_per_class)
    split = Split(len(rows), n_val, word, config.seed)
    if split.n_train < 1:
        raise ValueError(f"{path}: {len(rows)} rows leave nothing to train on")
    validation = np.array(rows[split.validation_rows()])
    records.unmap(rows)
    return Pool([Part(rows, split)]), validation, {"bitmaps": len(rows)}


def _stroke_drawings(found: sources.Sources, config: TrainConfig) -> dict[str, list[records.Sample]]:
    """Drawings of the words trained from strokes: every per-word file's word without bitmaps,
    plus ``config.stroke_classes`` from the multi-word files. Per-word files are read only as far as needed."""
    wanted = {word: [] for word in [*found.stroke_words, *config.stroke_classes]}
    enough = max(config.stroke_renderings, 1) * 2  # more distinct drawings than renderings would go unused
    for word in found.stroke_words:
        for path in found.word_strokes[word]:
            for sample in records.read_ndjson(path):
                if len(wanted[word]) >= enough:
                    break
                if sample.word == word:
                    wanted[word].append(sample)
    for path in found.evaluation if config.stroke_classes else []:
        for sample in records.read_ndjson(path):
            if sample.word in config.stroke_classes:
                wanted[sample.word].append(sample)
    missing = [word for word, samples in wanted.items() if not samples]
    if missing:
        raise FileNotFoundError(f"no stroke drawings of {', '.join(missing)} in {config.data}")
    return wanted


def _stroke_pool(word: str, samples: list[records.Sample], config: TrainConfig, rng: np.random.Generator):
    """Augmented renderings of a key_id share of a word's drawings; the rest, rendered plainly, validate."""
    train_ids, _ = split_key_ids([s.key_id for s in samples], config.stroke_train_fraction, config.seed)
    chosen = set(train_ids)
    fit = [s for s in samples if s.key_id in chosen]
    held = [s for s in samples if s.key_id not in chosen]
    if not fit:
        raise ValueError(f"{word}: too few drawings to hold some out and train on the rest")
    renders = np.stack(
        [
            augment.render_augmented(fit[i % len(fit)].drawing, rng)
            for i in tqdm(range(config.stroke_renderings), desc=f"render {word}", unit="img", leave=False)
        ]
    )
    val = np.stack([sketch.to_model_input(s.drawing) for s in held]) if held else np.zeros((0, SIDE, SIDE), np.uint8)
    counts = {
        "bitmaps": 0,
        "stroke_drawings": len(train_ids),
        "stroke_forms": len(fit),
        "augmented_renderings": len(renders),
        "held_out_drawings": len({s.key_id for s in held}),
    }
    return Pool([Part(renders, Split(len(renders), 0, word, config.seed))]), val, counts, train_ids


def batches(data: Data, config: TrainConfig, worker: int = 0, member: int = 0):
    """Endless (pixels, target) batches of ``config.batch_size``, class-balanced and augmented; each of
    ``data.extras`` (outliers, partial drawings) fills its share of every batch, with its own targets.

    Rows are gathered in numpy on one thread; the affine warps run as a TensorFlow
    op in parallel. ``worker`` and ``member`` seed a different stream for each
    training worker and each net of an ensemble.
    """
    import tensorflow as tf

    p = data.class_probabilities(config.balance_power)
    n_classes = len(data.labels)

    def generate():
        rng = np.random.default_rng([config.seed, worker, member])
        counts = [round(config.batch_size * extra.share) for extra in data.extras]
        while True:
            images, classes = data.draw(rng, config.batch_size - sum(counts), p)
            parts = [(images, classes, np.ones(len(images), np.float32))]
            parts += [extra.draw(rng, n) for extra, n in zip(data.extras, counts)]
            images, classes, sure = (np.concatenate(column) for column in zip(*parts))
            transforms = augment.random_transforms(len(images), rng) if config.augment else None
            yield images, classes, sure, augment.identity(len(images)) if transforms is None else transforms

    signature = (
        tf.TensorSpec((None, SIDE, SIDE), tf.uint8),
        tf.TensorSpec((None,), tf.int64),
        tf.TensorSpec((None,), tf.float32),
        tf.TensorSpec((None, 8), tf.float32),
    )

    def prepare(images, classes, sure, transforms):
        pixels = tf.cast(images[..., None], tf.float32)
        warped = tf.raw_ops.ImageProjectiveTransformV3(
            images=pixels,
            transforms=transforms,
            output_shape=[SIDE, SIDE],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )
        # One-hot (label smoothing needs it), mixed with the flat guess as far as the row is not sure.
        sure = sure[:, None]
        return warped, sure * tf.one_hot(classes, n_classes) + (1.0 - sure) / n_classes

    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF  # seeded per worker
    return dataset.with_options(options).map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(4)

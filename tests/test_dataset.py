"""Training data: both layouts, the count-only validation split, balanced sampling, players' drawings."""

import json

import numpy as np
import pytest

from core import records, sketch
from tests.conftest import quickdraw_record
from training import augment, dataset, players, sources
from training.config import TrainConfig

rng = np.random.default_rng(5)


def bitmaps(n, value):
    """``n`` rows of 784 pixels whose first pixel says which row it is (value, row index mod 256)."""
    rows = np.full((n, 784), value, np.uint8)
    rows[:, 1] = np.arange(n) % 256
    return rows


def square(offset=0.0):
    xs = [10 + offset, 200, 200, 10 + offset, 10 + offset]
    return [[xs, [10, 10, 200, 200, 10]]]


def write_ndjson(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def bucket_dir(tmp_path):
    """The layout `python -m training fetch` writes: numpy_bitmap/, simplified/, raw/ with one file per word."""
    (tmp_path / "numpy_bitmap").mkdir()
    np.save(tmp_path / "numpy_bitmap" / "big.npy", bitmaps(3000, 10))
    np.save(tmp_path / "numpy_bitmap" / "small.npy", bitmaps(300, 20))
    write_ndjson(
        tmp_path / "simplified" / "house plant.ndjson",
        [quickdraw_record("house plant", f"{i:016d}", square(i)) for i in range(12)],
    )
    write_ndjson(
        tmp_path / "raw" / "big.ndjson", [quickdraw_record("big", "1" * 16, square())]
    )  # has bitmaps: not trained
    return tmp_path


def test_the_bucket_layout_is_found_as_fetch_wrote_it(bucket_dir):
    found = sources.find(bucket_dir)
    assert sorted(found.bitmaps) == ["big", "small"]
    assert found.stroke_words == ["house plant"]
    assert found.evaluation == []


def test_the_data_package_layout_is_found(quickdraw_dir):
    found = sources.find(quickdraw_dir)
    assert len(found.bitmaps) == 58 and "The Eiffel Tower" in found.bitmaps
    assert [p.name for p in found.evaluation] == ["simplified.ndjson.gz", "raw.ndjson.gz"]
    assert found.stroke_words == []


def test_bitmaps_are_memory_mapped_not_loaded(bucket_dir):
    rows = records.read_bitmaps(bucket_dir / "numpy_bitmap" / "big.npy")
    assert rows.shape == (3000, 28, 28) and isinstance(rows.base, np.memmap)


def test_a_word_with_bitmaps_in_both_layouts_is_a_clear_error(bucket_dir):
    (bucket_dir / "bitmaps").mkdir()
    np.save(bucket_dir / "bitmaps" / "big.npy", bitmaps(5, 1))
    with pytest.raises(ValueError, match="'big' has bitmaps in both"):
        sources.find(bucket_dir)


def test_a_bad_bitmap_file_is_a_clear_error(tmp_path):
    np.save(tmp_path / "odd.npy", np.zeros((3, 10), np.float32))
    with pytest.raises(ValueError, match="expected uint8 rows of 784"):
        records.read_bitmaps(tmp_path / "odd.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="not a readable .npy"):
        records.read_bitmaps(tmp_path / "junk.npy")


@pytest.mark.parametrize("n", [1, 2, 7, 100, 30_000])
def test_split_is_a_partition_from_the_count_alone(n):
    split = dataset.Split(n, n // 10, "word", seed=3)
    validation = split.validation_rows()
    assert len(validation) == n // 10 and len(set(validation)) == n // 10
    drawn = split.training_rows(np.random.default_rng(0), 20 * n)
    assert drawn.min() >= 0 and drawn.max() < n and not set(drawn) & set(validation)
    assert len(set(drawn)) == n - n // 10  # every training row can be drawn
    assert np.array_equal(validation, dataset.Split(n, n // 10, "word", seed=3).validation_rows())


def test_load_keeps_bitmaps_on_disk_and_validates_a_bounded_sample(bucket_dir):
    config = TrainConfig(
        data=bucket_dir, validation_fraction=0.1, validation_max_per_class=100, stroke_renderings=30, evaluate=False
    )
    data = dataset.load(config)
    assert data.labels == ["big", "house plant", "small"]
    assert isinstance(data.pools[0].parts[0].rows.base, np.memmap)
    assert np.bincount(data.y_val).tolist() == [100, 4, 30]  # capped; 1/3 of 12 drawings; 10 %
    assert data.counts["big"] == {"bitmaps": 3000}
    assert data.counts["house plant"]["augmented_renderings"] == 30
    assert data.n_train == 2900 + 30 + 270
    assert len(data.train_key_ids) == 8


def test_batches_draw_every_word_equally_often_by_default(bucket_dir):
    data = dataset.load(TrainConfig(data=bucket_dir, stroke_renderings=30, evaluate=False))
    images, classes = data.draw(np.random.default_rng(1), 30_000, data.class_probabilities(1.0))
    shares = np.bincount(classes) / len(classes)
    assert np.allclose(shares, 1 / 3, atol=0.02)
    assert (images[classes == 0, 0, 0] == 10).all() and (images[classes == 2, 0, 0] == 20).all()
    natural = data.class_probabilities(0.0)
    assert natural[0] == pytest.approx(2850 / (2850 + 30 + 285))


def test_training_batches_never_contain_validation_rows(tmp_path):
    (tmp_path / "bitmaps").mkdir()
    rows = np.zeros((500, 784), np.uint8)
    rows[:, :2] = np.stack([np.arange(500) // 256, np.arange(500) % 256], axis=1)  # row number in two pixels
    np.save(tmp_path / "bitmaps" / "w.npy", rows)
    data = dataset.load(TrainConfig(data=tmp_path, validation_fraction=0.2, evaluate=False))
    row_of = lambda images: images[:, 0, 0].astype(int) * 256 + images[:, 0, 1]  # noqa: E731
    held, drawn = set(row_of(data.x_val)), set(row_of(data.draw(np.random.default_rng(2), 5000, [1.0])[0]))
    assert len(held) == 100 and len(drawn) == 400 and not held & drawn


def test_batches_are_augmented_one_hot_tensors(bucket_dir):
    config = TrainConfig(data=bucket_dir, stroke_renderings=30, evaluate=False, batch_size=16)
    data = dataset.load(config)
    x, y = next(iter(dataset.batches(data, config)))
    assert x.shape == (16, 28, 28, 1) and x.dtype.name == "float32" and y.shape == (16, 3)
    assert np.allclose(y.numpy().sum(axis=1), 1.0)


def test_tensorflow_augmentation_matches_the_opencv_reference(quickdraw_dir):
    import tensorflow as tf

    images = np.load(quickdraw_dir / "bitmaps" / "banana.npy")[:40].reshape(-1, 28, 28)
    reference = np.stack([augment.augment_bitmap(im, np.random.default_rng(i)) for i, im in enumerate(images)])
    transforms = np.concatenate([augment.random_transforms(1, np.random.default_rng(i)) for i in range(len(images))])
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images[..., None], tf.float32),
        transforms=transforms,
        output_shape=[28, 28],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    ).numpy()[..., 0]
    assert np.abs(warped - reference).max() <= 1.0  # OpenCV interpolates in fixed point and rounds to uint8
    assert np.abs(warped - reference).mean() < 0.2  # the geometry is the same; a wrong inverse differs by ~20


def saved(directory, word, recognized, mode="game", drawing=None, name="20261202T080000-00000000000"):
    directory.mkdir(exist_ok=True)
    index = len(list(directory.glob("*.ndjson")))
    record = {
        "word": word,
        "countrycode": None,
        "timestamp": "2026-12-02 08:00:00.000000 UTC",
        "recognized": recognized,
        "key_id": str(index),
        "drawing": drawing or square(index)[0:1],
        "mode": mode,
        "guesses": [],
    }
    (directory / f"{name}{index}.ndjson").write_text(json.dumps(record) + "\n", encoding="utf-8")


def test_players_drawings_are_chosen_by_trust_and_counted(tmp_path):
    folder = tmp_path / "saved"
    saved(folder, "big", True)
    saved(folder, "big", False)
    saved(folder, None, None, mode="free")
    saved(folder, "axe", True)  # a word the model does not know
    (folder / "20261202T080000-000000000009.ndjson").write_text("{not json", encoding="utf-8")
    (folder / ".tmp-123.ndjson").write_text("half", encoding="utf-8")  # a save in progress: not a drawing yet
    kept, skipped = players.read([folder], ["big", "small"], "recognized")
    assert [s.recognized for s in kept["big"]] == [True]
    assert skipped == {"not recognized": 1, "free mode": 1, "unknown word": 1, "unreadable (JSONDecodeError)": 1}
    kept, _ = players.read([folder], ["big", "small"], "all")
    assert len(kept["big"]) == 2


def test_players_drawings_join_their_words_pool_and_the_card(bucket_dir, tmp_path, capsys):
    folder = tmp_path / "saved"
    for _ in range(3):
        saved(folder, "small", True)
    (folder / "20261202T080000-00000000000f.ndjson").write_text("\xff", encoding="latin-1")
    config = TrainConfig(data=bucket_dir, stroke_renderings=30, evaluate=False, saved=(folder,), player_renderings=5)
    data = dataset.load(config)
    small = data.pools[data.labels.index("small")]
    assert [part.split.n for part in small.parts] == [300, 15]
    assert data.counts["small"]["player_drawings"] == 3
    assert data.players["drawings"] == 3 and data.players["by_word"] == {"small": 3}
    out = capsys.readouterr().out
    assert "warning: skipped 1 saved drawings: unreadable" in out


def test_a_missing_saved_directory_is_a_clear_error(bucket_dir, tmp_path):
    config = TrainConfig(data=bucket_dir, evaluate=False, saved=(tmp_path / "nope",))
    with pytest.raises(FileNotFoundError, match="nope"):
        dataset.load(config)


def test_stroke_words_read_only_what_they_need(tmp_path):
    write_ndjson(
        tmp_path / "simplified" / "hat.ndjson", [quickdraw_record("hat", f"{i:016d}", square(i)) for i in range(500)]
    )
    data = dataset.load(TrainConfig(data=tmp_path, stroke_renderings=20, evaluate=False))
    counts = data.counts["hat"]
    assert counts["stroke_drawings"] + counts["held_out_drawings"] == 40  # 2 × renderings, not 500
    assert sketch.SIZE == data.x_val.shape[1]


@pytest.fixture
def package_dir(tmp_path):
    """The data package's layout: bitmaps of two words, and a multi-word stroke file with them and two others."""
    (tmp_path / "bitmaps").mkdir()
    np.save(tmp_path / "bitmaps" / "big.npy", bitmaps(400, 10))
    np.save(tmp_path / "bitmaps" / "small.npy", bitmaps(400, 20))
    drawings = [
        quickdraw_record(word, f"{n:02d}{i:014d}", [*square(i), *square(i + 5)])  # two strokes each
        for n, word in enumerate(("big", "small", "axe", "cup"))
        for i in range(10)
    ]
    path = tmp_path / "strokes" / "simplified.ndjson"
    write_ndjson(path, drawings)
    import gzip

    with gzip.open(tmp_path / "strokes" / "simplified.ndjson.gz", "wt") as sink:
        sink.write(path.read_text())
    path.unlink()
    return tmp_path


def test_outliers_are_other_words_whole_or_cut_and_their_target_is_flat(package_dir):
    config = TrainConfig(
        data=package_dir, evaluate=False, batch_size=40, outliers=0.25, outlier_renderings=200, augment=False
    )
    data = dataset.load(config)
    (outliers,) = data.extras
    assert len(outliers.images) == 200 and (outliers.sure == 0).all()
    ink = (outliers.images > 0).sum(axis=(1, 2))
    assert len(set(ink.tolist())) > 1  # whole drawings (two squares) and their first stroke (one)
    x, y = next(iter(dataset.batches(data, config)))
    y = y.numpy()
    assert np.allclose(y[-10:], 1 / 2)  # a quarter of the batch: flat over the two words
    assert set(y[:30].max(axis=1).tolist()) == {1.0}  # the rest: one word each
    assert not data.train_key_ids  # nothing of the evaluated words was trained on


def test_partial_drawings_are_half_the_words_drawings_cut_and_taught_as_far_as_drawn(package_dir):
    config = TrainConfig(
        data=package_dir, evaluate=False, batch_size=40, partials=0.5, partial_renderings=300, augment=False
    )
    data = dataset.load(config)
    (partials,) = data.extras
    assert sorted(set(partials.sure.tolist())) == [0.5, 1.0]  # the first of two strokes, or both
    assert set(partials.classes.tolist()) == {0, 1}  # only the model's words
    assert len(data.train_key_ids) == 10  # half of the 20 drawings of its words, kept out of evaluation
    assert {key[:2] for key in data.train_key_ids} <= {"00", "01"}
    x, y = next(iter(dataset.batches(data, config)))
    half = y.numpy()[20:]
    assert set(np.round(half.max(axis=1), 3).tolist()) <= {0.75, 1.0}  # 0.5 sure: 0.5 + 0.5 / 2


def test_outliers_without_other_words_are_a_clear_error(bucket_dir):
    with pytest.raises(FileNotFoundError, match="--outliers needs drawings of other words"):
        dataset.load(TrainConfig(data=bucket_dir, evaluate=False, stroke_renderings=30, outliers=0.1))

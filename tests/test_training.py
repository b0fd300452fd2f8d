"""A tiny end-to-end training run on data this test writes, then export, evaluate and the CLI."""

import gzip
import json
import shutil

import numpy as np
import pytest

from core import sketch
from server.classifier import Classifier
from tests.conftest import quickdraw_record
from training import config as train_config
from training import dataset, evaluate, export, models
from training.cli import main

rng = np.random.default_rng(0)


def line_drawing():
    y = rng.uniform(0, 100)
    return [[[0, 200 + rng.uniform(-20, 20)], [y, y + rng.uniform(-5, 5)]]]


def circle_drawing():
    angles = np.linspace(0, 2 * np.pi, 20)
    r = rng.uniform(50, 100)
    return [[list(r * np.cos(angles) + 120), list(r * np.sin(angles) + 120)]]


def zigzag_drawing():
    xs = np.arange(0, 8) * 30.0 + rng.uniform(-5, 5, 8)
    return [[list(xs), [0, 100, 0, 100, 0, 100, 0, 100]]]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """bitmaps/ for line and circle (rendered by the pipeline), strokes/ with a stroke-only zigzag."""
    root = tmp_path_factory.mktemp("quickdraw")
    (root / "bitmaps").mkdir()
    (root / "strokes").mkdir()
    for word, make in (("line", line_drawing), ("circle", circle_drawing)):
        images = [sketch.to_model_input(sketch.validate(make())) for _ in range(150)]
        np.save(root / "bitmaps" / f"{word}.npy", np.stack(images).reshape(-1, 784))
    records = [quickdraw_record("zigzag", f"90000000000000{i:02d}", zigzag_drawing()) for i in range(9)]
    records += [
        quickdraw_record(w, f"80000000000000{i:02d}", make())
        for i, (w, make) in enumerate([("line", line_drawing), ("circle", circle_drawing)] * 5)
    ]
    records.append(quickdraw_record("axe", "7000000000000000", line_drawing()))  # a word the model does not know
    with gzip.open(root / "strokes" / "simplified.ndjson.gz", "wt") as sink:
        sink.writelines(json.dumps(r) + "\n" for r in records)
    return root


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    rc = main(
        [
            "train",
            "--data",
            str(data_dir),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--steps-per-epoch",
            "4",
            "--batch-size",
            "32",
            "--width",
            "4",
            "--stroke-classes",
            "zigzag",
            "--stroke-renderings",
            "40",
            "--no-quantize",
        ]
    )  # float32: these tests compare with Keras to 1e-4; quantizing is tested below
    assert rc == 0
    return out


def test_training_writes_the_model_directory_contract(trained):
    for name in ("model.keras", "model.tflite", "labels.txt", "model_card.json", "curves.png", "confusion.png"):
        assert (trained / name).stat().st_size > 0, name
    assert (trained / "labels.txt").read_text().splitlines() == ["circle", "line", "zigzag"]
    card = json.loads((trained / "model_card.json").read_text())
    assert card["preprocessing"] == sketch.preprocessing_parameters()
    assert card["counts"]["line"]["bitmaps"] == 150
    assert card["counts"]["zigzag"]["augmented_renderings"] == 40
    assert "CC BY 4.0" in json.dumps(card["data_sources"])
    assert {"version", "date", "seed", "config", "library_versions", "metrics"} <= set(card)
    assert card["serving_ms"]["n"] > 0 and 0 < card["serving_ms"]["median"] <= card["serving_ms"]["p90"]


def test_a_baseline_cards_headline_figures_are_copied_without_per_class_rows(trained, tmp_path):
    from training import train

    card = json.loads((trained / "model_card.json").read_text())
    baseline = train._baseline(trained / "model_card.json")
    assert baseline["arch"] == "ours" and baseline["params"] == card["params"]
    assert baseline["metrics"]["combined"]["top1"] == card["metrics"]["combined"]["top1"]
    assert "per_class" not in json.dumps(baseline)


def test_stroke_class_is_split_by_key_id_and_recorded(trained):
    card = json.loads((trained / "model_card.json").read_text())
    ids = card["train_key_ids"]
    assert len(ids) == 6 and all(i.startswith("90000000000000") for i in ids)
    assert card["counts"]["zigzag"]["held_out_drawings"] == 3


def test_exported_tflite_matches_keras_and_loads_in_the_server(trained, data_dir):
    import keras

    model = keras.saving.load_model(trained / "model.keras")
    images = np.load(data_dir / "bitmaps" / "circle.npy")[:20].reshape(-1, 28, 28)
    keras_p = model.predict(images[..., None].astype(np.float32), verbose=0)
    tflite_p = export.tflite_probabilities(trained / "model.tflite", images)
    assert np.abs(keras_p - tflite_p).max() <= export.FLOAT_TOLERANCE
    classifier = Classifier(trained)
    try:
        assert np.allclose(classifier.probabilities(images[0]), tflite_p[0], atol=1e-6)
    finally:
        classifier.close()


def test_quantized_export_is_smaller_stays_close_to_keras_and_serves(trained, data_dir, tmp_path):
    import keras

    model = keras.saving.load_model(trained / "model.keras")
    images = np.load(data_dir / "bitmaps" / "line.npy")[:20].reshape(-1, 28, 28)
    for name in ("model.keras", "labels.txt", "model_card.json"):
        (tmp_path / name).write_bytes((trained / name).read_bytes())
    quantized = export.to_tflite(model, tmp_path / "model.tflite", quantize=True)
    assert quantized.stat().st_size < (trained / "model.tflite").stat().st_size
    assert export.check_parity(model, quantized, images, quantized=True) <= export.QUANTIZED_TOLERANCE
    classifier = Classifier(tmp_path)
    try:
        assert classifier.probabilities(images[0]).sum() == pytest.approx(1.0, abs=1e-3)
    finally:
        classifier.close()


def test_parity_check_rejects_a_different_model(trained, data_dir):
    other = models.build("ours", 3, width=4)
    images = np.load(data_dir / "bitmaps" / "line.npy")[:5].reshape(-1, 28, 28)
    with pytest.raises(export.ExportError):
        export.check_parity(other, trained / "model.tflite", images, quantized=False)


def test_evaluate_skips_unknown_words_and_trained_drawings(trained, data_dir, capsys):
    assert (
        main(["evaluate", "--model-dir", str(trained), "--strokes", str(data_dir / "strokes" / "simplified.ndjson.gz")])
        == 0
    )
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert summary["n"] == 10 + 3  # lines and circles + held-out zigzags
    assert summary["skipped"] == {"unknown word": 1, "trained on": 6, "invalid": 0}
    assert summary["top1"] >= 0.9  # three easy shapes: a model whose labels were mixed up gets ~1/3
    assert any("1 drawings of words the model does not know" in line and "6 trained on" in line for line in out)


def test_evaluate_a_keras_file_gives_the_same_top1(trained, data_dir):
    strokes = [data_dir / "strokes" / "simplified.ndjson.gz"]
    lite = evaluate.evaluate(trained, strokes)
    full = evaluate.evaluate(trained / "model.keras", strokes)
    assert np.array_equal(lite.probabilities.argmax(1), full.probabilities.argmax(1))
    assert np.abs(lite.probabilities - full.probabilities).max() <= export.FLOAT_TOLERANCE


def test_evaluate_can_write_its_figures_into_the_card(trained, data_dir, tmp_path, capsys):
    model_dir = tmp_path / "model"
    shutil.copytree(trained, model_dir)
    card = json.loads((model_dir / "model_card.json").read_text())
    card["metrics"]["simplified"] = {"n": 0, "top1": 0.0, "top3": 0.0, "skipped": {}}
    (model_dir / "model_card.json").write_text(json.dumps(card))
    strokes = str(data_dir / "strokes" / "simplified.ndjson.gz")
    assert main(["evaluate", "--model-dir", str(model_dir), "--strokes", strokes, "--write-card"]) == 0
    metrics = json.loads((model_dir / "model_card.json").read_text())["metrics"]
    assert metrics["simplified"]["n"] == 13 and "per_class" not in metrics["simplified"]
    assert metrics["combined"]["n"] == 13 and set(metrics["combined"]["per_class"]) == {"circle", "line", "zigzag"}
    assert "wrote the figures into" in capsys.readouterr().out
    assert main(["evaluate", "--keras", str(model_dir / "model.keras"), "--strokes", strokes, "--write-card"]) == 2


def test_evaluate_missing_file_is_a_clear_error(trained, tmp_path, capsys):
    assert main(["evaluate", "--model-dir", str(trained), "--strokes", str(tmp_path / "nope.ndjson")]) == 1
    assert "no such stroke file" in capsys.readouterr().err


def test_seed_architecture_is_the_original_net():
    model = models.build("seed", 4)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer",
        "Rescaling",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert [model.layers[i].filters for i in (2, 4)] == [30, 15]
    with pytest.raises(ValueError, match="unknown architecture"):
        models.build("resnet", 4)


def test_stroke_key_id_split_is_deterministic():
    ids = [f"{i:016d}" for i in range(16)]
    train, held = dataset.split_key_ids(ids[::-1], 2 / 3, seed=7)
    assert (train, held) == dataset.split_key_ids(ids, 2 / 3, seed=7)
    assert len(train) == 11 and not set(train) & set(held) and set(train) | set(held) == set(ids)


def test_config_flags_override_fields_and_reject_unknown_ones():
    import argparse

    parser = argparse.ArgumentParser()
    train_config.add_arguments(parser)
    config = train_config.from_arguments(parser.parse_args(["--epochs", "3", "--no-augment", "--arch", "seed"]))
    assert (config.epochs, config.augment, config.arch) == (3, False, "seed")
    with pytest.raises(SystemExit):
        parser.parse_args(["--epochs", "3x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-such-field", "1"])


@pytest.mark.parametrize("command", [[], ["fetch"], ["train"], ["evaluate"]])
def test_help_works(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: python -m training" in capsys.readouterr().out


def test_mirror_average_is_the_mean_of_both_views():
    base = models.build("ours", 3, width=4)
    images = np.random.default_rng(1).integers(0, 256, (4, 28, 28, 1)).astype(np.float32)
    expected = (base.predict(images, verbose=0) + base.predict(images[:, :, ::-1], verbose=0)) / 2
    assert np.allclose(models.served([base]).predict(images, verbose=0), expected, atol=1e-6)


def test_an_ensemble_serves_the_mean_of_its_members_over_both_views():
    members = [models.build("ours", 3, width=4), models.build("ours", 3, width=4)]
    images = np.random.default_rng(2).integers(0, 256, (4, 28, 28, 1)).astype(np.float32)
    views = [m.predict(x, verbose=0) for m in members for x in (images, images[:, :, ::-1])]
    assert np.allclose(models.served(members).predict(images, verbose=0), np.mean(views, axis=0), atol=1e-6)
    plain = models.served(members[:1], mirror_average=False).predict(images, verbose=0)
    assert np.allclose(plain, members[0].predict(images, verbose=0), atol=1e-6)


def test_a_class_with_bitmaps_is_never_trained_from_its_strokes(data_dir, tmp_path):
    config = train_config.TrainConfig(data=data_dir, out=tmp_path, stroke_classes=("line",))
    with pytest.raises(ValueError, match="line has bitmaps"):
        dataset.load(config)


def test_missing_stroke_class_is_a_clear_error(data_dir, tmp_path):
    config = train_config.TrainConfig(data=data_dir, out=tmp_path, stroke_classes=("grapes",))
    with pytest.raises(FileNotFoundError, match="no stroke drawings of grapes"):
        dataset.load(config)


def test_train_without_data_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "model")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "bitmap" in err and "\n" not in err


def test_an_ensemble_trains_each_net_and_serves_them_as_one(data_dir, tmp_path):
    out = tmp_path / "ensemble"
    assert (
        main(
            [
                "train",
                "--data",
                str(data_dir),
                "--out",
                str(out),
                "--epochs",
                "1",
                "--steps-per-epoch",
                "3",
                "--batch-size",
                "16",
                "--width",
                "4",
                "--stroke-classes",
                "zigzag",
                "--stroke-renderings",
                "20",
                "--ensemble",
                "2",
                "--no-quantize",
                "--no-evaluate",
            ]
        )
        == 0
    )
    card = json.loads((out / "model_card.json").read_text())
    assert card["ensemble"] == 2 and card["metrics"]["epochs_run"] == [1, 1]
    images = np.load(data_dir / "bitmaps" / "circle.npy")[:5].reshape(-1, 28, 28)
    classifier = Classifier(out)
    try:
        assert classifier.probabilities(images[0]).shape == (3,)
    finally:
        classifier.close()


def test_project_only_prints_the_whole_runs_time_at_this_machines_rate_and_writes_nothing(data_dir, tmp_path, capsys):
    out = tmp_path / "never"
    flags = ["--data", str(data_dir), "--out", str(out), "--epochs", "3", "--steps-per-epoch", "6"]
    flags += ["--batch-size", "16", "--width", "4", "--stroke-classes", "zigzag", "--stroke-renderings", "20"]
    assert main(["train", *flags, "--ensemble", "2", "--project-only"]) == 0
    said = capsys.readouterr().out
    assert "this machine trains" in said
    assert f"{2 * 3 * 6 * 16:,} images take about" in said  # both nets, every epoch: the whole recipe
    assert "Epoch 2/3" not in said and "net 2 of 2" not in said  # it stopped at the projection
    assert not out.exists()

"""Train a model directory: data → model → fit → export → card, curves, evaluation."""

import json
import time
from pathlib import Path

import keras
import numpy as np

from server.classifier import Classifier
from training import artifacts, dataset, evaluate, export, models, readers
from training.config import TrainConfig, to_json

TIMED_DRAWINGS = 300  # real drawings timed through the serving path after training


def fit(config: TrainConfig, data: dataset.Data) -> tuple[keras.Model, dict]:
    """Build the configured net and fit it with augmented, balanced batches."""
    model = models.build(config.arch, len(data.labels), config.width, config.dropout)
    weights = dataset.class_weights(data.y_train, len(data.labels), config.balance_power)
    batches = dataset.Batches(data.x_train, data.y_train, weights, len(data.labels), config.batch_size,
                              config.seed, augment_images=config.augment, steps=config.steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * len(batches))
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(3, name="top3")])
    stop = keras.callbacks.EarlyStopping("val_accuracy", patience=config.patience, restore_best_weights=True)
    history = model.fit(batches, epochs=config.epochs, callbacks=[stop], verbose=1,
                        validation_data=(data.x_val[..., None].astype(np.float32), keras.utils.to_categorical(data.y_val, len(data.labels))))
    return model, history.history


def train(config: TrainConfig) -> dict:
    """Train, export and describe a model in ``config.out``; returns the model card."""
    keras.utils.set_random_seed(config.seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    data = dataset.load(config)
    print(f"{len(data.labels)} classes, {len(data.x_train)} training / {len(data.x_val)} validation images")
    model, history = fit(config, data)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if config.mirror_average:
        model = models.with_mirror_average(model)
    model.save(out / "model.keras")
    export.to_tflite(model, out / "model.tflite", config.quantize)
    parity = export.check_parity(model, out / "model.tflite", data.x_val[:200], config.quantize)
    artifacts.write_labels(out, data.labels)
    train_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started  # all threads; wall time depends on who else runs
    print(f"trained and exported in {train_seconds / 60:.1f} min ({cpu_seconds / 60:.1f} CPU-min)", flush=True)
    val_p = model.predict(data.x_val[..., None].astype(np.float32), batch_size=512, verbose=0)
    top3 = (np.argsort(-val_p, axis=1)[:, :3] == data.y_val[:, None]).any(axis=1)
    metrics = {"validation": {"n": len(data.y_val), "top1": round(float((val_p.argmax(1) == data.y_val).mean()), 4),
                              "top3": round(float(top3.mean()), 4), "what": "held-out official bitmaps + "
                              "held-out stroke drawings of the stroke-only classes"},
               "epochs_run": len(history["loss"]), "tflite_vs_keras_max_abs_diff": parity}
    card_fields = dict(arch=config.arch, classes=data.labels, counts=data.counts, metrics=metrics,
                       seed=config.seed, config=to_json(config), params=model.count_params(),
                       training_seconds=round(train_seconds, 1), training_cpu_seconds=round(cpu_seconds, 1),
                       train_key_ids=data.train_key_ids)
    artifacts.write_card(out, **card_fields)  # written now so evaluate can read train_key_ids
    artifacts.plot_curves(out / "curves.png", history)
    confusion = (data.y_val, val_p.argmax(1), "validation set (held-out bitmaps)")
    strokes = dataset.stroke_files(config.data) if config.evaluate else []
    if config.baseline_card:
        card_fields["baseline"] = _baseline(Path(config.baseline_card))
    if strokes:
        card_fields["serving_ms"] = serving_ms(out, strokes[-1])
        for path in strokes:
            result = evaluate.evaluate(out, [path])
            print(evaluate.report(result, f"{path.name}"))
            metrics[path.name.split(".")[0]] = _short(result.summary())
        result = evaluate.evaluate(out, strokes)
        print(evaluate.report(result, "combined"))
        metrics["combined"] = result.summary()
        confusion = (result.y, result.probabilities.argmax(1), "real stroke drawings (simplified + raw)")
    artifacts.plot_confusion(out / "confusion.png", data.labels, *confusion)
    card_fields["confusion_matrix_on"] = confusion[2]
    return artifacts.write_card(out, **card_fields)


def serving_ms(model_dir: Path, stroke_file: Path) -> dict:
    """Median and p90 ms of ``Classifier.classify`` (sketch pipeline + LiteRT) on real drawings, one at a time."""
    classifier = Classifier(model_dir)
    try:
        drawings = [s.drawing for s, _ in zip(readers.read_drawings(stroke_file), range(TIMED_DRAWINGS))]
        times = []
        for drawing in drawings[:20] + drawings:  # the first calls warm caches up
            began = time.perf_counter()
            classifier.classify(drawing)
            times.append((time.perf_counter() - began) * 1000)
    finally:
        classifier.close()
    times = times[20:]
    return {"median": round(float(np.median(times)), 3), "p90": round(float(np.percentile(times, 90)), 3),
            "n": len(times), "what": f"Classifier.classify (sketch pipeline + LiteRT) on {stroke_file.name}, "
            "one drawing at a time, right after training on the training machine"}


def _baseline(card_path: Path) -> dict:
    """The headline figures of a baseline run's model card (per-class rows left out)."""
    card = json.loads(card_path.read_text(encoding="utf-8"))
    metrics = {k: _short(v) if "per_class" in v else v for k, v in card.get("metrics", {}).items()
               if isinstance(v, dict)}
    return {"arch": card.get("arch"), "params": card.get("params"), "training_seconds": card.get("training_seconds"),
            "mirror_average": card.get("config", {}).get("mirror_average"), "metrics": metrics, "card": str(card_path)}


def _short(summary: dict) -> dict:
    return {k: summary[k] for k in ("n", "top1", "top3", "skipped")}

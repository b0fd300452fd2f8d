"""Train a model directory: data → model → fit → export → describe → evaluate.

    python -m training train --data D --out model

Every worker of a ``--distribute multiworker`` cluster runs this same script;
only the chief writes ``config.out``.
"""

import json
import time
from pathlib import Path

import keras
import numpy as np

from core import records
from core.model import Classifier
from training import artifacts, dataset, evaluate, export, loop, models
from training.config import TrainConfig, to_json

TIMED_DRAWINGS = 300  # real drawings timed through the serving path after training


def train(config: TrainConfig) -> dict:
    """Train, export and describe a model in ``config.out``; returns the model card (the chief's; {} elsewhere)."""
    keras.utils.set_random_seed(config.seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    strategy = loop.strategy(config.distribute)
    worker, chief = loop.worker()

    data = dataset.load(config)
    steps = config.steps_per_epoch or int(np.ceil(data.n_train / config.batch_size))
    print(
        f"{len(data.labels)} words, {data.n_train:,} training rows, {len(data.y_val):,} validation images; "
        f"{steps} steps of {config.batch_size} per epoch on {strategy.num_replicas_in_sync} replica(s)",
        flush=True,
    )

    members, histories = [], []
    for member in range(config.ensemble):
        if config.ensemble > 1:
            print(f"net {member + 1} of {config.ensemble}", flush=True)
        keras.utils.set_random_seed(config.seed + member)
        with strategy.scope():
            model = models.build(config.arch, len(data.labels), config.width, config.dropout)
        histories.append(
            loop.fit(
                model,
                dataset.batches(data, config, worker, member),
                (data.x_val, data.y_val),
                strategy=strategy,
                epochs=config.epochs,
                steps=steps,
                batch_size=config.batch_size,
                learning_rate=config.learning_rate,
                label_smoothing=config.label_smoothing,
                patience=config.patience,
                nets=config.ensemble - member,
                project_only=config.project_only,
            )
        )
        if config.project_only:
            return {}
        members.append(model)
    if not chief:
        return {}

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    served = models.served(members, config.mirror_average)
    served.save(out / "model.keras")
    export.to_tflite(served, out / "model.tflite", config.quantize)
    parity = export.check_parity(served, out / "model.tflite", data.x_val[:200], config.quantize)
    artifacts.write_labels(out, data.labels)
    train_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"trained and exported in {train_seconds / 60:.1f} min ({cpu_seconds / 60:.1f} CPU-min)", flush=True)

    p_val = loop.predict(served, data.x_val)
    validation = loop.scores(p_val, data.y_val)
    metrics = {
        "validation": {
            "n": len(data.y_val),
            "top1": round(validation["accuracy"], 4),
            "top3": round(validation["top3"], 4),
            "what": "held-out official bitmaps + held-out drawings of the words trained from strokes",
        },
        "epochs_run": [len(h["loss"]) for h in histories],
        "tflite_vs_keras_max_abs_diff": parity,
    }
    card = artifacts.new_card(
        arch=config.arch,
        classes=data.labels,
        counts=data.counts,
        metrics=metrics,
        seed=config.seed,
        config=to_json(config),
        params=served.count_params(),
        ensemble=config.ensemble,
        training_seconds=round(train_seconds, 1),
        training_cpu_seconds=round(cpu_seconds, 1),
        replicas=strategy.num_replicas_in_sync,
        players=data.players,
        train_key_ids=data.train_key_ids,
    )
    if config.baseline_card:
        card["baseline"] = _baseline(Path(config.baseline_card))
    artifacts.plot_curves(out / "curves.png", histories)
    return describe(out, card, data, p_val)


def describe(out: Path, card: dict, data: dataset.Data, p_val: np.ndarray) -> dict:
    """Evaluate on the data's stroke files through the serving path; confusion matrix, timing; write the card."""
    confusion = (data.y_val, p_val.argmax(1), "validation set (held-out bitmaps)")
    if data.evaluation:
        card["serving_ms"] = serving_ms(out, data.evaluation[-1], card)
        result = evaluate.into_card(out, card, data.evaluation)
        confusion = (result.y, result.probabilities.argmax(1), "real stroke drawings (simplified + raw)")
    artifacts.plot_confusion(out / "confusion.png", data.labels, *confusion)
    card["confusion_matrix_on"] = confusion[2]
    return artifacts.write_card(out, card)  # once, with everything in it


def serving_ms(model_dir: Path, stroke_file: Path, card: dict) -> dict:
    """Median and p90 ms of ``Classifier.classify`` (sketch pipeline + LiteRT) on real drawings, one at a time."""
    classifier = Classifier(model_dir, card)
    try:
        drawings = [s.drawing for s, _ in zip(records.read_drawings(stroke_file), range(TIMED_DRAWINGS))]
        times = []
        for drawing in drawings[:20] + drawings:  # the first calls warm caches up
            began = time.perf_counter()
            classifier.classify(drawing)
            times.append((time.perf_counter() - began) * 1000)
    finally:
        classifier.close()
    times = times[20:]
    return {
        "median": round(float(np.median(times)), 3),
        "p90": round(float(np.percentile(times, 90)), 3),
        "n": len(times),
        "what": f"Classifier.classify (sketch pipeline + LiteRT) on {stroke_file.name}, "
        "one drawing at a time, right after training on the training machine",
    }


def _baseline(card_path: Path) -> dict:
    """The headline figures of a baseline run's model card (per-class rows left out)."""
    card = json.loads(card_path.read_text(encoding="utf-8"))
    metrics = {
        k: evaluate.headline(v) if "per_class" in v else v
        for k, v in card.get("metrics", {}).items()
        if isinstance(v, dict)
    }
    return {
        "arch": card.get("arch"),
        "params": card.get("params"),
        "training_seconds": card.get("training_seconds"),
        "mirror_average": card.get("config", {}).get("mirror_average"),
        "metrics": metrics,
        "card": str(card_path),
    }

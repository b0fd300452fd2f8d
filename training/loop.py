"""The training loop, written once for every ``tf.distribute`` strategy.

``--distribute none`` runs on this process's devices, ``mirrored`` on every GPU
of this host, ``multiworker`` on every host named by ``TF_CONFIG`` (one process
per host, each started with the same command). The same ``tf.function`` step
runs under each: every replica takes its share of the global batch, gradients
are all-reduced by TensorFlow, and every worker ends with the same weights.

Keras's own ``fit`` is not used because Keras 3 fails under
``MultiWorkerMirroredStrategy`` (keras-team/keras#20585).
"""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

STRATEGIES = ("none", "mirrored", "multiworker")
PROJECT_AFTER = 20  # steps after the first (which compiles) that measure the rate a projection uses


def strategy(name: str) -> tf.distribute.Strategy:
    """The named strategy.

    Raises:
        ValueError: an unknown name, or ``multiworker`` without ``TF_CONFIG``.
    """
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--distribute multiworker needs TF_CONFIG naming the cluster and this worker "
                "(see the README, 'Training past one machine')"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--distribute must be one of {', '.join(STRATEGIES)}, not {name!r}")


def worker() -> tuple[int, bool]:
    """This process's worker index and whether it is the chief (the one that writes the model)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in config.get("cluster", {})
    return index + (1 if has_chief and kind == "worker" else 0), kind == "chief" or (
        kind == "worker" and index == 0 and not has_chief
    )


def fit(
    model: keras.Model,
    batches: tf.data.Dataset,
    validation: tuple[np.ndarray, np.ndarray],
    *,
    strategy: tf.distribute.Strategy,
    epochs: int,
    steps: int,
    batch_size: int,
    learning_rate: float,
    label_smoothing: float,
    patience: int,
    verbose: bool = True,
    nets: int = 1,
    project_only: bool = False,
) -> dict:
    """Train ``model`` (built under ``strategy.scope()``) in place; returns the history per epoch.

    Adam with a cosine decay to 0 over all steps; after the last epoch or when
    validation accuracy has not improved for ``patience`` epochs, the weights of
    the best epoch are restored. Early in the first epoch it prints the time all
    ``nets`` of the run will take at the rate measured on this machine; with
    ``project_only`` it returns then, the model half-trained.
    """
    with strategy.scope():
        optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps))
        loss_of = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing, reduction=None)
    inputs = iter(strategy.experimental_distribute_dataset(batches))

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            p = model(images, training=True)
            losses = loss_of(labels, p)
            loss = tf.nn.compute_average_loss(losses, global_batch_size=batch_size)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        known = tf.cast(tf.reduce_max(labels, 1) > 0.5, tf.float32)  # rows mostly sure of a word count for accuracy
        hits = tf.cast(tf.math.in_top_k(tf.argmax(labels, 1), p, 1), tf.float32) * known
        hits3 = tf.cast(tf.math.in_top_k(tf.argmax(labels, 1), p, 3), tf.float32) * known
        return tf.stack(
            [
                tf.reduce_sum(losses),
                tf.reduce_sum(hits),
                tf.reduce_sum(hits3),
                tf.reduce_sum(known),
                tf.cast(tf.size(hits), tf.float32),
            ]
        )

    @tf.function
    def step():
        sums = strategy.run(replica_step, args=next(inputs))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)

    history, best, best_weights, waited = {}, -1.0, None, 0
    x_val, y_val = validation
    for epoch in range(epochs):
        progress = keras.utils.Progbar(
            steps, verbose=1 if verbose else 0, stateful_metrics=["loss", "accuracy", "top3"]
        )
        totals = np.zeros(5)  # loss, hits, top-3 hits, known images, all images
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        began = time.perf_counter()
        for i in range(steps):
            totals += step().numpy()
            if epoch == 0 and i == 0:
                compiled = time.perf_counter()
                print(f"first training step done ({compiled - began:.1f} s to compile and run it)", flush=True)
            if epoch == 0 and i > 0 and i == min(PROJECT_AFTER, steps - 1):
                rate = i * batch_size / (time.perf_counter() - compiled)
                print(f"\n{projection(rate, nets * epochs * steps * batch_size)}", flush=True)
                if project_only:
                    return {}
            progress.update(
                i + 1,
                [("loss", totals[0] / totals[4]), ("accuracy", totals[1] / totals[3]), ("top3", totals[2] / totals[3])],
            )
        seconds = time.perf_counter() - began
        measured = dict(zip(("loss", "accuracy", "top3"), totals[:3] / totals[[4, 3, 3]]))
        measured.update({f"val_{k}": v for k, v in scores(predict(model, x_val), y_val, label_smoothing).items()})
        for key, value in measured.items():
            history.setdefault(key, []).append(float(value))
        if verbose:
            print("  ".join(f"{k}: {v:.4f}" for k, v in measured.items()), flush=True)
            print(f"{int(totals[4]):,} images in {seconds:.1f} s: {totals[4] / seconds:,.0f} images/s", flush=True)
        if measured["val_accuracy"] > best:
            best, best_weights, waited = measured["val_accuracy"], model.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                print(f"no better validation accuracy for {patience} epochs: stopping", flush=True)
                break
    if best_weights is not None:
        model.set_weights(best_weights)
    return history


def projection(rate: float, images: int) -> str:
    """What a run of ``images`` training images costs at ``rate`` images/s, in words."""
    return f"this machine trains {rate:,.0f} images/s: {images:,} images take about {images / rate / 60:.0f} min"


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Probabilities for (N, 28, 28) uint8 images, computed on this worker alone, a chunk at a time."""
    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    chunks = [
        forward(tf.constant(x[i : i + batch_size, ..., None], tf.float32)).numpy() for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, model.output_shape[-1]), np.float32)


def scores(p: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0) -> dict:
    """Loss (with the training's label smoothing), top-1 and top-3 of probabilities ``p`` for classes ``y``."""
    if not len(y):
        return {"loss": float("nan"), "accuracy": 0.0, "top3": 0.0}
    n_classes = p.shape[1]
    target = np.full((len(y), n_classes), label_smoothing / n_classes)
    target[np.arange(len(y)), y] += 1.0 - label_smoothing
    loss = float(-(target * np.log(np.clip(p, 1e-7, 1.0))).sum(axis=1).mean())
    top3 = (np.argsort(-p, axis=1)[:, :3] == y[:, None]).any(axis=1)
    return {"loss": loss, "accuracy": float((p.argmax(1) == y).mean()), "top3": float(top3.mean())}

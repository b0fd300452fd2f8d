"""What a training run leaves beside the model: labels, model card, curves, confusion matrix."""

import datetime
import json
import platform
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core import sketch  # noqa: E402
from core.model import CARD_FILE, LABELS_FILE  # noqa: E402

SOURCES = [
    {
        "name": "Quick, Draw! dataset by Google",
        "url": "https://quickdraw.withgoogle.com/data",
        "license": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
        "used": "28x28 numpy_bitmap images for training; simplified/raw stroke drawings for evaluation "
        "and, for classes without bitmaps, a key_id split of them for training (train_key_ids)",
    }
]


def versions() -> dict:
    import ai_edge_litert
    import cv2
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
    }


def write_labels(out: Path, labels: list[str]) -> None:
    (out / LABELS_FILE).write_text("".join(f"{w}\n" for w in labels), encoding="utf-8")


def new_card(**fields) -> dict:
    """A model card: the caller's fields plus preprocessing, sources, versions, date, version."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "version": now.strftime("%Y%m%d-%H%M%S"),
        "date": now.isoformat(timespec="seconds"),
        "preprocessing": sketch.preprocessing_parameters(),
        "data_sources": SOURCES,
        "library_versions": versions(),
        **fields,
    }


def write_card(out: Path, card: dict) -> dict:
    """model_card.json in ``out``."""
    (out / CARD_FILE).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return card


def plot_curves(path: Path, histories: list[dict]) -> None:
    """Loss and accuracy per epoch, training vs validation, for each net of the model."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for i, history in enumerate(histories):
            for prefix in ("", "val_"):
                if prefix + metric in history:
                    values = history[prefix + metric]
                    net = f" (net {i + 1})" if len(histories) > 1 else ""
                    ax.plot(range(1, len(values) + 1), values, marker="o", label=(prefix or "train_") + metric + net)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_confusion(path: Path, labels: list[str], y_true: np.ndarray, y_pred: np.ndarray, title: str) -> None:
    """Row-normalized confusion matrix (rows: true class)."""
    n = len(labels)
    matrix = np.zeros((n, n))
    np.add.at(matrix, (y_true, y_pred), 1)
    matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(12, 11))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)

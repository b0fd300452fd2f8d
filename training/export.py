"""Keras model → ``model.tflite`` for LiteRT, checked against Keras on the same inputs."""

from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from training.models import INPUT_SHAPE

FLOAT_TOLERANCE = 1e-4  # largest allowed |p_tflite − p_keras| per class: float32 is the same arithmetic
QUANTIZED_TOLERANCE = 0.05  # int8 weights shift p by ~0.01 (measured); another model differs by far more


class ExportError(RuntimeError):
    """The exported model disagrees with the Keras model."""


def to_tflite(model, path: Path | str, quantize: bool = True) -> Path:
    """Write a .tflite with a fixed [1, 28, 28, 1] float input (one drawing per call).

    ``quantize`` stores the weights as int8 (dynamic-range quantization: the
    interpreter quantizes activations on the fly), which makes a call about 4×
    faster on this machine's CPU with the same accuracy on real drawings (README).
    """
    path = Path(path)
    signature = [tf.TensorSpec((1, *INPUT_SHAPE), tf.float32, name="pixels")]
    options = {"optimizations": [tf.lite.Optimize.DEFAULT]} if quantize else {}
    model.export(str(path), format="litert", input_signature=signature, verbose=False, **options)
    return path


def tflite_probabilities(path: Path | str, images: np.ndarray) -> np.ndarray:
    """Run (N, 28, 28) uint8 images one by one through the .tflite, as serving does."""
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for image in images:
        interpreter.set_tensor(inp["index"], image.reshape(inp["shape"]).astype(np.float32))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(rows)


def check_parity(model, path: Path | str, images: np.ndarray, quantized: bool = True) -> float:
    """Largest difference between Keras and .tflite probabilities on ``images``.

    Raises:
        ExportError: the difference exceeds the tolerance for the export's kind.
    """
    tolerance = QUANTIZED_TOLERANCE if quantized else FLOAT_TOLERANCE
    keras_p = model.predict(images.reshape(-1, *INPUT_SHAPE).astype(np.float32), verbose=0)
    worst = float(np.abs(tflite_probabilities(path, images) - keras_p).max())
    if not worst <= tolerance:  # NaN fails too
        raise ExportError(f"{path}: .tflite differs from Keras by {worst:.2e} > {tolerance:.0e}")
    return worst

"""The model-directory contract and the model behind one small API: drawing in, ranked guesses out.

A model directory holds ``model.tflite``, ``labels.txt`` and ``model_card.json``
(whose preprocessing must match ``core.sketch``). ``Classifier`` runs the
``.tflite`` in the LiteRT interpreter (no TensorFlow), synchronously: an
interpreter must be used from one thread at a time.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from core import sketch

MODEL_FILE = "model.tflite"
LABELS_FILE = "labels.txt"
CARD_FILE = "model_card.json"


class ModelError(RuntimeError):
    """The model directory is missing, incomplete or does not fit this code."""


@dataclass(frozen=True)
class Guess:
    word: str
    p: float

    def to_json(self) -> dict[str, Any]:
        return {"word": self.word, "p": round(self.p, 4)}


@dataclass(frozen=True)
class Prediction:
    """The model's probabilities for one drawing."""

    labels: list[str]
    probabilities: np.ndarray

    def top(self, k: int = 5) -> list[Guess]:
        """The k most likely words, best first."""
        best = np.argsort(self.probabilities)[::-1][:k]
        return [Guess(self.labels[i], float(self.probabilities[i])) for i in best]

    def p(self, word: str) -> float:
        """The probability of one word (0 for a word the model does not know)."""
        try:
            return float(self.probabilities[self.labels.index(word)])
        except ValueError:
            return 0.0


class Classifier:
    """A loaded model: ``probabilities`` of a bitmap, ``classify`` of a drawing (both blocking)."""

    def __init__(self, model_dir: Path | str, card: dict[str, Any] | None = None):
        """Load and check the model in ``model_dir``; ``card`` stands in for its model_card.json (a training run
        evaluates its model before it writes the card).

        Raises:
            ModelError: a file is missing or broken, or the model card's
                preprocessing differs from ``core.sketch``.
        """
        model_dir = Path(model_dir)
        try:
            self.labels = (model_dir / LABELS_FILE).read_text(encoding="utf-8").splitlines()
            self.card = card if card is not None else json.loads((model_dir / CARD_FILE).read_text(encoding="utf-8"))
            self._interpreter = Interpreter(model_path=str(model_dir / MODEL_FILE), num_threads=1)
            self._interpreter.allocate_tensors()
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelError(f"cannot load the model from {model_dir}: {error}") from error
        if self.card.get("preprocessing") != sketch.preprocessing_parameters():
            raise ModelError(f"{model_dir / CARD_FILE} was trained with other preprocessing than core/sketch.py")
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        if tuple(self._input["shape"][1:3]) != (sketch.SIZE, sketch.SIZE):
            raise ModelError(f"model input shape {self._input['shape']} is not 28×28")
        if self._output["shape"][-1] != len(self.labels):
            raise ModelError(
                f"model has {self._output['shape'][-1]} outputs but {LABELS_FILE} has {len(self.labels)} labels"
            )
        self.version = str(self.card.get("version", "unknown"))

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities for one 28×28 uint8 bitmap. Blocking; one thread at a time."""
        batch = image.reshape(self._input["shape"]).astype(self._input["dtype"])
        self._interpreter.set_tensor(self._input["index"], batch)
        self._interpreter.invoke()
        probabilities: np.ndarray = self._interpreter.get_tensor(self._output["index"])[0].copy()
        return probabilities

    def classify(self, drawing: list[np.ndarray]) -> Prediction:
        """Run a validated drawing through the sketch pipeline and the model. Blocking."""
        return Prediction(self.labels, self.probabilities(sketch.to_model_input(drawing)))

    def close(self) -> None:
        """Let the interpreter go; the classifier cannot be used after this."""
        self._interpreter = None

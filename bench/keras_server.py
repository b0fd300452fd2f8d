"""The baseline server: the same app and socket, but every guess calls Keras ``model.predict``.

That is what the original app did per request. Only for the benchmark:

    PYTHONPATH=. .venv/bin/python bench/keras_server.py --port 5001
"""

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from server import config, create_app  # noqa: E402
from server.__main__ import main  # noqa: E402
from server.classifier import Classifier  # noqa: E402


class KerasClassifier(Classifier):
    """The shipped model's Keras twin (``model.keras``), called with ``model.predict`` per guess."""

    def __init__(self, model_dir):
        super().__init__(model_dir)  # labels, card and checks as usual
        import keras

        self.model = keras.models.load_model(Path(model_dir) / "model.keras")

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        batch = image.reshape(1, 28, 28, 1).astype(np.float32)
        return np.asarray(self.model.predict(batch, verbose=0)[0])


def make_app(overrides):
    settings = config.load(overrides)
    return create_app(overrides, classifier=KerasClassifier(settings.model_dir))


if __name__ == "__main__":
    sys.exit(main(make_app=make_app))

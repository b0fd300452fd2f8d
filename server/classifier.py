"""The shipped model off the event loop: core's Classifier with a thread of its own.

An interpreter must be used from one thread at a time, so each Classifier
owns a one-thread executor and every inference runs there. A big drawing's
pipeline (hundreds of milliseconds for one full of long scribbles) runs on a
second thread (``prepare``), so only its short inference (``predict_image``)
takes a turn on the interpreter's: a small drawing never waits behind it.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from core import model, sketch


class Classifier(model.Classifier):
    """``core.model.Classifier`` plus ``predict``: the same work, awaited off the event loop."""

    def __init__(self, model_dir: Path | str):
        super().__init__(model_dir)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier")
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="big-drawings")

    async def predict(self, drawing: list[np.ndarray]) -> model.Prediction:
        """``classify`` on the classifier's own thread, so the event loop stays free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.classify, drawing)

    async def prepare(self, drawing: list[np.ndarray]) -> np.ndarray:
        """The model's input for a big drawing (``core.sketch.to_model_input``), on the big drawings' thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._preparer, sketch.to_model_input, drawing)

    async def predict_image(self, image: np.ndarray) -> model.Prediction:
        """The model's answer for a prepared input, on the classifier's thread."""
        loop = asyncio.get_running_loop()
        probabilities = await loop.run_in_executor(self._executor, self.probabilities, image)
        return model.Prediction(self.labels, probabilities)

    def close(self) -> None:
        self._preparer.shutdown(wait=True, cancel_futures=True)
        self._executor.shutdown(wait=True, cancel_futures=True)
        super().close()

"""The shipped model off the event loop: core's Classifier with a thread of its own.

An interpreter must be used from one thread at a time, so each Classifier
owns a one-thread executor and every inference runs there.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from core import model


class Classifier(model.Classifier):
    """``core.model.Classifier`` plus ``predict``: the same work, awaited off the event loop."""

    def __init__(self, model_dir: Path | str):
        super().__init__(model_dir)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier")

    async def predict(self, drawing: list[np.ndarray]) -> model.Prediction:
        """``classify`` on the classifier's own thread, so the event loop stays free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.classify, drawing)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        super().close()

"""The app's shared resources: settings, the loaded classifier, the store and running saves."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from core import sketch
from core.model import Prediction
from server import protocol
from server.classifier import Classifier
from server.config import Settings, stored_secret
from server.flow import Budgets, FairQueue
from server.metrics import Metrics
from server.roomhub import LocalHub, RedisHub
from server.session import Drawing
from server.store import DirectoryStore, PostgresStore, SavedDrawingStore, render_png

log = logging.getLogger("server")
JOB_POINTS = 200  # what a classification costs beyond its drawing's work (the network itself), in points
BIG_JOB = 50_000  # work (core.sketch.work, ~5-8 ms) past which a drawing's pipeline leaves the classifier's
# thread; real drawings stay under ~12,000 (docs/RELIABILITY.md)


@dataclass(eq=False)
class Services:
    settings: Settings
    classifier: Classifier
    store: SavedDrawingStore
    backlog: int = 0  # inferences waiting or running, server-wide
    saves: set = field(default_factory=set)  # running save tasks, awaited at shutdown
    api_budgets: Budgets = field(init=False)  # POST /api/guess: classified points per client address
    turns: FairQueue = field(default_factory=FairQueue)  # whose classification runs next
    big_turns: FairQueue = field(default_factory=FairQueue)  # ... and whose big drawing is prepared next
    secret: bytes = field(init=False)  # signs resume and seat tokens: SECRET, else the one kept in SAVED_DIR
    drawings: DirectoryStore | PostgresStore = field(init=False)  # where finished drawings go: STORE_URL or SAVED_DIR
    rooms: LocalHub | RedisHub = field(init=False)  # where rooms live: REDIS_URL, or this process
    metrics: Metrics = field(default_factory=Metrics)  # this app's own Prometheus registry
    # One thread writes every drawing: saves are short, and one thread keeps their CPU and
    # malloc arenas from spreading over the default executor's many threads.
    saver: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="saver"))

    def __post_init__(self):
        settings = self.settings
        self.api_budgets = Budgets(settings.api_points_per_second, settings.classify_points_burst)
        self.secret = (settings.secret or stored_secret(settings.saved_dir)).encode()
        if settings.store_url:  # the saved directory is then the spool for drawings the database cannot take yet
            self.drawings = PostgresStore(settings.store_url, self.store, self.saver, self.metrics.spooled)
        else:
            self.drawings = DirectoryStore(self.store, self.saver)
        self.rooms = (
            RedisHub(settings.redis_url, settings.max_rooms) if settings.redis_url else LocalHub(settings.max_rooms)
        )

    async def predict(self, drawing: list[np.ndarray], owner: str = "", work: int | None = None) -> Prediction:
        """The classifier's answer for a drawing, in ``owner``'s fair turn (a connection, a client address),
        counted in the server-wide ``backlog`` while it waits or runs. ``work``: ``core.sketch.work(drawing)``,
        if the caller knows it already. A big drawing is prepared in a lane of its own, so it never holds up a
        small one for longer than its inference."""
        self.backlog += 1
        try:
            cost = JOB_POINTS + (sketch.work(drawing) if work is None else work)
            if cost <= BIG_JOB:
                return await self.turns.run(owner, cost, lambda: self.classifier.predict(drawing))
            image = await self.big_turns.run(owner, cost, lambda: self.classifier.prepare(drawing))
            return await self.turns.run(owner, JOB_POINTS, lambda: self.classifier.predict_image(image))
        finally:
            self.backlog -= 1

    async def save(self, drawing: Drawing, reply_to: protocol.RequestId = None) -> protocol.Saved:
        """Render (on the saver thread) and store a finished drawing."""
        record, png = await asyncio.get_running_loop().run_in_executor(self.saver, _record_and_png, drawing)
        await self.drawings.save(record, png, drawing.id)
        url = f"/api/drawings/{drawing.id}"
        return protocol.Saved(
            drawing.id,
            drawing.word,
            drawing.mode,
            drawing.recognized,
            len(drawing.strokes),
            url,
            url + ".png",
            reply_to,
        )

    async def save_async(
        self, drawing: Drawing, reply_to: protocol.RequestId = None
    ) -> protocol.Saved | protocol.NotSaved:
        """``save``; a failure is logged and becomes ``not_saved`` with reason ``save_failed``."""
        try:
            return await self.save(drawing, reply_to)
        except (OSError, ValueError) as error:
            log.error("saving drawing %s failed: %s", drawing.id, error)
            return protocol.NotSaved(drawing.id, protocol.ErrorCode.SAVE_FAILED, reply_to)

    def spawn(self, coroutine) -> asyncio.Task:
        """Run a save in its own task, tracked so shutdown can wait for it and a disconnect cannot cancel it."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.saves.add(task)
        task.add_done_callback(self.saves.discard)
        return task

    async def drain(self) -> None:
        """Wait for every running save (at shutdown)."""
        while self.saves:
            await asyncio.gather(*list(self.saves), return_exceptions=True)


def _record_and_png(drawing: Drawing) -> tuple[dict, bytes]:
    """A finished drawing's record and picture: list-building and PNG encoding, for the saver thread."""
    record = drawing.record()
    return record, render_png(record["drawing"])

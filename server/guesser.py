"""A connection's guess scheduler: which state of its drawing the classifier sees next, and when.

Owed guesses (a completed stroke, an undo, a clear) go first, in order, at most one waiting (``OwedSlot``),
so a slow classifier pauses the connection's reader instead of building a queue. When none waits, the
newest state of the open stroke gets a live guess, if no guess has seen it, once ``live_guess_interval_ms``
has passed and the classifier keeps up. Every classification is paid for from the connection's budget of
points (``classify_points_per_second``): over it, the connection waits its turn.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

from core import sketch
from core.model import Prediction
from server import protocol
from server.flow import OwedSlot, Request, TokenBucket
from server.services import Services
from server.session import Drawing, Session

Answer = Callable[[Request, Prediction | None], None]
LIVE_POLL_S = 0.01  # a live guess held back by a busy classifier is retried this often


class Guesser:
    def __init__(self, services: Services, session: Session, owner: str) -> None:
        self.services, self.session, self.owner = services, session, owner
        settings = services.settings
        self.interval_s = settings.live_guess_interval_ms / 1000
        self.max_backlog = settings.live_guess_max_backlog
        self.budget = TokenBucket(settings.classify_points_per_second, settings.classify_points_burst)
        self.slot = OwedSlot()
        self.last_live = float("-inf")
        self.live_wanted = False  # the open stroke has points no guess has seen

    async def owe(self, drawing: Drawing, reply: asyncio.Future[Any], reply_to: protocol.RequestId) -> None:
        """Ask for the guess owed for the drawing as it is now (waits while an owed one is waiting)."""
        self.live_wanted = False
        drawing.last_owed = reply
        strokes, asked = list(drawing.strokes), time.perf_counter()
        cost = sketch.work(strokes) if strokes else 0  # an undo on a big drawing costs what redrawing it costs
        await self.pay(cost)  # the reader waits here: over its share, nothing more of this client is read
        await self.slot.put(Request(drawing, strokes, len(strokes), drawing.epoch, reply, reply_to, asked, cost))

    async def pay(self, cost: int) -> None:
        """Take ``cost`` from the connection's budget, waiting until it can be taken."""
        while not self.budget.take(cost):
            await asyncio.sleep(self.budget.retry_after(cost))

    def drawn(self) -> None:
        """The open stroke grew: a live guess is wanted."""
        self.live_wanted = True
        self.slot.poke()

    def reset(self) -> None:
        """A drawing began: nothing of it wants a live guess yet."""
        self.live_wanted = False

    def close(self) -> None:
        self.slot.close()

    async def affordable(self) -> None:
        """Until the connection's budget owes nothing (a cost over the burst was taken from it): its next message
        is not read before, so a client over its share costs the event loop nothing."""
        while (wait := self.budget.retry_after(0)) > 0:
            await asyncio.sleep(wait)

    async def run(self, answer: Answer) -> None:
        """Classify for as long as the connection lives; ``answer`` gets each request and its prediction (None
        for an empty drawing). It is an argument, not an attribute: a closed connection holds no cycle."""
        while True:
            request = self.slot.take()
            if request is None:
                wait = self.live_wait()
                if wait is None or wait > 0:
                    await self.slot.wait(wait)
                    continue
                request = self.live_request()
            await self.guess(request, answer)

    def live_wait(self) -> float | None:
        """Seconds until a live guess may be asked for: None when none is wanted, 0 for now."""
        drawing = self.session.drawing
        if not self.live_wanted or drawing is None:
            return None
        left = self.last_live + self.interval_s - time.monotonic()
        if left > 0:
            return left
        if (over := self.budget.retry_after(drawing.points)) > 0:
            return over  # over its share of the classifier
        if self.services.backlog >= self.max_backlog:
            return LIVE_POLL_S
        return 0.0

    def live_request(self) -> Request:
        self.last_live, self.live_wanted = time.monotonic(), False
        drawing = cast(Drawing, self.session.drawing)  # not None: live_wait, just before, saw it open
        return Request(drawing, drawing.snapshot(), len(drawing.strokes), drawing.epoch)

    async def guess(self, request: Request, answer: Answer) -> None:
        prediction = None
        if request.snapshot:
            cost = request.cost
            if request.live:  # an owed request was paid for by the reader
                cost = sketch.work(request.snapshot)
                await self.pay(cost)
            prediction = await self.services.predict(request.snapshot, self.owner, cost)
            drawing = cast(Drawing, request.drawing)  # flow's Request holds whatever drawing it was given: ours
            if request.live and not self.session.current(drawing, request.epoch):
                return  # the drawing changed (undo, stroke end…) or ended meanwhile: its owed guess covers it
        answer(request, prediction)

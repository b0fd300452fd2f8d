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
        strokes = list(drawing.strokes)
        await self.slot.put(Request(drawing, strokes, len(strokes), drawing.epoch, reply, reply_to))

    def drawn(self) -> None:
        """The open stroke grew: a live guess is wanted."""
        self.live_wanted = True
        self.slot.poke()

    def reset(self) -> None:
        """A drawing began: nothing of it wants a live guess yet."""
        self.live_wanted = False

    def close(self) -> None:
        self.slot.close()

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
            cost = sketch.point_count(request.snapshot)
            while not self.budget.take(cost):  # over its share: this connection waits, and stops being read
                await asyncio.sleep(self.budget.retry_after(cost))
            prediction = await self.services.predict(request.snapshot, self.owner)
            drawing = cast(Drawing, request.drawing)  # flow's Request holds whatever drawing it was given: ours
            if request.live and not self.session.current(drawing, request.epoch):
                return  # the drawing changed (undo, stroke end…) or ended meanwhile: its owed guess covers it
        answer(request, prediction)

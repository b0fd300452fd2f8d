"""Flow control for one connection: a newest-state-wins slot and a token bucket."""

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Request:
    """A drawing state to classify. ``required`` ones (stroke end, undo, clear) are always answered."""

    drawing: object  # the session.Drawing it belongs to
    snapshot: list[np.ndarray]
    strokes: int
    required: bool
    at: float = field(default_factory=time.perf_counter)  # when it was asked for: the guess latency starts here


class LatestSlot:
    """Holds at most one waiting Request, so a slow classifier never builds a queue.

    A newer live request replaces a waiting live one; a live request never
    displaces a required one; a second required request waits until the first
    is taken, so the reader pauses instead of a queue growing here.
    """

    def __init__(self):
        self._item: Request | None = None
        self._busy = False
        self._closed = False
        self._changed = asyncio.Event()

    async def put(self, request: Request) -> None:
        if request.required:
            await self._wait(lambda: self._item is None or not self._item.required)
        elif self._item is not None and self._item.required:
            return
        self._item = request
        self._notify()

    async def take(self) -> Request:
        """The waiting request; the caller calls ``done()`` when it has answered it."""
        await self._wait(lambda: self._item is not None)
        if self._item is None:
            raise asyncio.CancelledError("slot closed")
        request, self._item, self._busy = self._item, None, True
        self._notify()
        return request

    def done(self) -> None:
        self._busy = False
        self._notify()

    async def join(self) -> None:
        """Wait until every request put so far has been answered (or the slot is closed)."""
        await self._wait(lambda: self._item is None and not self._busy)

    def close(self) -> None:
        """Wake every waiter for good: the connection is over."""
        self._closed = True
        self._notify()

    async def _wait(self, ready) -> None:
        while not (ready() or self._closed):
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class TokenBucket:
    """Allows ``rate`` messages per second on average and bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens, self._last = float(burst), clock()

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty (a flood)."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

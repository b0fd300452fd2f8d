"""Flow control for one connection: a slot for owed classifications and a token bucket."""

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Request:
    """A drawing state to classify: owed ones (stroke end, undo, clear) carry the future their guess goes to."""

    drawing: object  # the session.Drawing it belongs to
    snapshot: list[np.ndarray]
    strokes: int
    epoch: int  # the drawing's epoch when asked: a live answer from an older one is stale
    reply: asyncio.Future | None = None  # owed: resolved with the guess message; live: None
    reply_to: object = None  # the id of the client message it answers
    at: float = field(default_factory=time.perf_counter)  # when it was asked for: the guess latency starts here

    @property
    def live(self) -> bool:
        return self.reply is None


class OwedSlot:
    """Owed requests of one connection in order, at most one waiting, so a slow classifier pauses the
    connection's reader instead of building a queue. ``wait`` also wakes on ``poke`` (a newer live state)."""

    def __init__(self):
        self._item: Request | None = None
        self._closed = False
        self._changed = asyncio.Event()

    async def put(self, request: Request) -> None:
        """Wait while a request is waiting, then leave this one."""
        while self._item is not None and not self._closed:
            await self._changed.wait()
        self._item = request
        self.poke()

    def take(self) -> Request | None:
        """The waiting request, or None."""
        request, self._item = self._item, None
        if request is not None:
            self.poke()
        return request

    async def wait(self, timeout: float | None) -> None:
        """Until something changes (a put, a take, a poke), at most ``timeout`` seconds.

        Raises:
            asyncio.CancelledError: the slot is closed (the connection is over).
        """
        if self._closed:
            raise asyncio.CancelledError("slot closed")
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass

    def poke(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """Wake every waiter for good: the connection is over."""
        self._closed = True
        self.poke()


class TokenBucket:
    """Allows ``rate`` messages per second on average and bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens, self._last = float(burst), clock()

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty (over the rate: see ``retry_after``)."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def retry_after(self) -> float:
        """Seconds until the next token (0 when there is one)."""
        return max(0.0, (1 - self._tokens) / self.rate)

"""Flow control: a slot for a connection's owed classifications, token buckets, and budgets per client."""

import asyncio
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")  # what a FairQueue job gives back


@dataclass(frozen=True, eq=False)
class Request:
    """A drawing state to classify: owed ones (stroke end, undo, clear) carry the future their guess goes to."""

    drawing: object  # the session.Drawing it belongs to
    snapshot: list[np.ndarray]
    strokes: int
    epoch: int  # the drawing's epoch when asked: a live answer from an older one is stale
    reply: asyncio.Future[Any] | None = None  # owed: resolved with the guess message; live: None
    reply_to: object = None  # the id of the client message it answers
    at: float = field(default_factory=time.perf_counter)  # when it was asked for: the guess latency starts here
    cost: int = 0  # owed: its work (core.sketch.work), paid from the connection's budget before it was asked

    @property
    def live(self) -> bool:
        return self.reply is None


class OwedSlot:
    """Owed requests of one connection in order, at most one waiting, so a slow classifier pauses the
    connection's reader instead of building a queue. ``wait`` also wakes on ``poke`` (a newer live state)."""

    def __init__(self) -> None:
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

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens, self._last = float(burst), clock()

    def take(self, n: float = 1) -> bool:
        """Spend ``n`` tokens; False (and nothing spent) when there are fewer: see ``retry_after``.

        More than ``burst`` can never be there: such a cost is taken from a full bucket, which then owes the
        rest, so what comes after waits until the whole cost is paid back.
        """
        self._refill()
        if self._tokens < min(n, self.burst):
            return False
        self._tokens -= n
        return True

    def available(self) -> float:
        """The tokens there now (negative while the bucket owes a big cost)."""
        self._refill()
        return self._tokens

    def retry_after(self, n: float = 1) -> float:
        """Seconds until ``n`` tokens can be taken (0 when they can)."""
        self._refill()
        return max(0.0, (min(n, self.burst) - self._tokens) / self.rate)

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now


class Budgets:
    """A TokenBucket per key (a client address), for the ``most`` keys seen last; older ones are forgotten."""

    def __init__(self, rate: float, burst: int, most: int = 10_000) -> None:
        self.rate, self.burst, self.most = rate, burst, most
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __getitem__(self, key: str) -> TokenBucket:
        bucket = self._buckets.pop(key, None) or TokenBucket(self.rate, self.burst)
        self._buckets[key] = bucket  # now the newest
        if len(self._buckets) > self.most:
            self._buckets.popitem(last=False)
        return bucket


class FairQueue:
    """Runs one job at a time; of those waiting, the one whose owner's recent use plus its cost is least.

    An owner is a connection or a client address; its use is the cost (points) of the jobs it ran,
    halving every HALF_LIFE_S. A small job of a player drawing small strokes thus goes before the
    big redraws of anyone who keeps the classifier busy, and waits at most for the job in hand; the
    heavy ones, already slowed by their budgets, share what is left.
    """

    HALF_LIFE_S = 1.0
    FORGET_AFTER = 1000  # owners remembered before those with (almost) no recent use are forgotten

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []  # a heap: (recent use + cost, arrival, turn)
        self._arrivals = itertools.count()
        self._busy = False
        self._use: dict[Hashable, tuple[float, float]] = {}  # owner → (recent use, when it was last updated)

    def recent_use(self, owner: Hashable) -> float:
        """The owner's use, decayed to now."""
        use, at = self._use.get(owner, (0.0, 0.0))
        decay: float = 0.5 ** ((self.clock() - at) / self.HALF_LIFE_S)  # typeshed: a float power may be complex
        return use * decay

    async def run(self, owner: Hashable, cost: float, job: Callable[[], Awaitable[T]]) -> T:
        """``await job()`` when it is this owner's turn; ``cost`` is what the job takes (points)."""
        use = self.recent_use(owner)
        self._use[owner] = (use + cost, self.clock())
        if len(self._use) > self.FORGET_AFTER:
            self._use = {o: u for o, u in self._use.items() if self.recent_use(o) >= 1}
        if self._busy:
            turn = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (use + cost, next(self._arrivals), turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # handed the turn, then cancelled: pass it on
                    self._hand_over()
                raise
        self._busy = True
        try:
            return await job()
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)  # its owner is busy from now: no newcomer slips in meanwhile
                return
        self._busy = False

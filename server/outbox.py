"""A connection's outbox: its answers leave in the order of the messages they answer.

An item is a server message, a list of them, or a future of either: an owed guess that the classifier
resolves later, a drawing's verdict or its save. The writer sends the items in order, waiting for each
future in turn, so a fast answer never overtakes a slow one that was owed first.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("server.ws")

LIMIT = 64  # answers waiting for a client that does not read: beyond this its reader waits


Send = Callable[[object], Awaitable[None]]  # sends one message on the socket (and never raises)


class Outbox:
    # The outbox holds no reference to its connection (``send`` is an argument of the task that writes), so a
    # closed connection is freed by reference counting, without waiting for the garbage collector.
    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()  # messages, lists of them, futures of either
        self.owed: set[asyncio.Future[object]] = set()  # owed answers not computed yet

    def put(self, item: object) -> None:
        """Queue a message (or a list, or a future of either) after everything queued before it."""
        self.queue.put_nowait(item)

    def owe(self) -> asyncio.Future[object]:
        """Queue the place of an answer that ``settle`` fills in later."""
        reply: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.owed.add(reply)
        self.put(reply)
        return reply

    def settle(self, reply: asyncio.Future[object], message: object) -> None:
        self.owed.discard(reply)
        if not reply.done():
            reply.set_result(message)

    def forget(self) -> None:
        """Owed answers that will not be computed (the connection failed or ended): the writer skips them."""
        for reply in self.owed:
            reply.cancel()
        self.owed.clear()

    @property
    def full(self) -> bool:
        return self.queue.qsize() > LIMIT

    async def write(self, send: Send) -> None:
        """Send the outbox in order, for as long as the connection lives."""
        while True:
            item = await self.queue.get()
            try:
                if isinstance(item, asyncio.Future):
                    await asyncio.wait([item])
                    if item.cancelled():
                        continue
                    if item.exception() is not None:
                        log.error("an answer failed", exc_info=item.exception())
                        continue
                    item = item.result()
                for message in item if isinstance(item, list) else [item]:
                    await send(message)
            finally:
                self.queue.task_done()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until everything queued has gone out, at most ``timeout_s``; False if it had not."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.queue.join()
            return True
        except TimeoutError:
            return False

    async def send_ready(self, send: Send) -> None:
        """Without a writer (refused before serving): send the messages that need no waiting."""
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if not isinstance(item, asyncio.Future):
                await send(item)

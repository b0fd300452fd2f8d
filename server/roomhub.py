"""Where rooms live and how their news travels: in this process, or in Redis for several instances.

Both hubs offer the same four things: ``create`` a room under a fresh code, ``change`` one atomically
(read, apply a rule from ``server.rooms``, write back — or nothing when the rule refuses), ``publish`` an
event to everyone in a room, and ``listen`` to a room's events. ``LocalHub`` (the default, one instance)
keeps rooms in a dict behind a lock per room. ``RedisHub`` (``REDIS_URL``) keeps each room as JSON under a
key that expires when nobody has touched the room for ``ROOM_TTL_S``, changes it in a WATCH/MULTI
transaction, creates it in one Lua script (so ``max_rooms`` holds across instances), and carries events
over pub/sub: one pattern subscription per instance, one ordered publisher, so players of one room may be
connected to different instances and see each player's news in the order it was made.
"""

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TypeVar

from server.protocol import ErrorCode
from server.rooms import Room, RoomError, new_code

log = logging.getLogger("server.rooms")
T = TypeVar("T")

ROOM_TTL_S = 30 * 60  # a room nobody has changed for this long is gone (a game takes ~3 minutes)
LISTENER_QUEUE = 512  # events a listener may have waiting; past this it is marked overflowed and fed no more
KEY_PREFIX = "quickdraw:room:"  # a room's state, JSON
CHANNEL_PREFIX = "quickdraw:room-events:"  # its events
OPEN_ROOMS = "quickdraw:rooms"  # a sorted set: every room's code, scored by when it was last changed
READY_S = 2.0  # how long ``ready`` waits for the instance's subscription before saying rooms are out
RECONNECT_S = (0.1, 10.0)  # the reader's wait after losing Redis: first, then doubled up to this
PING_AFTER_S = 15.0  # a subscription silent this long is pinged; silent as long again, it is taken for dead
OUTBOX = 10_000  # events waiting to be published; past this Redis is too slow and publishing says so
BATCH = 256  # events sent in one pipeline: in order, one round trip

# Count the open rooms and create one in a single step, so that instances creating at once cannot pass
# max_rooms together. KEYS: the open rooms, the new room's key. ARGV: now, ROOM_TTL_S, max_rooms, the
# room's JSON, its code. Returns 1 (created), 0 (full) or -1 (the code is taken: draw another).
CREATE_ROOM = """
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - ttl)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
if not redis.call("SET", KEYS[2], ARGV[4], "NX", "EX", ttl) then return -1 end
redis.call("ZADD", KEYS[1], now, ARGV[5])
return 1
"""


class RoomsUnavailable(RuntimeError):
    """The shared room store cannot be reached (Redis down): rooms are out, single play goes on."""


class Listener:
    """One connection's view of a room's events: an async iterator over a bounded queue."""

    def __init__(self, hub, code: str):
        self.hub, self.code = hub, code
        self.queue: asyncio.Queue = asyncio.Queue(LISTENER_QUEUE)
        self.overflowed = False  # it missed events (fell behind, or the hub lost Redis): its connection should close

    def deliver(self, event: dict) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("a room listener fell behind", extra={"room": self.code})

    def lost(self) -> None:
        """Events may have been lost on their way here (the hub's subscription dropped): mark it, wake its reader."""
        if not self.overflowed:
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueFull):  # a full queue wakes the reader anyway
                self.queue.put_nowait({"type": "events_lost"})

    async def get(self) -> dict:
        return await self.queue.get()

    def close(self) -> None:
        self.hub._drop(self)


class LocalHub:
    """Rooms in this process: right for one instance, and what ``make run`` uses."""

    def __init__(self, max_rooms: int = 1000, clock=None):
        self.max_rooms = max_rooms
        self.rooms: dict[str, Room] = {}
        self.touched: dict[str, float] = {}
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.listeners: defaultdict[str, set[Listener]] = defaultdict(set)
        self.clock = clock or (lambda: asyncio.get_running_loop().time())

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def create(self, time_limit_ms: int, break_ms: int = 5000) -> Room:
        """A new, empty room under a fresh code.

        Raises:
            RoomError: ``rooms_full`` at ``max_rooms`` rooms.
        """
        self._expire()
        if len(self.rooms) >= self.max_rooms:
            raise RoomError(ErrorCode.ROOMS_FULL, "this server has as many rooms as it can hold; try again later")
        code = new_code()
        while code in self.rooms:
            code = new_code()
        room = self.rooms[code] = Room(code, time_limit_ms, break_ms)
        self.touched[code] = self.clock()
        return room

    async def get(self, code: str) -> Room | None:
        self._expire()
        return self.rooms.get(code)

    async def change(self, code: str, rule: Callable[[Room], T]) -> tuple[Room, T]:
        """Apply ``rule`` to the room; what it raises leaves the room as it was.

        Raises:
            RoomError: ``no_room`` when there is no such room (or it expired), or what ``rule`` raises.
        """
        async with self.locks[code]:
            self._expire()
            if code not in self.rooms:
                raise RoomError(ErrorCode.NO_ROOM, "there is no room with this code (it may have expired)")
            room = Room.from_json(self.rooms[code].to_json())  # a copy: a refused rule changes nothing
            value = rule(room)
            room.version += 1
            if room.players:
                self.rooms[code], self.touched[code] = room, self.clock()
            else:
                self._delete(code)  # the last player left
            return room, value

    async def publish(self, code: str, event: dict) -> None:
        for listener in list(self.listeners.get(code, ())):
            listener.deliver(event)

    def listen(self, code: str) -> Listener:
        listener = Listener(self, code)
        self.listeners[code].add(listener)
        return listener

    async def ready(self, listener: Listener) -> None:
        """Events published from now on reach ``listener`` (at once, in one process)."""

    def _drop(self, listener: Listener) -> None:
        listeners = self.listeners.get(listener.code)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self.listeners[listener.code]

    def _expire(self) -> None:
        now = self.clock()
        for code in [c for c, at in self.touched.items() if now - at > ROOM_TTL_S]:
            self._delete(code)

    def _delete(self, code: str) -> None:
        self.rooms.pop(code, None)
        self.touched.pop(code, None)
        self.locks.pop(code, None)


def _own_task(method):
    """Run a hub method in a task of its own, and wait for it there. redis-py bounds each write with
    ``asyncio.wait_for``, which on Python 3.11 can swallow a cancellation of the task that awaits it
    (redis/redis-py#2028): a closing socket's task would live on. Here the caller is cancelled for sure,
    and the method as surely as redis-py lets it be."""

    @functools.wraps(method)
    async def run(self, *args, **kwargs):
        task = asyncio.ensure_future(method(self, *args, **kwargs))
        self.tasks.add(task)
        task.add_done_callback(self._forget)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            raise

    return run


async def _stop(task: asyncio.Task) -> None:
    """Cancel ``task`` and wait for its end: again, if redis-py swallowed the cancellation (see ``_own_task``)."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)


class RedisHub:
    """Rooms in Redis, shared by every instance that points at the same server."""

    def __init__(self, url: str, max_rooms: int = 1000):
        import redis.asyncio  # only where REDIS_URL is set: one instance needs no Redis client

        self.max_rooms = max_rooms  # rooms open at once across every instance
        timeouts = {"socket_timeout": 5, "socket_connect_timeout": 2}
        self.redis = redis.asyncio.from_url(url, decode_responses=True, **timeouts)
        self.events = redis.asyncio.from_url(url, **timeouts)  # bytes: a payload that is not UTF-8 is one bad event
        self.errors = (redis.RedisError, OSError)
        self.watch_error = redis.WatchError
        self.create_room = self.redis.register_script(CREATE_ROOM)
        self.listeners: defaultdict[str, set[Listener]] = defaultdict(set)
        self.subscribed = asyncio.Event()  # Redis has confirmed the subscription to every room's channel
        self.reader: asyncio.Task | None = None
        self.outbox: asyncio.Queue[tuple[str, str, asyncio.Future]] = asyncio.Queue(OUTBOX)
        self.sender: asyncio.Task | None = None
        self.tasks: set[asyncio.Task] = set()  # the ``_own_task`` ones still running

    async def open(self) -> None:
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        for task in [self.reader, self.sender, *self.tasks]:
            if task is not None:
                await _stop(task)
        while not self.outbox.empty():
            *_, done = self.outbox.get_nowait()
            if not done.done():
                done.set_exception(RoomsUnavailable("the room hub is closed"))
        await self.redis.aclose()
        await self.events.aclose()

    @_own_task
    async def create(self, time_limit_ms: int, break_ms: int = 5000) -> Room:
        """A new, empty room under a fresh code.

        Raises:
            RoomError: ``rooms_full`` at ``max_rooms`` rooms across every instance.
            RoomsUnavailable: Redis is out of reach.
        """
        async with self._reachable():
            while True:
                room = Room(new_code(), time_limit_ms, break_ms)
                args = [repr(time.time()), ROOM_TTL_S, self.max_rooms, json.dumps(room.to_json()), room.code]
                created = await self.create_room(keys=[OPEN_ROOMS, _key(room.code)], args=args)
                if created == 1:
                    return room
                if created == 0:
                    raise RoomError(ErrorCode.ROOMS_FULL, "the game has as many rooms as it can hold; try again later")

    @_own_task
    async def get(self, code: str) -> Room | None:
        async with self._reachable():
            raw = await self.redis.get(_key(code))
        return None if raw is None else Room.from_json(json.loads(raw))

    @_own_task
    async def change(self, code: str, rule: Callable[[Room], T]) -> tuple[Room, T]:
        """As ``LocalHub.change``, in a WATCH/MULTI transaction retried when another instance got there first."""
        key = _key(code)
        async with self._reachable(), self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise RoomError(ErrorCode.NO_ROOM, "there is no room with this code (it may have expired)")
                    room = Room.from_json(json.loads(raw))
                    value = rule(room)
                    room.version += 1
                    pipe.multi()
                    if room.players:
                        pipe.set(key, json.dumps(room.to_json()), ex=ROOM_TTL_S)
                        pipe.zadd(OPEN_ROOMS, {code: time.time()})
                    else:
                        pipe.delete(key)
                        pipe.zrem(OPEN_ROOMS, code)
                    await pipe.execute()
                    return room, value
                except self.watch_error:
                    continue  # the room changed under us: read it again
                finally:
                    await pipe.reset()

    async def publish(self, code: str, event: dict) -> None:
        """Send ``event`` to the room on every instance, after every event this instance published before it.

        The event is queued at once, before this coroutine first waits, so tasks started one after another
        publish in the order they were started (one sender, one connection at a time).

        Raises:
            RoomsUnavailable: Redis is out of reach, or so slow that ``OUTBOX`` events are waiting.
        """
        done = asyncio.get_running_loop().create_future()
        try:
            self.outbox.put_nowait((CHANNEL_PREFIX + code, json.dumps(event), done))
        except asyncio.QueueFull:
            raise RoomsUnavailable("the room store is too slow: too many events wait to be published") from None
        if self.sender is None or self.sender.done():
            self.sender = asyncio.create_task(self._send())
        async with self._reachable():
            await done

    def listen(self, code: str) -> Listener:
        listener = Listener(self, code)
        self.listeners[code].add(listener)
        return listener

    async def ready(self, listener: Listener) -> None:
        """Wait until this instance receives the listener's room's events (its subscription is confirmed).

        Raises:
            RoomsUnavailable: Redis has not confirmed the subscription within ``READY_S``.
        """
        if self.subscribed.is_set():
            return
        try:
            async with asyncio.timeout(READY_S):  # not wait_for: on 3.11 it can swallow the caller's cancellation
                await self.subscribed.wait()
        except TimeoutError:
            raise RoomsUnavailable("no subscription to the rooms' events") from None

    def _drop(self, listener: Listener) -> None:
        listeners = self.listeners.get(listener.code)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self.listeners[listener.code]

    def _forget(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled():
            task.exception()  # its caller was cancelled and will not hear of it: no "never retrieved" warning

    async def _send(self) -> None:
        """Publish the queued events in the order they were queued: a batch at a time, each in one pipeline."""
        while True:
            batch = [await self.outbox.get()]
            while len(batch) < BATCH and not self.outbox.empty():
                batch.append(self.outbox.get_nowait())
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for channel, payload, _ in batch:
                        pipe.publish(channel, payload)
                    await pipe.execute()
            except Exception as error:  # the callers hear of it; the next batch tries again
                outcome = error
            else:
                outcome = None
            for *_, done in batch:
                if done.done():  # its caller was cancelled
                    continue
                if outcome is None:
                    done.set_result(None)
                else:
                    done.set_exception(outcome)

    async def _read(self) -> None:
        """The instance's one subscription, to every room's channel by pattern: each event to its room's
        listeners. Neither a bad message nor a dropped connection ends it: it logs, and subscribes again."""
        wait = RECONNECT_S[0]
        while True:
            pubsub = self.events.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                pinged = False  # the subscription was silent for PING_AFTER_S, and pinged
                while True:
                    message = await pubsub.get_message(timeout=PING_AFTER_S)
                    if message is None:
                        if pinged:
                            raise TimeoutError(f"no answer from Redis in {2 * PING_AFTER_S:g} s")
                        await pubsub.ping()
                        pinged = True
                        continue
                    pinged = False
                    if message["type"] == "psubscribe":
                        if self.subscribed.is_set():  # redis-py reconnected on its own: what came between is lost
                            log.warning("room events: the subscription to Redis was taken again; events may be lost")
                            self._lose()
                        self.subscribed.set()
                        wait = RECONNECT_S[0]
                    elif message["type"] == "pmessage":
                        self._dispatch(message["channel"], message["data"])
            except Exception as error:
                log.warning(
                    "room events: the subscription to Redis is lost (%s); subscribing again in %.1f s",
                    error,
                    wait,
                    exc_info=not isinstance(error, self.errors),
                )
                self.subscribed.clear()
                self._lose()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(wait)
            wait = min(2 * wait, RECONNECT_S[1])

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        """One message of a room's channel, to the room's listeners on this instance; a bad one is logged."""
        name = channel.decode(errors="replace")
        try:
            event = json.loads(data)
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise ValueError("not an event (a JSON object with a type)")
        except Exception as error:  # not JSON, not UTF-8, nested too deep, not an event
            log.warning("room events: a bad payload on %s is skipped: %.200s", name, error)
            return
        code = name.removeprefix(CHANNEL_PREFIX)
        for listener in list(self.listeners.get(code, ())):
            try:
                listener.deliver(event)
            except Exception:
                log.warning("room events: a listener failed on an event of %s", name, exc_info=True)

    def _lose(self) -> None:
        """Tell every listener on this instance that events may have been lost."""
        for listeners in list(self.listeners.values()):
            for listener in list(listeners):
                listener.lost()

    @contextlib.asynccontextmanager
    async def _reachable(self):
        """Redis's connection errors, as ``RoomsUnavailable``."""
        try:
            yield
        except self.errors as error:
            raise RoomsUnavailable(f"the room store is out of reach: {error}") from error


def _key(code: str) -> str:
    return KEY_PREFIX + code

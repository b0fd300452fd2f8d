"""Where rooms live and how their news travels: in this process, or in Redis for several instances.

Both hubs offer the same four things: ``create`` a room under a fresh code, ``change`` one atomically
(read, apply a rule from ``server.rooms``, write back — or nothing when the rule refuses), ``publish`` an
event to everyone in a room, and ``listen`` to a room's events. ``LocalHub`` (the default, one instance)
keeps rooms in a dict behind a lock per room. ``RedisHub`` (``REDIS_URL``) keeps each room as JSON under a
key that expires when nobody has touched the room for ``ROOM_TTL_S``, changes it in a WATCH/MULTI
transaction, and carries events over pub/sub, so players of one room may be connected to different
instances.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TypeVar

from server.rooms import Room, RoomError, new_code

log = logging.getLogger("server.rooms")
T = TypeVar("T")

ROOM_TTL_S = 30 * 60  # a room nobody has changed for this long is gone (a game takes ~3 minutes)
LISTENER_QUEUE = 512  # events a listener may have waiting; past this it is marked overflowed and fed no more
KEY_PREFIX = "quickdraw:room:"  # a room's state, JSON
CHANNEL_PREFIX = "quickdraw:room-events:"  # its events
OPEN_ROOMS = "quickdraw:rooms"  # a sorted set: every room's code, scored by when it was last changed


class RoomsUnavailable(RuntimeError):
    """The shared room store cannot be reached (Redis down): rooms are out, single play goes on."""


class Listener:
    """One connection's view of a room's events: an async iterator over a bounded queue."""

    def __init__(self, hub, code: str):
        self.hub, self.code = hub, code
        self.queue: asyncio.Queue = asyncio.Queue(LISTENER_QUEUE)
        self.overflowed = False  # the reader fell this far behind: its connection should close

    def deliver(self, event: dict) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("a room listener fell behind", extra={"room": self.code})

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
            raise RoomError("rooms_full", "this server has as many rooms as it can hold; try again later")
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
                raise RoomError("no_room", "there is no room with this code (it may have expired)")
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


class RedisHub:
    """Rooms in Redis, shared by every instance that points at the same server."""

    def __init__(self, url: str, max_rooms: int = 1000):
        import redis.asyncio  # only where REDIS_URL is set: one instance needs no Redis client

        self.max_rooms = max_rooms  # rooms open at once across every instance

        self.redis = redis.asyncio.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2)
        self.errors = (redis.RedisError, OSError)
        self.watch_error = redis.WatchError
        self.listeners: defaultdict[str, set[Listener]] = defaultdict(set)
        self.pubsub = None
        self.reader: asyncio.Task | None = None

    async def open(self) -> None:
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        if self.pubsub is not None:
            await self.pubsub.aclose()
        await self.redis.aclose()

    async def create(self, time_limit_ms: int, break_ms: int = 5000) -> Room:
        async with self._reachable():
            now = time.time()
            await self.redis.zremrangebyscore(OPEN_ROOMS, "-inf", now - ROOM_TTL_S)  # the expired ones
            if await self.redis.zcard(OPEN_ROOMS) >= self.max_rooms:
                raise RoomError("rooms_full", "the game has as many rooms as it can hold; try again later")
            while True:
                room = Room(new_code(), time_limit_ms, break_ms)
                if await self.redis.set(_key(room.code), json.dumps(room.to_json()), nx=True, ex=ROOM_TTL_S):
                    await self.redis.zadd(OPEN_ROOMS, {room.code: now})
                    return room

    async def get(self, code: str) -> Room | None:
        async with self._reachable():
            raw = await self.redis.get(_key(code))
        return None if raw is None else Room.from_json(json.loads(raw))

    async def change(self, code: str, rule: Callable[[Room], T]) -> tuple[Room, T]:
        """As ``LocalHub.change``, in a WATCH/MULTI transaction retried when another instance got there first."""
        key = _key(code)
        async with self._reachable(), self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise RoomError("no_room", "there is no room with this code (it may have expired)")
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
        async with self._reachable():
            await self.redis.publish(CHANNEL_PREFIX + code, json.dumps(event))

    def listen(self, code: str) -> Listener:
        listener = Listener(self, code)
        if not self.listeners[code]:
            asyncio.get_running_loop().create_task(self._subscribe(CHANNEL_PREFIX + code))
        self.listeners[code].add(listener)
        return listener

    async def ready(self, listener: Listener) -> None:
        """Wait until this instance receives the listener's room's events (a subscription takes a round trip)."""
        channel = (CHANNEL_PREFIX + listener.code).encode()
        for _ in range(200):
            if channel in self.pubsub.channels or channel.decode() in self.pubsub.channels:
                return
            await asyncio.sleep(0.01)
        raise RoomsUnavailable("no subscription to the room's events")

    def _drop(self, listener: Listener) -> None:
        listeners = self.listeners.get(listener.code)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self.listeners[listener.code]
            asyncio.get_running_loop().create_task(self._unsubscribe(CHANNEL_PREFIX + listener.code))

    async def _subscribe(self, channel: str) -> None:
        try:
            await self.pubsub.subscribe(channel)
        except self.errors as error:
            log.error("cannot subscribe to %s: %s", channel, error)

    async def _unsubscribe(self, channel: str) -> None:
        try:
            await self.pubsub.unsubscribe(channel)
        except self.errors as error:
            log.warning("cannot unsubscribe from %s: %s", channel, error)

    async def _read(self) -> None:
        """Hand every event this instance receives to the room's local listeners."""
        while True:
            if not self.pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except self.errors as error:
                log.error("room events lost: %s", error)
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            code = message["channel"].removeprefix(CHANNEL_PREFIX)
            event = json.loads(message["data"])
            for listener in list(self.listeners.get(code, ())):
                listener.deliver(event)

    @contextlib.asynccontextmanager
    async def _reachable(self):
        """Redis's connection errors, as ``RoomsUnavailable``."""
        try:
            yield
        except self.errors as error:
            raise RoomsUnavailable(f"the room store is out of reach: {error}") from error


def _key(code: str) -> str:
    return KEY_PREFIX + code

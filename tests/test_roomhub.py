"""Where rooms live (server/roomhub.py): the in-process hub and Redis (Debian's redis-server on loopback)."""

import asyncio

import pytest

from server import rooms
from server.roomhub import LocalHub, RedisHub, RoomsUnavailable
from server.rooms import RoomError
from tests.serving import free_port

WORDS = ["banana", "cat", "moon", "house", "fish", "tree"]


@pytest.fixture(params=["local", "redis"])
async def hub(request):
    if request.param == "local":
        hub = LocalHub()
    else:
        hub = RedisHub(request.getfixturevalue("redis_server").url)
    await hub.open()
    yield hub
    await hub.close()


async def test_a_room_is_created_changed_and_read_back(hub):
    room = await hub.create(20_000)
    assert rooms.CODE_PATTERN.fullmatch(room.code) and room.state == "lobby"
    changed, value = await hub.change(room.code, lambda r: (r.join("p1", "ada"), "done")[1])
    assert value == "done" and changed.players == {"p1": "ada"} and changed.host == "p1"
    assert (await hub.get(room.code)).players == {"p1": "ada"}


async def test_a_refused_rule_changes_nothing(hub):
    room = await hub.create(20_000)
    await hub.change(room.code, lambda r: r.join("p1", "ada"))

    def start_alone(r):
        r.start("p1", WORDS, 0)

    with pytest.raises(RoomError) as error:
        await hub.change(room.code, start_alone)
    assert error.value.code == "too_few_players"
    assert (await hub.get(room.code)).state == "lobby"


async def test_an_unknown_room_is_no_room(hub):
    with pytest.raises(RoomError) as error:
        await hub.change("ZZZZZ", lambda r: None)
    assert error.value.code == "no_room"
    assert await hub.get("ZZZZZ") is None


async def test_a_room_whose_last_player_leaves_is_gone(hub):
    room = await hub.create(20_000)
    await hub.change(room.code, lambda r: r.join("p1", "ada"))
    await hub.change(room.code, lambda r: r.leave("p1"))
    assert await hub.get(room.code) is None


async def test_concurrent_joins_all_land_and_the_ninth_is_refused(hub):
    room = await hub.create(20_000)
    outcomes = await asyncio.gather(
        *(hub.change(room.code, lambda r, i=i: r.join(f"p{i}", f"player {i}")) for i in range(9)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, RoomError)]
    assert len(refused) == 1 and refused[0].code == "room_full"
    assert len((await hub.get(room.code)).players) == rooms.MAX_PLAYERS


async def test_events_reach_every_listener_of_the_room_and_no_other(hub):
    room, other = await hub.create(20_000), await hub.create(20_000)
    first, second, elsewhere = hub.listen(room.code), hub.listen(room.code), hub.listen(other.code)
    for listener in (first, second, elsewhere):
        await hub.ready(listener)
    await hub.publish(room.code, {"type": "peer_points", "n": 1})
    await hub.publish(room.code, {"type": "peer_points", "n": 2})
    for listener in (first, second):
        got = [await asyncio.wait_for(listener.get(), 5) for _ in range(2)]
        assert [e["n"] for e in got] == [1, 2]  # in order
    assert elsewhere.queue.empty()
    for listener in (first, second, elsewhere):
        listener.close()


async def test_a_listener_that_falls_behind_is_marked_not_the_others(hub, monkeypatch):
    from server import roomhub

    monkeypatch.setattr(roomhub, "LISTENER_QUEUE", 3)
    room = await hub.create(20_000)
    slow, fast = hub.listen(room.code), hub.listen(room.code)
    await hub.ready(slow)
    for n in range(5):
        await hub.publish(room.code, {"n": n})
        await asyncio.wait_for(fast.get(), 5)
    await asyncio.sleep(0.1)
    assert slow.overflowed and not fast.overflowed


async def test_two_instances_share_a_room_through_redis(redis_server):
    one, two = RedisHub(redis_server.url), RedisHub(redis_server.url)
    await one.open()
    await two.open()
    try:
        room = await one.create(20_000)
        await one.change(room.code, lambda r: r.join("p1", "ada"))
        await two.change(room.code, lambda r: r.join("p2", "bob"))
        listener = one.listen(room.code)
        await one.ready(listener)
        await two.publish(room.code, {"type": "peer_points", "player": "p2"})
        assert (await asyncio.wait_for(listener.get(), 5))["player"] == "p2"
        assert (await one.get(room.code)).players == {"p1": "ada", "p2": "bob"}
        listener.close()
    finally:
        await one.close()
        await two.close()


def test_an_idle_room_expires_in_process():
    now = [0.0]
    hub = LocalHub(clock=lambda: now[0])

    async def scenario():
        room = await hub.create(20_000)
        await hub.change(room.code, lambda r: r.join("p1", "ada"))
        now[0] += 29 * 60
        assert await hub.get(room.code) is not None
        now[0] += 2 * 60
        assert await hub.get(room.code) is None

    asyncio.run(scenario())


async def test_an_unreachable_redis_is_said_plainly():
    hub = RedisHub(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(RoomsUnavailable):
            await hub.create(20_000)
    finally:
        await hub.close()


@pytest.mark.parametrize("where", ["local", "redis"])
async def test_the_game_holds_at_most_max_rooms(where, request):
    hub = LocalHub(max_rooms=2) if where == "local" else RedisHub(request.getfixturevalue("redis_server").url, 2)
    try:
        if where == "redis":
            await hub.redis.flushdb()  # the module's other tests left rooms behind
        first = await hub.create(20_000)
        await hub.change(first.code, lambda r: r.join("p1", "ada"))
        await hub.create(20_000)
        with pytest.raises(RoomError) as error:
            await hub.create(20_000)
        assert error.value.code == "rooms_full"
        await hub.change(first.code, lambda r: r.leave("p1"))  # a room that empties makes room for another
        await hub.create(20_000)
    finally:
        await hub.close()


async def test_a_redis_room_expires_when_nobody_touches_it(redis_server):
    from server.roomhub import ROOM_TTL_S, RedisHub

    hub = RedisHub(redis_server.url)
    try:
        room = await hub.create(20_000)
        await hub.change(room.code, lambda r: r.join("p1", "ada"))
        assert 0 < await hub.redis.ttl("quickdraw:room:" + room.code) <= ROOM_TTL_S
    finally:
        await hub.close()

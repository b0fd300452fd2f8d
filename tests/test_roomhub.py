"""Where rooms live (server/roomhub.py): the in-process hub and Redis (Debian's redis-server on loopback)."""

import asyncio
import contextlib

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
        await hub.publish(room.code, {"type": "peer_points", "n": n})
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


@pytest.fixture
async def two_instances(redis_server):
    """Two ``RedisHub`` on one Redis, as two server instances see it, on a Redis emptied first."""
    one, two = RedisHub(redis_server.url, max_rooms=5), RedisHub(redis_server.url, max_rooms=5)
    await one.redis.flushdb()  # the module's other tests left rooms behind
    await one.open()
    await two.open()
    yield one, two
    await one.close()
    await two.close()


async def test_max_rooms_holds_when_two_instances_create_at_once(two_instances):
    one, two = two_instances
    outcomes = await asyncio.gather(
        *(hub.create(20_000) for _ in range(20) for hub in (one, two)), return_exceptions=True
    )
    created = [o for o in outcomes if isinstance(o, rooms.Room)]
    refused = [o for o in outcomes if isinstance(o, RoomError) and o.code == "rooms_full"]
    assert len(created) == 5 and len(refused) == 35
    assert await one.redis.zcard("quickdraw:rooms") == 5


async def test_bad_payloads_on_a_rooms_channel_are_skipped_and_the_next_event_arrives(
    two_instances, redis_server, caplog
):
    import redis.asyncio

    one, _ = two_instances
    room = await one.create(20_000)
    listener = one.listen(room.code)
    await one.ready(listener)
    raw = redis.asyncio.from_url(redis_server.url)
    try:
        for garbage in [b"not json", b"[1, 2]", b'"text"', b"{}", b'{"type": 5}', b"\xff\xfe{", b"[" * 100_000]:
            await raw.publish("quickdraw:room-events:" + room.code, garbage)
    finally:
        await raw.aclose()
    await one.publish(room.code, {"type": "peer_points", "n": 1})
    assert (await asyncio.wait_for(listener.get(), 5)) == {"type": "peer_points", "n": 1}
    assert listener.queue.empty() and not listener.overflowed
    skipped = [r for r in caplog.records if "quickdraw:room-events:" + room.code in r.getMessage()]
    assert len(skipped) == 2 * 7 and all(r.levelname == "WARNING" for r in skipped)  # each instance skips each
    listener.close()


async def test_a_listener_that_raises_does_not_stop_the_others(two_instances):
    one, _ = two_instances
    room = await one.create(20_000)
    broken, listener = one.listen(room.code), one.listen(room.code)
    await one.ready(listener)

    def deliver(event):
        raise RuntimeError("a broken listener")

    broken.deliver = deliver
    for n in range(3):
        await one.publish(room.code, {"type": "peer_points", "n": n})
    assert [(await asyncio.wait_for(listener.get(), 5))["n"] for _ in range(3)] == [0, 1, 2]
    broken.close()
    listener.close()


async def test_publishes_fired_without_waiting_arrive_in_the_order_they_were_made(two_instances):
    one, two = two_instances
    room = await one.create(20_000)
    near, far = one.listen(room.code), two.listen(room.code)
    await one.ready(near)
    await two.ready(far)
    for count in (60, 60, 500):  # on new connections, then warm ones; then more than a pool holds
        tasks = [asyncio.create_task(one.publish(room.code, {"type": "peer_points", "n": n})) for n in range(count)]
        await asyncio.gather(*tasks)
        for listener in (near, far):
            got = [(await asyncio.wait_for(listener.get(), 5))["n"] for _ in range(count)]
            assert got == list(range(count))
    near.close()
    far.close()


async def test_a_dropped_subscription_is_taken_again_and_its_listeners_are_told(two_instances):
    one, two = two_instances
    room = await one.create(20_000)
    before = one.listen(room.code)
    await one.ready(before)
    await two.redis.client_kill_filter(_type="pubsub")  # every instance's subscription drops
    await asyncio.wait_for(before.get(), 10)  # woken, so that its connection closes
    assert before.overflowed
    after = one.listen(room.code)
    await one.ready(after)
    await two.publish(room.code, {"type": "peer_points", "n": 1})
    assert (await asyncio.wait_for(after.get(), 10))["n"] == 1 and not after.overflowed
    before.close()
    after.close()


async def test_ready_says_plainly_when_redis_is_out_of_reach():
    hub = RedisHub(f"redis://127.0.0.1:{free_port()}/0")
    await hub.open()
    try:
        listener = hub.listen("ABCDE")
        with pytest.raises(RoomsUnavailable):
            await hub.ready(listener)
        with pytest.raises(RoomsUnavailable):
            await hub.publish("ABCDE", {"type": "peer_points"})
        listener.close()
    finally:
        await hub.close()


async def test_the_subscription_comes_back_when_redis_does(tmp_path, monkeypatch):
    from tests import serving

    (tmp_path / "first").mkdir(), (tmp_path / "second").mkdir()
    server = serving.RedisServer(tmp_path / "first")
    hub = RedisHub(server.url)
    await hub.open()
    try:
        room = await hub.create(20_000)
        before = hub.listen(room.code)
        await hub.ready(before)
        server.stop()
        await asyncio.wait_for(before.get(), 10)
        assert before.overflowed
        with pytest.raises(RoomsUnavailable):
            await hub.ready(hub.listen(room.code))
        monkeypatch.setattr(serving, "free_port", lambda: server.port)  # the same address, as after a restart
        server = serving.RedisServer(tmp_path / "second")
        after = hub.listen("ABCDE")
        for _ in range(10):  # the reader waits longer after each failure (up to RECONNECT_S[1]) before trying again
            with contextlib.suppress(RoomsUnavailable):
                await hub.ready(after)
                break
        await hub.publish("ABCDE", {"type": "peer_points", "n": 1})
        assert (await asyncio.wait_for(after.get(), 5))["n"] == 1 and not after.overflowed
    finally:
        await hub.close()
        server.stop()


@pytest.mark.parametrize("work", ["create", "get", "change"])
async def test_a_caller_cancelled_while_redis_works_is_cancelled(two_instances, work):
    one, _ = two_instances
    room = await one.create(20_000)
    await one.change(room.code, lambda r: r.join("p1", "ada"))
    calls = {"create": lambda: one.create(20_000), "get": lambda: one.get(room.code)}
    calls["change"] = lambda: one.change(room.code, lambda r: None)
    for steps in range(40):  # cancelled at every point of the work, in turn
        task = asyncio.create_task(calls[work]())
        for _ in range(steps):
            await asyncio.sleep(0)
        if task.cancel():
            await asyncio.wait([task], timeout=5)
            assert task.cancelled(), f"the cancellation was lost after {steps} steps"


async def test_a_silent_subscription_is_pinged_and_one_that_stays_silent_is_taken_again(redis_server, monkeypatch):
    import redis.asyncio

    from server import roomhub

    monkeypatch.setattr(roomhub, "PING_AFTER_S", 0.2)
    hub, raw = RedisHub(redis_server.url), redis.asyncio.from_url(redis_server.url)
    await hub.open()
    try:
        first = hub.listen("ABCDE")
        await hub.ready(first)
        await asyncio.sleep(1.0)  # silent: pinged, and answered, again and again
        assert not first.overflowed
        await raw.client_pause(1000, all=True)  # Redis answers nobody for a second: the ping goes unanswered
        await asyncio.wait_for(first.get(), 5)
        assert first.overflowed
        second = hub.listen("ABCDE")
        for _ in range(10):
            with contextlib.suppress(RoomsUnavailable):
                await hub.ready(second)
                break
        await hub.publish("ABCDE", {"type": "peer_points", "n": 1})
        assert (await asyncio.wait_for(second.get(), 5))["n"] == 1 and not second.overflowed
    finally:
        await raw.aclose()
        await hub.close()

"""Flow control: the newest-state-wins slot and the token bucket, without a server."""

import asyncio

from server.flow import LatestSlot, Request, TokenBucket


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def request(required: bool, strokes: int = 1) -> Request:
    return Request(drawing=None, snapshot=[], strokes=strokes, required=required)


def test_a_bucket_allows_its_burst_and_then_its_rate():
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=5, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 1.0  # two tokens back
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_a_long_quiet_spell_refills_the_bucket_only_up_to_its_burst():
    clock = Clock()
    bucket = TokenBucket(rate=100.0, burst=5, clock=clock)
    clock.now += 3600.0
    assert sum(bucket.take() for _ in range(20)) == 5


async def test_a_newer_live_request_replaces_a_waiting_live_one():
    slot = LatestSlot()
    await slot.put(request(False, strokes=1))
    await slot.put(request(False, strokes=2))
    assert (await slot.take()).strokes == 2


async def test_a_live_request_never_displaces_a_waiting_owed_one():
    slot = LatestSlot()
    await slot.put(request(True, strokes=1))
    await slot.put(request(False, strokes=2))
    taken = await slot.take()
    assert taken.required and taken.strokes == 1


async def test_a_second_owed_request_waits_until_the_first_is_taken():
    slot = LatestSlot()
    await slot.put(request(True, strokes=1))
    second = asyncio.create_task(slot.put(request(True, strokes=2)))
    await asyncio.sleep(0.01)
    assert not second.done()
    assert (await slot.take()).strokes == 1
    await asyncio.wait_for(second, 1)
    slot.done()
    assert (await slot.take()).strokes == 2

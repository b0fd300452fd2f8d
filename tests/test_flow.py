"""Flow control: the owed-request slot and the token bucket, without a server."""

import asyncio

from server.flow import Budgets, FairQueue, OwedSlot, Request, TokenBucket


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def request(strokes: int = 1) -> Request:
    return Request(
        drawing=None, snapshot=[], strokes=strokes, epoch=0, reply=asyncio.get_running_loop().create_future()
    )


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


async def test_a_second_owed_request_waits_until_the_first_is_taken():
    slot = OwedSlot()
    await slot.put(request(strokes=1))
    second = asyncio.create_task(slot.put(request(strokes=2)))
    await asyncio.sleep(0.01)
    assert not second.done()
    assert slot.take().strokes == 1
    await asyncio.wait_for(second, 1)
    assert slot.take().strokes == 2
    assert slot.take() is None


async def test_wait_wakes_on_a_poke_and_times_out_without_one():
    slot = OwedSlot()
    waiter = asyncio.create_task(slot.wait(None))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    slot.poke()
    await asyncio.wait_for(waiter, 1)
    await asyncio.wait_for(slot.wait(0.01), 1)  # nothing happens: it returns after its timeout


async def test_a_closed_slot_ends_its_waiter():
    slot = OwedSlot()
    waiter = asyncio.create_task(slot.wait(None))
    await asyncio.sleep(0)
    slot.close()
    await asyncio.wait([waiter], timeout=1)
    assert waiter.done()
    try:
        await slot.wait(None)
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("a closed slot must not wait")


def test_retry_after_says_when_the_next_token_comes():
    clock = Clock()
    bucket = TokenBucket(rate=4.0, burst=1, clock=clock)
    assert bucket.take() and bucket.retry_after() == 0.25
    clock.now += 0.1
    assert not bucket.take()
    assert abs(bucket.retry_after() - 0.15) < 1e-9


async def test_a_light_owners_job_goes_before_a_heavy_owners_waiting_ones():
    queue, ran = FairQueue(), []
    gate = asyncio.Event()

    async def job(name):
        if name == "first":
            await gate.wait()  # holds the classifier while the others queue up
        ran.append(name)

    first = asyncio.create_task(queue.run("heavy", 20_000, lambda: job("first")))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(queue.run("heavy", 20_000, lambda i=i: job(f"heavy {i}"))) for i in range(3)]
    waiting += [asyncio.create_task(queue.run("other heavy", 20_000, lambda: job("other heavy")))]
    await asyncio.sleep(0)
    waiting += [asyncio.create_task(queue.run("player", 300, lambda: job("player")))]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, *waiting)
    assert ran[:3] == ["first", "player", "other heavy"]  # the least used go first, the heaviest last
    assert ran[3:] == ["heavy 0", "heavy 1", "heavy 2"]


async def test_one_job_at_a_time_and_a_cancelled_waiter_passes_its_turn_on():
    queue, running, most = FairQueue(), [0], [0]

    async def job():
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.01)
        running[0] -= 1

    tasks = [asyncio.create_task(queue.run(f"owner {i}", 100, job)) for i in range(5)]
    await asyncio.sleep(0)
    tasks[2].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert most[0] == 1 and isinstance(results[2], asyncio.CancelledError)
    assert sum(r is None for r in results) == 4
    await asyncio.wait_for(queue.run("late", 1, job), 1)  # the queue is free again


def test_recent_use_halves_every_half_life():
    clock = Clock()
    queue = FairQueue(clock=clock)

    async def nothing():
        pass

    asyncio.run(queue.run("a", 1000, nothing))
    clock.now = FairQueue.HALF_LIFE_S
    assert queue.recent_use("a") == 500.0 and queue.recent_use("never seen") == 0.0


def test_budgets_keep_the_most_recent_keys():
    budgets = Budgets(rate=1.0, burst=2, most=2)
    budgets["a"].take(2)
    budgets["b"], budgets["c"]  # "a" is now the oldest, and forgotten
    assert budgets["a"].take(2)  # a fresh bucket
    assert not budgets["a"].take(1) and budgets["c"].take(2)

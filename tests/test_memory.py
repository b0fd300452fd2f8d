"""The periodic heap trim."""

import asyncio

import pytest

from server import memory


async def test_trim_runs_every_interval_until_cancelled():
    calls = []
    task = asyncio.create_task(memory.trim_every(0.01, trim=calls.append))
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    assert calls[:3] == [0, 0, 0]


def test_glibc_trim_can_be_called():
    trim = memory.glibc_trim()
    if trim is None:
        pytest.skip("not a glibc system")
    trim(0)

"""glibc's heap figures and the periodic heap trim."""

import asyncio
import ctypes

from server import memory
from tests.conftest import skip_unless_required


def test_heap_figures_follow_a_block_malloc_d_and_freed():
    if memory.heap_stats() is None:
        skip_unless_required("glibc", "not glibc 2.33 or later (no mallinfo2)")
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    size = 1 << 20  # above glibc's mmap threshold unless raised past 1 MiB
    before = memory.heap_stats()
    block = libc.malloc(size)
    during = memory.heap_stats()
    libc.free(block)
    assert during["used"] + during["mapped"] - before["used"] - before["mapped"] >= size
    assert set(before) == {"used", "free", "mapped"} and all(value >= 0 for value in before.values())


def test_without_glibc_the_memory_functions_are_harmless(monkeypatch):
    def no_glibc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(memory.ctypes, "CDLL", no_glibc)
    assert memory.glibc_function("mallinfo2") is None
    assert memory.heap_stats() is None
    assert memory.glibc_trim() is None


async def test_without_glibc_the_trim_task_just_waits(monkeypatch):
    monkeypatch.setattr(memory, "glibc_trim", lambda: None)
    task = asyncio.create_task(memory.trim_every(0.01))
    await asyncio.sleep(0.05)
    assert not task.done()  # nothing to call, nothing failed
    task.cancel()


async def test_trim_runs_every_interval_until_cancelled():
    calls = []
    task = asyncio.create_task(memory.trim_every(0.01, trim=calls.append))
    async with asyncio.timeout(10):
        while len(calls) < 3:
            await asyncio.sleep(0.01)
    task.cancel()
    assert calls[:3] == [0, 0, 0]


def test_glibc_trim_can_be_called():
    trim = memory.glibc_trim()
    if trim is None:
        skip_unless_required("glibc", "not a glibc system (no malloc_trim)")
    trim.restype = ctypes.c_int
    assert trim(0) in (0, 1)  # 1: memory went back to the system, 0: there was none to give


async def test_a_closed_connection_is_freed_without_the_garbage_collector(tmp_path, monkeypatch):
    """No reference cycle keeps a closed socket's state alive (cancelled tasks, the round timer, tracebacks)."""
    import gc
    import weakref

    from server import ws
    from tests.serving import make_app, receive_type, send

    connections = []
    original = ws.Connection.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        connections.append(weakref.ref(self))

    monkeypatch.setattr(ws.Connection, "__init__", remember)
    app = make_app(tmp_path, LIVE_GUESS_INTERVAL_MS=100_000)
    async with app.test_app():
        gc.collect()
        gc.disable()
        try:
            for _ in range(10):
                async with app.test_client().websocket("/ws") as socket:
                    await send(socket, type="start", mode="game")  # a game round starts a timer task
                    await send(socket, type="stroke", x=[0, 50, 100], y=[0, 40, 80])
                    await receive_type(socket, "guess")
            await app.extensions["quickdraw"].drain()
            for _ in range(50):  # the handler's last lines run after the client has gone
                await asyncio.sleep(0.01)
                if all(ref() is None for ref in connections):
                    break
            alive = sum(ref() is not None for ref in connections)
        finally:
            gc.enable()
    assert len(connections) == 10 and alive == 0

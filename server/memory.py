"""Give memory back now and then (a full garbage collection, then glibc's ``malloc_trim``), and glibc's heap figures.

Each open socket holds compression state, which is freed only when the closed
socket's reference cycles are collected, and glibc keeps freed heap; without
the periodic collection and trim RSS climbs under load (see bench/soak.py).
"""

import asyncio
import ctypes
import gc
import logging

log = logging.getLogger("server")


def glibc_function(name: str):
    """A function of glibc's allocator, or None on another C library."""
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def glibc_trim():
    """glibc's ``malloc_trim``, or None on another C library."""
    return glibc_function("malloc_trim")


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2``: the heap of all arenas, in bytes."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap_stats() -> dict | None:
    """Bytes malloc'd in the heaps (``used``), freed but kept (``free``) and in own mappings (``mapped``); None if not glibc."""
    mallinfo2 = glibc_function("mallinfo2")
    if mallinfo2 is None:
        return None
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return {"used": info.uordblks, "free": info.fordblks, "mapped": info.hblkhd}


async def trim_every(interval_s: float, trim=None) -> None:
    """Every ``interval_s``: a full garbage collection, then ``trim(0)``, on a worker thread, until cancelled.

    The collection is what frees a closed socket: its objects sit in reference
    cycles with its ~300 KB of permessage-deflate buffers, and under steady load
    Python's own schedule leaves them for minutes (bench/soak.py).
    """
    trim = trim or glibc_trim()
    if trim is None:
        log.info("not glibc: freed heap is left to the allocator")
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(_collect_and_trim, trim)


def _collect_and_trim(trim) -> None:
    gc.collect()
    if trim is not None:
        trim(0)

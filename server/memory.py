"""Give freed heap back to the system now and then (glibc's ``malloc_trim``), and glibc's heap figures.

Each socket that negotiates permessage-deflate mallocs ~300 KB of zlib
buffers; a closed socket frees them at once (nothing keeps it alive), but glibc
keeps the freed heap. Under sustained load that kept heap grows RSS by tens of
MB a minute (bench/soak.py, docs/RELIABILITY.md); a trim every few seconds
returns it.
"""

import asyncio
import ctypes
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
    """Every ``interval_s``: ``trim(0)`` on a worker thread, until cancelled."""
    trim = trim or glibc_trim()
    if trim is None:
        log.info("not glibc: freed heap is left to the allocator")
    while True:
        await asyncio.sleep(interval_s)
        if trim is not None:
            await asyncio.to_thread(trim, 0)

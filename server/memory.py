"""Hand freed heap back to the system now and then (glibc's ``malloc_trim``).

Each open socket holds compression state; after thousands of connections have
come and gone glibc keeps the freed memory, so RSS only climbs although live
objects stay flat (see bench/soak.py). A periodic trim returns it.
"""

import asyncio
import ctypes
import logging

log = logging.getLogger("server")


def glibc_trim():
    """glibc's ``malloc_trim``, or None on another C library."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


async def trim_every(interval_s: float, trim=None) -> None:
    """Call ``trim(0)`` every ``interval_s`` on a worker thread, until cancelled."""
    trim = trim or glibc_trim()
    if trim is None:
        log.info("not glibc: freed heap is left to the allocator")
        return
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(trim, 0)

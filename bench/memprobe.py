"""``python bench/memprobe.py [server options]``: ``python -m server`` with a memory probe on SIGUSR1.

On SIGUSR1 the server writes one line to its log: the live Python objects
(after a full collection), its RSS, and its RSS after glibc's ``malloc_trim``
hands freed heap back to the system, with glibc's heap figures (bytes in use,
freed but kept, in mappings of their own). Growing objects or trimmed RSS
would be a leak; RSS that only grows untrimmed is freed memory the allocator
kept. With ``MEMPROBE_EVERY_S`` set it also logs the heap figures that often
(after a full collection when ``MEMPROBE_COLLECT`` is set too).
"""

import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server import memory  # noqa: E402
from server.__main__ import main  # noqa: E402


def malloc_stats() -> str:
    """glibc's view of the C heap (all arenas): in use, freed but kept, and in mappings of their own."""
    stats = memory.heap_stats()
    if stats is None:
        return ""
    return " ".join(["", *(f"malloc_{key}_mb={value / 2**20:.1f}" for key, value in stats.items())])


def probe(*_) -> None:
    gc.collect()
    objects = len(gc.get_objects()) + gc.get_freeze_count()  # frozen start-up objects too
    process = psutil.Process()
    rss = process.memory_info().rss
    stats = malloc_stats()
    if trim := memory.glibc_trim():  # not glibc: report the RSS as it is
        trim(0)
    trimmed = process.memory_info().rss
    print(
        f"memprobe objects={objects} rss_mb={rss / 2**20:.1f} trimmed_mb={trimmed / 2**20:.1f}"
        f" threads={process.num_threads()}{stats}",
        file=sys.stderr,
        flush=True,
    )


def log_every(seconds: float, collect: bool) -> None:
    """While investigating: glibc's heap figures and open file descriptors every ``seconds`` (after a full collection if ``collect``)."""
    process = psutil.Process()
    while True:
        time.sleep(seconds)
        freed = gc.collect() if collect else 0
        print(
            f"memstat rss_mb={process.memory_info().rss / 2**20:.1f} fds={process.num_fds()} collected={freed}"
            f"{malloc_stats()}",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, probe)
    if os.environ.get("MEMPROBE_EVERY_S"):
        threading.Thread(
            target=log_every,
            args=(float(os.environ["MEMPROBE_EVERY_S"]), "MEMPROBE_COLLECT" in os.environ),
            daemon=True,
        ).start()
    sys.exit(main(sys.argv[1:]))

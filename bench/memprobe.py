"""``python bench/memprobe.py [server options]``: ``python -m server`` with a memory probe on SIGUSR1.

On SIGUSR1 the server writes one line to its log: the live Python objects
(after a full collection), its RSS, and its RSS after glibc's ``malloc_trim``
hands freed heap back to the system. Growing objects or trimmed RSS would be
a leak; RSS that only grows untrimmed is freed memory the allocator kept.
"""

import ctypes
import gc
import signal
import sys
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server.__main__ import main  # noqa: E402


def probe(*_) -> None:
    gc.collect()
    objects = len(gc.get_objects())
    process = psutil.Process()
    rss = process.memory_info().rss
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: report the RSS as it is
        pass
    trimmed = process.memory_info().rss
    print(f"memprobe objects={objects} rss_mb={rss / 2**20:.1f} trimmed_mb={trimmed / 2**20:.1f}",
          file=sys.stderr, flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, probe)
    sys.exit(main(sys.argv[1:]))

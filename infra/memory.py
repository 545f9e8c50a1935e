"""Memory a long-running process keeps: what it loaded at start, out of the collector's
way, and what it frees, for its own reuse (glibc's malloc).

By default glibc maps each buffer of 128 KB or more on its own, unmapping it when it is
freed (the bar rises to the largest buffer freed so far), and hands the top of the heap
back to the system once more than twice the bar is free. A web process copies every new
client's snapshot frame (about 300 KB) twice on its way out (daphne encodes the text,
autobahn frames it), so each copy of each client faulted in fresh pages
(docs/benchmarks/design.md). Kept, a freed copy is the next client's.
"""

from __future__ import annotations

import ctypes
import gc

# glibc's parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MAP_FROM_BYTES = 4 * 1024 * 1024  # buffers smaller than this come from the heap and return to it
KEEP_FREE_BYTES = 64 * 1024 * 1024  # free heap kept before any is handed back


def keep_freed_memory() -> bool:
    """Has glibc reuse freed buffers below MAP_FROM_BYTES and keep up to KEEP_FREE_BYTES
    of free heap. The process's resident size then stays near its highest point rather
    than falling back after a burst. Returns False where the C library has no mallopt
    (musl, macOS): nothing is changed there."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MAP_FROM_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREE_BYTES))


def freeze_loaded_objects() -> None:
    """Leaves what the process has loaded so far (Django, the apps, the libraries) out of
    the collector's full passes: it lives as long as the process, and each full pass
    walked all of it, pausing whatever ran meanwhile by tens of milliseconds
    (docs/benchmarks/design.md). Garbage from start-up is collected first, not kept."""
    gc.collect()
    gc.freeze()

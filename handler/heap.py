"""The heap across INIT: the cyclic garbage collector paused while INIT allocates and its
objects frozen at the end; the C heap's free pages handed back to the kernel.

The collector: INIT makes the objects a container keeps for its life (modules, the app, the
model) and almost no cyclic garbage, yet a running collector scans them again and again as they
pile up (its share of INIT: the README's Benchmarks). `init_phase()` disables it for INIT, then
`gc.freeze()`s what INIT made (the permanent generation, never scanned again, so a warm
request's collections stay short) and enables it, as Python's `gc.freeze` documentation
suggests for a server that forks after loading. What INIT made is then never collected as a
cycle: it lives as long as the container (no version INIT loads is ever unloaded: a lazy
repository loads the versions it may unload after INIT, handler/lazy.py). So does INIT's own
cyclic garbage (import-time tracebacks and the frames they reach), which therefore must not hold
anything large: the loader drops the model's bytes once the runtime has them (tested).

The C heap: INIT (TensorFlow's import, the graph's parse and import, the warm-up run) leaves
memory free inside glibc's heap, and glibc gives back by itself only free space at the top of
its heap, so how much stays resident is up to the order of frees, not the code. `malloc_trim(0)`
releases free pages anywhere in the heap (RSS after INIT with and without it: the README's
Benchmarks). Once, at INIT: a request frees what it allocated, so there is nothing to trim per
request, and a trim there would cost the request its milliseconds.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def init_phase() -> Iterator[None]:
    """Run the block (an entry module's INIT) with the cyclic collector disabled. If it ends
    normally: what it made is frozen, the collector enabled again, the free C heap released.
    If it raises: the collector is enabled again (nothing frozen) and the error goes on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if was_enabled:
            gc.enable()
    release_free_heap()


def release_free_heap() -> bool:
    """`malloc_trim(0)`; False where the C library has none (not glibc: musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))

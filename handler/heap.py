"""Hand the C heap's free pages back to the kernel at the end of INIT.

INIT (TensorFlow's import, the graph's parse and import, the warm-up run) leaves ~40 MB free
inside glibc's heap (mallinfo2's fordblks: 38-41 MB in every TensorFlow process measured here),
and glibc gives back by itself only free space at the top of its heap: how much of those 40 MB
stays resident is up to the order of frees, not the code, a swing of the size of the +6.7%
(~43 MB) that one benchmark run recorded over 10,000 warm invocations (the others, and every
single-threaded run here, +0.2-0.5%; that run was not reproduced). `malloc_trim(0)` releases free pages anywhere in
the heap. Measured on the demo model, fresh processes side by side: RSS after INIT 622-623 MB
with it, 662-663 MB without (anonymous 296 against 334-335), the peak unchanged (675-677 MB),
the trim itself 6 ms on a loaded machine, warm p50 the same (7.93 against 7.90 ms, 20,000
invocations each, the two processes at once), and after it +0.37% over 10,000 invocations and a slope
of 0.00 MB per 10,000 over 10,000-50,000 (benchmarks/RESULTS.md). Once, at INIT: a request frees
what it allocated, so there is nothing to trim per request, and a trim there would cost the
request its milliseconds.
"""

from __future__ import annotations

import ctypes


def release_free_heap() -> bool:
    """`malloc_trim(0)`; False where the C library has none (not glibc: musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))

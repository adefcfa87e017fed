"""Hand the C heap's free pages back to the kernel at the end of INIT.

INIT (TensorFlow's import, the graph's parse and import, the warm-up run) leaves ~40 MB free
inside glibc's heap (mallinfo2's fordblks: 38-41 MB in every TensorFlow process measured here).
glibc gives back by itself only free space at the top of its heap, so how much of those 40 MB
stays resident depends on the order of frees, not on the code: a swing of the size of the +6.7%
(~43 MB) that one benchmark run recorded over 10,000 warm invocations, where the others record
+0.2% (that run itself was not reproduced here). `malloc_trim(0)` releases free pages anywhere in
the heap: on the demo model it cut TensorFlow's RSS after INIT from 662 to 624 MB (anonymous 335
to 296 MB) in 6 ms on a loaded machine, and the RSS stayed flat over the warm invocations after
it (benchmarks/RESULTS.md). Once, at INIT: a request frees what it allocated, so there is nothing
to trim per request, and a trim there would cost the request its milliseconds.
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

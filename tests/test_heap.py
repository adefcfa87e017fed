"""The end-of-INIT heap trim (handler/heap.py): glibc's malloc_trim, a no-op elsewhere."""

from __future__ import annotations

import ctypes
import platform

import pytest

from handler.heap import release_free_heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_gives_freed_pages_back() -> None:
    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(2000)]  # ~128 MB of heap
    del blocks[::2]  # half freed, in holes the heap's top cannot give back by itself
    assert release_free_heap() is True


def test_a_c_library_without_malloc_trim_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoTrim:
        def __init__(self, name: object) -> None: ...

        def __getattr__(self, name: str) -> object:
            raise AttributeError(name)

    monkeypatch.setattr(ctypes, "CDLL", NoTrim)
    assert release_free_heap() is False

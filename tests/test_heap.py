"""The heap across INIT (handler/heap.py): the collector paused during INIT and what it made
frozen at its end; glibc's malloc_trim, a no-op elsewhere. (The real entry's INIT, in a fresh
process: tests/test_handler_coldstart.py.)"""

from __future__ import annotations

import ctypes
import gc
import platform
from collections.abc import Iterator

import pytest

from handler.heap import init_phase, release_free_heap


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as it was, and nothing left frozen by the test."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_init_runs_without_collections_and_freezes_what_it_made(collector: None) -> None:
    gc.enable()
    gc.unfreeze()
    with init_phase():
        assert not gc.isenabled()
        before = gc.get_stats()
        made = [Cycle() for _ in range(5_000)]  # would pass gen 0's threshold several times
        assert gc.get_stats() == before  # not one collection
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)
    collectable = {id(o) for o in gc.get_objects()}  # generations 0-2: not the frozen ones
    assert not any(id(m) in collectable for m in made)


def test_a_failed_init_resumes_the_collector_and_freezes_nothing(collector: None) -> None:
    gc.enable()
    gc.unfreeze()
    with pytest.raises(RuntimeError, match="bad bundle"):
        with init_phase():
            raise RuntimeError("bad bundle")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_collector_disabled_before_stays_disabled(collector: None) -> None:
    gc.disable()
    with init_phase():
        pass
    assert not gc.isenabled()


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

"""Versions loaded on their first request (MODEL_LOAD=lazy), within a memory budget.

At INIT a lazy repository still checks everything it would serve (the pin, each manifest, each
model file's sha256 and ops) and imports the runtime; what it skips is building each runtime
and its warm-up, which the first request to that version pays instead. The budget
(MODEL_MEMORY_BUDGET_MB) counts the model files' bytes of the loaded versions (a frozen graph's
weights are its constants, so a runtime holds about that much): loading one more unloads the
least recently used versions until it fits. Freed TensorFlow memory need not return to the
system (its allocator keeps arenas): the budget bounds what is held, not the process's RSS.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from handler.errors import Unavailable
from handler.manifest import ModelBundleError
from handler.model import Model
from handler.observability import logger


class Pool:
    """The lazily loaded versions, least recently used first."""

    def __init__(self, budget_bytes: int | None) -> None:
        self.budget_bytes = budget_bytes
        self._loaded: OrderedDict[LazySlot, int] = OrderedDict()
        self.lock = threading.Lock()  # one load at a time; requests may run on threads locally

    def held(self) -> int:
        return sum(self._loaded.values())

    def admit(self, slot: LazySlot) -> None:
        """Make room for `slot` (unloading the least recently used), then hold it."""
        if self.budget_bytes is not None:
            while self._loaded and self.held() + slot.size > self.budget_bytes:
                oldest, _ = self._loaded.popitem(last=False)
                oldest.unload()
        self._loaded[slot] = slot.size

    def touch(self, slot: LazySlot) -> None:
        self._loaded.move_to_end(slot)

    def release(self, slot: LazySlot) -> None:
        self._loaded.pop(slot, None)


class LazySlot:
    """One version's model, built on its first `get()` (then kept until the pool unloads it)."""

    def __init__(self, label: str, load: Callable[[], Model], size: int, pool: Pool) -> None:
        self.label = label
        self.size = size
        self._load = load
        self._pool = pool
        self._model: Model | None = None

    def get(self) -> Model:
        with self._pool.lock:
            if self._model is None:
                self._pool.admit(self)
                try:
                    self._model = self._load()
                except ModelBundleError as exc:
                    self._pool.release(self)
                    raise Unavailable(
                        "model_unavailable", f"{self.label} could not be loaded: {exc}"
                    ) from None
                except BaseException:  # not held: the budget must not count it
                    self._pool.release(self)
                    raise
                logger.info("model loaded on first use", extra={
                    "model_version": self.label, "held_bytes": self._pool.held()})
            else:
                self._pool.touch(self)
            return self._model

    def unload(self) -> None:
        if self._model is not None:
            self._model.runtime.close()
            self._model = None
            logger.info("model unloaded (memory budget)", extra={"model_version": self.label})

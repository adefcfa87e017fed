"""One fresh process of the cold-start benchmark: `import tensorflow` only, or handler + first request.

    python -m benchmarks.cold_probe tf|handler SPAWNED_AT EVENT_FILE RESULT_FILE

Only the standard library is imported before the timed work, so both modes pay the same
interpreter start. Times are `time.monotonic()` stamps, a clock shared with the parent (Linux
CLOCK_MONOTONIC is system-wide), so `SPAWNED_AT` (taken by the parent just before it started
this process) makes "interpreter start" part of the figure. The handler mode splits the cold start
without changing it: post-import hooks stamp when `tensorflow` starts and ends importing and
time `Session()` creation, and `handler.loader.load_model` is wrapped to stamp its start and end;
its own "model loaded" log line gives read/verify, graph load and warm-up.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import resource
import sys
import time
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

stamps: dict[str, float] = {}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls `before()` and `after(module)` around the first execution of one module."""

    def __init__(self, name: str, before: Callable[[], None], after: Callable[[ModuleType], None]):
        self.name, self.before, self.after = name, before, after

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module, before, after = spec.loader.exec_module, self.before, self.after

        def timed_exec(module: ModuleType) -> None:
            before()
            exec_module(module)
            after(module)

        spec.loader.exec_module = timed_exec  # type: ignore[method-assign]
        return spec


def _stamp(name: str) -> Callable[..., None]:
    return lambda *_: stamps.__setitem__(name, time.monotonic())


def _time_sessions(tf: ModuleType) -> None:
    """Wrap `tf.compat.v1.Session` so the time spent creating sessions is recorded."""
    _stamp("tensorflow_end")()
    base = tf.compat.v1.Session

    class TimedSession(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            start = time.monotonic()
            super().__init__(*args, **kwargs)
            stamps["session_s"] = stamps.get("session_s", 0.0) + time.monotonic() - start

    tf.compat.v1.Session = TimedSession


def _handler_cold_start(event: dict[str, Any]) -> dict[str, Any]:
    sys.meta_path.insert(0, _AfterImport("tensorflow", _stamp("tensorflow_start"), _time_sessions))
    import handler.loader

    stamps["own_imports_end"] = time.monotonic()
    load_model = handler.loader.load_model

    def timed_load_model(*args: Any, **kwargs: Any) -> Any:
        stamps["load_model_start"] = time.monotonic()
        try:
            return load_model(*args, **kwargs)
        finally:
            stamps["load_model_end"] = time.monotonic()

    handler.loader.load_model = timed_load_model
    from handler.app import handler as lambda_handler

    stamps["import_end"] = time.monotonic()
    context = SimpleNamespace(
        function_name="benchmark", memory_limit_in_mb=1769, aws_request_id="cold-start-probe",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:benchmark",
    )
    response = lambda_handler(event, context)
    stamps["first_response"] = time.monotonic()
    return {"status": response.get("statusCode"), "body": response.get("body", "")[:2000]}


def main() -> None:
    stamps["main"] = time.monotonic()
    mode, spawned_at, event_file, result_file = sys.argv[1:5]
    with open(event_file, encoding="utf-8") as f:
        event = json.load(f)
    stamps["start"] = time.monotonic()
    if mode == "tf":
        import tensorflow  # noqa: F401

        stamps["tensorflow_end"] = time.monotonic()
        outcome: dict[str, Any] = {}
    else:
        outcome = _handler_cold_start(event)
    result = {
        "mode": mode,
        "spawned_at": float(spawned_at),
        "stamps": stamps,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        **outcome,
    }
    with open(result_file, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()

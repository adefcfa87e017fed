"""One fresh process of the cold-start benchmark: a runtime's import alone, or handler + first request.

    python -m benchmarks.cold_probe MODULE|handler|libraries SPAWNED_AT EVENT_FILE RESULT_FILE
        [MODULES_FILE]

MODULE (e.g. `tensorflow`, `ai_edge_litert.interpreter`) is imported alone: a runtime's floor. In
`handler` mode, MODEL_RUNTIME (from the environment) picks the runtime, as on Lambda, and the
result lists the library modules INIT imported (neither the standard library's nor the
project's); `libraries` mode imports the modules MODULES_FILE lists (such a list), the collector
paused as the handler pauses it: INIT's floor with FastAPI and the rest kept, none of the
project's code run.
Only the standard library is imported before the timed work, so both modes pay the same
interpreter start. Times are `time.monotonic()` stamps, a clock shared with the parent (Linux
CLOCK_MONOTONIC is system-wide), so `SPAWNED_AT` (taken by the parent just before it started
this process) makes "interpreter start" part of the figure. The handler mode splits the cold start
without changing it (`handler.app` is still the first of the project's modules imported):
post-import hooks wrap `handler.loader.load_model` to stamp its start and end, its own
"model loaded" log line gives read/verify, runtime import, model load and warm-up, and if
TensorFlow is imported a post-import hook times `Session()` creation (part of the model load).
With COLD_PROBE_ROOT set, the handler is imported from that tree instead (an older commit's,
benchmarks/baseline.py), measured the same way.
"""

from __future__ import annotations

import gc
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

stamps: dict[str, float] = {}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls `after(module)` after the first execution of one module."""

    def __init__(self, name: str, after: Callable[[ModuleType], None]):
        self.name, self.after = name, after

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module, after = spec.loader.exec_module, self.after

        def exec_then_after(module: ModuleType) -> None:
            exec_module(module)
            after(module)

        spec.loader.exec_module = exec_then_after  # type: ignore[method-assign]
        return spec


def _time_sessions(tf: ModuleType) -> None:
    """Wrap `tf.compat.v1.Session` so the time spent creating sessions is recorded."""
    base = tf.compat.v1.Session

    class TimedSession(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            start = time.monotonic()
            super().__init__(*args, **kwargs)
            stamps["session_s"] = stamps.get("session_s", 0.0) + time.monotonic() - start

    tf.compat.v1.Session = TimedSession


def _time_load_model(loader: ModuleType) -> None:
    """Wrap `handler.loader.load_model` so its start and end are stamped."""
    load_model = loader.load_model

    def timed_load_model(*args: Any, **kwargs: Any) -> Any:
        stamps["load_model_start"] = time.monotonic()
        try:
            return load_model(*args, **kwargs)
        finally:
            stamps["load_model_end"] = time.monotonic()

    loader.load_model = timed_load_model


def _library_modules(before: set[str]) -> list[str]:
    """The modules imported since `before` that are neither the standard library's nor the
    project's, in the order their imports began (sys.modules' order)."""
    own = {"handler", "benchmarks", "__main__"}
    return [name for name in sys.modules if name not in before
            and name.partition(".")[0] not in sys.stdlib_module_names | own]


def _handler_cold_start(event: dict[str, Any]) -> dict[str, Any]:
    # hooks, not imports: `handler.app` is the first of the project's modules imported, as on
    # Lambda (it pauses the collector before anything else is imported: handler/heap.py)
    sys.meta_path.insert(0, _AfterImport("tensorflow", _time_sessions))
    sys.meta_path.insert(0, _AfterImport("handler.loader", _time_load_model))
    before = set(sys.modules)
    from handler.app import handler as lambda_handler

    stamps["import_end"] = time.monotonic()
    libraries = _library_modules(before)
    context = SimpleNamespace(
        function_name="benchmark", memory_limit_in_mb=1769, aws_request_id="cold-start-probe",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:benchmark",
    )
    response = lambda_handler(event, context)
    stamps["first_response"] = time.monotonic()
    return {"status": response.get("statusCode"), "body": response.get("body", "")[:2000],
            "tensorflow_imported": "tensorflow" in sys.modules,
            "library_modules": libraries}


def _import_libraries(modules_file: str) -> dict[str, Any]:
    """Import, in order, the library modules a handler probe listed, the collector paused as
    the handler's INIT pauses it: what INIT costs without any of the project's code."""
    with open(modules_file, encoding="utf-8") as f:
        modules = json.load(f)
    gc.disable()
    for name in modules:
        importlib.import_module(name)
    stamps["imported"] = time.monotonic()
    return {"modules": len(modules)}


def main() -> None:
    stamps["main"] = time.monotonic()
    mode, spawned_at, event_file, result_file = sys.argv[1:5]
    with open(event_file, encoding="utf-8") as f:
        event = json.load(f)
    stamps["start"] = time.monotonic()
    if os.environ.get("COLD_PROBE_ROOT"):
        sys.path.insert(0, os.environ["COLD_PROBE_ROOT"])
    if mode == "handler":
        outcome = _handler_cold_start(event)
    elif mode == "libraries":
        outcome = _import_libraries(sys.argv[5])
    else:
        importlib.import_module(mode)
        stamps["imported"] = time.monotonic()
        outcome = {}
    result = {
        "mode": mode,
        "spawned_at": float(spawned_at),
        "stamps": stamps,
        "peak_rss_kb": _peak_rss_kb(),
        **outcome,
    }
    with open(result_file, "w", encoding="utf-8") as f:
        json.dump(result, f)


def _peak_rss_kb() -> int:
    """VmHWM, as infra.lambda_runtime.peak_rss_kb reads it (not ru_maxrss, which keeps the
    spawning process's peak across exec); read here because the probe imports nothing of the
    project's beyond what it measures."""
    with open("/proc/self/status", encoding="ascii") as f:
        return int(next(line.split()[1] for line in f if line.startswith("VmHWM:")))


if __name__ == "__main__":
    main()

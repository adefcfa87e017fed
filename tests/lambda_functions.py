"""Small Lambda handlers for the local Lambda's tests (run by awslambdaric in a container).

Each one does one thing a real function can do to its execution environment: answer, sleep
past its timeout, allocate past its memory, fail at import, report its state.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

if os.environ.get("FAIL_AT_IMPORT"):
    raise RuntimeError("failing at import, as asked")

#: state created at INIT, to see what a container keeps between invocations
INIT_AT = time.time()
if os.environ.get("SLEEP_AT_IMPORT_S"):
    time.sleep(float(os.environ["SLEEP_AT_IMPORT_S"]))
_count = 0
if os.environ.get("ALLOCATE_AT_IMPORT_MB"):
    _held = bytearray(int(os.environ["ALLOCATE_AT_IMPORT_MB"]) * 2**20)
    for _page in range(0, len(_held), 4096):
        _held[_page] = 1


def echo(event: Any, context: Any) -> dict[str, Any]:
    """The event back, with what the container knows of itself."""
    global _count
    _count += 1
    return {"event": event, "pid": os.getpid(), "count": _count, "init_at": INIT_AT,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id, "random": random.random()}


def sleep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event["seconds"]))
    return {"slept": event["seconds"]}


def allocate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Touch `mb` MB of memory (every page), then answer."""
    block = bytearray(int(event["mb"]) * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return {"allocated_mb": event["mb"]}


def spin(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Burn CPU for `seconds` of wall time; report the CPU time it got."""
    started, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < float(event["seconds"]):
        pass
    return {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - started,
            "pid": os.getpid()}


def fail(event: Any, context: Any) -> None:
    raise ValueError("failing, as asked")


def slow_http(event: Any, context: Any) -> dict[str, Any]:
    """An HTTP answer after a second: a request that keeps its container busy."""
    time.sleep(1.0)
    return {"statusCode": 200, "body": "{}", "headers": {"content-type": "application/json"}}

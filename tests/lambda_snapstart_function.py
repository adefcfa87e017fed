"""A Lambda handler with SnapStart runtime hooks, for the local Lambda's SnapStart tests.

Before the snapshot it drops what must not be shared ("a connection" made at INIT); after a
restore it reseeds `random` and opens a fresh one. FAIL_BEFORE_SNAPSHOT / FAIL_AFTER_RESTORE
make the hooks raise.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from snapshot_restore_py import register_after_restore, register_before_snapshot

random.seed(1234)  # state created at INIT, shared by every copy restored from the snapshot
state: dict[str, Any] = {"connection": f"made at INIT by {os.getpid()}", "restored_at": None,
                         "hooks": []}


@register_before_snapshot
def _before_snapshot() -> None:
    if os.environ.get("FAIL_BEFORE_SNAPSHOT"):
        raise RuntimeError("before-snapshot hook failing, as asked")
    state["connection"] = None
    state["hooks"].append("before_snapshot")


@register_after_restore
def _after_restore() -> None:
    if os.environ.get("FAIL_AFTER_RESTORE"):
        raise RuntimeError("after-restore hook failing, as asked")
    random.seed()
    state["connection"] = f"made after restore by {os.getpid()}"
    state["restored_at"] = time.time()
    state["hooks"].append("after_restore")


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {**state, "pid": os.getpid(), "random": random.random(),
            "initialization_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}

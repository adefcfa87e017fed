"""The real handler (handler.app) behind a probe, for SnapStart in the local Lambda.

`handler` answers every event as handler.app does, except `{"probe": true}`, which returns what
a restored copy must not share with its siblings: the next numbers of Python's and numpy's
global generators, and whether boto3's default session and the lazy protocols survived."""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import numpy

from handler import app


def handler(event: Any, context: Any) -> Any:
    if isinstance(event, dict) and event.get("probe"):
        boto3 = sys.modules.get("boto3")
        return {"pid": os.getpid(), "random": random.random(),
                "numpy": float(numpy.random.random()),
                "boto3_session": bool(boto3 and boto3.DEFAULT_SESSION),
                "protocols_built": bool(app.app.state.protocols_built),
                "openapi_built": app.app.openapi_schema is not None}
    return app.handler(event, context)

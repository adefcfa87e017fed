"""Cold start: fresh handler processes (import + first request) against fresh `import tensorflow`.

Rounds are interleaved (tf, handler, tf, handler, ...) after one unmeasured pair that warms the
page cache, so drift on a shared machine hits both sides alike; figures are medians over rounds.
The handler's first request is a real JPEG through `POST /predict` (HTTP API v2 event).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, PHOTO_LABEL, jpeg_event, photo_bytes

#: Breakdown rows of the handler's cold start, in the order they happen.
PHASES = (
    ("interpreter_start", "Python start"),
    ("handler_imports", "handler's own imports (FastAPI, pydantic, Powertools, Pillow, Mangum)"),
    ("read_verify", "model read + sha256 check"),
    ("import_tensorflow", "import tensorflow"),
    ("graph_parse_import", "graph parse + import_graph_def"),
    ("session_create", "Session creation"),
    ("warm_up", "warm-up run"),
    ("loader_other", "loader bookkeeping (logging)"),
    ("app_setup", "FastAPI app + Mangum adapter"),
    ("first_request", "first request (POST /predict, JPEG)"),
)


def _probe(mode: str, event_file: Path, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    """One fresh process; its result plus the "model loaded" log line (handler mode)."""
    result_file = tmp / f"{mode}.json"
    spawned_at = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cold_probe", mode, repr(spawned_at), str(event_file),
         str(result_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cold probe ({mode}) exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    result = json.loads(result_file.read_text("utf-8"))
    for line in proc.stdout.splitlines():
        if line.startswith("{") and '"model loaded"' in line:
            result["loader"] = json.loads(line)
    return result


def _tf_figures(r: dict[str, Any]) -> dict[str, float]:
    s = r["stamps"]
    return {
        "total": s["tensorflow_end"] - r["spawned_at"],
        "interpreter_start": s["start"] - r["spawned_at"],
        "import_tensorflow": s["tensorflow_end"] - s["start"],
        "peak_rss_mb": r["peak_rss_kb"] / 1024,
    }


def _handler_figures(r: dict[str, Any]) -> dict[str, float]:
    s, log = r["stamps"], r.get("loader")
    if r.get("status") != 200 or f'"label":"{PHOTO_LABEL}"' not in r.get("body", "").replace(" ", ""):
        raise RuntimeError(f"first request failed: {r.get('status')} {r.get('body', '')[:300]}")
    if log is None:
        raise RuntimeError("the handler logged no 'model loaded' line with its timings")
    tf_import = s["tensorflow_end"] - s["tensorflow_start"]
    session = s.get("session_s", 0.0)
    parts = {
        "interpreter_start": s["start"] - r["spawned_at"],
        "handler_imports": s["load_model_start"] - s["start"],
        "read_verify": log["read_verify_ms"] / 1e3,
        "import_tensorflow": tf_import,
        "graph_parse_import": log["load_graph_ms"] / 1e3 - session,
        "session_create": session,
        "warm_up": log["warm_up_ms"] / 1e3,
        "app_setup": s["import_end"] - s["load_model_end"],
        "first_request": s["first_response"] - s["import_end"],
    }
    in_loader = s["load_model_end"] - s["load_model_start"]
    parts["loader_other"] = in_loader - sum(
        parts[k] for k in ("read_verify", "import_tensorflow", "graph_parse_import",
                           "session_create", "warm_up")
    )
    return {
        "total": s["first_response"] - r["spawned_at"],
        "init": s["import_end"] - r["spawned_at"],
        **parts,
        "peak_rss_mb": r["peak_rss_kb"] / 1024,
    }


def _medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(row[key] for row in rows), 4) for key in rows[0]}


def measure(env: dict[str, str], rounds: int) -> dict[str, Any]:
    """Interleaved fresh-process rounds; medians, ratio and the handler's breakdown."""
    tf_rows: list[dict[str, float]] = []
    handler_rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp_name:
        tmp = Path(tmp_name)
        event_file = tmp / "event.json"
        event_file.write_text(json.dumps(jpeg_event(photo_bytes())), "utf-8")
        for round_ in range(rounds + 1):  # round 0 warms the page cache and is not counted
            tf = _tf_figures(_probe("tf", event_file, env, tmp))
            handler = _handler_figures(_probe("handler", event_file, env, tmp))
            if round_:
                tf_rows.append(tf)
                handler_rows.append(handler)
    tf_median, handler_median = _medians(tf_rows), _medians(handler_rows)
    return {
        "rounds": rounds,
        "tf_only": tf_median,
        "handler": handler_median,
        "ratio": round(handler_median["total"] / tf_median["total"], 3),
        "ratio_per_round_median": round(
            statistics.median(h["total"] / t["total"] for h, t in zip(handler_rows, tf_rows, strict=True)), 3
        ),
        "tf_only_totals_s": [round(r["total"], 3) for r in tf_rows],
        "handler_totals_s": [round(r["total"], 3) for r in handler_rows],
        "target_ratio": 1.25,
    }

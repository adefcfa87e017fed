"""Cold start: fresh handler processes (import + first request) for each runtime, against a fresh
import of that runtime alone (its floor).

Rounds are interleaved (TensorFlow's floor and handler, then LiteRT's; the other way round in the
next round) after one unmeasured round that warms the page cache, so drift on a shared machine
hits every figure alike; figures are medians over rounds, and the LiteRT / TensorFlow ratio is
also taken per round (paired). The handler's first request is a real JPEG through
`POST /predict` (HTTP API v2 event).

Each round also imports, alone, the library modules the handler's INIT imported (FastAPI,
pydantic, numpy, Pillow, Powertools, Mangum, the runtime...: neither the standard library's nor
the project's), the collector paused as the handler's INIT pauses it: the floor that keeping
those libraries leaves, against which the project's own code, model load and first request are
the difference.

With a baseline (an older commit's tree, benchmarks/baseline.py), each round also runs that
commit's LiteRT handler on the same model, next to this one's (the order flipping every round):
the LiteRT cold start against the baseline's is the second target. Every handler module of both
trees is compiled to `.pyc` first, as the zip ships it (infra/zip_package.py), so neither pays for
compiling its source at each start (PYTHONDONTWRITEBYTECODE would otherwise make them).
"""

from __future__ import annotations

import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, PHOTO_LABEL, alternating, jpeg_event, photo_bytes
from handler.runtime import LITERT, TENSORFLOW

#: What each runtime's function imports to run its model: the floor of its cold start.
RUNTIME_MODULES = {TENSORFLOW: "tensorflow", LITERT: "ai_edge_litert.interpreter"}
#: Breakdown rows of the handler's cold start, in the order they happen.
PHASES = (
    ("interpreter_start", "Python start"),
    ("handler_imports", "handler's own imports (FastAPI, pydantic, Powertools, Pillow, Mangum)"),
    ("read_verify", "model read + sha256 check (+ op allowlist for a graph)"),
    ("import_runtime", "import the runtime (tensorflow / ai_edge_litert)"),
    ("load_model", "model load (graph parse + import_graph_def / Interpreter + allocate)"),
    ("session_create", "Session creation (TensorFlow only)"),
    ("warm_up", "warm-up run"),
    ("loader_other", "loader bookkeeping (logging)"),
    ("app_setup", "FastAPI app + Mangum adapter"),
    ("first_request", "first request (POST /predict, JPEG)"),
)
#: Phases the model loader's log line times (the rest of its time is bookkeeping).
_LOADER_PHASES = ("read_verify", "import_runtime", "load_model", "session_create", "warm_up")
#: TensorFlow's cold start against `import tensorflow`; LiteRT's against the baseline commit's.
TARGET_RATIO = 1.15
TARGET_BASELINE_RATIO = 0.75


def precompile(tree: Path) -> None:
    """Compile `tree`'s handler package to .pyc (in its __pycache__ folders, git-ignored)."""
    if not compileall.compile_dir(tree / "handler", quiet=1):
        raise RuntimeError(f"{tree / 'handler'} does not compile")


def _probe(mode: str, event_file: Path, env: dict[str, str], tmp: Path,
           modules_file: Path | None = None) -> dict[str, Any]:
    """One fresh process; its result plus the "model loaded" log line (handler mode)."""
    result_file = tmp / "probe.json"
    spawned_at = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cold_probe", mode, repr(spawned_at), str(event_file),
         str(result_file), *([str(modules_file)] if modules_file else [])],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cold probe ({mode}) exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    result = json.loads(result_file.read_text("utf-8"))
    for line in proc.stdout.splitlines():
        if line.startswith("{") and '"model loaded"' in line:
            result["loader"] = json.loads(line)
    return result


def _floor_figures(r: dict[str, Any]) -> dict[str, float]:
    s = r["stamps"]
    return {
        "total": s["imported"] - r["spawned_at"],
        "interpreter_start": s["start"] - r["spawned_at"],
        "import": s["imported"] - s["start"],
        "peak_rss_mb": r["peak_rss_kb"] / 1024,
    }


def _libraries_alone(event_file: Path, env: dict[str, str], tmp: Path,
                     modules_file: Path) -> dict[str, float]:
    """One fresh process importing the library modules `modules_file` lists; its figures."""
    r = _probe("libraries", event_file, env, tmp, modules_file)
    return {**_floor_figures(r), "modules": r["modules"]}


def _handler_figures(r: dict[str, Any], runtime: str) -> dict[str, float]:
    s, log = r["stamps"], r.get("loader")
    if r.get("status") != 200 or f'"label":"{PHOTO_LABEL}"' not in r.get("body", "").replace(" ", ""):
        raise RuntimeError(f"first request failed: {r.get('status')} {r.get('body', '')[:300]}")
    if log is None:
        raise RuntimeError("the handler logged no 'model loaded' line with its timings")
    if log.get("runtime") != runtime:
        raise RuntimeError(f"the handler loaded runtime {log.get('runtime')!r}, not {runtime!r}")
    if runtime != TENSORFLOW and r["tensorflow_imported"]:
        raise RuntimeError(f"the {runtime} cold start imported tensorflow")
    parts = {
        "interpreter_start": s["start"] - r["spawned_at"],
        "handler_imports": s["load_model_start"] - s["start"],
        "read_verify": log["read_verify_ms"] / 1e3,
        "import_runtime": log["import_runtime_ms"] / 1e3,
        "load_model": log["load_model_ms"] / 1e3,
        "warm_up": log["warm_up_ms"] / 1e3,
        "app_setup": s["import_end"] - s["load_model_end"],
        "first_request": s["first_response"] - s["import_end"],
    }
    if "session_s" in s:  # TensorFlow: Session() is part of the model load
        parts["session_create"] = s["session_s"]
        parts["load_model"] -= s["session_s"]
    parts["loader_other"] = s["load_model_end"] - s["load_model_start"] - sum(
        parts.get(k, 0.0) for k in _LOADER_PHASES
    )
    return {
        "total": s["first_response"] - r["spawned_at"],
        "init": s["import_end"] - r["spawned_at"],
        **parts,
        "peak_rss_mb": r["peak_rss_kb"] / 1024,
    }


def _medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(row[key] for row in rows), 4) for key in rows[0]}


def measure(envs: dict[str, dict[str, str]], rounds: int,
            baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """Interleaved fresh-process rounds for each runtime of `envs` (MODEL_RUNTIME -> environment):
    medians, ratios and each handler's breakdown. `baseline` ({"rev", "tree", "model_dir"}, or
    {"rev", "skipped"}): an older commit's LiteRT handler, measured in the same rounds."""
    floors: dict[str, list[dict[str, float]]] = {runtime: [] for runtime in envs}
    handlers: dict[str, list[dict[str, float]]] = {runtime: [] for runtime in envs}
    libraries: dict[str, list[dict[str, float]]] = {runtime: [] for runtime in envs}
    base_rows: list[dict[str, float]] = []
    base_env = None
    if baseline and "tree" in baseline and LITERT in envs:
        base_env = {**envs[LITERT], "MODEL_DIR": str(baseline["model_dir"]),
                    "COLD_PROBE_ROOT": str(baseline["tree"])}
        precompile(Path(baseline["tree"]))
    precompile(ROOT)
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp_name:
        tmp = Path(tmp_name)
        event_file = tmp / "event.json"
        event_file.write_text(json.dumps(jpeg_event(photo_bytes())), "utf-8")
        # round 0 warms the page cache and is not counted
        for round_, runtime in alternating(rounds + 1, list(envs)):
            env = envs[runtime]
            floor_row = _floor_figures(_probe(RUNTIME_MODULES[runtime], event_file, env, tmp))
            probes = {"handler": env}
            if base_env is not None and runtime == LITERT:
                probes["baseline"] = base_env
            # the libraries alone: before the handlers in odd rounds (the list the previous
            # round's handler made), after them in even ones (this round's)
            modules_file = tmp / f"libraries-{runtime}.json"
            library_row = (_libraries_alone(event_file, env, tmp, modules_file)
                           if round_ % 2 else None)
            raw = {which: _probe("handler", event_file, probes[which], tmp)
                   for which in list(probes)[:: -1 if round_ % 2 else 1]}
            probed = {which: _handler_figures(result, runtime) for which, result in raw.items()}
            modules_file.write_text(json.dumps(raw["handler"]["library_modules"]), "utf-8")
            library_row = library_row or _libraries_alone(event_file, env, tmp, modules_file)
            if round_:
                floors[runtime].append(floor_row)
                libraries[runtime].append(library_row)
                handlers[runtime].append(probed["handler"])
                if "baseline" in probed:
                    base_rows.append(probed["baseline"])
    floor = {runtime: _medians(rows) for runtime, rows in floors.items()}
    handler = {runtime: _medians(rows) for runtime, rows in handlers.items()}
    library = {runtime: _medians(rows) for runtime, rows in libraries.items()}
    result: dict[str, Any] = {
        "rounds": rounds,
        "floor_modules": {runtime: RUNTIME_MODULES[runtime] for runtime in envs},
        "floor": floor,
        "libraries": library,
        "handler": handler,
        "handler_totals_s": {runtime: [round(r["total"], 3) for r in rows]
                             for runtime, rows in handlers.items()},
        "ratio_to_floor": {runtime: _ratio(handler[runtime], floor[runtime], "total")
                           for runtime in envs},
        "ratio_to_floor_per_round_median": {
            runtime: _paired_ratio(handlers[runtime], floors[runtime]) for runtime in envs
        },
        "ratio_to_libraries": {runtime: _ratio(handler[runtime], library[runtime], "total")
                               for runtime in envs},
        "target_ratio": TARGET_RATIO,
    }
    if baseline:
        result["baseline"] = {key: str(value) for key, value in baseline.items()}
    if base_rows:
        base = _medians(base_rows)
        result["baseline"].update({
            "litert": base, "litert_totals_s": [round(r["total"], 3) for r in base_rows],
        })
        result["litert_vs_baseline"] = {
            "total": _ratio(handler[LITERT], base, "total"),
            "total_per_round_median": _paired_ratio(handlers[LITERT], base_rows),
            "init": _ratio(handler[LITERT], base, "init"),
            "target_ratio": TARGET_BASELINE_RATIO,
        }
    if LITERT in envs:
        lite, tf = handler[LITERT], handler[TENSORFLOW]
        result["litert_vs_tensorflow"] = {
            "total": _ratio(lite, tf, "total"),
            "total_per_round_median": _paired_ratio(handlers[LITERT], handlers[TENSORFLOW]),
            "init": _ratio(lite, tf, "init"),
            "peak_rss_mb": _ratio(lite, tf, "peak_rss_mb"),
        }
    return result


def _ratio(a: dict[str, float], b: dict[str, float], key: str) -> float:
    return round(a[key] / b[key], 3)


def _paired_ratio(rows: list[dict[str, float]], against: list[dict[str, float]]) -> float:
    """Median over rounds of one total over the other, both measured in that round."""
    return round(statistics.median(
        a["total"] / b["total"] for a, b in zip(rows, against, strict=True)), 3)

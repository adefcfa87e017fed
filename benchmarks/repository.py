"""Several models in one function (a repository) against a function per model, per runtime:
what each model added at INIT costs (INIT time, peak RSS, GB-seconds of INIT at the template's
MemorySize), and what lazy loading (MODEL_LOAD=lazy) moves to each model's first request.

The repository is demo.repository's (the demo classifier in two versions, fer, ONet). A function
per model is the same bundles served alone: `MODEL_DIR=<repository>/<name>/<version>` is a single
bundle. Each figure comes from a fresh process (`python -m benchmarks.repository`: INIT is the
import of `handler.app`, then one POST of the astronaut's face to every served model); the
configurations alternate round by round, medians are reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT, alternating, child_main, lambda_context, rss_kb, run_child,
)

#: the function per model: each a single bundle of the repository
SINGLES = ("catsordogs/1", "fer/1", "onet/1")


def build(folder: Path, demo_dir: Path) -> Path:
    """demo.repository's repository in `folder` (built once)."""
    if not (folder / "models.json").is_file():
        command = [sys.executable, "-m", "demo.repository", "--out", str(folder)]
        if (demo_dir / "checkpoint").is_dir():
            command += ["--demo-build", str(demo_dir)]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return folder


def churn(cycles: int) -> dict[str, Any]:
    """In a fresh process with MODEL_LOAD=lazy and a budget of one demo graph: requests
    alternating between the demo's two versions, so each loads one and unloads the other; RSS
    after each cycle (does freed memory return to the system?)."""
    from demo.photos import photo_path
    from handler.app import catalog, handler
    from infra.local_api import http_api_event

    dog = photo_path("dog").read_bytes()
    rss = []
    for _ in range(cycles):
        for number in (1, 2):
            event = http_api_event(
                "POST", f"/models/catsordogs/versions/{number}/predict",
                [("host", "api.example.com"), ("content-type", "image/jpeg")], dog, "192.0.2.1")
            if handler(event, lambda_context())["statusCode"] != 200:
                raise RuntimeError(f"catsordogs {number} did not answer")
        rss.append(rss_kb() / 1024)
    slot = catalog.models["catsordogs"].versions[2].slot
    assert slot is not None
    return {"runtime": slot.get().runtime.name, "rss_mb": rss}


def measure() -> dict[str, Any]:
    """In a fresh process: INIT, then the first request to every served model. (This module's
    own imports come first, pydantic's among them: INIT here is a little under a real one, and
    the same for every configuration, which is what the comparison needs.)"""
    start = time.perf_counter()
    from handler.app import catalog, handler

    init_s = time.perf_counter() - start
    from infra.lambda_runtime import peak_rss_kb

    init_rss_kb = peak_rss_kb()
    from demo.zoo import astronaut_face
    from infra.local_api import http_api_event

    face = astronaut_face(fmt="PNG")
    first: dict[str, float] = {}
    for name in catalog.models:
        event = http_api_event("POST", f"/models/{name}/predict",
                               [("host", "api.example.com"), ("content-type", "image/png")],
                               face, "192.0.2.1")
        began = time.perf_counter()
        response = handler(event, lambda_context())
        first[name] = time.perf_counter() - began
        if response["statusCode"] != 200:
            raise RuntimeError(f"{name}: {response['statusCode']} {response['body'][:300]}")
    versions = sum(len(m.versions) for m in catalog.models.values())
    served = next(iter(catalog.models.values())).latest.slot
    assert served is not None  # every model answered: all loaded by now
    return {"runtime": served.get().runtime.name,
            "init_s": init_s, "init_peak_rss_mb": init_rss_kb / 1024,
            "peak_rss_mb": peak_rss_kb() / 1024, "first_request_s": first, "versions": versions}


def measure_runtimes(envs: dict[str, dict[str, str]], repository: Path, rounds: int,
                     memory_mb: int) -> dict[str, Any]:
    """Every configuration per runtime in `envs` (the function's environment, MODEL_RUNTIME
    set), `rounds` fresh processes each, alternating."""
    configs = {single: {"MODEL_DIR": str(repository / single)} for single in SINGLES}
    configs["repository"] = {"MODEL_DIR": str(repository)}
    configs["repository lazy"] = {"MODEL_DIR": str(repository), "MODEL_LOAD": "lazy"}
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _, (runtime, config) in alternating(rounds, [(r, c) for r in envs for c in configs]):
        env = {**envs[runtime], **configs[config]}
        runs.setdefault((runtime, config), []).append(run_child("benchmarks.repository", env))
    results: dict[str, Any] = {"memory_mb": memory_mb, "rounds": rounds}
    for runtime in envs:
        rows = {}
        for config in configs:
            samples = runs[runtime, config]
            rows[config] = {
                "init_s": statistics.median(s["init_s"] for s in samples),
                "init_peak_rss_mb": statistics.median(s["init_peak_rss_mb"] for s in samples),
                "peak_rss_mb": statistics.median(s["peak_rss_mb"] for s in samples),
                "versions": samples[0]["versions"],
                "first_request_ms": {
                    name: round(statistics.median(s["first_request_s"][name] for s in samples)
                                * 1e3, 1)
                    for name in samples[0]["first_request_s"]
                },
            }
        singles_init = sum(rows[s]["init_s"] for s in SINGLES)
        first_alone = rows[SINGLES[0]]["init_s"]
        repo = rows["repository"]
        gb = memory_mb / 1024
        graph_mb = (repository / SINGLES[0] / "model.pb").stat().st_size / 2**20
        cycles = run_child("benchmarks.repository", {
            **envs[runtime], "MODEL_DIR": str(repository), "MODEL_LOAD": "lazy",
            "MODEL_MEMORY_BUDGET_MB": str(int(graph_mb) + 1), "BENCH_CHURN": "1",
        }, cycles=10 if rounds > 1 else 2)["rss_mb"]
        results[runtime] = {
            **rows,
            "churn_rss_mb": cycles,
            "functions_per_model_init_s": singles_init,
            "added_init_s_per_version": (repo["init_s"] - first_alone) / (repo["versions"] - 1),
            "init_gb_s": {"repository": repo["init_s"] * gb,
                          "functions_per_model": singles_init * gb},
        }
    return results


if __name__ == "__main__":
    child_main(churn if os.environ.get("BENCH_CHURN") else measure)

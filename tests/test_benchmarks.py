"""Smoke test of the benchmarks: they run with tiny counts and emit every figure (not timed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks.common import percentile, summary_ms
from tests.conftest import run_module

pytestmark = pytest.mark.slow


def test_percentile_and_summary_are_exact_on_small_samples() -> None:
    assert percentile([1.0], 99) == 1.0
    assert percentile([float(i) for i in range(1, 102)], 50) == 51.0
    stats = summary_ms([0.001, 0.002, 0.003])
    assert (stats["n"], stats["p50_ms"], stats["min_ms"], stats["max_ms"]) == (3, 2.0, 1.0, 3.0)


def test_quick_run_emits_every_section(demo_model_dir: Path, demo_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_module(
        "benchmarks", "--quick", "--model-dir", demo_model_dir, "--demo-dir", demo_build,
        "--json", out, "--markdown", tmp_path / "RESULTS.md",
    )
    results = json.loads(out.read_text("utf-8"))

    cold = results["cold_start"]
    assert cold["ratio"] > 0 and cold["tf_only"]["import_tensorflow"] > 0
    phases = ("handler_imports", "import_tensorflow", "read_verify", "graph_parse_import",
              "session_create", "warm_up", "first_request")
    assert all(cold["handler"][k] >= 0 for k in phases)
    assert cold["handler"]["total"] > cold["handler"]["import_tensorflow"]

    warm = results["warm_path"]
    for path in ("handler", "handler_multipart", "bare", "session_run", "handler_health"):
        assert warm[path]["n"] == results["counts"]["warm_calls"]
        assert 0 < warm[path]["p50_ms"] <= warm[path]["p99_ms"]
    assert warm["ratio_p50"] > 0

    assert [level["clients"] for level in results["local_api"]["levels"]] == [1, 2, 8]
    assert all(level["requests_per_s"] > 0 for level in results["local_api"]["levels"])
    assert sorted(results["batching"]["sizes"], key=int) == ["1", "8", "32"]

    memory = results["memory"]
    assert memory["graph_ops_before"] == memory["graph_ops_after"]  # the graph is finalized
    assert memory["peak_rss_after_cold_start_mb"] > 300  # TensorFlow alone is ~500 MB

    model = results["size"]["model"]
    assert model["keras_h5_mb"] > model["frozen_pb_mb"] > 1
    assert results["size"]["requirements_installed_here"]["largest_mb"]["tensorflow-cpu"] > 250

    assert results["machine"]["nproc"] >= 1 and results["machine"]["python"] == sys.version.split()[0]
    assert "| handler cold start, phase |" in proc.stdout
    assert (tmp_path / "RESULTS.md").read_text("utf-8").startswith("## Benchmark results")

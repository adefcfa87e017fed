"""Smoke test of the benchmarks: they run with tiny counts and emit every figure (not timed)."""

from __future__ import annotations

import json
import shutil
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


def test_memory_growth_at_10000_and_slope_over_the_last_four_fifths() -> None:
    from benchmarks.memory import growth, slope_per_10k

    # A step at the start (the allocator warming up), then a leak of 0.5 MB per 10,000.
    curve = [[i, 100.0 + (2.0 if i >= 1000 else 0.0) + 0.5 * i / 10_000]
             for i in range(1000, 50_001, 1000)]
    result = growth(curve, 100.0)
    assert result["growth_at"] == 10_000 and result["growth_pct"] == 2.5
    assert result["slope_window"] == [10_000, 50_000]
    assert result["slope_mb_per_10k"] == pytest.approx(0.5)
    assert slope_per_10k([[0, 5.0], [10_000, 7.0]]) == pytest.approx(2.0)
    short = growth([[25, 100.0], [50, 101.0]], 100.0)  # --quick: the run's end, not 10,000
    assert short["growth_at"] == 50 and short["growth_pct"] == 1.0


def test_quick_run_emits_every_section_for_both_runtimes(
    demo_model_dir: Path, demo_build: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    proc = run_module(
        "benchmarks", "--quick", "--model-dir", demo_model_dir, "--demo-dir", demo_build,
        "--multi-dir", tmp_path / "onet", "--repository-dir", tmp_path / "repository",
        "--json", out, "--markdown", tmp_path / "RESULTS.md",
    )
    results = json.loads(out.read_text("utf-8"))
    runtimes = ["tensorflow", "litert"]
    assert results["runtimes"] == runtimes and results["skipped"] is None

    cold = results["cold_start"]
    tf, lite = cold["handler"]["tensorflow"], cold["handler"]["litert"]
    phases = ("handler_imports", "import_runtime", "read_verify", "load_model", "warm_up",
              "first_request")
    for handler in (tf, lite):
        assert all(handler[k] >= 0 for k in phases)
        assert handler["total"] > handler["init"] > handler["import_runtime"]
    assert tf["session_create"] >= 0 and "session_create" not in lite  # TensorFlow's only
    assert cold["floor"]["tensorflow"]["import"] > 0 and cold["floor"]["litert"]["import"] > 0
    assert cold["ratio_to_floor"]["tensorflow"] > 0
    # INIT's libraries alone: FastAPI, pydantic, numpy... hundreds of modules; TensorFlow's, more
    libraries = cold["libraries"]
    assert 100 < libraries["litert"]["modules"] < libraries["tensorflow"]["modules"]
    assert all(cold["ratio_to_libraries"][r] > 0 for r in runtimes)
    # What LiteRT is for: no TensorFlow import, a fraction of its time and memory.
    assert lite["import_runtime"] < tf["import_runtime"] / 5
    assert lite["total"] < tf["total"] and lite["peak_rss_mb"] < tf["peak_rss_mb"] / 2
    assert 0 < cold["litert_vs_tensorflow"]["total_per_round_median"] < 1

    warm = results["warm_path"]
    for runtime in runtimes:
        for path in ("handler", "handler_multipart", "bare", "predict", "handler_health"):
            assert warm[runtime][path]["n"] == results["counts"]["warm_calls"]
            assert 0 < warm[runtime][path]["p50_ms"] <= warm[runtime][path]["p99_ms"]
        assert warm[runtime]["ratio_p50"] > 0

        levels = results["local_api"][runtime]["levels"]
        assert [level["clients"] for level in levels] == [1, 2, 5]  # up to ReservedConcurrency containers
        assert all(level["requests_per_s"] > 0 for level in levels)
        assert sorted(results["batching"][runtime]["sizes"], key=int) == ["1", "8", "32"]

        multi = results["multi_output"][runtime]
        assert multi["outputs"] == ["fc6-1", "fc6-2", "fc6-3"]  # ONet: box, landmarks, face
        for path in ("v2_json", "v2_binary", "tfserving_rows", "run"):
            assert 0 < multi[path]["p50_ms"] <= multi[path]["p99_ms"]

        repo = results["repository"][runtime]
        assert repo["repository"]["versions"] == 4 and repo["repository lazy"]["versions"] == 4
        assert repo["init_gb_s"]["repository"] < repo["init_gb_s"]["functions_per_model"]
        assert set(repo["repository"]["first_request_ms"]) == {"catsordogs", "fer", "onet"}

    memory = results["memory"]
    tf_memory, lite_memory = memory["tensorflow"], memory["litert"]
    assert tf_memory["graph_ops_before"] == tf_memory["graph_ops_after"]  # the graph is finalized
    assert lite_memory["graph_ops_before"] is None  # an interpreter has no graph to grow
    assert tf_memory["peak_rss_after_cold_start_mb"] > 300  # TensorFlow alone is ~500 MB
    assert lite_memory["peak_rss_after_invocations_mb"] < tf_memory["peak_rss_after_cold_start_mb"] / 2
    for x in (tf_memory, lite_memory):
        assert x["growth_at"] == results["counts"]["memory_invocations"]
        assert x["slope_window"][1] == x["growth_at"] and "slope_mb_per_10k" in x
        assert x["rss_split_after_invocations_mb"]["anon"] > 0

    size = results["size"]
    assert size["model"]["keras_h5_mb"] > size["model"]["frozen_pb_mb"] > 1
    assert size["model"]["tflite_mb"] > 1
    tf_installed, lite_installed = size["installed_here"]["tensorflow"], size["installed_here"]["litert"]
    assert tf_installed["largest_mb"]["tensorflow-cpu"] > 250
    assert lite_installed["total_mb"] < tf_installed["total_mb"] - tf_installed["largest_mb"]["tensorflow-cpu"]

    assert results["machine"]["nproc"] >= 1 and results["machine"]["python"] == sys.version.split()[0]
    assert "| handler cold start, phase | TensorFlow ms |" in proc.stdout
    assert "| LiteRT / TensorFlow |" in proc.stdout
    assert "### A multi-output model (onet" in proc.stdout
    assert "### Several models in one function" in proc.stdout
    assert "not measured (a 50,000 run: `--memory-invocations 50000`)" in proc.stdout
    assert (tmp_path / "RESULTS.md").read_text("utf-8").startswith("## Benchmark results")


def test_a_bundle_without_tflite_skips_litert_and_says_why(
    demo_model_dir: Path, demo_build: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "model"
    bundle.mkdir()
    shutil.copy(demo_model_dir / "model.pb", bundle)
    manifest = json.loads((demo_model_dir / "model.json").read_text("utf-8"))
    manifest["artifacts"].pop("tflite")
    (bundle / "model.json").write_text(json.dumps(manifest), "utf-8")
    out = tmp_path / "bench.json"

    proc = run_module("benchmarks", "--quick", "--only", "size", "--model-dir", bundle,
                      "--demo-dir", demo_build, "--json", out)

    results = json.loads(out.read_text("utf-8"))
    assert results["runtimes"] == ["tensorflow"]
    assert "names no model.tflite" in results["skipped"] and "--tflite" in results["skipped"]
    assert "names no model.tflite" in proc.stderr
    assert "LiteRT not measured" in proc.stdout
    assert results["size"]["model"]["tflite_mb"] is None
    assert list(results["size"]["installed_here"]) == ["tensorflow"]


def test_bulk_cost_model_counts_every_request_of_each_path() -> None:
    """A million photos at 10 ms each in bulk and 4 ms through the API: the items each path
    pays for, at the module's dated prices."""
    from benchmarks.bulk import GB, million, price

    costs = million({1: 0.012, 8: 0.010, 32: 0.010}, 0.004)
    bulk = costs["Distributed Map (batch 32)"]
    assert bulk["Lambda GB-s"] == pytest.approx(1e6 * 0.010 * GB * 0.0000166667)
    assert bulk["Lambda requests"] == pytest.approx(0.20 / 32)
    assert bulk["S3 PUT (records)"] == pytest.approx(5.00)  # one record object per photo
    assert bulk["S3 GET + HEAD"] == pytest.approx(0.80)
    assert bulk["Step Functions transitions"] == pytest.approx(2 * 1e6 / 32 * 0.025 / 1000)
    ops = costs["S3 Batch Operations (batch 1)"]
    assert ops["Lambda requests"] == pytest.approx(0.20)
    assert ops["Lambda GB-s"] == pytest.approx(1e6 * 0.012 * GB * 0.0000166667)
    http = costs["HTTP API (1 photo per request)"]
    assert http["API Gateway requests"] == pytest.approx(1.00)
    stored = costs["HTTP API, answers stored as records"]
    assert stored["total"] == pytest.approx(http["total"] + price("s3_put_list", 1e6))
    assert all(path["total"] == pytest.approx(sum(v for k, v in path.items() if k != "total"))
               for path in costs.values())


def test_the_cold_start_baseline_serves_the_same_model_in_its_schema(
    demo_model_dir: Path, tmp_path: Path
) -> None:
    """The baseline commit (schema 1) gets the demo model's files and a manifest that upgrades
    back to the very same model."""
    from benchmarks import baseline
    from handler.manifest import load_manifest
    from handler.manifest_v1 import ManifestV1

    tree, bundle = baseline.prepare("8976556", demo_model_dir, tmp_path)
    assert (tree / "handler" / "app.py").is_file() and (bundle / "model.pb").is_symlink()
    old = json.loads((bundle / "model.json").read_text("utf-8"))
    assert old["schema_version"] == 1
    assert ManifestV1.model_validate(old).upgrade() == load_manifest(demo_model_dir)

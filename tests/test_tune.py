"""benchmarks.tune's pure part (make tune's figures from measurements, not timed): the cost of a
million predictions, the rows, the pick, the markdown and the plot, from fake measurements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import tune
from benchmarks.prices import LAMBDA_GB_SECOND, invocations_cost, snapstart_cost

X86 = LAMBDA_GB_SECOND["x86_64"].usd


def cell(runtime: str, mb: int, warm_ms: list[float], *, status: str = "ok",
         init_ms: float = 1000.0, first_ms: float | None = 50.0, max_mb: int = 120,
         snapstart: dict[str, Any] | None = None) -> dict[str, Any]:
    served = status != "killed"
    return {
        "runtime": runtime, "memory_mb": mb, "package_type": tune.FUNCTIONS[runtime][1],
        "cold": [{"init_ms": init_ms, "first_ms": first_ms if served else None,
                  "status": status, "max_memory_mb": mb if not served else max_mb}] * 2,
        "warm_ms": warm_ms if served else [], "snapstart": snapstart,
    }


def test_cost_per_million_bills_warm_first_and_init_durations_rounded_up() -> None:
    # 99% warm at 9.2 ms (billed 10), 1% cold: first request 49.5 ms (50) + INIT 999.1 ms (1000)
    usd = tune.cost_per_million(1024, "x86_64", "Zip", [9.2] * 10, [49.5], [999.1], 0.01)
    expected_gb_s = 1e6 * (0.99 * 10 + 0.01 * 50) / 1000 + 1e6 * 0.01 * 1.0  # 1 GB
    assert usd == pytest.approx(0.20 + expected_gb_s * X86)
    no_cold = tune.cost_per_million(1024, "x86_64", "Zip", [10.0], [50.0], [1000.0], 0.0)
    assert no_cold == pytest.approx(invocations_cost(1_000_000, 1024, "x86_64", 10).per_million())
    arm = tune.cost_per_million(1024, "arm64", "Zip", [9.2] * 10, [49.5], [999.1], 0.01)
    assert 0.20 < arm < usd


def test_snapstart_cost_prices_restores_instead_of_init() -> None:
    usd = tune.snapstart_per_million(512, "x86_64", [10.0], [20.0], [99.5], 0.01)
    warm = invocations_cost(1_000_000, 512, "x86_64", 0.99 * 10 + 0.01 * 20).per_million()
    assert usd == pytest.approx(warm + snapstart_cost(512, "x86_64", restores=10_000,
                                                      billed_restore_ms=100))


def test_rows_report_a_killed_size_and_price_the_others() -> None:
    killed = tune.summarize(cell("tensorflow", 256, [], status="killed"), 0.01)
    assert killed["status"] == "killed" and killed["usd_per_million"] == {}
    assert killed["max_memory_mb"] == 256 and killed["warm_p50_ms"] is None
    timed_out = tune.summarize(cell("tensorflow", 512, [], status="timeout", first_ms=15000), 0.01)
    assert timed_out["status"] == "timeout" and timed_out["usd_per_million"] == {}
    over = tune.summarize(cell("tensorflow", 512, [10.0], max_mb=678), 0.01)
    assert over["status"] == "killed" and over["rss_over_cap"] and over["usd_per_million"] == {}
    assert over["warm_p50_ms"] == 10.0  # what it did here is still shown
    ok = tune.summarize(cell("litert", 512, [float(i) for i in range(1, 101)]), 0.01)
    assert ok["status"] == "ok" and ok["cold_ms"] == 1050 and ok["warm_n"] == 100
    assert ok["warm_p50_ms"] == 50.5 and ok["warm_p99_ms"] == pytest.approx(99.01)
    assert ok["usd_per_million"]["arm64"] < ok["usd_per_million"]["x86_64"]
    assert ok["vcpu"] == pytest.approx(512 / 1769, abs=1e-3)


def test_the_pick_is_the_cheapest_ok_size_under_the_target() -> None:
    rows = [tune.summarize(c, 0.01) for c in (
        cell("tensorflow", 512, [], status="killed"),
        cell("tensorflow", 1024, [20.0] * 10, max_mb=700),
        cell("tensorflow", 1769, [12.0] * 10, max_mb=700),
        cell("litert", 256, [70.0] * 10),   # cheapest, but too slow for 50 ms
        cell("litert", 512, [40.0] * 10),
        cell("litert", 1024, [20.0] * 10, status="timeout"),
    )]
    picks = tune.pick(rows, 50.0)
    assert picks["tensorflow"]["memory_mb"] == 1024
    assert picks["litert"]["memory_mb"] == 512
    assert tune.pick(rows, 1000.0)["litert"]["memory_mb"] == 256
    assert tune.pick(rows, 5.0) == {"tensorflow": None, "litert": None}
    # a tie goes to the smaller size
    same = [tune.summarize(cell("litert", mb, [1.0]), 0.0) for mb in (1024, 512)]
    same[0]["usd_per_million"] = dict(same[1]["usd_per_million"])
    assert tune.pick(same, 100.0)["litert"]["memory_mb"] == 512


def test_markdown_and_plot(tmp_path: Path) -> None:
    snap = {"status": "ok", "init_ms": 900.0,
            "restores": [{"restore_ms": 60.0, "first_ms": 30.0, "status": "ok"}] * 2}
    rows = [tune.summarize(c, 0.01) for c in (
        cell("tensorflow", 256, [], status="killed"),
        cell("tensorflow", 512, [10.0] * 10, max_mb=678),
        cell("tensorflow", 1769, [12.0] * 10, max_mb=700),
        cell("litert", 256, [40.0] * 10, snapstart=snap),
        cell("litert", 1769, [10.0] * 10, snapstart=snap),
    )]
    assert rows[3]["snapstart"]["cold_ms"] == 90.0
    results = {
        "machine": {"nproc": 2, "cpu": "test CPU", "python": "3.12", "tensorflow": "2.21",
                    "ai_edge_litert": "2.3", "load_average_at_start": [1.0, 1.0, 1.0]},
        "rows": rows, "cold_share": 0.01, "finished_at": "2026-12-01 10:00 UTC",
        "load_average_at_end": [2.0, 1.0, 1.0], "command": "python -m benchmarks.tune",
        "seconds": 60, "cold": 2, "warm": 10, "init_cpu": "burst", "target_p99_ms": 1000.0,
        "target_source": "template.yaml's LatencyAlarmP99Ms", "picks": tune.pick(rows, 1000.0),
    }
    text = tune.markdown(results, "tune.png")
    assert "| TensorFlow | 256 | 0.14 | **killed** |" in text and "256 (cap)" in text
    assert "(RSS > MemorySize)" in text
    assert "**arm64 is an estimate**" in text and "load average at start [1.0, 1.0, 1.0]" in text
    assert "## LiteRT with SnapStart" in text
    assert "- LiteRT (LiteInferenceFunction): **256 MB**" in text
    assert "- TensorFlow (InferenceFunction): **1,769 MB**" in text
    assert "](tune.png)" in text
    png = tune.plot(rows, 1000.0, tmp_path / "tune.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_the_default_target_is_the_templates_latency_alarm() -> None:
    from infra.lambda_runtime import load_template

    alarm = load_template()["Parameters"]["LatencyAlarmP99Ms"]["Default"]
    assert tune.template_target_p99_ms() == float(alarm)

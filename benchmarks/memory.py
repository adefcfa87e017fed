"""Memory: peak RSS after the cold start, and RSS growth over many warm invocations.

Two figures per runtime, with their targets: the growth over the first 10,000 warm invocations
(% of the RSS after the cold start) and the RSS slope (MB per 10,000 invocations, a least-squares
line through the samples) over the last four fifths of the run: over 10,000-50,000 in a 50,000
run (`python -m benchmarks --memory-invocations 50000`), where a slow leak shows even if the
first 10,000 hide it behind the allocator's own warm-up. The RSS is split into anonymous memory
(the heap: what a leak grows) and file-backed pages (the shared libraries' code as it is paged in).

The classic leak of a TF1 serving design is a graph that grows per request (ops added in the
handler): with TensorFlow, the graph's op count is recorded before and after, beside the RSS
curve (a LiteRT interpreter has no graph to grow). One process per runtime (MODEL_RUNTIME).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.common import (
    PHOTO_LABEL, check_prediction, child_main, jpeg_event, lambda_context,
    photo_bytes, rss_kb,
)
from infra.lambda_runtime import peak_rss_kb

GROWTH_AT, TARGET_GROWTH_PCT, TARGET_SLOPE_MB = 10_000, 2.0, 1.0
#: RSS samples per run (the slope is fitted through those of its last four fifths).
SAMPLES = 50


def rss_split_mb() -> dict[str, float]:
    """Anonymous and file-backed resident memory of this process (MB, /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {key: round(int(fields[name].split()[0]) / 1024, 1)
            for key, name in (("anon", "RssAnon"), ("file", "RssFile"))}


def slope_per_10k(curve: Sequence[Sequence[float]]) -> float:
    """Least-squares slope of RSS (MB) against invocations, in MB per 10,000 invocations."""
    xs, ys = [p[0] for p in curve], [p[1] for p in curve]
    if len(xs) < 2:
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 10_000


def growth(curve: Sequence[Sequence[float]], start_mb: float) -> dict[str, Any]:
    """The growth at `GROWTH_AT` invocations (or the run's end, if shorter) and the slope over
    the run's last four fifths, from an RSS curve of [invocations, MB] samples."""
    at = min(GROWTH_AT, curve[-1][0])
    rss_at = next(mb for i, mb in curve if i >= at)
    window = [p for p in curve if p[0] >= curve[-1][0] / 5]
    return {
        "growth_at": at,
        "growth_pct": round((rss_at - start_mb) / start_mb * 100, 2),
        "slope_window": [window[0][0], curve[-1][0]],
        "slope_mb_per_10k": round(slope_per_10k(window), 3),
    }


def measure(invocations: int) -> dict[str, Any]:
    from handler.app import catalog, handler

    model = catalog.only_model()

    event = jpeg_event(photo_bytes())
    check_prediction(handler(event, lambda_context()), PHOTO_LABEL)
    graph = getattr(model.runtime, "graph", None)  # TensorFlow's only

    def ops() -> int | None:
        return None if graph is None else len(graph.get_operations())

    ops_before = ops()
    rss_cold, peak_cold, split_cold = rss_kb() / 1024, peak_rss_kb(), rss_split_mb()
    every = max(1, invocations // SAMPLES)
    curve = []
    for i in range(1, invocations + 1):
        handler(event, lambda_context())
        if i % every == 0 or i == min(GROWTH_AT, invocations):
            curve.append([i, round(rss_kb() / 1024, 2)])
    rss_after, ops_after = rss_kb() / 1024, ops()
    return {
        "runtime": model.runtime.name,
        "invocations": invocations,
        "peak_rss_after_cold_start_mb": round(peak_cold / 1024, 1),
        "rss_after_cold_start_mb": round(rss_cold, 1),
        "rss_after_invocations_mb": round(rss_after, 1),
        "peak_rss_after_invocations_mb": round(peak_rss_kb() / 1024, 1),
        "rss_split_after_cold_start_mb": split_cold,
        "rss_split_after_invocations_mb": rss_split_mb(),
        **growth(curve, rss_cold),
        "rss_curve_mb": curve,
        "graph_ops_before": ops_before,
        "graph_ops_after": ops_after,
        "target_growth_pct": TARGET_GROWTH_PCT,
        "target_slope_mb_per_10k": TARGET_SLOPE_MB,
    }


if __name__ == "__main__":
    child_main(measure)

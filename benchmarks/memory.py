"""Memory: peak RSS after the cold start, and RSS growth over many warm invocations.

The classic leak of a TF1 serving design is a graph that grows per request (ops added in the
handler): with TensorFlow, the graph's op count is recorded before and after, beside the RSS
curve (a LiteRT interpreter has no graph to grow). One process per runtime (MODEL_RUNTIME).
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import (
    PHOTO_LABEL, check_prediction, child_main, jpeg_event, lambda_context,
    photo_bytes, rss_kb,
)
from infra.lambda_runtime import peak_rss_kb


def measure(invocations: int, samples: int = 10) -> dict[str, Any]:
    from handler.app import catalog, handler

    model = catalog.only_model()

    event = jpeg_event(photo_bytes())
    check_prediction(handler(event, lambda_context()), PHOTO_LABEL)
    graph = getattr(model.runtime, "graph", None)  # TensorFlow's only

    def ops() -> int | None:
        return None if graph is None else len(graph.get_operations())

    ops_before = ops()
    rss_cold, peak_cold = rss_kb(), peak_rss_kb()
    every = max(1, invocations // samples)
    curve = []
    for i in range(1, invocations + 1):
        handler(event, lambda_context())
        if i % every == 0:
            curve.append([i, round(rss_kb() / 1024, 1)])
    rss_after, ops_after = rss_kb(), ops()
    return {
        "runtime": model.runtime.name,
        "invocations": invocations,
        "peak_rss_after_cold_start_mb": round(peak_cold / 1024, 1),
        "rss_after_cold_start_mb": round(rss_cold / 1024, 1),
        "rss_after_invocations_mb": round(rss_after / 1024, 1),
        "peak_rss_after_invocations_mb": round(peak_rss_kb() / 1024, 1),
        "growth_pct": round((rss_after - rss_cold) / rss_cold * 100, 2),
        "rss_curve_mb": curve,
        "graph_ops_before": ops_before,
        "graph_ops_after": ops_after,
        "target_growth_pct": 2.0,
    }


if __name__ == "__main__":
    child_main(measure)

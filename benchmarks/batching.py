"""Batching: images per second for 1, 8 and 32 images in one request, through the handler.

Each request is one multipart `POST /predict` (the upload page's form) with N real photos,
through `handler.app.handler` in-process; beside it, the runtime's `predict` alone on the same
N-image batch (TensorFlow: one `session.run`; LiteRT: N single-row invokes) shows how much of the
request is the model itself. One process serves one runtime (MODEL_RUNTIME): the runtimes
alternate between processes and each runtime's samples are pooled, as in the warm path.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from benchmarks.common import (
    alternate_children, check_prediction, child_main, image_feeds, lambda_context,
    multipart_event, photo_bytes, task_scores, timed,
)


def measure(sizes: list[int], repeats: int, warmup: int = 2) -> dict[str, Any]:
    from handler.app import catalog, handler

    model = catalog.only_model()

    photos = [photo_bytes("dog"), photo_bytes("kitten")]
    rows = {}
    for size in sizes:
        images = [photos[i % 2] for i in range(size)]
        event = multipart_event(images)
        check_prediction(handler(event, lambda_context()), "dog", size)
        feeds = image_feeds(model, images)
        request_s, predict_s = [], []
        for round_ in range(warmup + repeats):
            seconds, _ = timed(lambda event=event: handler(event, lambda_context()))
            predict, _ = timed(lambda feeds=feeds: task_scores(model, feeds))
            if round_ >= warmup:
                request_s.append(seconds)
                predict_s.append(predict)
        rows[str(size)] = {"request_s": request_s, "predict_s": predict_s,
                           "body_bytes": len(event["body"]) * 3 // 4}
    return {"runtime": model.runtime.name, "sizes": rows}


def measure_runtimes(envs: dict[str, dict[str, str]], sizes: list[int], repeats: int,
                     processes: int) -> dict[str, Any]:
    """`repeats` requests of each size per runtime, over `processes` alternating processes."""
    runs = alternate_children("benchmarks.batching", envs, processes, sizes=sizes,
                              repeats=math.ceil(repeats / processes))
    return {"repeats": repeats, "processes_per_runtime": processes,
            **{runtime: {"sizes": _pooled(r)} for runtime, r in runs.items()}}


def _pooled(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    rows = {}
    for size, first in runs[0]["sizes"].items():
        request, predict = (statistics.median(s for run in runs for s in run["sizes"][size][key])
                            for key in ("request_s", "predict_s"))
        rows[size] = {
            "images": int(size),
            "requests": sum(len(run["sizes"][size]["request_s"]) for run in runs),
            "request_p50_ms": round(request * 1e3, 2),
            "images_per_s": round(int(size) / request, 1),
            "predict_p50_ms": round(predict * 1e3, 2),
            "predict_images_per_s": round(int(size) / predict, 1),
            "body_bytes": first["body_bytes"],
        }
    return rows


if __name__ == "__main__":
    child_main(measure)

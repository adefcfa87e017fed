"""Batching: images per second for 1, 8 and 32 images in one request, through the handler.

Each request is one multipart `POST /predict` (the upload page's form) with N real photos,
through `handler.app.handler` in-process; beside it, `session.run` alone on the same N-image
batch shows how much of the request is the model itself.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.common import (
    check_prediction, child_main, lambda_context, multipart_event, photo_bytes, timed,
)


def measure(sizes: list[int], repeats: int, warmup: int = 2) -> dict[str, Any]:
    from handler.app import handler, model

    photos = [photo_bytes("dog"), photo_bytes("kitten")]
    rows = {}
    for size in sizes:
        images = [photos[i % 2] for i in range(size)]
        event = multipart_event(images)
        check_prediction(handler(event, lambda_context()), "dog", size)
        batch = model.preprocess(images)
        request_s, run_s = [], []
        for round_ in range(warmup + repeats):
            seconds, _ = timed(lambda event=event: handler(event, lambda_context()))
            run, _ = timed(lambda batch=batch: model.runtime.predict(batch))
            if round_ >= warmup:
                request_s.append(seconds)
                run_s.append(run)
        request, run = statistics.median(request_s), statistics.median(run_s)
        rows[str(size)] = {
            "images": size,
            "request_p50_ms": round(request * 1e3, 2),
            "images_per_s": round(size / request, 1),
            "session_run_p50_ms": round(run * 1e3, 2),
            "session_run_images_per_s": round(size / run, 1),
            "body_bytes": len(event["body"]) * 3 // 4,
        }
    return {"repeats": repeats, "sizes": rows}


if __name__ == "__main__":
    child_main(measure)

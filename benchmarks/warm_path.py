"""Warm path: the Lambda handler (Mangum, HTTP API v2 event, real JPEG) against the bare work.

In one process, after the cold start, each round calls, in turn:
- `handler`: `handler.app.handler(event, context)`, the raw image/jpeg `POST /predict`;
- `handler_multipart`: the same photo as a multipart upload (what the upload page sends);
- `bare`: Pillow decode (draft) + greyscale + resize + scale, then `session.run`, on the same
  bytes, the same session: the least work any server of this model must do per image;
- `session_run`: `session.run` alone on a ready batch;
- `handler_health`: `GET /health` through the handler, no model work: the fixed cost of one
  invocation through Powertools, Mangum and FastAPI.
Interleaving spreads the machine's noise over all four; the first rounds are discarded.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from infra.local_api import http_api_event

from benchmarks.common import (
    PHOTO_LABEL, check_prediction, child_main, jpeg_event, lambda_context, multipart_event,
    photo_bytes, summary_ms, timed,
)


def bare_predictor(model: Any) -> Any:
    """bytes -> output tensor, with nothing but the decode and the session run."""
    from PIL import Image

    spec, runtime = model.manifest.preprocessing, model.runtime
    size, scale = (spec.width, spec.height), np.float32(spec.scale)
    resample = getattr(Image.Resampling, spec.resize.upper())
    mode = "L" if spec.color_mode == "L" else "RGB"
    fetch, feed = runtime._output, runtime._input

    def predict(data: bytes) -> np.ndarray:
        image = Image.open(io.BytesIO(data))
        image.draft(mode, size)
        pixels = np.asarray(image.convert(mode).resize(size, resample), np.float32) * scale
        batch = pixels.reshape(1, spec.height, spec.width, -1)
        return runtime.session.run(fetch, {feed: batch})

    return predict


def measure(calls: int, warmup: int = 20) -> dict[str, Any]:
    from handler.app import handler, model

    image = photo_bytes()
    events = {"handler": jpeg_event(image), "handler_multipart": multipart_event([image])}
    health = http_api_event("GET", "/health", [("host", "api.example.com")], b"", "192.0.2.1")
    bare = bare_predictor(model)
    batch = model.preprocess([image])
    runtime = model.runtime
    for event in events.values():
        check_prediction(handler(event, lambda_context()), PHOTO_LABEL)
    if model.classify(bare(image))[0].label != PHOTO_LABEL:
        raise RuntimeError("the bare path does not classify the photo as the handler does")

    work = {
        **{name: (lambda e=event: handler(e, lambda_context())) for name, event in events.items()},
        "bare": lambda: bare(image),
        "session_run": lambda: runtime.predict(batch),
        "handler_health": lambda: handler(health, lambda_context()),
    }
    samples: dict[str, list[float]] = {name: [] for name in work}
    for round_ in range(warmup + calls):
        for name, call in work.items():
            seconds, _ = timed(call)
            if round_ >= warmup:
                samples[name].append(seconds)
    stats = {name: summary_ms(values) for name, values in samples.items()}
    return {
        **stats,
        "photo_bytes": len(image),
        "ratio_p50": round(stats["handler"]["p50_ms"] / stats["bare"]["p50_ms"], 3),
        "ratio_p50_multipart": round(stats["handler_multipart"]["p50_ms"] / stats["bare"]["p50_ms"], 3),
        "target_ratio": 1.25,
    }


if __name__ == "__main__":
    child_main(measure)

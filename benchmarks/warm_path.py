"""Warm path: the Lambda handler (Mangum, HTTP API v2 event, real JPEG) against the bare work,
for each runtime.

In one process, after the cold start, each round calls, in turn:
- `handler`: `handler.app.handler(event, context)`, the raw image/jpeg `POST /predict`;
- `handler_multipart`: the same photo as a multipart upload (what the upload page sends);
- `bare`: Pillow decode (draft) + greyscale + resize + scale, then the runtime's `run`
  (TensorFlow: `session.run`; LiteRT: set_tensor + invoke + get_tensor), on the same bytes, the
  same loaded model: the least work any server of this model must do per image;
- `predict`: the runtime's `run` alone on ready feeds;
- `handler_health`: `GET /health` through the handler, no model work: the fixed cost of one
  invocation through Powertools, Mangum and FastAPI.
Interleaving spreads the machine's noise over all five; the first rounds are discarded. One
process runs one runtime (MODEL_RUNTIME), so the runtimes alternate between processes
(TensorFlow, LiteRT, LiteRT, TensorFlow, ...) and each runtime's samples are pooled.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from handler.classification import classify
from infra.local_api import http_api_event

from benchmarks.common import (
    PHOTO_LABEL, alternate_children, check_prediction, child_main, image_feeds, jpeg_event,
    interleaved, lambda_context, multipart_event, photo_bytes, summary_ms, task_scores,
)


def bare_predictor(model: Any) -> Any:
    """bytes -> output tensor, with nothing but the decode and the runtime's run."""
    from PIL import Image

    spec = model.manifest.image_input.codec
    name = model.manifest.image_input.name
    size, scale = (spec.width, spec.height), np.float32(spec.scale)
    resample = getattr(Image.Resampling, spec.resize.upper())
    mode = "L" if spec.color_mode == "L" else "RGB"

    def predict(data: bytes) -> np.ndarray:
        image = Image.open(io.BytesIO(data))
        image.draft(mode, size)
        pixels = np.asarray(image.convert(mode).resize(size, resample), np.float32) * scale
        return task_scores(model, {name: pixels.reshape(1, spec.height, spec.width, -1)})

    return predict


def measure(calls: int, warmup: int = 20) -> dict[str, Any]:
    from handler.app import catalog, handler

    model = catalog.only_model()

    image = photo_bytes()
    events = {"handler": jpeg_event(image), "handler_multipart": multipart_event([image])}
    health = http_api_event("GET", "/health", [("host", "api.example.com")], b"", "192.0.2.1")
    bare = bare_predictor(model)
    feeds = image_feeds(model, [image])
    runtime = model.runtime
    for event in events.values():
        check_prediction(handler(event, lambda_context()), PHOTO_LABEL)
    if classify(model.manifest.task, bare(image))[0].label != PHOTO_LABEL:
        raise RuntimeError("the bare path does not classify the photo as the handler does")

    work = {
        **{name: (lambda e=event: handler(e, lambda_context())) for name, event in events.items()},
        "bare": lambda: bare(image),
        "predict": lambda: task_scores(model, feeds),
        "handler_health": lambda: handler(health, lambda_context()),
    }
    samples = interleaved(work, calls, warmup)
    return {"runtime": runtime.name, "photo_bytes": len(image), "samples_s": samples}


def measure_runtimes(envs: dict[str, dict[str, str]], calls: int, processes: int
                     ) -> dict[str, Any]:
    """`calls` rounds per runtime, split over `processes` processes of each, alternating."""
    runs = alternate_children("benchmarks.warm_path", envs, processes,
                              calls=math.ceil(calls / processes))
    return {"processes_per_runtime": processes,
            **{runtime: _pooled(r) for runtime, r in runs.items()}}


def _pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    stats = {name: summary_ms([s for run in runs for s in run["samples_s"][name]])
             for name in runs[0]["samples_s"]}
    bare = stats["bare"]["p50_ms"]
    return {
        **stats,
        "photo_bytes": runs[0]["photo_bytes"],
        "ratio_p50": round(stats["handler"]["p50_ms"] / bare, 3),
        "ratio_p50_multipart": round(stats["handler_multipart"]["p50_ms"] / bare, 3),
        "target_ratio": 1.25,
    }


if __name__ == "__main__":
    child_main(measure)

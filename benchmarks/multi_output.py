"""Warm path of a multi-output model: mtcnn's ONet (48x48 RGB in; box regression [4], landmarks
[10] and face probability [2] out), exported by `demo.zoo` from the package's own weights and
frozen by the freeze step with every output (and --tflite), per runtime.

In one process, after the cold start, each round calls, in turn:
- `v2_json`: `POST /v2/models/onet/infer` through the handler, FP32 JSON `data` in, all three
  outputs as JSON;
- `v2_binary`: the same with binary tensors in and out (tritonclient's default);
- `tfserving_rows`: TF Serving `instances`, answered `{"predictions": [{output: row, ...}]}`;
- `run`: the runtime's `run` of all three outputs alone on the same row (the floor).
Interleaving spreads the machine's noise over all four; the first rounds are discarded.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    ROOT, alternate_children, child_main, interleaved, lambda_context, summary_ms,
)

MODEL = "onet"


def build(folder: Path) -> Path:
    """ONet exported from mtcnn (demo.zoo) and frozen with every output (a classifier of its
    face output, its box and landmarks beside it), once: `folder/model`."""
    model_dir = folder / "model"
    if (model_dir / "model.json").is_file():
        return model_dir
    from demo.zoo import freeze_args

    source = folder / "source"
    subprocess.run([sys.executable, "-m", "demo.zoo", MODEL, "--out", str(source)], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "freeze", *freeze_args(source, model_dir)], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    return model_dir


def _event(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    from infra.local_api import http_api_event

    return http_api_event("POST", path, [("host", "api.example.com"), *headers.items()], body,
                          "192.0.2.1")


def _check(response: dict[str, Any], outputs: int) -> None:
    if response["statusCode"] != 200:
        raise RuntimeError(f"the handler answered {response['statusCode']}: {response['body']}")
    if response.get("isBase64Encoded"):
        return
    body = json.loads(response["body"])
    got = len(body.get("outputs") or body["predictions"][0])
    if got != outputs:
        raise RuntimeError(f"{got} outputs in the answer, not {outputs}")


def measure(calls: int, warmup: int = 20) -> dict[str, Any]:
    from handler.app import catalog, handler

    model = catalog.only_model()

    (spec,) = model.manifest.inputs
    names = [output.name for output in model.manifest.outputs]
    row = np.random.default_rng(0).uniform(-1, 1, [1, *spec.shape[1:]]).astype(np.float32)
    tensor = {"name": spec.name, "datatype": "FP32", "shape": list(row.shape)}
    header = json.dumps({
        "inputs": [{**tensor, "parameters": {"binary_data_size": row.nbytes}}],
        "parameters": {"binary_data_output": True},
    }).encode()
    path = f"/v2/models/{model.name}/infer"
    events = {
        "v2_json": _event(path, json.dumps({"inputs": [{**tensor, "data": row.ravel().tolist()}]})
                          .encode(), {"content-type": "application/json"}),
        "v2_binary": _event(path, header + row.tobytes(), {
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header))}),
        "tfserving_rows": _event(f"/v1/models/{model.name}:predict",
                                 json.dumps({"instances": row.tolist()}).encode(),
                                 {"content-type": "application/json"}),
    }
    for event in events.values():
        _check(handler(event, lambda_context()), len(names))
    work = {
        **{name: (lambda e=event: handler(e, lambda_context())) for name, event in events.items()},
        "run": lambda: model.runtime.run({spec.name: row}, names),
    }
    samples = interleaved(work, calls, warmup)
    return {"runtime": model.runtime.name, "outputs": names, "samples_s": samples}


def measure_runtimes(envs: dict[str, dict[str, str]], calls: int, processes: int
                     ) -> dict[str, Any]:
    """`calls` rounds per runtime over `processes` alternating processes of each; `envs` serve
    the ONet bundle (build())."""
    runs = alternate_children("benchmarks.multi_output", envs, processes,
                              calls=math.ceil(calls / processes))
    pooled = {}
    for runtime, results in runs.items():
        stats = {name: summary_ms([s for r in results for s in r["samples_s"][name]])
                 for name in results[0]["samples_s"]}
        floor = stats["run"]["p50_ms"]
        pooled[runtime] = {
            **stats, "outputs": results[0]["outputs"],
            "ratio_p50": {name: round(stats[name]["p50_ms"] / floor, 3)
                          for name in stats if name != "run"},
        }
    return {"model": MODEL, "processes_per_runtime": processes, **pooled}


if __name__ == "__main__":
    child_main(measure)

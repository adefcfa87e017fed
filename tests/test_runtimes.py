"""The two runtimes behind `ModelRuntime`, in process: LiteRT over model.tflite computes what
TensorFlow computes over model.pb, on real photos and on raw tensors through every protocol, from
any number of threads; a .tflite that does not fit its manifest is refused like a graph that does
not. (tests/test_invoke.py replays every event file through both, in fresh processes.)"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from handler.adapter import lambda_handler
from handler.api import create_app
from handler.config import Limits, Settings
from handler.images import open_checked, to_input
from handler.loader import load_model
from handler.manifest import Manifest, ModelBundleError, load_manifest
from handler.runtime import LITERT, RUNTIMES, TENSORFLOW, ModelRuntime, runtime_class
from handler.source import read_bundle
from tests.handler_events import assert_alike, http_v2, invoke


def load(name: str, model_dir: Path) -> ModelRuntime:
    settings = Settings.from_env({"MODEL_DIR": str(model_dir), "MODEL_RUNTIME": name})
    manifest, data = read_bundle(settings)
    runtime = runtime_class(name)(data, manifest)
    runtime.warm_up()
    return runtime


@pytest.fixture(scope="module")
def demo_runtimes(demo_model_dir: Path) -> dict[str, ModelRuntime]:
    return {name: load(name, demo_model_dir) for name in RUNTIMES}


def photo_batch(manifest: Manifest, photos: dict[str, Path]) -> dict[str, np.ndarray]:
    (spec,) = manifest.inputs
    rows = [to_input(open_checked(path.read_bytes(), Limits()), spec.codec)
            for path in photos.values()]
    return {spec.name: np.stack(rows).astype(spec.dtype)}


def predict(runtime: ModelRuntime, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The demo model's one output."""
    (output,) = runtime.manifest.outputs
    return runtime.run(feeds, [output.name])[output.name]


def test_litert_matches_tensorflow_on_the_photos(demo_runtimes, photos) -> None:
    tf, lite = demo_runtimes[TENSORFLOW], demo_runtimes[LITERT]
    batch = photo_batch(tf.manifest, photos)
    expected, got = predict(tf, batch), predict(lite, batch)
    assert got.shape == expected.shape == (len(photos), 1)
    assert np.max(np.abs(got - expected)) <= 1e-5
    # kitten, dog, chelsea: P(dog) 0.28 / 0.87 / 0.26 (README)
    assert [bool(p >= 0.5) for p in got[:, 0]] == [False, True, False]


def test_litert_is_safe_from_many_threads(demo_runtimes) -> None:
    """One interpreter, eight threads, distinct inputs: each gets its own answer."""
    lite = demo_runtimes[LITERT]
    rng = np.random.default_rng(0)
    batches = [{"input": rng.uniform(0, 1, (1 + i % 3, 256, 256, 1)).astype(np.float32)}
               for i in range(16)]
    expected = [predict(lite, batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda batch: predict(lite, batch), batches))
    for want, answer in zip(expected, got, strict=True):
        np.testing.assert_array_equal(answer, want)


@pytest.fixture(scope="module")
def handlers(demo_model_dir: Path) -> dict[str, Callable[[dict, Any], dict]]:
    """The Lambda handler over each runtime, built as handler.app builds its own."""
    return {
        name: lambda_handler(create_app(load_model(Settings.from_env(
            {"MODEL_DIR": str(demo_model_dir), "MODEL_RUNTIME": name}
        ))))
        for name in RUNTIMES
    }


def _post(handler: Callable[[dict, Any], dict], path: str, body: Any) -> tuple[int, Any]:
    response = invoke(handler, http_v2("POST", path, json.dumps(body),
                                       {"Content-Type": "application/json"}))
    return response.status, response.json()


TENSOR_REQUESTS = {
    "tfserving rows": ("/v1/models/catsordogs:predict", lambda rows: {"instances": rows}),
    "tfserving columns": ("/v1/models/catsordogs:predict", lambda rows: {"inputs": rows}),
    "v2 FP32": ("/v2/models/catsordogs/infer", lambda rows: {"inputs": [{
        "name": "input", "datatype": "FP32", "shape": [len(rows), 256, 256, 1],
        "data": np.asarray(rows).ravel().tolist()}]}),
    "v2 wrong shape": ("/v2/models/catsordogs/infer", lambda rows: {"inputs": [{
        "name": "input", "datatype": "FP32", "shape": [len(rows), 256, 1],
        "data": np.asarray(rows).ravel().tolist()}]}),
}


@pytest.mark.parametrize("request_name", sorted(TENSOR_REQUESTS))
def test_raw_tensors_get_the_same_answer_on_both(handlers, request_name) -> None:
    """Client tensors (not images) through TF Serving and v2: same status, same body within
    1e-5, or the same error."""
    path, make = TENSOR_REQUESTS[request_name]
    rows = np.random.default_rng(1).uniform(0, 1, (2, 256, 256, 1)).round(4).tolist()
    (tf_status, tf_body), (lite_status, lite_body) = (
        _post(handlers[name], path, make(rows)) for name in (TENSORFLOW, LITERT)
    )
    assert tf_status == lite_status
    assert_alike(tf_body, lite_body, request_name)


def test_metadata_says_which_runtime_runs(handlers) -> None:
    """The one difference a client sees: GET /model's `runtime`, v2 metadata's `platform`."""
    for name, platform in ((TENSORFLOW, "tensorflow_graphdef"), (LITERT, "tflite")):
        handler = handlers[name]
        assert invoke(handler, http_v2("GET", "/model")).json()["runtime"] == name
        metadata = invoke(handler, http_v2("GET", "/v2/models/catsordogs")).json()
        assert metadata["platform"] == platform


def test_a_runtime_that_is_not_installed_fails_in_one_line(monkeypatch) -> None:
    """MODEL_RUNTIME=tensorflow in the zip (no TensorFlow there): a ModelBundleError (one log
    line, an INIT failure), not an ImportError's traceback."""
    monkeypatch.setitem(sys.modules, "handler.runtime.tf_graph", None)  # import raises
    with pytest.raises(ModelBundleError, match=r"MODEL_RUNTIME=tensorflow cannot run here: "):
        runtime_class(TENSORFLOW)


def test_a_tflite_of_another_model_is_refused(demo_model_dir, seed_model_dir) -> None:
    """The seed's .tflite (RGB 128x128) under the demo's manifest (L 256x256): refused at load,
    not at the first request."""
    seed_tflite = (seed_model_dir / "model.tflite").read_bytes()
    with pytest.raises(ModelBundleError, match=r"model\.tflite does not fit its manifest"):
        runtime_class(LITERT)(seed_tflite, load_manifest(demo_model_dir))

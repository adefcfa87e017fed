"""TF Serving and Open Inference (v2) protocols: raw tensors, named inputs, and the real
`tritonclient.http` client over HTTP (the local API serving the real handler)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as triton

from handler.config import Limits
from handler.images import decode
from handler.manifest import ImageCodec
from tests.handler_events import http_v2, invoke

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def model(lambda_handler) -> dict:
    return invoke(lambda_handler, http_v2("GET", "/model")).json()


@pytest.fixture(scope="module")
def kitten_tensor(model, photos) -> np.ndarray:
    """The kitten as the model's input row, through the handler's own preprocessing."""
    spec = ImageCodec(**model["inputs"][0]["codec"])
    return decode(photos["kitten"].read_bytes(), spec, Limits())


@pytest.fixture(scope="module")
def kitten_p_dog(lambda_handler, photos) -> float:
    jpeg = {"Content-Type": "image/jpeg"}
    event = http_v2("POST", "/predict", photos["kitten"].read_bytes(), jpeg)
    return invoke(lambda_handler, event).json()["predictions"][0]["probabilities"]["dog"]


def post(handler, path: str, body: dict) -> dict:
    response = invoke(handler, http_v2("POST", path, json.dumps(body), JSON))
    assert response.status == 200, response.body
    return response.json()


def test_tfserving_raw_tensor_forms_agree_with_the_image_path(
    lambda_handler, model, kitten_tensor, kitten_p_dog
):
    name, input_name = model["name"], model["inputs"][0]["name"]
    row = kitten_tensor.tolist()
    path = f"/v1/models/{name}:predict"
    answers = [
        post(lambda_handler, path, {"instances": [row]})["predictions"],
        post(lambda_handler, path, {"signature_name": "serving_default",
                                    "instances": [{input_name: row}]})["predictions"],
        post(lambda_handler, path, {"inputs": [row]})["outputs"],
        post(lambda_handler, path, {"inputs": {input_name: [row]}})["outputs"],
    ]
    for answer in answers:
        assert np.asarray(answer).shape == (1, 1)
        assert answer[0][0] == pytest.approx(kitten_p_dog, abs=1e-5)


def get(handler, path: str) -> dict:
    response = invoke(handler, http_v2("GET", path))
    assert response.status == 200, response.body
    return response.json()


@pytest.mark.parametrize("pin", ["/versions/1", "/labels/stable", "/labels/latest"])
def test_tfserving_version_and_label_paths(lambda_handler, model, kitten_tensor, kitten_p_dog,
                                           pin):
    base = f"/v1/models/{model['name']}"
    assert get(lambda_handler, base + pin) == get(lambda_handler, base)
    assert get(lambda_handler, f"{base}{pin}/metadata") == get(lambda_handler, f"{base}/metadata")
    answer = post(lambda_handler, f"{base}{pin}:predict", {"instances": [kitten_tensor.tolist()]})
    assert answer["predictions"][0][0] == pytest.approx(kitten_p_dog, abs=1e-5)


def test_v2_version_paths(lambda_handler, model, kitten_tensor, kitten_p_dog):
    """The version /v2/models/{name} lists (the manifest's) works in every model path."""
    base = f"/v2/models/{model['name']}"
    (version,) = get(lambda_handler, base)["versions"]
    assert version == model["version"]
    assert get(lambda_handler, f"{base}/versions/{version}") == get(lambda_handler, base)
    assert get(lambda_handler, f"{base}/versions/{version}/ready")["ready"] is True
    answer = post(lambda_handler, f"{base}/versions/{version}/infer", {"inputs": [{
        "name": model["inputs"][0]["name"], "shape": [1, *kitten_tensor.shape], "datatype": "FP32",
        "data": kitten_tensor.ravel().tolist()}]})
    assert answer["model_version"] == version
    assert answer["outputs"][0]["data"][0] == pytest.approx(kitten_p_dog, abs=1e-5)


def test_v2_fp32_json_flat_and_nested(lambda_handler, model, kitten_tensor, kitten_p_dog):
    name, input_name = model["name"], model["inputs"][0]["name"]
    shape = [2, *kitten_tensor.shape]
    batch = np.stack([kitten_tensor, np.zeros_like(kitten_tensor)])
    for data in (batch.ravel().tolist(), batch.tolist()):
        answer = post(lambda_handler, f"/v2/models/{name}/infer", {"inputs": [
            {"name": input_name, "shape": shape, "datatype": "FP32", "data": data}]})
        (output,) = answer["outputs"]
        assert output["shape"] == [2, 1] and output["datatype"] == "FP32"
        assert output["data"][0] == pytest.approx(kitten_p_dog, abs=1e-5)
        assert 0.0 <= output["data"][1] <= 1.0


def test_tritonclient_http_against_the_local_api(
    local_api_url, model, photos, kitten_tensor, kitten_p_dog
):
    """The real Open Inference Protocol client, unchanged, binary tensor extension included."""
    name, input_name, output_name = model["name"], model["inputs"][0]["name"], model["outputs"][0]["name"]
    client = triton.InferenceServerClient(url=local_api_url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(name)
        assert client.get_server_metadata()["name"] == "tf-lambda-serving"
        metadata = client.get_model_metadata(name)
        assert metadata["inputs"][0]["shape"] == [-1, *kitten_tensor.shape]

        batch = kitten_tensor[np.newaxis]
        for binary in (True, False):
            tensor = triton.InferInput(input_name, list(batch.shape), "FP32")
            tensor.set_data_from_numpy(batch, binary_data=binary)
            result = client.infer(name, [tensor])
            assert result.as_numpy(output_name)[0, 0] == pytest.approx(kitten_p_dog, abs=1e-5)

        files = np.array([photos[n].read_bytes() for n in ("kitten", "dog")], dtype=np.object_)
        images = triton.InferInput(input_name, [2], "BYTES")
        images.set_data_from_numpy(files)  # binary: length-prefixed raw image files
        outputs = [triton.InferRequestedOutput(output_name)]
        p_dog = client.infer(name, [images], outputs=outputs, request_id="7").as_numpy(output_name)
        assert p_dog.shape == (2, 1)
        assert p_dog[0, 0] == pytest.approx(kitten_p_dog, abs=1e-5) and p_dog[1, 0] > 0.5

        with pytest.raises(triton.InferenceServerException, match="no model named"):
            client.infer("nosuchmodel", [tensor])

        version = model["version"]
        assert client.is_model_ready(name, version)
        assert client.get_model_metadata(name, version)["versions"] == [version]
        result = client.infer(name, [tensor], model_version=version)
        assert result.get_response()["model_version"] == version
        assert result.as_numpy(output_name)[0, 0] == pytest.approx(kitten_p_dog, abs=1e-5)
        assert not client.is_model_ready(name, "1")
        with pytest.raises(triton.InferenceServerException, match="has no version '1'"):
            client.infer(name, [tensor], model_version="1")
    finally:
        client.close()

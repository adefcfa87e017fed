"""Every request limit (handler.config.Limits) at, just under and just over its value, through the
Lambda handler of an app with small limits over the already-loaded demo model's runtime."""

from __future__ import annotations

import base64
import json
import math
import weakref
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata

from handler.adapter import lambda_handler as make_handler
from handler.api import create_app
from handler.config import Limits, Settings
from handler.model import Model
from tests.handler_events import Response, http_v2, invoke

ROW = 256 * 256 * 1  # the demo model's input elements per row
JSON = {"Content-Type": "application/json"}
JPEG = {"Content-Type": "image/jpeg"}

#: over, at, under: the limit is the request's size + delta
DELTAS = pytest.mark.parametrize("delta,status", [(-1, 413), (0, 200), (1, 200)],
                                 ids=["over", "at", "under"])


@pytest.fixture(scope="module")
def serve(lambda_handler) -> Callable[[dict[str, str]], Callable[[dict], Response]]:
    """env -> a handler with those limits, sharing the demo model's session (no reload)."""
    from handler import app

    def make(env: dict[str, str]) -> Callable[[dict], Response]:
        limits = Settings.from_env(env).limits
        handler = make_handler(create_app(Model(app.catalog.only_model().runtime, limits)))
        return lambda event: invoke(handler, event)

    return make


def assert_answer(response: Response, status: int, code: str | None = None) -> Any:
    body = response.json()
    assert response.status == status, body
    if code is not None:
        assert body["code"] == code, body
    return body


def multipart(*images: bytes) -> tuple[bytes, dict[str, str]]:
    body, content_type = encode_multipart_formdata(
        [("file", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    )
    return body, {"Content-Type": content_type}


@DELTAS
def test_request_bytes(serve, photos: dict[str, Path], delta: int, status: int):
    kitten = photos["kitten"].read_bytes()
    call = serve({"MAX_REQUEST_BYTES": str(len(kitten) + delta)})
    body = assert_answer(call(http_v2("POST", "/predict", kitten, JPEG)), status,
                         "request_too_large" if status == 413 else None)
    if status == 200:
        assert body["predictions"][0]["label"] == "cat"


@DELTAS
def test_image_bytes(serve, photos: dict[str, Path], delta: int, status: int):
    kitten = photos["kitten"].read_bytes()
    call = serve({"MAX_IMAGE_BYTES": str(len(kitten) + delta)})
    assert_answer(call(http_v2("POST", "/predict", *multipart(kitten))), status,
                  "image_too_large" if status == 413 else None)
    if status == 413:  # checked before Pillow even looks: not-an-image bytes get 413, not 422
        junk = b"x" * (len(kitten) + 1)
        assert_answer(call(http_v2("POST", "/predict", junk, JPEG)), 413, "image_too_large")


@DELTAS
def test_image_pixels(serve, photos: dict[str, Path], delta: int, status: int):
    width, height = Image.open(photos["dog"]).size
    call = serve({"MAX_IMAGE_PIXELS": str(width * height + delta)})
    assert_answer(call(http_v2("POST", "/predict", photos["dog"].read_bytes(), JPEG)), status,
                  "too_many_pixels" if status == 413 else None)


def pixels(*paths: Path) -> int:
    return sum(math.prod(Image.open(p).size) for p in paths)


@DELTAS
def test_request_pixels(serve, photos: dict[str, Path], delta: int, status: int):
    call = serve({"MAX_REQUEST_PIXELS": str(pixels(photos["kitten"], photos["dog"]) + delta)})
    images = [photos[name].read_bytes() for name in ("kitten", "dog")]
    body = assert_answer(call(http_v2("POST", "/predict", *multipart(*images))), status,
                         "request_too_many_pixels" if status == 413 else None)
    if status == 200:
        assert [p["label"] for p in body["predictions"]] == ["cat", "dog"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


IMAGE_REQUESTS: dict[str, Callable[[list[bytes]], dict]] = {
    "native": lambda images: http_v2("POST", "/predict", *multipart(*images)),
    "tfserving": lambda images: http_v2(
        "POST", "/v1/models/catsordogs:predict",
        json.dumps({"instances": [{"b64": b64(i)} for i in images]}), JSON),
    "v2": lambda images: http_v2(
        "POST", "/v2/models/catsordogs/infer", json.dumps({"inputs": [{
            "name": "input", "datatype": "BYTES", "shape": [len(images)],
            "data": [b64(i) for i in images]}]}), JSON),
}


@pytest.mark.parametrize("protocol", IMAGE_REQUESTS)
def test_request_pixels_are_summed_before_any_image_is_decoded(serve, photos, protocol):
    """The last image is truncated after its header: over the budget the request is refused
    (413) before decoding would find that (422 at the budget)."""
    dog = photos["dog"].read_bytes()
    event = IMAGE_REQUESTS[protocol]([photos["kitten"].read_bytes(), dog[: len(dog) // 2]])
    budget = pixels(photos["kitten"], photos["dog"])
    assert_answer(serve({"MAX_REQUEST_PIXELS": str(budget - 1)})(event), 413,
                  "request_too_many_pixels")
    assert_answer(serve({"MAX_REQUEST_PIXELS": str(budget)})(event), 422, "corrupt_image")


def test_one_decoded_image_at_a_time(lambda_handler, photos, monkeypatch):
    """Every header is opened first, but each image's full-size pixels are freed before the next
    image is decoded: 32 images at MAX_IMAGE_PIXELS would otherwise be held at once."""
    from handler import app, images

    decoded: list[weakref.ref] = []
    to_input = images.to_input

    def spy(image, spec):
        assert all(ref() is None for ref in decoded), "an earlier decoded image is still held"
        decoded.append(weakref.ref(image))
        return to_input(image, spec)

    monkeypatch.setattr(images, "to_input", spy)
    data = [photos[name].read_bytes() for name in ("kitten", "dog", "chelsea")]
    codec = app.catalog.only_model().manifest.inputs[0].codec
    images.decode_batch(data, codec, app.catalog.only_model().limits, np.dtype("float32"))
    assert len(decoded) == 3


@pytest.mark.parametrize("count,status", [(3, 413), (2, 200), (1, 200)],
                         ids=["over", "at", "under"])
def test_images_per_request(serve, photos: dict[str, Path], count: int, status: int):
    call = serve({"MAX_BATCH": "2"})
    images = [photos["kitten"].read_bytes(), photos["dog"].read_bytes()][:count]
    images += [b"not an image"] * (count - len(images))  # over: refused before any decoding
    body = assert_answer(call(http_v2("POST", "/predict", *multipart(*images))), status,
                         "too_many_inputs" if status == 413 else None)
    if status == 200:
        assert [p["label"] for p in body["predictions"]] == ["cat", "dog"][:count]


LIMIT = 2 * ROW


def zeros(rows: int) -> list:
    return [[[[0.0]] * 256] * 256] * rows


def tfserving(instances: list) -> dict:
    return http_v2("POST", "/v1/models/catsordogs:predict", json.dumps({"instances": instances}),
                   JSON)


def v2(data: list, shape: list[int]) -> dict:
    tensor = {"name": "input", "datatype": "FP32", "shape": shape, "data": data}
    return http_v2("POST", "/v2/models/catsordogs/infer", json.dumps({"inputs": [tensor]}), JSON)


def v2_binary(elements: int) -> dict:
    header = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [elements],
                                     "parameters": {"binary_data_size": 4 * elements}}]}).encode()
    return http_v2("POST", "/v2/models/catsordogs/infer", header + bytes(4 * elements),
                   {"Content-Type": "application/octet-stream",
                    "Inference-Header-Content-Length": str(len(header))})


@pytest.mark.parametrize("protocol,event", [
    ("tfserving", lambda n: tfserving([[0.0] * n])),  # one long row: past MAX_BATCH
    ("v2", lambda n: v2([0.0] * n, [n])),
    ("v2-binary", v2_binary),
])
@pytest.mark.parametrize("elements,status,code", [
    (LIMIT + 1, 413, "too_many_elements"),  # over: refused before NumPy sees it
    (LIMIT - 1, 400, "wrong_shape"),        # under: past the limit, then the wrong shape
])
def test_tensor_elements_flat(serve, protocol, event, elements: int, status: int, code: str):
    call = serve({"MAX_TENSOR_ELEMENTS": str(LIMIT)})
    assert_answer(call(event(elements)), status, code)


def test_tensor_elements_at_the_limit_and_ragged(serve):
    call = serve({"MAX_TENSOR_ELEMENTS": str(LIMIT)})
    out = assert_answer(call(tfserving(zeros(2))), 200)  # exactly 2 rows = the limit
    assert len(out["predictions"]) == 2 and out["predictions"][0] == out["predictions"][1]
    assert_answer(call(v2([0.0] * LIMIT, [2, 256, 256, 1])), 200)
    assert_answer(call(tfserving(zeros(3))), 413, "too_many_elements")
    # A string behind the limit: 413 comes before NumPy's dtype check would answer 400.
    assert_answer(call(tfserving([[0.0] * LIMIT + ["x"]])), 413, "too_many_elements")
    # Ragged lists whose first path is small: NumPy refuses them without building an array.
    assert_answer(call(tfserving([[0.0], [0.0] * (2 * LIMIT)])), 400, "invalid_tensor")


def test_model_reports_every_limit(serve):
    body = assert_answer(serve({"MAX_REQUEST_PIXELS": "1234"})(http_v2("GET", "/model")), 200)
    assert set(body["limits"]) == {f.name for f in fields(Limits)}
    assert body["limits"]["max_request_pixels"] == 1234


def test_default_tensor_elements_follow_the_batch_and_the_model(serve):
    body = assert_answer(serve({"MAX_BATCH": "2"})(http_v2("GET", "/model")), 200)
    assert body["limits"]["max_tensor_elements"] == 2 * ROW
    assert Limits().tensor_elements([[None, 256, 256, 1]]) == 32 * ROW
    assert Limits().tensor_elements([[None, None, None, 3]]) == 1 << 24  # a photo fits
    assert Limits(max_tensor_elements=5).tensor_elements([[None, 256, 256, 1]]) == 5

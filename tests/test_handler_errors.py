"""Bad input through the Lambda handler: one JSON error shape, the right status, no traceback,
and the container keeps serving (a valid request after each one still succeeds)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata

from tests.handler_events import http_v2, invoke, rest_v1

JSON = {"Content-Type": "application/json"}
JPEG_TYPE = "image/jpeg"
JPEG = {"Content-Type": JPEG_TYPE}


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def form(*fields) -> tuple[bytes, dict[str, str]]:
    body, content_type = encode_multipart_formdata(list(fields))
    return body, {"Content-Type": content_type}


@pytest.fixture(scope="module")
def model(lambda_handler) -> dict:
    return invoke(lambda_handler, http_v2("GET", "/model")).json()


@pytest.fixture(autouse=True)
def still_serving(lambda_handler, photos):
    """After every bad request, a good one still gets the right answer."""
    yield
    event = http_v2("POST", "/predict", photos["dog"].read_bytes(), JPEG)
    assert invoke(lambda_handler, event).json()["predictions"][0]["label"] == "dog"


def assert_error(response, status: int, code: str) -> dict:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (response.status, body["status"], body["code"]) == (status, status, code), body
    assert set(body) == {"error", "code", "status"} and body["error"]
    assert "Traceback" not in body["error"]
    return body


TFS = "/v1/models/{name}:predict"
V2 = "/v2/models/{name}/infer"
PNG = {"Content-Type": "image/png"}
TEXT = {"Content-Type": "text/plain"}
BARE_MULTIPART = {"Content-Type": "multipart/form-data"}


def v2_input(datatype: str, shape: list[int], data: list | None = None):
    """A v2 infer body for the model's input, built once the model's input name is known."""
    def body(photos, model) -> str:
        tensor = {"name": model["input"]["name"], "shape": shape, "datatype": datatype}
        return json.dumps({"inputs": [tensor | ({"data": data} if data is not None else {})]})
    return body


def kitten_half(photos, model) -> bytes:
    data = photos["kitten"].read_bytes()
    return data[: len(data) // 2]


# case: (method, path, body or body(photos, model), headers, status, code); {name}: the model
CASES = {
    "empty body": ("POST", "/predict", b"", JPEG, 400, "empty_body"),
    "not an image": ("POST", "/predict", b"hello, not an image", JPEG, 422, "not_an_image"),
    "truncated jpeg": ("POST", "/predict", kitten_half, JPEG, 422, "corrupt_image"),
    "decompression bomb": ("POST", "/predict", png(20_000, 20_000), PNG, 413, "too_many_pixels"),
    "image over 4.4 MB": ("POST", "/predict", b"\xff\xd8\xff" + bytes(4_500_000), JPEG,
                          413, "image_too_large"),
    "body over 6 MiB": ("POST", "/predict", bytes(6 * 1024 * 1024 + 1), JPEG,
                        413, "request_too_large"),
    "wrong content type": ("POST", "/predict", b"hello", TEXT, 415, "unsupported_media_type"),
    "no content type": ("POST", "/predict", b"\xff\xd8\xff", {}, 415, "unsupported_media_type"),
    "malformed json": ("POST", "/predict", '{"images": [', JSON, 400, "invalid_json"),
    "json of the wrong shape": ("POST", "/predict", '{"images": "abc"}', JSON,
                                422, "invalid_request"),
    "malformed base64": ("POST", "/predict", '{"images": ["not base64!"]}', JSON,
                         400, "invalid_base64"),
    "form without a file part": ("POST", "/predict", *form(("photo", ("a.jpg", b"x", JPEG_TYPE))),
                                 400, "no_images"),
    "multipart without boundary": ("POST", "/predict", b"x", BARE_MULTIPART, 400, "bad_request"),
    "k below 1": ("POST", "/predict?k=0", b"\xff\xd8", JPEG, 422, "invalid_request"),
    "unknown path": ("GET", "/nowhere", b"", {}, 404, "not_found"),
    "GET on predict": ("GET", "/predict", b"", {}, 405, "method_not_allowed"),
    "DELETE on v2 health": ("DELETE", "/v2/health/live", b"", {}, 405, "method_not_allowed"),
    "GET on tfserving predict": ("GET", TFS, b"", {}, 405, "method_not_allowed"),
    "tfserving unknown model": ("GET", "/v1/models/nosuchmodel/metadata", b"", {},
                                404, "model_not_found"),
    "tfserving wrong shape": ("POST", TFS, '{"instances": [[1, 2, 3]]}', JSON, 400, "wrong_shape"),
    "tfserving wrong dtype": ("POST", TFS, '{"instances": [["a", "b"]]}', JSON, 400, "wrong_dtype"),
    "tfserving ragged": ("POST", TFS, '{"instances": [[1], [1, 2]]}', JSON, 400, "invalid_tensor"),
    "tfserving both forms": ("POST", TFS, '{"instances": [], "inputs": []}', JSON,
                             422, "invalid_request"),
    "tfserving no rows": ("POST", TFS, '{"instances": []}', JSON, 400, "no_inputs"),
    "tfserving bad b64 object": ("POST", TFS, '{"instances": [{"b64": 1}]}', JSON,
                                 400, "invalid_image_object"),
    "tfserving unknown signature": ("POST", TFS, '{"signature_name": "x", "instances": [[0]]}',
                                    JSON, 400, "unknown_signature"),
    "tfserving malformed json": ("POST", TFS, "{", JSON, 400, "invalid_json"),
    "v2 unknown model": ("POST", "/v2/models/nosuchmodel/infer", "{}", JSON,
                         404, "model_not_found"),
    "v2 wrong shape": ("POST", V2, v2_input("FP32", [1, 3], [1, 2, 3]), JSON, 400, "wrong_shape"),
    "v2 shape and data disagree": ("POST", V2, v2_input("FP32", [2], [1]), JSON,
                                   400, "wrong_shape"),
    "v2 wrong datatype": ("POST", V2, v2_input("INT8", [1], [1]), JSON, 400, "wrong_dtype"),
    "v2 input without data": ("POST", V2, v2_input("BYTES", [1]), JSON, 400, "missing_data"),
    "v2 unknown input": ("POST", V2, json.dumps({"inputs": [
        {"name": "nope", "shape": [1], "datatype": "FP32", "data": [1]}]}), JSON,
        400, "unknown_input"),
    "v2 missing inputs": ("POST", V2, '{"inputs": []}', JSON, 422, "invalid_request"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_request(lambda_handler, photos, model, case):
    method, path, body, headers, status, code = CASES[case]
    if callable(body):
        body = body(photos, model)
    path, _, query = path.format(name=model["name"]).partition("?")
    event = http_v2(method, path, body, headers, dict([query.split("=")]) if query else None)
    assert_error(invoke(lambda_handler, event), status, code)


def test_too_many_images(lambda_handler, model):
    count = model["limits"]["max_batch"] + 1
    body, headers = form(*[("file", (f"{i}.png", png(8, 8), "image/png")) for i in range(count)])
    response = invoke(lambda_handler, http_v2("POST", "/predict", body, headers))
    error = assert_error(response, 413, "too_many_inputs")
    assert str(count) in error["error"]


def test_rest_api_errors_have_the_same_shape(lambda_handler):
    assert_error(invoke(lambda_handler, rest_v1("POST", "/predict", b"", JPEG)), 400, "empty_body")


@pytest.mark.parametrize("event", [
    {},
    {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}}}]},
    {"requestContext": "not a dict"},
    ["not", "a", "dict"],
], ids=["empty", "s3-notification", "odd-request-context", "list"])
def test_non_http_event_gets_a_clear_400(lambda_handler, event):
    response = invoke(lambda_handler, event)
    body = assert_error(response, 400, "unsupported_event")
    assert "not an HTTP event" in body["error"] and "API Gateway" in body["error"]


def test_unexpected_failure_is_a_json_500(lambda_handler, photos, monkeypatch):
    from handler import app

    def boom(batch):
        raise RuntimeError("simulated runtime failure")

    monkeypatch.setattr(app.model.runtime, "predict", boom)
    event = http_v2("POST", "/predict", photos["dog"].read_bytes(), JPEG)
    body = assert_error(invoke(lambda_handler, event), 500, "internal_error")
    assert "simulated" not in body["error"]  # details go to the logs, not to clients

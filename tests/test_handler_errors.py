"""Bad input through the Lambda handler: one JSON error shape, the right status, no traceback,
and the container keeps serving (a valid request after each one still succeeds)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata

from tests.handler_events import alb, http_v2, invoke, rest_v1

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
        tensor = {"name": model["inputs"][0]["name"], "shape": shape, "datatype": datatype}
        return json.dumps({"inputs": [tensor | ({"data": data} if data is not None else {})]})
    return body


def kitten_half(photos, model) -> bytes:
    data = photos["kitten"].read_bytes()
    return data[: len(data) // 2]


def dog_jpeg(photos, model) -> bytes:
    return photos["dog"].read_bytes()


def row_without_batch(photos, model) -> str:
    """One input row (e.g. 256x256x1) as `instances`, its batch dimension forgotten."""
    row: list | float = 0.0
    for size in reversed(model["inputs"][0]["shape"][1:]):
        row = [row] * size
    return json.dumps({"instances": row})


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
    "data: URI without base64": ("POST", "/predict", '{"images": ["data:image/png,abcd"]}', JSON,
                                 400, "invalid_base64"),
    "form without a file part": ("POST", "/predict", *form(("photo", ("a.jpg", b"x", JPEG_TYPE))),
                                 400, "no_images"),
    "multipart without boundary": ("POST", "/predict", b"x", BARE_MULTIPART, 400, "bad_request"),
    "k below 1": ("POST", "/predict?k=0", b"\xff\xd8", JPEG, 422, "invalid_request"),
    "unknown path": ("GET", "/nowhere", b"", {}, 404, "not_found"),
    "GET on predict": ("GET", "/predict", b"", {}, 405, "method_not_allowed"),
    "DELETE on v2 health": ("DELETE", "/v2/health/live", b"", {}, 405, "method_not_allowed"),
    "OPTIONS on health": ("OPTIONS", "/health", b"", {}, 405, "method_not_allowed"),
    "GET on tfserving predict": ("GET", TFS, b"", {}, 405, "method_not_allowed"),
    "tfserving unknown model": ("GET", "/v1/models/nosuchmodel/metadata", b"", {},
                                404, "model_not_found"),
    "tfserving wrong shape": ("POST", TFS, '{"instances": [[1, 2, 3]]}', JSON, 400, "wrong_shape"),
    "tfserving row without its batch dimension": ("POST", TFS, row_without_batch, JSON,
                                                  400, "wrong_shape"),
    "tfserving image body": ("POST", TFS, dog_jpeg, JPEG, 400, "invalid_json"),
    "tfserving unknown version": ("GET", "/v1/models/{name}/versions/2", b"", {},
                                  404, "model_version_not_found"),
    "tfserving unknown label": ("POST", "/v1/models/{name}/labels/canary:predict",
                                '{"instances": [[0]]}', JSON, 404, "model_version_not_found"),
    "GET on tfserving versioned predict": ("GET", "/v1/models/{name}/versions/1:predict", b"", {},
                                           405, "method_not_allowed"),
    "tfserving wrong dtype": ("POST", TFS, '{"instances": [["a", "b"]]}', JSON, 400, "wrong_dtype"),
    "tfserving ragged": ("POST", TFS, '{"instances": [[1], [1, 2]]}', JSON, 400, "invalid_tensor"),
    "tfserving both forms": ("POST", TFS, '{"instances": [], "inputs": []}', JSON,
                             422, "invalid_request"),
    "tfserving no rows": ("POST", TFS, '{"instances": []}', JSON, 400, "no_inputs"),
    "tfserving bad b64 object": ("POST", TFS, '{"instances": [{"b64": 1}]}', JSON,
                                 400, "invalid_b64_object"),
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
    "v2 input without a name": ("POST", V2, json.dumps({"inputs": [
        {"name": "", "shape": [1], "datatype": "FP32", "data": [1]}]}), JSON,
        422, "invalid_request"),
    "v2 negative dimension": ("POST", V2, v2_input("FP32", [-1], [1]), JSON,
                              422, "invalid_request"),
    "v2 unknown datatype": ("POST", V2, v2_input("FP33", [1], [1]), JSON,
                            422, "invalid_request"),
    "v2 image body": ("POST", V2, dog_jpeg, JPEG, 400, "invalid_json"),
    "v2 unknown version": ("POST", "/v2/models/{name}/versions/1/infer", "{}", JSON,
                           404, "model_version_not_found"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_request(lambda_handler, photos, model, case):
    method, path, body, headers, status, code = CASES[case]
    if callable(body):
        body = body(photos, model)
    path, _, query = path.format(name=model["name"]).partition("?")
    event = http_v2(method, path, body, headers, dict([query.split("=")]) if query else None)
    assert_error(invoke(lambda_handler, event), status, code)


def test_options_names_the_allowed_methods(lambda_handler):
    """405, not a CORS preflight answer: API Gateway answers those (template.yaml)."""
    response = invoke(lambda_handler, http_v2("OPTIONS", "/health"))
    assert response.status == 405 and response.headers["allow"] == "GET, HEAD"
    response = invoke(lambda_handler, http_v2("HEAD", "/predict"))
    assert response.status == 405 and response.headers["allow"] == "POST"
    assert response.body == b""


def test_pixels_over_pillows_own_limit_quote_ours(lambda_handler, model):
    bomb = CASES["decompression bomb"][2]  # 400 M pixels: over Pillow's 179 M, not just ours
    response = invoke(lambda_handler, http_v2("POST", "/predict", bomb, PNG))
    error = assert_error(response, 413, "too_many_pixels")["error"]
    assert f"exceeds the limit of {model['limits']['max_image_pixels']} pixels" in error


def test_unsupported_media_type_names_what_is_accepted(lambda_handler):
    event = http_v2("POST", "/predict", b"hello", TEXT)
    error = assert_error(invoke(lambda_handler, event), 415, "unsupported_media_type")["error"]
    for accepted in ("image/*", "GIF", "WebP", "multipart/form-data", "application/json"):
        assert accepted in error


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


@pytest.mark.parametrize("event", [
    {"version": "2.0", "requestContext": {"http": {"method": "GET"}}},
    {**http_v2("GET", "/health"), "headers": None},
    {**http_v2("POST", "/predict"), "body": 5},
    {**http_v2("POST", "/predict"), "body": "abc", "isBase64Encoded": True},
    {k: v for k, v in rest_v1("GET", "/health").items() if k != "httpMethod"},
    {**rest_v1("GET", "/health"), "requestContext": "not a dict"},
    {k: v for k, v in alb("GET", "/health").items() if k != "headers"},
], ids=["http-api-without-source-ip", "http-api-null-headers", "http-api-number-body",
        "http-api-bad-base64", "rest-without-method", "rest-odd-request-context",
        "alb-without-headers"])
def test_malformed_http_event_gets_a_clear_400(lambda_handler, event):
    body = assert_error(invoke(lambda_handler, event), 400, "malformed_event")
    assert body["error"].startswith("malformed ")


@pytest.fixture
def logs():
    """What the function logs (Powertools' JSON lines, Mangum's and python-multipart's too)."""
    from handler.observability import logger

    log = io.StringIO()
    stream = logger.registered_handler.setStream(log)
    try:
        yield log
    finally:
        logger.registered_handler.setStream(stream)


def test_unexpected_failure_is_logged_once(lambda_handler, photos, monkeypatch, logs):
    from handler import app

    def boom(feeds, fetches):
        raise RuntimeError("simulated runtime failure")

    monkeypatch.setattr(app.catalog.only_model().runtime, "run", boom)
    event = http_v2("POST", "/predict", photos["dog"].read_bytes(), JPEG)
    assert invoke(lambda_handler, event).status == 500
    errors = [r for r in map(json.loads, logs.getvalue().splitlines()) if r["level"] == "ERROR"]
    assert [r["message"] for r in errors] == ["unexpected error"], errors
    assert "simulated runtime failure" in errors[0]["exception"]


def test_garbage_multipart_is_answered_without_a_plain_log_line(lambda_handler, logs, caplog):
    """python-multipart warns about each malformed body ("Expected boundary character..."):
    left to the root logger, that was a plain, non-JSON line in the function's logs."""
    body, headers = b"--not-the-boundary\r\n", {"Content-Type": "multipart/form-data; boundary=x"}
    assert_error(invoke(lambda_handler, http_v2("POST", "/predict", body, headers)),
                 400, "bad_request")
    assert not [r for r in caplog.records if r.name.startswith("python_multipart")]
    assert logs.getvalue() == ""  # a client's error, answered: not a warning of ours
    logging.getLogger("python_multipart.multipart").error("seen")
    assert json.loads(logs.getvalue())["message"] == "seen"  # its errors are JSON like ours


def test_unexpected_failure_is_a_json_500(lambda_handler, photos, monkeypatch, capsys):
    from handler import app

    def boom(feeds, fetches):
        raise RuntimeError("simulated runtime failure")

    monkeypatch.setattr(app.catalog.only_model().runtime, "run", boom)
    event = http_v2("POST", "/predict", photos["dog"].read_bytes(), JPEG)
    capsys.readouterr()
    body = assert_error(invoke(lambda_handler, event), 500, "internal_error")
    assert "simulated" not in body["error"]  # details go to the logs, not to clients
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m.get("ServerErrors") for m in emf] == [[1.0]]  # feeds the rollback alarm
    monkeypatch.undo()
    invoke(lambda_handler, event)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert all("ServerErrors" not in m for m in emf)

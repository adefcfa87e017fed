"""`python -m infra.local_api`: HTTP → HTTP API event → handler, like `sam local start-api`."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from urllib3 import encode_multipart_formdata

from infra.lambda_runtime import ROOT
from infra.local_api import http_api_event, response_parts, serve


def request(url: str, data: bytes | None = None, content_type: str | None = None,
            method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; HTTP errors are answers too."""
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# --- the event and response translation, without a server ----------------------------------------

def test_binary_bodies_are_base64_and_text_bodies_are_not() -> None:
    jpeg = b"\xff\xd8\xff\xe0 not utf-8 \xff"
    headers = [("Content-Type", "image/jpeg")]
    event = http_api_event("POST", "/predict?k=1", headers, jpeg, "127.0.0.1")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == jpeg
    assert event["rawPath"] == "/predict" and event["rawQueryString"] == "k=1"
    assert event["queryStringParameters"] == {"k": "1"}
    assert event["requestContext"]["http"] == {
        "method": "POST", "path": "/predict", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
        "userAgent": "",
    }
    text = http_api_event("POST", "/v2/models/m/infer", [("Content-Type", "application/json")],
                          b'{"inputs": []}', "127.0.0.1")
    assert text["isBase64Encoded"] is False and text["body"] == '{"inputs": []}'
    multipart = http_api_event("POST", "/predict", [("Content-Type", "multipart/form-data; b=x")],
                               b"--x--", "127.0.0.1")
    assert multipart["isBase64Encoded"] is True
    # An HTTP API passes only text/*, JSON, XML and JavaScript as text: form posts are base64.
    form = http_api_event("POST", "/predict", [("Content-Type", "application/x-www-form-urlencoded")],
                          b"a=1", "127.0.0.1")
    assert form["isBase64Encoded"] is True and base64.b64decode(form["body"]) == b"a=1"


def test_headers_cookies_and_queries_as_api_gateway_sends_them() -> None:
    event = http_api_event(
        "GET", "/health?a=1&a=2&b=",
        [("X-Tag", "one"), ("x-tag", "two"), ("Cookie", "s=1; t=2"), ("Cookie", "u=3")],
        b"", "10.0.0.1",
    )
    assert event["headers"] == {"x-tag": "one,two"}
    assert event["cookies"] == ["s=1", "t=2", "u=3"]
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert "body" not in event and event["isBase64Encoded"] is False
    # template.yaml's routes, the client's address, the time it arrived
    assert event["routeKey"] == "GET /{proxy+}" and event["pathParameters"] == {"proxy": "health"}
    assert event["requestContext"]["http"]["sourceIp"] == "10.0.0.1"
    assert abs(event["requestContext"]["timeEpoch"] - time.time() * 1000) < 60_000


def test_responses_of_both_payload_formats_are_written_back() -> None:
    v2 = {"statusCode": 201, "headers": {"content-type": "image/png"}, "cookies": ["a=1", "b=2"],
          "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True}
    headers = [("content-type", "image/png"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert response_parts(v2) == (201, headers, b"\x89PNG")
    v1 = {"statusCode": 200, "headers": {}, "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
          "body": "ok", "isBase64Encoded": False}
    assert response_parts(v1) == (200, [("set-cookie", "a=1"), ("set-cookie", "b=2")], b"ok")


def test_one_invocation_at_a_time_like_one_container() -> None:
    """Connections are concurrent, invocations are not: the function never overlaps itself."""
    running, overlaps = [0], []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            running[0] += 1
            overlaps.append(running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return {"statusCode": 200, "body": context.aws_request_id}

    with serve(handler) as url, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: request(url + "/"), range(16)))
    assert [status for status, _, _ in answers] == [200] * 16
    assert len({body for _, _, body in answers}) == 16  # a fresh request id each time
    assert max(overlaps) == 1


def test_handler_crash_is_a_500_like_an_http_api() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    with serve(handler) as url:
        status, _, body = request(url + "/anything")
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}


def test_events_over_lambdas_6_mb_are_refused_before_invoking() -> None:
    calls = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"statusCode": 200, "body": ""}

    with serve(handler) as url:
        small = request(url + "/predict", b"\xff" * 1000, "image/jpeg")
        large = request(url + "/predict", b"\xff" * 5_000_000, "image/jpeg")  # 6.7 MB as base64
        huge = request(url + "/predict", b"\xff" * 11_000_000, "image/jpeg")  # HTTP API: 10 MB
    assert small[0] == 200 and large[0] == 413 and huge[0] == 413
    assert len(calls) == 1


# --- the real handler behind the local API -------------------------------------------------------

@pytest.mark.slow
def test_health_and_upload_page(local_api_url: str) -> None:
    status, headers, body = request(local_api_url + "/health")
    assert status == 200 and json.loads(body)["model"] == "catsordogs"
    status, headers, body = request(local_api_url + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'src="static/app.js"' in body  # relative: works behind a stage prefix too


@pytest.mark.slow
def test_predict_multipart_and_raw_like_curl(local_api_url: str, photos: dict[str, Path]) -> None:
    body, content_type = encode_multipart_formdata(
        [("file", ("kitten.jpeg", photos["kitten"].read_bytes(), "image/jpeg")),
         ("file", ("dog.jpeg", photos["dog"].read_bytes(), "image/jpeg"))]
    )
    status, _, answer = request(local_api_url + "/predict", body, content_type)
    assert status == 200, answer
    predictions = json.loads(answer)["predictions"]
    assert [p["label"] for p in predictions] == ["cat", "dog"]
    assert predictions[0]["probabilities"]["dog"] == pytest.approx(0.28, abs=0.02)
    assert predictions[1]["probabilities"]["dog"] == pytest.approx(0.87, abs=0.02)
    dog = photos["dog"].read_bytes()
    status, _, answer = request(local_api_url + "/predict", dog, "image/jpeg")
    assert status == 200 and json.loads(answer)["predictions"][0]["label"] == "dog"


@pytest.mark.slow
def test_errors_come_back_as_json(local_api_url: str) -> None:
    status, _, body = request(local_api_url + "/predict", b"hello", "text/plain")
    assert status == 415 and json.loads(body)["code"] == "unsupported_media_type"
    status, _, body = request(local_api_url + "/v1/models/nope")
    assert status == 404 and json.loads(body)["status"] == 404


@pytest.mark.slow
def test_tritonclient_infers_through_the_local_api(
    local_api_url: str, photos: dict[str, Path]
) -> None:
    client = triton.InferenceServerClient(url=local_api_url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_model_ready("catsordogs")
        metadata = client.get_model_metadata("catsordogs")
        (spec,) = metadata["inputs"]
        images = np.array([photos[name].read_bytes() for name in ("kitten", "dog")], np.object_)
        tensor = triton.InferInput(spec["name"], [2], "BYTES")
        tensor.set_data_from_numpy(images, binary_data=True)
        result = client.infer("catsordogs", [tensor])
        p_dog = result.as_numpy(metadata["outputs"][0]["name"]).ravel()
    finally:
        client.close()
    assert p_dog == pytest.approx([0.28, 0.87], abs=0.02)


@pytest.mark.slow
def test_cli_prints_url_and_curl_example_then_serves(
    demo_model_dir: Path, photos: dict[str, Path]
) -> None:
    """What `make run` starts: a fresh process that prints where it listens and how to call it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local_api", "--host", "127.0.0.1", "--port", "0", "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "MODEL_DIR": str(demo_model_dir)},
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        url = re.search(r"Serving on (http://127\.0\.0\.1:\d+)/", lines[1])
        assert url, lines
        assert f"curl -F file=@{photos['kitten']} {url[1]}/predict" in lines[2]
        status, _, body = request(url[1] + "/predict", photos["kitten"].read_bytes(), "image/jpeg")
        assert status == 200 and json.loads(body)["predictions"][0]["label"] == "cat"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("method,path", [
    ("PUT", "/predict"), ("DELETE", "/model"), ("TRACE", "/health"), ("PROPFIND", "/"),
    ("POST", "/"), ("OPTIONS", "/predict"),
])
def test_a_method_no_route_takes_gets_the_apis_own_404(local_api_url: str, method, path) -> None:
    """As the deployed HTTP API: template.yaml's routes only (GET and HEAD on /, GET, HEAD and
    POST below it); anything else is API Gateway's JSON 404, never http.server's HTML page."""
    request = urllib.request.Request(local_api_url + path, method=method, data=b"x")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 404
    assert info.value.headers["Content-Type"] == "application/json"
    assert json.loads(info.value.read()) == {"message": "Not Found"}

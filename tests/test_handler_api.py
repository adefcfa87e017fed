"""End to end through the Lambda handler (`handler.app.handler`, demo model) with real event
shapes from every source Mangum serves, real photos, and every endpoint."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

import pytest
from urllib3 import encode_multipart_formdata

from tests.handler_events import SOURCES, http_v2, invoke, rest_v1

#: P(dog) the demo model gives the photos with the manifest's preprocessing (Pillow luma).
JSON = {"Content-Type": "application/json"}
JPEG = {"Content-Type": "image/jpeg"}
P_DOG = {"kitten": 0.28, "dog": 0.87, "chelsea": 0.26}
ORDER = ["kitten", "dog", "chelsea"]


@pytest.fixture(params=sorted(SOURCES))
def source(request):
    return SOURCES[request.param]


@pytest.fixture(scope="module")
def name(lambda_handler) -> str:
    return invoke(lambda_handler, http_v2("GET", "/model")).json()["name"]


def multipart(photos: dict[str, Path], names: list[str]) -> tuple[bytes, str]:
    fields = [("file", (photos[n].name, photos[n].read_bytes(), "image/jpeg")) for n in names]
    return encode_multipart_formdata(fields)


def assert_photos(predictions: list[dict], names: list[str]) -> None:
    labels = {"kitten": "cat", "dog": "dog", "chelsea": "cat"}
    assert [p["label"] for p in predictions] == [labels[n] for n in names]
    for p, n in zip(predictions, names, strict=True):
        assert p["probabilities"]["dog"] == pytest.approx(P_DOG[n], abs=0.03)
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert p["probability"] == p["probabilities"][p["label"]] == p["top_k"][0]["probability"]


def test_predict_multipart_several_photos(lambda_handler, source, photos):
    body, content_type = multipart(photos, ORDER)
    event = source("POST", "/predict", body, {"Content-Type": content_type})
    response = invoke(lambda_handler, event)
    assert response.status == 200, response.body
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["model"] == "catsordogs" and len(answer["version"]) == 12
    assert_photos(answer["predictions"], ORDER)


@pytest.mark.parametrize("photo,content_type", [("dog", "image/jpeg"), ("chelsea", "image/png")])
def test_predict_raw_image_body(lambda_handler, source, photos, photo, content_type):
    event = source("POST", "/predict", photos[photo].read_bytes(), {"Content-Type": content_type},
                   query={"k": "1"})
    answer = invoke(lambda_handler, event).json()
    assert_photos(answer["predictions"], [photo])
    assert len(answer["predictions"][0]["top_k"]) == 1


def test_predict_json_base64(lambda_handler, source, photos):
    images = [base64.b64encode(photos[n].read_bytes()).decode() for n in ORDER]
    event = source("POST", "/predict", json.dumps({"images": images}), JSON)
    assert_photos(invoke(lambda_handler, event).json()["predictions"], ORDER)


def test_base64_as_browsers_and_url_safe_encoders_send_it(lambda_handler, photos, name):
    """A data: URI (FileReader.readAsDataURL) and URL-safe base64 without padding, in each
    protocol's JSON (the kitten's base64 holds '+', '/' and padding)."""
    kitten = photos["kitten"].read_bytes()
    forms = ["data:image/jpeg;base64," + base64.b64encode(kitten).decode(),
             base64.urlsafe_b64encode(kitten).decode().rstrip("=")]
    answer = invoke(lambda_handler, http_v2("POST", "/predict", json.dumps({"images": forms}),
                                            JSON)).json()
    assert_photos(answer["predictions"], ["kitten", "kitten"])
    rows = [{"b64": text} for text in forms]
    answer = invoke(lambda_handler, http_v2("POST", f"/v1/models/{name}:predict",
                                            json.dumps({"instances": rows}), JSON)).json()
    assert [row[0] for row in answer["predictions"]] == pytest.approx([P_DOG["kitten"]] * 2,
                                                                      abs=0.03)


def test_tfserving_predict_b64_rows_and_columns(lambda_handler, source, photos, name):
    b64 = {"b64": base64.b64encode(photos["kitten"].read_bytes()).decode()}
    rows = invoke(lambda_handler, source("POST", f"/v1/models/{name}:predict",
                                         json.dumps({"instances": [b64, b64]}), JSON)).json()
    assert rows["predictions"][0][0] == pytest.approx(P_DOG["kitten"], abs=0.03)
    assert rows["predictions"][1] == pytest.approx(rows["predictions"][0], abs=1e-6)
    columns = invoke(lambda_handler, source("POST", f"/v1/models/{name}:predict",
                                            json.dumps({"inputs": [b64]}), JSON)).json()
    assert list(columns) == ["outputs"]
    assert columns["outputs"][0] == pytest.approx(rows["predictions"][0], abs=1e-6)


def test_v2_infer_bytes_image(lambda_handler, source, photos, name):
    model = invoke(lambda_handler, source("GET", f"/v2/models/{name}")).json()
    request = {"id": "r1", "inputs": [{
        "name": model["inputs"][0]["name"], "shape": [1], "datatype": "BYTES",
        "data": [base64.b64encode(photos["dog"].read_bytes()).decode()],
    }]}
    event = source("POST", f"/v2/models/{name}/infer", json.dumps(request), JSON)
    answer = invoke(lambda_handler, event).json()
    assert answer["model_name"] == name and answer["id"] == "r1"
    (output,) = answer["outputs"]
    assert output["name"] == model["outputs"][0]["name"] and output["shape"] == [1, 1]
    assert output["data"][0] == pytest.approx(P_DOG["dog"], abs=0.03)


GETS = {
    "/health": lambda b, n: b["status"] == "ok" and b["model"] == n,
    "/model": lambda b, n: b["task"]["labels"] == ["cat", "dog"]
    and b["inputs"][0]["codec"]["color_mode"] == "L",
    "/v1/models/{name}": lambda b, n: b["model_version_status"][0]["state"] == "AVAILABLE",
    "/v1/models/{name}/metadata": lambda b, n: b["model_spec"]["name"] == n and list(
        b["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"].values()
    )[0]["tensor_shape"]["dim"][1]["size"] == "256",
    "/v2": lambda b, n: b["name"] == "tf-lambda-serving" and "version" in b,
    "/v2/health/live": lambda b, n: b == {"live": True},
    "/v2/health/ready": lambda b, n: b == {"ready": True},
    "/v2/models/{name}": lambda b, n: b["name"] == n
    and b["inputs"][0]["shape"] == [-1, 256, 256, 1],
    "/v2/models/{name}/ready": lambda b, n: b == {"name": n, "ready": True},
    "/openapi.json": lambda b, n: "/v1/models/{name}:predict" in b["paths"],
}


@pytest.mark.parametrize("path", GETS)
def test_get_endpoints(lambda_handler, source, name, path):
    response = invoke(lambda_handler, source("GET", path.format(name=name)))
    assert response.status == 200, response.body
    assert GETS[path](response.json(), name)


HEADS = ["/", "/health", "/model", "/static/app.js", "/openapi.json", "/v1/models/{name}",
         "/v1/models/{name}/versions/1/metadata", "/v2/health/live", "/v2/health/ready",
         "/v2/models/{name}", "/v2/models/{name}/ready"]


@pytest.mark.parametrize("path", HEADS)
def test_head_answers_like_get_without_a_body(lambda_handler, source, name, path):
    get = invoke(lambda_handler, source("GET", path.format(name=name)))
    head = invoke(lambda_handler, source("HEAD", path.format(name=name)))
    assert (head.status, head.body) == (200, b"")
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) == len(get.body)


@pytest.mark.parametrize("path,content_type,needle", [
    ("/", "text/html", b'src="static/app.js"'),
    ("/static/models.js", "text/javascript", b'`${modelRoot}/predict` : "predict", base)'),
    ("/docs", "text/html", b"swagger-ui"),
])
def test_page_script_and_docs(lambda_handler, source, path, content_type, needle):
    response = invoke(lambda_handler, source("GET", path))
    assert response.status == 200
    assert response.headers["content-type"].startswith(content_type)
    assert needle in response.body


def test_openapi_documents_every_body(lambda_handler):
    spec = invoke(lambda_handler, http_v2("GET", "/openapi.json")).json()
    predict = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert set(predict) == {"multipart/form-data", "image/*", "application/json"}
    schemas = spec["components"]["schemas"]
    for body in ("PredictJsonRequest", "PredictRequest", "InferRequest", "RequestInput"):
        assert body in schemas
    assert spec["paths"]["/v2/models/{name}/infer"]["post"]["responses"]["200"]


@pytest.mark.parametrize("make_event", [
    lambda *a, **k: http_v2(*a, stage="Prod", **k),
    lambda *a, **k: rest_v1(*a, stage="Prod", **k),
], ids=["http-api-named-stage", "rest-api-stage"])
def test_behind_a_stage_prefix(lambda_handler, photos, make_event):
    event = make_event("POST", "/predict", photos["dog"].read_bytes(), JPEG)
    if "rawPath" in event:
        assert event["rawPath"] == "/Prod/predict"
    else:
        assert event["path"] == "/predict" and event["requestContext"]["path"] == "/Prod/predict"
    assert invoke(lambda_handler, event).json()["predictions"][0]["label"] == "dog"
    docs = invoke(lambda_handler, make_event("GET", "/docs"))
    assert b"'/Prod/openapi.json'" in docs.body  # the docs page fetches the schema behind the stage
    spec = invoke(lambda_handler, make_event("GET", "/openapi.json")).json()
    assert spec["servers"] == [{"url": "/Prod"}]
    assert invoke(lambda_handler, make_event("GET", "/")).status == 200


def test_logs_and_metrics_are_structured(lambda_handler, photos, capsys):
    from handler.observability import logger

    log = io.StringIO()
    stream = logger.registered_handler.setStream(log)  # the handler kept the stdout of its import
    mangum = logging.getLogger("mangum")
    level = mangum.level
    try:
        body, content_type = multipart(photos, ["kitten", "dog"])
        event = http_v2("POST", "/predict", body, {"Content-Type": content_type})
        invoke(lambda_handler, event)
        assert log.getvalue() == "", "no per-request access line at INFO (the API's access log has it)"
        mangum.setLevel(logging.DEBUG)  # as LOG_LEVEL=DEBUG sets it
        capsys.readouterr()
        invoke(lambda_handler, event)
    finally:
        logger.registered_handler.setStream(stream)
        mangum.setLevel(level)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    sizes = [photos[n].stat().st_size for n in ("kitten", "dog")]
    # two dimension sets: service alone (what the ServerErrors alarm matches), and per model
    dimensions = [blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for blob in emf]
    assert [[sorted(d) for d in ds] for ds in dimensions] == [
        [["service"]], [["model", "service", "version"]]], dimensions
    per_model = emf.pop()
    assert (per_model["model"], per_model["BatchSize"]) == ("catsordogs", [2.0])
    assert len(emf) == 1 and emf[0]["BatchSize"] == [2.0] and emf[0]["ImageBytes"] == sizes
    assert emf[0]["ImagePixels"] == [275 * 275, 287 * 217]
    assert emf[0]["InferenceTime"][0] > 0
    records = [json.loads(line) for line in log.getvalue().splitlines()]
    assert any(r["message"] == "POST /predict 200" for r in records)
    assert all(isinstance(r["cold_start"], bool) and r["function_request_id"] for r in records)
    assert base64.b64encode(photos["kitten"].read_bytes()[100:130]).decode() not in log.getvalue()

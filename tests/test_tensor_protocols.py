"""Any graph, not only an image classifier: several named inputs and outputs of several dtypes
(float, int, bool, string), through TF Serving's REST API (rows and columns), the Open Inference
Protocol (JSON and binary tensors, output selection, tritonclient) and the native API, on both
runtimes where the model converts; and every bad input answered with its 4xx."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from handler.adapter import lambda_handler as make_handler
from handler.api import create_app
from handler.config import Settings
from handler.loader import load_model
from tests.handler_events import Response, assert_alike, http_v2, invoke
from tests.tensor_models import multi_io, strings

JSON = {"Content-Type": "application/json"}
FEATURES = [[1.0, 2.0, 3.0], [0.5, 0.25, 0.0]]
IDS = [[1, 2, 3], [4, 5, 6]]
FLAG = [True, False]
TOTAL = [7.0, 0.75]  # sum(features) + flag
DOUBLED = [[2, 4, 6], [8, 10, 12]]

Handler = Callable[[dict, Any], dict]


def handler_for(folder: Path, runtime: str = "tensorflow", **env: str) -> Handler:
    settings = Settings.from_env({"MODEL_DIR": str(folder), "MODEL_RUNTIME": runtime, **env})
    return make_handler(create_app(load_model(settings)))


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory) -> Path:
    return multi_io(tmp_path_factory.mktemp("multi"))


@pytest.fixture(scope="module", params=["tensorflow", "litert"])
def multi(request, multi_dir) -> Handler:
    return handler_for(multi_dir, request.param)


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Handler:
    return handler_for(strings(tmp_path_factory.mktemp("strings")))


def post(handler: Handler, path: str, body: Any, headers: dict[str, str] = JSON) -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return invoke(handler, http_v2("POST", path, data, headers))


def ok(response: Response) -> Any:
    assert response.status == 200, response.body[:500]
    return response.json()


def refused(response: Response, status: int, code: str) -> str:
    body = response.json()
    assert (response.status, body["code"]) == (status, code), body
    return body["error"]


def check_outputs(outputs: dict[str, Any]) -> None:
    np.testing.assert_allclose(outputs["total"], TOTAL, rtol=1e-6)
    assert outputs["doubled"] == DOUBLED
    scores = np.asarray(outputs["scores"])
    assert scores.shape == (2, 2) and np.allclose(scores.sum(axis=1), 1)


# --- TF Serving REST -----------------------------------------------------------------------

def test_tfserving_rows_name_every_input_and_answer_every_output(multi):
    instances = [{"features": f, "ids": i, "flag": b} for f, i, b in zip(FEATURES, IDS, FLAG, strict=True)]
    predictions = ok(post(multi, "/v1/models/multi:predict", {"instances": instances}))
    rows = predictions["predictions"]
    assert [sorted(row) for row in rows] == [["doubled", "scores", "total"]] * 2
    check_outputs({name: [row[name] for row in rows] for name in rows[0]})


def test_tfserving_columns_answer_outputs_by_name(multi):
    body = {"inputs": {"features": FEATURES, "ids": IDS, "flag": FLAG},
            "signature_name": "serving_default"}
    check_outputs(ok(post(multi, "/v1/models/multi:predict", body))["outputs"])


def test_tfserving_metadata_lists_every_input_and_output(multi):
    metadata = ok(invoke(multi, http_v2("GET", "/v1/models/multi/metadata")))
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert {k: v["dtype"] for k, v in signature["inputs"].items()} == {
        "features": "DT_FLOAT", "ids": "DT_INT32", "flag": "DT_BOOL"}
    assert {k: v["dtype"] for k, v in signature["outputs"].items()} == {
        "total": "DT_FLOAT", "doubled": "DT_INT64", "scores": "DT_FLOAT"}
    assert [d["size"] for d in signature["inputs"]["ids"]["tensor_shape"]["dim"]] == ["-1", "-1"]


def test_tfserving_strings_text_b64_and_bytes_outputs(text):
    """Strings in as text or {"b64"}; out as text, and as {"b64"} for an output named *_bytes;
    a one-input model takes bare rows."""
    raw = "naïve ✓".encode()
    body = {"instances": ["hello", {"b64": base64.b64encode(raw).decode()}]}
    rows = ok(post(text, "/v1/models/strings:predict", body))["predictions"]
    assert [row["echo"] for row in rows] == ["hello", raw.decode()]
    assert [base64.b64decode(row["echo_bytes"]["b64"]) for row in rows] == [b"hello", raw]
    assert [row["copies"] for row in rows] == [0, 1]


# --- Open Inference Protocol v2 ------------------------------------------------------------

def v2_inputs() -> list[dict[str, Any]]:
    return [
        {"name": "features", "datatype": "FP32", "shape": [2, 3], "data": sum(FEATURES, [])},
        {"name": "ids", "datatype": "INT32", "shape": [2, 3], "data": IDS},
        {"name": "flag", "datatype": "BOOL", "shape": [2], "data": FLAG},
    ]


def test_v2_json_every_output_with_its_own_datatype_and_shape(multi):
    answer = ok(post(multi, "/v2/models/multi/infer", {"id": "r1", "inputs": v2_inputs()}))
    assert answer["id"] == "r1"
    outs = {o["name"]: o for o in answer["outputs"]}
    assert {n: (o["datatype"], o["shape"]) for n, o in outs.items()} == {
        "total": ("FP32", [2]), "doubled": ("INT64", [2, 3]), "scores": ("FP32", [2, 2])}
    check_outputs({"total": outs["total"]["data"], "scores": np.reshape(outs["scores"]["data"],
                   (2, 2)).tolist(), "doubled": np.reshape(outs["doubled"]["data"], (2, 3)).tolist()})


def test_v2_outputs_select_what_comes_back(multi):
    body = {"inputs": v2_inputs(), "outputs": [{"name": "doubled"}]}
    (only,) = ok(post(multi, "/v2/models/multi/infer", body))["outputs"]
    assert only["name"] == "doubled" and only["data"] == sum(DOUBLED, [])


def binary_request(outputs: list[dict[str, Any]] | None = None) -> tuple[bytes, dict[str, str]]:
    tensors = [np.asarray(FEATURES, "<f4"), np.asarray(IDS, "<i4"), np.asarray(FLAG, bool)]
    inputs = [
        {"name": t["name"], "datatype": t["datatype"], "shape": t["shape"],
         "parameters": {"binary_data_size": array.nbytes}}
        for t, array in zip(v2_inputs(), tensors, strict=True)
    ]
    header = json.dumps({"inputs": inputs, **({"outputs": outputs} if outputs else {})}).encode()
    body = header + b"".join(array.tobytes() for array in tensors)
    return body, {"Content-Type": "application/octet-stream",
                  "Inference-Header-Content-Length": str(len(header))}


def test_v2_binary_in_and_out(multi):
    """The binary tensor extension for every datatype in, and out where asked."""
    body, headers = binary_request([{"name": "doubled", "parameters": {"binary_data": True}},
                                    {"name": "total"}])
    response = post(multi, "/v2/models/multi/infer", body, headers)
    assert response.status == 200, response.body[:300]
    length = int(response.headers["inference-header-content-length"])
    header = json.loads(response.body[:length])
    doubled, total = header["outputs"]
    assert doubled["parameters"]["binary_data_size"] == 2 * 3 * 8 and "data" not in doubled
    values = np.frombuffer(response.body[length:], "<i8").reshape(doubled["shape"])
    assert values.tolist() == DOUBLED
    np.testing.assert_allclose(total["data"], TOTAL, rtol=1e-6)


def test_v2_strings_in_binary_and_json(text):
    items = [b"abc", "ü".encode()]
    raw = b"".join(struct.pack("<I", len(item)) + item for item in items)
    header = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2],
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    response = post(text, "/v2/models/strings/infer", header + raw, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header))})
    assert response.status == 200, response.body[:300]
    length = int(response.headers["inference-header-content-length"])
    outputs = json.loads(response.body[:length])["outputs"]
    assert [o["name"] for o in outputs] == ["echo", "echo_bytes", "copies"]
    assert response.body[length:].startswith(raw + raw)  # echo, echo_bytes, then copies
    answer = ok(post(text, "/v2/models/strings/infer", {"inputs": [
        {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["abc", "ü"]}]}))
    assert answer["outputs"][0]["data"] == ["abc", "ü"]


def test_v2_metadata_lists_every_input_and_output(multi):
    metadata = ok(invoke(multi, http_v2("GET", "/v2/models/multi")))
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("features", "FP32", [-1, 3]), ("ids", "INT32", [-1, -1]), ("flag", "BOOL", [-1])]
    assert [t["name"] for t in metadata["outputs"]] == ["total", "doubled", "scores"]


# --- native ---------------------------------------------------------------------------------

def test_native_predict_takes_named_inputs(multi):
    body = {"inputs": {"features": FEATURES, "ids": IDS, "flag": FLAG}}
    answer = ok(post(multi, "/predict", body))
    assert set(answer) == {"model", "version", "outputs"}
    check_outputs(answer["outputs"])


def test_native_model_lists_the_signature_and_no_task(multi):
    info = ok(invoke(multi, http_v2("GET", "/model")))
    assert info["task"] is None and [i["codec"] for i in info["inputs"]] == [None] * 3
    assert [o["dtype"] for o in info["outputs"]] == ["float32", "int64", "float32"]


def test_native_refuses_images_for_a_model_without_an_image_input(multi, photos):
    response = invoke(multi, http_v2("POST", "/predict", photos["dog"].read_bytes(),
                                     {"Content-Type": "image/jpeg"}))
    assert "inputs" in refused(response, 415, "images_not_accepted")


def test_root_page_shows_the_signature_not_an_upload_form(multi):
    page = invoke(multi, http_v2("GET", "/"))
    assert page.status == 200 and b"static/tensors.js" in page.body and b'type="file"' not in page.body


def test_both_runtimes_answer_alike(multi_dir):
    """TensorFlow and LiteRT: same statuses and bodies (within 1e-5) over every protocol."""
    handlers = [handler_for(multi_dir, runtime) for runtime in ("tensorflow", "litert")]
    requests = [
        ("/v1/models/multi:predict", {"inputs": {"features": FEATURES, "ids": IDS, "flag": FLAG}}),
        ("/v2/models/multi/infer", {"inputs": v2_inputs()}),
        ("/predict", {"inputs": {"features": FEATURES, "ids": [[1], [2]], "flag": FLAG}}),
        ("/predict", {"inputs": {"features": FEATURES}}),
    ]
    for path, body in requests:
        tf, lite = (post(handler, path, body) for handler in handlers)
        assert tf.status == lite.status, path
        assert_alike(tf.json(), lite.json(), path)


# --- bad input ------------------------------------------------------------------------------

BAD = {
    "missing input": ({"features": FEATURES, "ids": IDS}, 400, "missing_input"),
    "unknown input": ({"features": FEATURES, "ids": IDS, "flag": FLAG, "x": [1]}, 400,
                      "unknown_input"),
    "batch sizes differ": ({"features": FEATURES, "ids": IDS, "flag": [True]}, 400,
                           "batch_mismatch"),
    "string for a number": ({"features": [["a", "b", "c"]], "ids": [[1]], "flag": [True]}, 400,
                            "wrong_dtype"),
    "float for an int": ({"features": FEATURES, "ids": [[1.5], [2]], "flag": FLAG}, 400,
                         "wrong_dtype"),
    "number for a bool": ({"features": FEATURES, "ids": IDS, "flag": [1, 0]}, 400, "wrong_dtype"),
    "int out of range": ({"features": FEATURES, "ids": [[2**40], [1]], "flag": FLAG}, 400,
                         "out_of_range"),
    "float out of range": ({"features": [[1e39, 0, 0]], "ids": [[1]], "flag": [True]}, 400,
                           "out_of_range"),  # float32 would make it inf
    "bool among numbers": ({"features": [[1.5, True, 0]], "ids": [[1]], "flag": [True]}, 400,
                           "wrong_dtype"),  # NumPy would make it 1.0
    "fixed dimension wrong": ({"features": [[1, 2]], "ids": [[1]], "flag": [True]}, 400,
                              "wrong_shape"),
    "rank wrong": ({"features": [1, 2, 3], "ids": [[1]], "flag": [True]}, 400, "wrong_shape"),
    "ragged": ({"features": [[1, 2, 3], [1]], "ids": IDS, "flag": FLAG}, 400, "invalid_tensor"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("protocol", ["native", "tfserving"])
def test_bad_inputs_get_a_4xx_and_the_next_request_is_served(multi, protocol, case):
    inputs, status, code = BAD[case]
    path, body = (("/predict", {"inputs": inputs}) if protocol == "native"
                  else ("/v1/models/multi:predict", {"inputs": inputs}))
    refused(post(multi, path, body), status, code)
    check_outputs(ok(post(multi, "/predict", {"inputs": {
        "features": FEATURES, "ids": IDS, "flag": FLAG}}))["outputs"])


def test_an_integer_may_be_written_as_a_whole_float(multi):
    """JSON Schema's "integer" (the OpenAPI schema's) is any number without a fraction."""
    body = {"inputs": {"features": FEATURES, "ids": [[1.0, 2.0, 3.0], [4, 5, 6]], "flag": FLAG}}
    check_outputs(ok(post(multi, "/predict", body))["outputs"])


V2_BAD = {
    "wrong datatype": ({"name": "ids", "datatype": "FP32", "shape": [2, 3], "data": [1] * 6},
                       "wrong_dtype"),
    "unknown input": ({"name": "nope", "datatype": "FP32", "shape": [1], "data": [1]},
                      "unknown_input"),
    "shape and data disagree": ({"name": "ids", "datatype": "INT32", "shape": [2, 2],
                                 "data": [1] * 6}, "wrong_shape"),
    "text for a number": ({"name": "ids", "datatype": "INT32", "shape": [2, 3],
                           "data": ["1"] * 6}, "wrong_dtype"),
}


@pytest.mark.parametrize("case", sorted(V2_BAD))
def test_v2_bad_inputs(multi, case):
    tensor, code = V2_BAD[case]
    inputs = [t for t in v2_inputs() if t["name"] != tensor["name"]] + [tensor]
    refused(post(multi, "/v2/models/multi/infer", {"inputs": inputs}), 400, code)


def test_v2_unknown_output_and_duplicate_input(multi):
    body = {"inputs": v2_inputs(), "outputs": [{"name": "nope"}]}
    refused(post(multi, "/v2/models/multi/infer", body), 400, "unknown_output")
    body = {"inputs": v2_inputs() + v2_inputs()[:1]}
    refused(post(multi, "/v2/models/multi/infer", body), 400, "duplicate_input")


def test_element_limit_counts_every_input(multi_dir):
    handler = handler_for(multi_dir, MAX_TENSOR_ELEMENTS="14")  # the request holds 6 + 6 + 2
    body = {"inputs": {"features": FEATURES, "ids": IDS, "flag": FLAG}}
    ok(post(handler, "/predict", body))
    body["inputs"]["ids"] = [[1, 2, 3, 4], [5, 6, 7, 8]]
    refused(post(handler, "/predict", body), 413, "too_many_elements")


def test_an_answer_over_the_response_limit_is_a_clear_413(multi_dir):
    """Lambda's 6 MB response bound: refused by the function with what to ask instead."""
    handler = handler_for(multi_dir, MAX_RESPONSE_BYTES="400")
    body = {"inputs": {"features": FEATURES * 8, "ids": [[1] * 8] * 16, "flag": FLAG * 8}}
    error = refused(post(handler, "/predict", body), 413, "response_too_large")
    assert "400 bytes" in error and "outputs" in error
    ok(post(handler, "/predict", {"inputs": {"features": FEATURES, "ids": IDS, "flag": FLAG}}))


def test_non_utf8_string_output_in_json_says_to_ask_binary(text):
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}
    ok(post(text, "/v2/models/strings/infer", body))
    b64 = base64.b64encode(b"\xff\xfe").decode()
    response = post(text, "/v1/models/strings:predict", {"instances": [{"b64": b64}]})
    assert "binary" in refused(response, 422, "output_not_text")


def test_tritonclient_multi_io_json_and_binary(multi_dir):
    """The real v2 client, through the local API: every input in its datatype, binary or JSON,
    outputs selected and returned binary (its default) or as JSON."""
    import tritonclient.http as triton

    from infra.local_api import serve

    arrays = {"features": np.asarray(FEATURES, np.float32), "ids": np.asarray(IDS, np.int32),
              "flag": np.asarray(FLAG, bool)}
    datatypes = {"features": "FP32", "ids": "INT32", "flag": "BOOL"}
    with serve(handler_for(multi_dir, "litert")) as url:
        client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            for binary in (True, False):
                inputs = []
                for name, array in arrays.items():
                    tensor = triton.InferInput(name, list(array.shape), datatypes[name])
                    tensor.set_data_from_numpy(array, binary_data=binary)
                    inputs.append(tensor)
                outputs = [triton.InferRequestedOutput("doubled", binary_data=binary),
                           triton.InferRequestedOutput("total", binary_data=not binary)]
                result = client.infer("multi", inputs, outputs=outputs)
                assert result.as_numpy("doubled").dtype == np.int64
                assert result.as_numpy("doubled").tolist() == DOUBLED
                np.testing.assert_allclose(result.as_numpy("total"), TOTAL, rtol=1e-6)
                assert result.as_numpy("scores") is None  # not asked for
            everything = client.infer("multi", inputs)  # no outputs named: all, binary
            assert everything.as_numpy("scores").shape == (2, 2)
        finally:
            client.close()


def test_a_fixed_batch_dimension_is_checked_and_nan_is_json_null(tmp_path):
    """A graph whose batch is fixed at 1 refuses two rows with a 400 (not the runtime's 500);
    a NaN output is `null` in every protocol, never JSON's invalid `NaN`."""
    from tests.tensor_models import fixed_batch

    handler = handler_for(fixed_batch(tmp_path / "fixed"))
    error = refused(post(handler, "/predict", {"inputs": {"x": [[1, 2], [3, 4]]}}), 400,
                    "wrong_shape")
    assert "[1, 2]" in error
    assert ok(post(handler, "/predict", {"inputs": {"x": [[-1, 1]]}}))["outputs"]["log"] == [
        [None, 0.0]]
    v2 = post(handler, "/v2/models/fixed/infer", {"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [-1, 1]}]})
    assert b"NaN" not in v2.body and ok(v2)["outputs"][0]["data"] == [None, 0.0]
    rows = ok(post(handler, "/v1/models/fixed:predict", {"instances": [[-1, 1]]}))
    assert rows["predictions"] == [[None, 0.0]]


def test_integers_past_their_dtype_never_wrap():
    """Integers NumPy holds as floats (mixed with -0.0 or a fraction elsewhere) are range-checked
    exactly: 2**63 is out of int64's range, not -2**63."""
    from handler.errors import BadRequest
    from handler.tensors import DTYPES, as_numbers

    for values, dtype in (([-1, 2**63], "int64"), ([1, 2**64 - 1, -0.0], "uint64"),
                          ([-1.0, 2.0**31], "int32")):
        with pytest.raises(BadRequest) as info:
            as_numbers(values, DTYPES[dtype], "x")
        assert info.value.code == "out_of_range", (values, dtype)
    assert as_numbers([-1, 2**31 - 1], DTYPES["int32"], "x").tolist() == [-1, 2**31 - 1]


def test_a_non_ascii_digit_in_the_binary_header_is_a_400(multi):
    body, headers = binary_request()
    headers["Inference-Header-Content-Length"] = "\u00b2"  # '²': str.isdigit() says yes
    refused(post(multi, "/v2/models/multi/infer", body, headers), 400, "invalid_binary_header")

"""`python -m infra.invoke`: every event file through the real handler in a fresh local Lambda
container (the real runtime interface client, Lambda's CPU and memory limits), on each runtime
(MODEL_RUNTIME): both answer every event as expected.json says, and alike."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from events.generate import EVENTS_DIR, EXPECTED
from handler.manifest import Manifest, load_manifest
from handler.runtime import LITERT, RUNTIMES, TENSORFLOW
from infra.lambda_runtime import ROOT, LambdaContext, function_config
from tests.handler_events import assert_alike

REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>\S+)\tDuration: (?P<duration>[\d.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: (?P<used>\d+) MB(\tInit Duration: (?P<init>[\d.]+) ms)?(\t.*)?$",
    re.MULTILINE,
)
EVENT_FILES = sorted(p for p in EVENTS_DIR.glob("*.json") if p.name != EXPECTED)


def invoke(*args: str | Path, model_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the invoke CLI in a fresh process, as `sam local invoke` would start a container."""
    return subprocess.run(
        [sys.executable, "-m", "infra.invoke", *map(str, args)], cwd=ROOT, capture_output=True,
        text=True, env={**os.environ, "MODEL_DIR": str(model_dir)},
    )


@pytest.fixture(scope="module")
def every_event(demo_model_dir: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every event file after one cold start (one warm container) per runtime."""
    return {
        runtime: invoke(*EVENT_FILES, "--env", f"MODEL_RUNTIME={runtime}",
                        model_dir=demo_model_dir)
        for runtime in RUNTIMES
    }


def body_of(response: dict[str, Any]) -> bytes:
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def label_of(event: dict[str, Any], body: dict[str, Any], manifest: Manifest) -> str:
    """The top label, whichever protocol answered (native labels; TF Serving / v2 raw outputs)."""
    path = event.get("rawPath") or event["path"]
    if "/v1/models/" in path:
        (p_dog,) = body["predictions"][0]
    elif "/v2/models/" in path:
        (p_dog,) = body["outputs"][0]["data"]
    else:
        return body["predictions"][0]["label"]
    assert manifest.task.activation == "sigmoid"  # one unit: P(labels[1])
    return manifest.task.labels[int(p_dog >= 0.5)]


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_event_gets_its_expected_answer(
    runtime: str, every_event: dict[str, subprocess.CompletedProcess[str]], demo_model_dir: Path
) -> None:
    """All events after one cold start (one warm container), each checked against expected.json."""
    expected = json.loads((EVENTS_DIR / EXPECTED).read_text())
    manifest = load_manifest(demo_model_dir)
    proc = every_event[runtime]
    assert proc.returncode == 0, proc.stderr[-3000:]
    responses = [json.loads(line) for line in proc.stdout.splitlines()]
    reports = list(REPORT.finditer(proc.stderr))
    assert len(responses) == len(reports) == len(EVENT_FILES)
    assert reports[0]["init"] and not any(r["init"] for r in reports[1:])  # one cold start
    for path, response in zip(EVENT_FILES, responses, strict=True):
        want = expected[path.name]
        assert response["statusCode"] == want["status"], (path.name, response)
        event = json.loads(path.read_text())
        if "label" in want:
            label = label_of(event, json.loads(body_of(response)), manifest)
            assert label == want["label"], path.name
        if "code" in want:
            error = json.loads(body_of(response))
            assert error["code"] == want["code"] and error["status"] == want["status"]
            assert set(error) == {"error", "code", "status"}


def _log_shapes(stderr: str) -> list[tuple[str, str, list[str]]]:
    """Each structured log line as (level, message, its keys), without the per-run values."""
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [(r.get("level", ""), r.get("message", ""), sorted(r)) for r in records]


@pytest.mark.slow
def test_both_runtimes_answer_and_log_alike(
    every_event: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    """Same statuses, headers, bodies (but for rounding and the runtime's name) and log lines,
    event by event: the runtime is invisible to a client but for GET /model saying which."""
    tf, lite = (every_event[name] for name in (TENSORFLOW, LITERT))
    assert tf.returncode == lite.returncode == 0, (tf.stderr[-2000:], lite.stderr[-2000:])
    pairs = zip(tf.stdout.splitlines(), lite.stdout.splitlines(), strict=True)
    for path, (tf_line, lite_line) in zip(EVENT_FILES, pairs, strict=True):
        tf_response, lite_response = json.loads(tf_line), json.loads(lite_line)
        tf_body, lite_body = body_of(tf_response), body_of(lite_response)
        headers = ("headers", "multiValueHeaders")
        for key in headers:  # content-length follows the body: compared through it
            for response in (tf_response, lite_response):
                (response.get(key) or {}).pop("content-length", None)
        assert_alike({k: v for k, v in tf_response.items() if k != "body"},
                     {k: v for k, v in lite_response.items() if k != "body"}, path.name)
        if tf_body.startswith(b"{"):
            assert_alike(json.loads(tf_body), json.loads(lite_body), f"{path.name} body")
        else:
            assert tf_body == lite_body, path.name
    assert _log_shapes(tf.stderr) == _log_shapes(lite.stderr)
    loaded = [json.loads(line) for proc in (tf, lite) for line in proc.stderr.splitlines()
              if '"model loaded"' in line]
    assert [record["runtime"] for record in loaded] == [TENSORFLOW, LITERT]


@pytest.mark.slow
def test_one_event_cold_start_reports_like_lambda(demo_model_dir: Path) -> None:
    proc = invoke(EVENTS_DIR / "http-predict-kitten-multipart.json", model_dir=demo_model_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = proc.stdout.splitlines()  # nothing but the response on stdout
    prediction = json.loads(json.loads(line)["body"])["predictions"][0]
    assert prediction["label"] == "cat" and 0.6 < prediction["probability"] < 0.8  # P(dog) 0.28
    (report,) = REPORT.finditer(proc.stderr)
    init, duration = float(report["init"]), float(report["duration"])
    assert init > 500, "importing TensorFlow and loading the model takes longer than this"
    assert int(report["billed"]) == pytest.approx(duration + init, abs=1.01)
    assert int(report["memory"]) == function_config().memory_mb
    assert 300 < int(report["used"]) < int(report["memory"])
    assert f"START RequestId: {report['id']} Version: $LATEST" in proc.stderr
    assert f"END RequestId: {report['id']}" in proc.stderr


@pytest.mark.parametrize(("handler", "error_type"), [
    ("json.no_such_handler", "Runtime.HandlerNotFound"),
    ("no_such_module.handler", "Runtime.ImportModuleError"),
])
def test_init_failure_is_reported_as_lambda_does(tmp_path: Path, handler: str,
                                                 error_type: str) -> None:
    """The runtime interface client's own error types, then INIT_REPORT … Status: error."""
    proc = invoke("--handler", handler, EVENTS_DIR / "http-health.json", model_dir=tmp_path)
    assert proc.returncode == 1
    error = json.loads(proc.stdout)
    assert error["errorType"] == error_type
    assert handler.split(".")[0] in error["errorMessage"]
    assert f"Phase: init\tStatus: error\tError Type: {error_type}" in proc.stderr


def test_env_option_reaches_the_function(tmp_path: Path) -> None:
    """--env overrides; the handler here is a stdlib callable that echoes its environment."""
    script = tmp_path / "echo_env.py"
    script.write_text("import os\ndef handler(event, context):\n"
                      "    return {k: os.environ.get(k) for k in event}\n")
    event = tmp_path / "event.json"
    names = ["GREETING", "POWERTOOLS_SERVICE_NAME", "AWS_LAMBDA_FUNCTION_NAME"]
    event.write_text(json.dumps(names))
    proc = subprocess.run(
        [sys.executable, "-m", "infra.invoke", "--handler", "echo_env.handler",
         "--env", "GREETING=hello", str(event)],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "GREETING": "hello",
        "POWERTOOLS_SERVICE_NAME": "tf-lambda-serving",  # from template.yaml
        "AWS_LAMBDA_FUNCTION_NAME": "InferenceFunction",
    }


def test_context_counts_down_from_the_template_timeout() -> None:
    config = function_config()
    context = LambdaContext(config.name, config.memory_mb, config.timeout_s)
    first = context.get_remaining_time_in_millis()
    assert config.timeout_s * 1000 - 50 < first <= config.timeout_s * 1000
    time.sleep(0.02)
    assert context.get_remaining_time_in_millis() < first
    assert context.invoked_function_arn.endswith(f":function:{config.name}")
    assert context.log_group_name == f"/aws/lambda/{config.name}"


def test_template_paths_are_mapped_to_the_project() -> None:
    environment = function_config().environment
    assert environment["MODEL_DIR"] == str(ROOT / "model")  # /var/task/model in the image
    assert environment["POWERTOOLS_LOG_LEVEL"] == "INFO"  # the LogLevel parameter's default

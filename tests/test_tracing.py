"""X-Ray tracing through Powertools: nothing loaded when off, one subsegment per invocation when on.

Each case imports handler.observability in a fresh interpreter (it reads the environment once, at
import). With tracing on, the X-Ray SDK sends its documents over UDP to the daemon address that
Lambda sets: here a socket on 127.0.0.1 that the test reads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from infra.lambda_runtime import ROOT

INVOKE = """
import json, sys, types
from handler.observability import traced, tracer
handler = traced(lambda event, context: {"statusCode": 200, "body": "secret response"})
context = types.SimpleNamespace(function_name="InferenceFunction", aws_request_id="req-1")
response = handler({}, context)
print(json.dumps({"tracer": tracer is not None, "xray_loaded": "aws_xray_sdk" in sys.modules,
                  "response": response}))
"""


def _run(env: dict[str, str]) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_XRAY"))}
    proc = subprocess.run(
        [sys.executable, "-c", INVOKE], cwd=ROOT, env={**base, **env},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("setting", [None, "true"])
def test_tracing_off_loads_no_xray_sdk(setting: str | None) -> None:
    """Unset (the local runs) or "true" (template.yaml's default): no Tracer, no SDK import."""
    result = _run({} if setting is None else {"POWERTOOLS_TRACE_DISABLED": setting})
    assert result == {
        "tracer": False, "xray_loaded": False,
        "response": {"statusCode": 200, "body": "secret response"},
    }


def test_tracing_on_sends_one_subsegment_per_invocation(tmp_path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(10)
        result = _run({
            "POWERTOOLS_TRACE_DISABLED": "false",
            "POWERTOOLS_SERVICE_NAME": "tf-lambda-serving",
            # What Lambda sets for a function with Tracing: Active.
            "LAMBDA_TASK_ROOT": str(tmp_path),
            "AWS_LAMBDA_FUNCTION_NAME": "InferenceFunction",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;"
                                "Parent=53995c3f42cd8ad8;Sampled=1",
        })
        header, document = daemon.recv(65536).decode().split("\n", 1)
    assert result["tracer"] and result["xray_loaded"]
    assert result["response"]["statusCode"] == 200
    assert json.loads(header) == {"format": "json", "version": 1}
    segment = json.loads(document)
    assert segment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert segment["name"].startswith("## ")
    assert segment["annotations"] == {"ColdStart": True, "Service": "tf-lambda-serving"}
    assert "secret response" not in document  # responses are not recorded

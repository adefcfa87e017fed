"""template.yaml and samconfig.toml: both linters pass offline; the template says what we mean."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from infra.lambda_runtime import ROOT, function_config, load_template

TOOLS = ROOT / ".venv-tools" / "bin"
#: Peak RSS of the demo model's function, measured (shared/FACTS.md).
DEMO_PEAK_RSS_MB = 834


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def function(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["InferenceFunction"]


def _tool(name: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    exe = TOOLS / name
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `make tools`")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "HOME": str(tmp_path)}
    return subprocess.run([exe, *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_cfn_lint_passes(tmp_path: Path) -> None:
    proc = _tool("cfn-lint", "template.yaml", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_sam_validate_lint_passes(tmp_path: Path) -> None:
    proc = _tool("sam", "validate", "--lint", "--region", "us-east-1", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


def test_function_is_an_image_built_from_infra_dockerfile(function: dict[str, Any]) -> None:
    props, meta = function["Properties"], function["Metadata"]
    assert props["PackageType"] == "Image"
    assert props["Architectures"] == ["x86_64"]  # the wheels are resolved for x86_64
    assert (ROOT / meta["DockerContext"] / meta["Dockerfile"]).is_file()
    assert meta["DockerTag"]
    assert "Runtime" not in props and "Handler" not in props  # the image's CMD says it


def test_memory_and_timeout_fit_the_measured_model(function: dict[str, Any]) -> None:
    config = function_config()
    assert config.memory_mb == function["Properties"]["MemorySize"]
    assert config.memory_mb >= 1769, "below 1769 MB Lambda gives less than one vCPU"
    assert config.memory_mb >= 2 * DEMO_PEAK_RSS_MB * 0.9, "too little headroom over peak RSS"
    assert 3 <= config.timeout_s < 30, "must stay under the HTTP API's 30 s integration timeout"


def test_environment_names_every_setting(function: dict[str, Any]) -> None:
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["MODEL_DIR"] == "/var/task/model"
    assert variables["MODEL_S3_URI"] == {"Ref": "ModelS3Uri"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_SERVICE_NAME"] and variables["POWERTOOLS_METRICS_NAMESPACE"]


def test_s3_read_is_conditional_and_limited_to_the_model_prefix(template: dict[str, Any]) -> None:
    assert template["Parameters"]["ModelS3Uri"]["Default"] == ""
    (policy,) = template["Resources"]["InferenceFunction"]["Properties"]["Policies"]
    condition, granted, otherwise = policy["Fn::If"]
    uri = {"Ref": "ModelS3Uri"}
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [uri, ""]}]}
    assert otherwise == {"Ref": "AWS::NoValue"}
    (statement,) = granted["Statement"]
    assert statement["Action"] == "s3:GetObject"
    pattern, names = statement["Resource"]["Fn::Sub"]
    assert pattern.endswith("${BucketAndPrefix}*")
    assert names["BucketAndPrefix"] == {"Fn::Join": ["", {"Fn::Split": ["s3://", uri]}]}


def test_http_api_routes_everything_to_the_function(template: dict[str, Any]) -> None:
    events = template["Resources"]["InferenceFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events.values()}
    assert routes == {("/", "ANY"), ("/{proxy+}", "ANY")}
    assert all(e["Type"] == "HttpApi" for e in events.values())
    api = template["Resources"]["HttpApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    throttle = api["Properties"]["DefaultRouteSettings"]
    assert throttle["ThrottlingBurstLimit"] > 0 and throttle["ThrottlingRateLimit"] > 0
    assert "ApiUrl" in template["Outputs"]


def test_logs_have_retention(template: dict[str, Any]) -> None:
    groups = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert groups and all(g["Properties"]["RetentionInDays"] for g in groups.values())
    logging = template["Resources"]["InferenceFunction"]["Properties"]["LoggingConfig"]
    assert logging["LogGroup"]["Ref"] in groups


def test_samconfig_defaults() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    deploy = config["deploy"]["parameters"]
    assert config["global"]["parameters"]["stack_name"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_image_repos"] is True
    assert deploy["confirm_changeset"] is True
    assert config["build"]["parameters"]["use_buildkit"] is True  # the Dockerfile's stage choice

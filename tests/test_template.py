"""template.yaml and samconfig.toml: both linters pass offline; the template says what we mean.

Beyond reading the template, `rendered` runs the SAM transform itself (infra/sam_translate.py,
in the tools venv) for several parameter sets, and `resolve` evaluates the Conditions and Fn::If
of the output the way CloudFormation would for those values: what each mode really deploys.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from infra import image_deps
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


#: Parameter sets rendered by the SAM transform (one tools-venv process for all of them).
RENDERS: dict[str, dict[str, str]] = {
    "defaults": {},
    "public": {"ApiAuth": "None", "ReservedConcurrency": "", "Tracing": "Active",
               "DeploymentType": "AllAtOnce", "Architecture": "arm64"},
    "jwt": {"ApiAuth": "JWT", "JwtIssuer": "https://issuer.example.com",
            "JwtAudience": "client-a,client-b",
            "CorsAllowOrigins": "https://app.example.com,http://localhost:8080"},
}
_NO_VALUE = object()


def resolve(node: Any, template: dict[str, Any], values: dict[str, str]) -> Any:
    """`node` with Refs to parameters, Conditions and Fn::If evaluated as CloudFormation would
    for parameter `values` (defaults otherwise); other intrinsics are kept as they are."""
    parameters = {
        name: values.get(name, str(spec.get("Default", "")))
        for name, spec in template["Parameters"].items()
    }

    def ref(name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name not in parameters:
            return {"Ref": name}
        kind = template["Parameters"][name]["Type"]
        return parameters[name].split(",") if kind == "CommaDelimitedList" else parameters[name]

    def condition(name: str) -> bool:
        return bool(walk(template["Conditions"][name]))

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in map(walk, value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return ref(arg)
            if key == "Condition":
                return condition(arg)
            if key == "Fn::If":
                return walk(arg[1] if condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                left, right = walk(arg)
                return left == right
            if key == "Fn::Not":
                return not walk(arg[0])
            if key == "Fn::Join" and isinstance(walk(arg[1]), list):
                return walk(arg[0]).join(walk(arg[1]))
        return {k: w for k, w in ((k, walk(v)) for k, v in value.items()) if w is not _NO_VALUE}

    return walk(node)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """{name: the transformed template with its conditions resolved} for each of RENDERS."""
    home = tmp_path_factory.mktemp("sam")
    proc = subprocess.run(
        [TOOLS / "python", "-m", "infra.sam_translate"], input=json.dumps(list(RENDERS.values())),
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HOME": str(home)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {}
    for (name, values), cfn in zip(RENDERS.items(), json.loads(proc.stdout), strict=True):
        resources = {
            key: resource for key, resource in cfn["Resources"].items()
            if "Condition" not in resource or resolve({"Condition": resource["Condition"]}, cfn, values)
        }
        out[name] = resolve({**cfn, "Resources": resources}, cfn, values)
    return out


def _of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: r for key, r in cfn["Resources"].items() if r["Type"] == kind}


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
    # One architecture per parameter value, each with its lock of wheels (tests/test_packaging.py).
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    architecture = parameter_spec("Architecture")
    assert set(architecture["AllowedValues"]) == set(image_deps.ARCHES)
    assert architecture["Default"] == "x86_64"
    assert (ROOT / meta["DockerContext"] / meta["Dockerfile"]).is_file()
    assert meta["DockerTag"]
    assert "Runtime" not in props and "Handler" not in props  # the image's CMD says it


def parameter_spec(name: str) -> dict[str, Any]:
    return load_template()["Parameters"][name]


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
    assert variables["MODEL_SHA256"] == {"Ref": "ModelSha256"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingActive", "false", "true"]}
    assert variables["POWERTOOLS_SERVICE_NAME"] and variables["POWERTOOLS_METRICS_NAMESPACE"]


@pytest.mark.parametrize(
    ("parameter", "accepted", "refused"),
    [
        ("ModelSha256", ["", "0" * 64, "9f" * 32], ["0" * 63, "A" * 64, "sha256:" + "0" * 64]),
        ("ReservedConcurrency", ["", "1", "5", "9999"], ["0", "-1", "05", "1.5", "10000"]),
        ("JwtIssuer", ["", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"],
         ["http://issuer.example.com", "issuer"]),
        ("CorsAllowOrigins", ["", "https://app.example.com", "http://localhost:8080"],
         ["*", "https://app.example.com/", "app.example.com"]),
    ],
)
def test_parameter_patterns(parameter: str, accepted: list[str], refused: list[str]) -> None:
    """CloudFormation refuses these values before anything is created (full-match regexes; a
    CommaDelimitedList's pattern applies to each item)."""
    pattern = re.compile(parameter_spec(parameter)["AllowedPattern"])
    assert [v for v in accepted if not pattern.fullmatch(v)] == []
    assert [v for v in refused if pattern.fullmatch(v)] == []


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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("render", "authorization"), [("defaults", "AWS_IAM"), ("public", "NONE"), ("jwt", "JWT")]
)
def test_each_access_mode_routes_everything_to_the_live_alias(
    rendered: dict[str, dict[str, Any]], render: str, authorization: str
) -> None:
    cfn = rendered[render]
    (alias_id, alias), = _of_type(cfn, "AWS::Lambda::Alias").items()
    assert alias["Properties"]["Name"] == "live"
    (integration,) = _of_type(cfn, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationUri"] == {"Ref": alias_id}  # never $LATEST
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    (permission,) = _of_type(cfn, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
    assert permission["Properties"]["SourceArn"]
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in _of_type(cfn, "AWS::ApiGatewayV2::Route").values()}
    assert routes.keys() == {"ANY /", "ANY /{proxy+}"}
    assert {r["AuthorizationType"] for r in routes.values()} == {authorization}
    authorizers = _of_type(cfn, "AWS::ApiGatewayV2::Authorizer")
    if authorization == "JWT":
        ((authorizer_id, authorizer),) = authorizers.items()
        assert {r["AuthorizerId"]["Ref"] for r in routes.values()} == {authorizer_id}
        assert authorizer["Properties"]["JwtConfiguration"] == {
            "Issuer": "https://issuer.example.com", "Audience": ["client-a", "client-b"]
        }
    else:
        assert not authorizers and all("AuthorizerId" not in r for r in routes.values())


@pytest.mark.slow
def test_throttling_cors_and_reserved_concurrency_follow_their_parameters(
    rendered: dict[str, dict[str, Any]],
) -> None:
    default, public, jwt = (rendered[name] for name in ("defaults", "public", "jwt"))
    (stage,) = _of_type(default, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": "10", "ThrottlingBurstLimit": "20"
    }
    assert stage["Properties"]["AccessLogSettings"]["DestinationArn"]
    # No CORS unless origins are given, and then exactly those.
    assert "CorsConfiguration" not in default["Resources"]["HttpApi"]["Properties"]
    cors = jwt["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://app.example.com", "http://localhost:8080"]
    assert "authorization" in cors["AllowHeaders"]
    # A reservation by default; "" leaves the function unreserved (never 0: that disables it).
    function = default["Resources"]["InferenceFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == "5"
    assert "ReservedConcurrentExecutions" not in public["Resources"]["InferenceFunction"]["Properties"]


@pytest.mark.slow
def test_deployments_shift_gradually_and_roll_back_on_alarms(
    rendered: dict[str, dict[str, Any]],
) -> None:
    for render, config in [("defaults", "Canary10Percent5Minutes"), ("public", "AllAtOnce")]:
        cfn = rendered[render]
        (group,) = _of_type(cfn, "AWS::CodeDeploy::DeploymentGroup").values()
        props = group["Properties"]
        assert props["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": config}
        assert "DEPLOYMENT_STOP_ON_ALARM" in props["AutoRollbackConfiguration"]["Events"]
        alarms = {a["Name"]["Ref"] for a in props["AlarmConfiguration"]["Alarms"]}
        assert alarms == {"AliasErrorsAlarm", "AliasLatencyAlarm"}
        (alias,) = _of_type(cfn, "AWS::Lambda::Alias").values()
        assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"]
    resources = rendered["defaults"]["Resources"]
    errors, latency = resources["AliasErrorsAlarm"], resources["AliasLatencyAlarm"]
    for alarm in (errors, latency):
        dimensions = {d["Name"]: d["Value"] for d in alarm["Properties"]["Dimensions"]}
        assert dimensions == {
            "FunctionName": {"Ref": "InferenceFunction"},
            "Resource": {"Fn::Sub": "${InferenceFunction}:live"},
        }
    assert errors["Properties"]["MetricName"] == "Errors"
    assert errors["Properties"]["Threshold"] == "1"
    assert latency["Properties"]["MetricName"] == "Duration"
    assert latency["Properties"]["ExtendedStatistic"] == "p99"
    assert latency["Properties"]["Threshold"] == "1000"


@pytest.mark.slow
def test_tracing_and_architecture_follow_their_parameters(
    rendered: dict[str, dict[str, Any]],
) -> None:
    def function(render: str) -> dict[str, Any]:
        return rendered[render]["Resources"]["InferenceFunction"]["Properties"]

    def policies(render: str) -> list[str]:
        return rendered[render]["Resources"]["InferenceFunctionRole"]["Properties"][
            "ManagedPolicyArns"
        ]

    # Off by default: no tracing config, no X-Ray permission, and Powertools' tracer disabled.
    assert "TracingConfig" not in function("defaults")
    assert not any("XRay" in arn or "Xray" in arn for arn in policies("defaults"))
    assert function("defaults")["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert function("public")["TracingConfig"] == {"Mode": "Active"}
    assert any("Xray" in arn for arn in policies("public"))
    assert function("public")["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "false"
    assert function("defaults")["Architectures"] == ["x86_64"]
    assert function("public")["Architectures"] == ["arm64"]


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


def test_samconfig_parameter_overrides_repeat_the_template_defaults() -> None:
    """A command-line --parameter-overrides replaces samconfig's list instead of merging, so the
    list may only restate template.yaml's defaults (which carry the reasons); the build gets the
    same Architecture as the deploy (it picks the image's lock)."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    parameters = load_template()["Parameters"]
    overrides = {}
    for section in ("build", "deploy"):
        text = config[section]["parameters"]["parameter_overrides"]
        overrides[section] = dict(re.findall(r'(\w+)="([^"]*)"', text))
        assert len(overrides[section]) == text.count("="), text
        assert {name: str(parameters[name]["Default"]) for name in overrides[section]} == (
            overrides[section]
        )
    assert overrides["build"]["Architecture"] == overrides["deploy"]["Architecture"]
    assert {"ApiAuth", "ReservedConcurrency", "DeploymentType"} <= overrides["deploy"].keys()

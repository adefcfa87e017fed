"""template.yaml and samconfig.toml: both linters pass offline; the template says what we mean.

Beyond reading the template, `rendered` runs the SAM transform itself (infra/sam_translate.py,
in the tools venv) for several parameter sets, and `resolve` evaluates the Conditions and Fn::If
of the output the way CloudFormation would for those values: what each mode really deploys.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from infra import image_deps
from infra.lambda_runtime import ROOT, function_config, load_template
from tests.handler_events import lambda_context

TOOLS = ROOT / ".venv-tools" / "bin"
#: Peak RSS of the demo model's function, measured (shared/FACTS.md).
DEMO_PEAK_RSS_MB = 834


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def function(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["InferenceFunction"]


@pytest.fixture(scope="module")
def lite_function(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["LiteInferenceFunction"]


#: Each ModelRuntime value's function, and the runtime (MODEL_RUNTIME) it runs.
FUNCTIONS = {"TensorFlow": ("InferenceFunction", "tensorflow"),
             "LiteRT": ("LiteInferenceFunction", "litert")}
#: And its batch function (handler.batch.handler, the same image or zip).
BATCH_FUNCTIONS = {"TensorFlow": "BatchFunction", "LiteRT": "LiteBatchFunction"}


#: Parameter sets rendered by the SAM transform (one tools-venv process for all of them).
RENDERS: dict[str, dict[str, str]] = {
    "defaults": {},
    "public": {"ApiAuth": "None", "ReservedConcurrency": "", "Tracing": "Active",
               "DeploymentType": "AllAtOnce", "Architecture": "arm64"},
    "jwt": {"ApiAuth": "JWT", "JwtIssuer": "https://issuer.example.com",
            "JwtAudience": "client-a,client-b",
            "CorsAllowOrigins": "https://app.example.com,http://localhost:8080"},
    "litert": {"ModelRuntime": "LiteRT", "ModelS3Uri": "s3://my-bucket/models/catsordogs/",
               "ModelS3KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab"},
    # Bulk inference: the queue path with the buckets the stack creates, or with existing ones.
    "bulk-queue": {"BulkOnArrival": "Enabled"},
    "bulk-existing": {"BulkOnArrival": "Enabled", "BulkInputBucket": "my-photos",
                      "BulkInputPrefix": "", "BulkOutputBucket": "my-records",
                      "BulkMaxConcurrency": "50", "ModelRuntime": "LiteRT"},
    # SnapStart on each HTTP function (the image's and the zip's).
    "snapstart": {"SnapStart": "PublishedVersions"},
    "snapstart-litert": {"SnapStart": "PublishedVersions", "ModelRuntime": "LiteRT"},
}
_NO_VALUE = object()
#: The API's routes: the methods the app serves, never ANY (it would match CORS preflights).
ROUTE_KEYS = {"GET /", "HEAD /", "GET /{proxy+}", "HEAD /{proxy+}", "POST /{proxy+}"}
#: What CloudFormation accepts inside Rules (rule functions and Ref); anything else is refused
#: at change-set creation, and neither cfn-lint nor `sam validate --lint` says so.
RULE_FUNCTIONS = {
    "Fn::And", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn", "Fn::Equals",
    "Fn::Not", "Fn::Or", "Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll", "Ref",
}


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
            if key == "Fn::Or":
                return any(map(walk, arg))
            if key == "Fn::And":
                return all(map(walk, arg))
            if key == "Fn::Join":
                items = walk(arg[1])
                if isinstance(items, list) and all(isinstance(i, str) for i in items):
                    return walk(arg[0]).join(items)
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


def _of_function(cfn: dict[str, Any], kind: str, function: str) -> dict[str, dict[str, Any]]:
    """The resources of `kind` (an alias, a version) that SAM made for `function`."""
    return {key: r for key, r in _of_type(cfn, kind).items()
            if r["Properties"]["FunctionName"] == {"Ref": function}}


def _references(node: Any) -> set[str]:
    """Every logical id that `node` names (Ref, GetAtt, ${...} in Sub)."""
    if isinstance(node, list):
        return set().union(*map(_references, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found: set[str] = set()
    for key, value in node.items():
        if key == "Ref" and isinstance(value, str):
            found.add(value)
        elif key == "Fn::GetAtt":
            found.add(value[0] if isinstance(value, list) else value.split(".")[0])
        elif key == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]
            found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
        found |= _references(value)
    return found


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
    assert function["Condition"] == "UseTensorFlow"
    # One architecture per parameter value, each with its lock of wheels (tests/test_packaging.py),
    # for both functions.
    assert load_template()["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]
    architecture = parameter_spec("Architecture")
    assert set(architecture["AllowedValues"]) == set(image_deps.ARCHES)
    assert architecture["Default"] == "x86_64"
    assert (ROOT / meta["DockerContext"] / meta["Dockerfile"]).is_file()
    assert meta["DockerTag"]
    assert "Runtime" not in props and "Handler" not in props  # not for image functions
    # The entry point is named in the template, and it is the image's own CMD.
    cmd = next(
        line for line in (ROOT / meta["Dockerfile"]).read_text().splitlines()
        if line.startswith("CMD ")
    )
    assert props["ImageConfig"]["Command"] == json.loads(cmd.removeprefix("CMD "))
    assert props["ImageConfig"]["Command"] == ["handler.app.handler"]


def make_rule(target: str) -> str:
    """The recipe of the root Makefile's rule that makes `target` (one of its targets)."""
    makefile = (ROOT / "Makefile").read_text()
    rules = re.finditer(r"^([^\s:#=][^:=\n]*):[^=\n]*\n((?:\t.*\n?)*)", makefile, re.M)
    found = [recipe for targets, recipe in (m.groups() for m in rules) if target in targets.split()]
    assert len(found) == 1, f"no rule makes {target}"
    return found[0]


def test_lite_function_is_a_zip_the_makefile_builds(
    function: dict[str, Any], lite_function: dict[str, Any]
) -> None:
    """ModelRuntime=LiteRT's function: the same entry point on Lambda's managed python3.12 (the
    image's Python), built by `make build-LiteInferenceFunction` (infra/zip_package.py) from the
    project root."""
    props, meta = lite_function["Properties"], lite_function["Metadata"]
    assert lite_function["Condition"] == "UseLiteRT"
    assert props["PackageType"] == "Zip"
    assert props["Runtime"] == f"python{image_deps.PYTHON_VERSION}"
    assert [props["Handler"]] == function["Properties"]["ImageConfig"]["Command"]
    assert (meta["BuildMethod"], meta["ContextPath"], meta["WorkingDirectory"]) == (
        "makefile", ".", "."
    )
    target = make_rule("build-LiteInferenceFunction")
    assert '-m infra.zip_package "$(ARTIFACTS_DIR)" --arch $(ARCHITECTURE)' in target
    # What SAM copies to its scratch folder before make runs (make reads the project root).
    assert props["CodeUri"] == "handler/"
    assert parameter_spec("ModelRuntime")["AllowedValues"] == list(FUNCTIONS)
    assert parameter_spec("ModelRuntime")["Default"] == "TensorFlow"


def test_functions_share_everything_but_their_package_and_runtime(
    template: dict[str, Any],
) -> None:
    """Shared properties live once, in Globals; each function adds only what differs: its
    package, memory, MODEL_RUNTIME and the (shared) S3 read policy, which Globals cannot hold."""
    shared = template["Globals"]["Function"]
    assert {"Timeout", "Tracing", "LoggingConfig", "Environment", "AutoPublishAlias",
            "DeploymentPreference", "ReservedConcurrentExecutions", "Architectures"} <= set(shared)
    from handler.runtime import RUNTIMES

    for name, runtime in FUNCTIONS.values():
        props = template["Resources"][name]["Properties"]
        assert set(props) & set(shared) == {"Environment"}, name
        assert props["Environment"] == {"Variables": {"MODEL_RUNTIME": runtime}}
        assert runtime in RUNTIMES
        assert props["Policies"] == [
            {"Fn::If": ["HasModelS3Uri", {"Ref": "ModelReadPolicy"}, {"Ref": "AWS::NoValue"}]}
        ]
        config = function_config(name)
        assert config.environment["MODEL_RUNTIME"] == runtime
        assert {k: v for k, v in config.environment.items() if k != "MODEL_RUNTIME"} == {
            k: v for k, v in function_config().environment.items() if k != "MODEL_RUNTIME"
        }
    assert function_config("LiteInferenceFunction").name == "LiteInferenceFunction"
    with pytest.raises(ValueError, match="HttpApi is not an AWS::Serverless::Function"):
        function_config("HttpApi")


def parameter_spec(name: str) -> dict[str, Any]:
    return load_template()["Parameters"][name]


def tune_picks() -> dict[str, int]:
    """The MemorySize `make tune` picked per HTTP function, from benchmarks/TUNE_RESULTS.md."""
    text = (ROOT / "benchmarks" / "TUNE_RESULTS.md").read_text("utf-8")
    return {name: int(mb.replace(",", "")) for name, mb in
            re.findall(r"^- \w+ \((\w+)\): \*\*([\d,]+) MB\*\*", text, re.M)}


def test_memory_and_timeout_fit_the_measured_model(function: dict[str, Any]) -> None:
    """MemorySize comes from `make tune` per runtime (it was 1769 for both, one vCPU, until the
    local Lambda measured the sizes): the cheapest size meeting the latency target, above the
    runtime's Max Memory Used, and its reason beside it in the template."""
    config = function_config()
    assert config.memory_mb == function["Properties"]["MemorySize"]
    assert config.memory_mb > DEMO_PEAK_RSS_MB, "below the demo model's peak RSS"
    assert 3 <= config.timeout_s < 30, "must stay under the HTTP API's 30 s integration timeout"
    lite = function_config("LiteInferenceFunction")
    assert lite.memory_mb > 118 and lite.timeout_s == config.timeout_s  # LiteRT's peak: 118 MB
    picks = tune_picks()
    assert picks == {"InferenceFunction": config.memory_mb,
                     "LiteInferenceFunction": lite.memory_mb}
    text = (ROOT / "template.yaml").read_text("utf-8")
    for name in picks:
        before = text.split(f"\n  {name}:\n", 1)[1].split("MemorySize:", 1)[0]
        assert "benchmarks/TUNE_RESULTS.md" in "\n".join(before.splitlines()[-12:]), name


def test_environment_names_every_setting(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
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
        ("ModelS3KmsKeyArn",
         ["", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
          "arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
         ["alias/aws/s3", "arn:aws:kms:eu-west-1:123456789012:alias/models",
          "1234abcd-12ab-34cd-56ef-1234567890ab"]),
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
    """One managed policy, made only when a model URI is set, that each function attaches
    (test_functions_share_everything_but_their_package_and_runtime)."""
    assert template["Parameters"]["ModelS3Uri"]["Default"] == ""
    policy = template["Resources"]["ModelReadPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    uri = {"Ref": "ModelS3Uri"}
    assert template["Conditions"][policy["Condition"]] == {"Fn::Not": [{"Fn::Equals": [uri, ""]}]}
    statement, kms = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "s3:GetObject"
    pattern, names = statement["Resource"]["Fn::Sub"]
    assert pattern.endswith("${BucketAndPrefix}*")
    assert names["BucketAndPrefix"] == {"Fn::Join": ["", {"Fn::Split": ["s3://", uri]}]}
    # A customer-managed key's decrypt, only when its ARN is given, and only through S3.
    condition, grant, absent = kms["Fn::If"]
    assert absent == {"Ref": "AWS::NoValue"}
    assert template["Conditions"][condition] == {"Fn::And": [
        {"Condition": "HasModelS3Uri"},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "ModelS3KmsKeyArn"}, ""]}]},
    ]}
    assert grant["Action"] == "kms:Decrypt"
    assert grant["Resource"] == {"Ref": "ModelS3KmsKeyArn"}
    assert grant["Condition"] == {"StringEquals": {
        "kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.${AWS::URLSuffix}"}}}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("render", "authorization"),
    [("defaults", "AWS_IAM"), ("public", "NONE"), ("jwt", "JWT"), ("litert", "AWS_IAM")],
)
def test_each_access_mode_routes_everything_to_the_live_alias(
    rendered: dict[str, dict[str, Any]], render: str, authorization: str
) -> None:
    cfn = rendered[render]
    function, _ = FUNCTIONS[RENDERS[render].get("ModelRuntime", "TensorFlow")]
    (alias_id, alias), = _of_function(cfn, "AWS::Lambda::Alias", function).items()
    assert alias["Properties"]["Name"] == "live"
    (integration,) = _of_type(cfn, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationUri"] == {"Ref": alias_id}  # never $LATEST
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    (permission,) = _of_type(cfn, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
    assert permission["Properties"]["SourceArn"]
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in _of_type(cfn, "AWS::ApiGatewayV2::Route").values()}
    assert routes.keys() == ROUTE_KEYS  # no ANY, no OPTIONS: preflights are API Gateway's
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
def test_each_model_runtime_deploys_its_function_alone(
    rendered: dict[str, dict[str, Any]],
) -> None:
    """ModelRuntime picks one function, and nothing CloudFormation creates names the other one
    (integration, permission, alarms, hook, deployment group, outputs all follow the !If)."""
    names = {"TensorFlow": r"(?<!Lite)InferenceFunction", "LiteRT": r"LiteInferenceFunction"}
    for render, runtime in [("defaults", "TensorFlow"), ("litert", "LiteRT")]:
        cfn = rendered[render]
        function, _ = FUNCTIONS[runtime]
        batch = BATCH_FUNCTIONS[runtime]
        assert set(_of_type(cfn, "AWS::Lambda::Function")) == {function, batch, "PreTrafficHook"}
        (other,) = set(names) - {runtime}
        created = {**cfn, "Resources": {key: {k: v for k, v in r.items() if k != "Metadata"}
                                        for key, r in cfn["Resources"].items()}}
        assert not re.search(names[other], json.dumps(created)), f"{render} names {other}'s"
        named = _references(created["Resources"]) | _references(created["Outputs"])
        assert not {n for n in named if n.startswith(BATCH_FUNCTIONS[other])}, render
        assert cfn["Outputs"]["FunctionName"]["Value"] == {"Ref": function}
        assert cfn["Outputs"]["ModelRuntime"]["Value"] == runtime
    image = rendered["defaults"]["Resources"]["InferenceFunction"]["Properties"]
    lite = rendered["litert"]["Resources"]["LiteInferenceFunction"]["Properties"]
    assert (lite["Runtime"], lite["Handler"]) == ("python3.12", "handler.app.handler")
    assert set(lite["Code"]) == {"S3Bucket", "S3Key"} and "ImageUri" in image["Code"]
    # MemorySize is each runtime's own (make tune picks it per runtime)
    shared = ("Timeout", "Architectures", "ReservedConcurrentExecutions", "LoggingConfig")
    assert {key: lite[key] for key in shared} == {key: image[key] for key in shared}
    assert (image["MemorySize"], lite["MemorySize"]) == (
        function_config().memory_mb, function_config("LiteInferenceFunction").memory_mb)
    lite_env, image_env = dict(lite["Environment"]["Variables"]), dict(
        image["Environment"]["Variables"])
    assert (lite_env.pop("MODEL_RUNTIME"), image_env.pop("MODEL_RUNTIME")) == ("litert", "tensorflow")
    assert (lite_env.pop("MODEL_S3_URI"), image_env.pop("MODEL_S3_URI")) == (
        "s3://my-bucket/models/catsordogs/", "")
    assert lite_env == image_env
    # The S3 read policy exists, and is attached, only with a model URI.
    role = rendered["litert"]["Resources"]["LiteInferenceFunctionRole"]["Properties"]
    assert {"Ref": "ModelReadPolicy"} in role["ManagedPolicyArns"]
    assert "ModelReadPolicy" not in rendered["defaults"]["Resources"]
    assert "ModelReadPolicy" not in json.dumps(rendered["defaults"]["Resources"])


@pytest.mark.parametrize("runtime,render,apply_on", [
    ("TensorFlow", "defaults", "None"), ("LiteRT", "litert", "None"),
    ("TensorFlow", "snapstart", "PublishedVersions"),
    ("LiteRT", "snapstart-litert", "PublishedVersions"),
])
def test_snapstart_follows_its_parameter_on_published_versions(
    rendered: dict[str, dict[str, Any]], runtime: str, render: str, apply_on: str,
) -> None:
    """SnapStart=PublishedVersions turns SnapStart on for the HTTP function (image or zip) and
    nothing else; what it restores is a published version, the one the `live` alias and so the
    API invoke; and the function has nothing SnapStart excludes (provisioned concurrency, EFS,
    ephemeral storage over 512 MB): adding one with SnapStart on must fail here first."""
    cfn = rendered[render]
    function, _ = FUNCTIONS[runtime]
    functions = _of_type(cfn, "AWS::Lambda::Function")
    assert functions[function]["Properties"]["SnapStart"] == {"ApplyOn": apply_on}
    assert [name for name, f in functions.items() if "SnapStart" in f["Properties"]] == [function]
    (version,) = _of_function(cfn, "AWS::Lambda::Version", function).values()
    (alias_id, alias), = _of_function(cfn, "AWS::Lambda::Alias", function).items()
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [
        next(k for k, v in cfn["Resources"].items() if v is version), "Version"]}
    (integration,) = _of_type(cfn, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationUri"] == {"Ref": alias_id}
    props = functions[function]["Properties"]
    assert "FileSystemConfigs" not in props
    assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 512
    for kind in ("AWS::Lambda::Version", "AWS::Lambda::Alias"):
        for resource in _of_function(cfn, kind, function).values():
            assert "ProvisionedConcurrencyConfig" not in resource["Properties"], kind


def test_snapstart_parameter_is_the_functions_apply_on(template: dict[str, Any]) -> None:
    """Its allowed values are exactly the property's (cfn-lint's schema: PublishedVersions or
    None), default off."""
    spec = template["Parameters"]["SnapStart"]
    assert (spec["Default"], spec["AllowedValues"]) == ("None", ["None", "PublishedVersions"])
    for name, _ in FUNCTIONS.values():
        assert template["Resources"][name]["Properties"]["SnapStart"] == {
            "ApplyOn": {"Ref": "SnapStart"}}


def test_routes_carry_every_method_the_app_serves_and_no_preflight(
    template: dict[str, Any],
) -> None:
    """Each method and path the app answers has a route (GET and HEAD on `/`, the rest under
    `/{proxy+}`); no route takes OPTIONS, so API Gateway's CORS configuration answers preflights,
    and CORS allows exactly the routes' methods."""
    from handler.protocols import named, native, tfserving, v2

    resources = template["Resources"]
    keys = {r["Properties"]["RouteKey"] for r in resources.values()
            if r["Type"] == "AWS::ApiGatewayV2::Route"}
    assert keys == ROUTE_KEYS
    served = {(method, route.path) for protocol in (native, named, tfserving, v2)
              for route in protocol.router.routes for method in route.methods}
    served |= {("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/static/index.html")}
    missing = [(method, path) for method, path in sorted(served)
               if f"{method} {'/' if path == '/' else '/{proxy+}'}" not in keys]
    assert missing == []
    assert {method for method, _ in served} | {"HEAD"} == {key.split()[0] for key in keys}
    cors = resources["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"][1]
    assert set(cors["AllowMethods"]) == {key.split()[0] for key in keys}


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
    for render, config in [("defaults", "Canary10Percent5Minutes"), ("public", "AllAtOnce"),
                           ("litert", "Canary10Percent5Minutes")]:
        cfn = rendered[render]
        (group,) = _of_type(cfn, "AWS::CodeDeploy::DeploymentGroup").values()
        props = group["Properties"]
        assert props["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": config}
        assert "DEPLOYMENT_STOP_ON_ALARM" in props["AutoRollbackConfiguration"]["Events"]
        alarms = {a["Name"]["Ref"] for a in props["AlarmConfiguration"]["Alarms"]}
        assert alarms == {"AliasErrorsAlarm", "AliasLatencyAlarm", "ServerErrorsAlarm"}
        function, _ = FUNCTIONS["LiteRT" if render == "litert" else "TensorFlow"]
        (alias,) = _of_function(cfn, "AWS::Lambda::Alias", function).values()
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["DeploymentGroupName"]
        assert update["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHook"}
    for runtime, (function, _) in FUNCTIONS.items():
        render = "litert" if runtime == "LiteRT" else "defaults"
        resources = rendered[render]["Resources"]
        (group_id,) = _of_type(rendered[render], "AWS::CodeDeploy::DeploymentGroup")
        assert group_id == f"{function}DeploymentGroup"  # the deployed function's only
        for alarm in (resources["AliasErrorsAlarm"], resources["AliasLatencyAlarm"]):
            dimensions = {d["Name"]: d["Value"] for d in alarm["Properties"]["Dimensions"]}
            assert dimensions == {
                "FunctionName": {"Ref": function},
                "Resource": {"Fn::Sub": f"${{{function}}}:live"},
            }
    resources = rendered["defaults"]["Resources"]
    errors, latency = resources["AliasErrorsAlarm"], resources["AliasLatencyAlarm"]
    assert errors["Properties"]["MetricName"] == "Errors"
    assert errors["Properties"]["Threshold"] == "1"
    assert latency["Properties"]["MetricName"] == "Duration"
    assert latency["Properties"]["ExtendedStatistic"] == "p99"
    assert latency["Properties"]["Threshold"] == "1000"


def test_server_errors_alarm_watches_the_metric_the_function_emits(
    template: dict[str, Any],
) -> None:
    """Handled exceptions answer 500 without a Lambda error: the function counts them as the
    EMF metric ServerErrors, in its Powertools namespace with the `service` dimension only."""
    variables = function_config().environment
    alarm = template["Resources"]["ServerErrorsAlarm"]["Properties"]
    assert alarm["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["MetricName"] == "ServerErrors"
    assert alarm["Dimensions"] == [{"Name": "service",
                                    "Value": variables["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 60, 1)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        1, "GreaterThanOrEqualToThreshold"
    )
    assert alarm["TreatMissingData"] == "notBreaching"


def _evaluate_rule(node: Any, values: dict[str, list[str] | str]) -> Any:
    """A rule expression evaluated as CloudFormation does (a CommaDelimitedList is a list)."""
    if not isinstance(node, dict):
        return node
    ((key, arg),) = node.items()
    if key == "Ref":
        return values[arg]
    args = [_evaluate_rule(a, values) for a in (arg if isinstance(arg, list) else [arg])]
    match key:
        case "Fn::Equals":
            return args[0] == args[1]
        case "Fn::Not":
            return not args[0]
        case "Fn::And":
            return all(args)
        case "Fn::Or":
            return any(args)
        case "Fn::Contains":
            return args[1] in args[0]
    raise AssertionError(f"no evaluator for {key}")


def test_rules_use_only_rule_functions(template: dict[str, Any]) -> None:
    """The check the linters lack: every function inside Rules is one CloudFormation allows."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            found.update(k for k in node if k == "Ref" or k.startswith(("Fn::", "!")))
            for value in node.values():
                walk(value)

    for rule in template["Rules"].values():
        walk(rule.get("RuleCondition"))
        for assertion in rule["Assertions"]:
            walk(assertion["Assert"])
    assert found and found <= RULE_FUNCTIONS, sorted(found - RULE_FUNCTIONS)


@pytest.mark.parametrize(("audience", "issuer", "accepted"), [
    ("client-a,client-b", "https://issuer.example.com", True),
    ("", "https://issuer.example.com", False),  # no audience: the list [""]
    ("client-a,", "https://issuer.example.com", False),  # an empty audience among others
    ("client-a", "", False),
])
def test_jwt_rule_needs_an_issuer_and_audiences(
    template: dict[str, Any], audience: str, issuer: str, accepted: bool
) -> None:
    rule = template["Rules"]["JwtNeedsIssuerAndAudience"]
    for auth in ("JWT", "IAM"):
        values = {"ApiAuth": auth, "JwtIssuer": issuer, "JwtAudience": audience.split(",")}
        applies = _evaluate_rule(rule["RuleCondition"], values)
        passed = all(_evaluate_rule(a["Assert"], values) for a in rule["Assertions"])
        assert applies == (auth == "JWT")
        assert passed == accepted or not applies


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


# --- the PreTraffic hook -----------------------------------------------------------------------

VERSION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:tf-lambda-serving-inference:7"
HOOK_EVENT = {"DeploymentId": "d-EXAMPLE123", "LifecycleEventHookExecutionId": "hook-exec-1"}


def hook_module(template: dict[str, Any]) -> ModuleType:
    """The hook's inline code, loaded as the python3.12 runtime loads `index.py`."""
    code = template["Resources"]["PreTrafficHook"]["Properties"]["Code"]["ZipFile"]
    assert len(code.encode()) <= 4096, "CloudFormation takes at most 4096 bytes of ZipFile code"
    module = ModuleType("index")
    exec(compile(code, "index.py", "exec"), module.__dict__)  # noqa: S102 (our own template)
    return module


class FakeAws:
    """The hook's boto3: `lambda` invokes answer(event) -> (payload, FunctionError or None),
    `codedeploy` records the status the hook reports."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[Any, str | None]]) -> None:
        self.answer = answer
        self.invoked: list[tuple[str, dict[str, Any]]] = []
        self.reports: list[dict[str, str]] = []

    def client(self, service: str, config: Any = None) -> SimpleNamespace:
        return SimpleNamespace(invoke=self.invoke,
                               put_lifecycle_event_hook_execution_status=self.report)

    def report(self, **kwargs: str) -> None:
        self.reports.append(kwargs)

    def invoke(self, FunctionName: str, Payload: str) -> dict[str, Any]:  # noqa: N803 (boto3's)
        event = json.loads(Payload)
        self.invoked.append((FunctionName, event))
        payload, error = self.answer(event)
        reply = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(payload).encode())}
        return {**reply, "FunctionError": error} if error else reply


def run_hook(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, answer) -> FakeAws:
    hook = hook_module(template)
    aws = FakeAws(answer)
    monkeypatch.setattr(hook, "boto3", aws)
    monkeypatch.setenv("NewVersion", VERSION_ARN)
    try:
        hook.handler(HOOK_EVENT, None)
    finally:
        assert [r["status"] for r in aws.reports] in (["Succeeded"], ["Failed"])  # exactly once
        assert all({k: r[k] for k in ("deploymentId", "lifecycleEventHookExecutionId")} == {
            "deploymentId": "d-EXAMPLE123", "lifecycleEventHookExecutionId": "hook-exec-1"
        } for r in aws.reports)
    return aws


@pytest.mark.slow
def test_pre_traffic_hook_passes_a_version_that_serves(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, lambda_handler
) -> None:
    """The hook's events are real HTTP API events: the real handler answers them 200."""
    answers = []

    def real(event: dict[str, Any]) -> tuple[Any, None]:
        answers.append(lambda_handler(event, lambda_context()))
        return answers[-1], None

    aws = run_hook(template, monkeypatch, real)
    assert aws.reports[0]["status"] == "Succeeded"
    assert [(name, event["rawPath"]) for name, event in aws.invoked] == [
        (VERSION_ARN, "/health"), (VERSION_ARN, "/models"), (VERSION_ARN, "/models/catsordogs")
    ]
    assert [a["statusCode"] for a in answers] == [200, 200, 200]
    assert json.loads(answers[2]["body"])["task"]["labels"] == ["cat", "dog"]


def _server_error_on_model(event: dict[str, Any]) -> tuple[Any, None]:
    models = {"models": [{"name": "m", "versions": [{"state": "available"}]}]}
    status = 500 if event["rawPath"] == "/models/m" else 200
    return {"statusCode": status, "body": json.dumps(models)}, None


def _a_version_unavailable(event: dict[str, Any]) -> tuple[Any, None]:
    models = {"models": [{"name": "m", "versions": [{"state": "unavailable"}]}]}
    return {"statusCode": 200, "body": json.dumps(models)}, None


def _no_models(event: dict[str, Any]) -> tuple[Any, None]:
    return {"statusCode": 200, "body": "{}"}, None


def _init_failure(event: dict[str, Any]) -> tuple[Any, str]:
    return {"errorMessage": "graph sha256 mismatch", "errorType": "ModelBundleError"}, "Unhandled"


def _timeout(event: dict[str, Any]) -> tuple[Any, None]:
    raise TimeoutError("read timeout")


@pytest.mark.parametrize("answer", [_server_error_on_model, _a_version_unavailable, _no_models,
                                    _init_failure, _timeout],
                         ids=["500-on-model", "a-version-unavailable", "no-models", "init-failure",
                              "invoke-raises"])
def test_pre_traffic_hook_fails_a_version_that_does_not(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, answer
) -> None:
    """Anything but 200s from every served model (each version loaded) is reported Failed (CodeDeploy then rolls back before any traffic
    moves); an exception is reported too, never left for CodeDeploy's one-hour timeout."""
    try:
        aws = run_hook(template, monkeypatch, answer)
    except TimeoutError:
        assert answer is _timeout
    else:
        assert aws.reports[0]["status"] == "Failed"


@pytest.mark.slow
@pytest.mark.parametrize(("render", "function"), [("defaults", "InferenceFunction"),
                                                  ("litert", "LiteInferenceFunction")])
def test_pre_traffic_hook_is_invocable_by_codedeploy_and_least_privileged(
    rendered: dict[str, dict[str, Any]], render: str, function: str
) -> None:
    cfn = rendered[render]
    resources = cfn["Resources"]
    (version_id,) = _of_function(cfn, "AWS::Lambda::Version", function)
    assert version_id.startswith(f"{function}Version")
    hook = resources["PreTrafficHook"]["Properties"]
    # SAM's CodeDeploy role (AWSCodeDeployRoleForLambda) may invoke only CodeDeployHook_* names.
    assert hook["FunctionName"] == {"Fn::Sub": "CodeDeployHook_${AWS::StackName}"}
    assert resources["CodeDeployServiceRole"]["Properties"]["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"
    ]
    assert (hook["Runtime"], hook["Handler"]) == ("python3.12", "index.handler")
    assert hook["Environment"]["Variables"] == {"NewVersion": {"Ref": version_id}}
    (policy,) = resources["PreTrafficHookRole"]["Properties"]["Policies"]
    granted = {json.dumps(st["Action"]): st["Resource"]
               for st in policy["PolicyDocument"]["Statement"]}
    assert granted == {
        '"lambda:InvokeFunction"': {"Ref": version_id},  # the version under test only
        '"codedeploy:PutLifecycleEventHookExecutionStatus"': {"Fn::Sub": [
            "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:"
            "${ServerlessDeploymentApplication}/${DeploymentGroup}",
            {"DeploymentGroup": {"Ref": f"{function}DeploymentGroup"}},
        ]},
        '["logs:CreateLogStream", "logs:PutLogEvents"]': {
            "Fn::GetAtt": ["PreTrafficHookLogGroup", "Arn"]
        },
    }
    assert {"ServerlessDeploymentApplication", f"{function}DeploymentGroup"} <= set(resources)
    assert hook["Timeout"] > 2 * 40  # a cold invocation at the read timeout, warm ones, the report


def test_logs_have_retention(template: dict[str, Any]) -> None:
    groups = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert groups and all(g["Properties"]["RetentionInDays"] for g in groups.values())
    logging = template["Globals"]["Function"]["LoggingConfig"]  # both functions'
    assert logging["LogGroup"]["Ref"] in groups


def test_samconfig_defaults() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    deploy = config["deploy"]["parameters"]
    assert config["global"]["parameters"]["stack_name"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_image_repos"] is True
    assert deploy["confirm_changeset"] is True
    assert config["build"]["parameters"]["use_buildkit"] is True  # the Dockerfile's stage choice


def _overrides(config: dict[str, Any], section: str) -> dict[str, str]:
    """A samconfig section's parameter_overrides as {name: value}."""
    text = config[section]["parameters"]["parameter_overrides"]
    overrides = dict(re.findall(r'(\w+)="([^"]*)"', text))
    assert len(overrides) == text.count("="), text
    return overrides


def test_samconfig_parameter_overrides_repeat_the_template_defaults() -> None:
    """A command-line --parameter-overrides replaces samconfig's list instead of merging, so the
    list may only restate template.yaml's defaults (which carry the reasons); the build gets the
    same Architecture as the deploy (it picks the image's lock)."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    parameters = load_template()["Parameters"]
    overrides = {}
    for section in ("build", "deploy"):
        overrides[section] = _overrides(config, section)
        assert {name: str(parameters[name]["Default"]) for name in overrides[section]} == (
            overrides[section]
        )
    assert overrides["build"]["Architecture"] == overrides["deploy"]["Architecture"]
    assert {"ApiAuth", "ReservedConcurrency", "DeploymentType"} <= overrides["deploy"].keys()


def test_samconfig_litert_environment_builds_and_deploys_the_zip_only() -> None:
    """`--config-env litert` is the default environment with ModelRuntime=LiteRT, building only
    the zip (no Docker) while the default builds only the image, in a stack of its own."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    default, litert = config["default"], config["litert"]
    assert default["build"]["parameters"]["exclude"] == ["LiteInferenceFunction", "LiteBatchFunction"]
    assert litert["build"]["parameters"]["exclude"] == ["InferenceFunction", "BatchFunction"]
    for section in ("build", "deploy"):
        assert _overrides(litert, section) == {**_overrides(default, section),
                                               "ModelRuntime": "LiteRT"}
    deploy = {k: v for k, v in litert["deploy"]["parameters"].items() if k != "parameter_overrides"}
    assert deploy == {k: v for k, v in default["deploy"]["parameters"].items()
                      if k != "parameter_overrides"}
    assert litert["package"] == default["package"] and litert["validate"] == default["validate"]
    assert litert["logs"]["parameters"] == {"name": "LiteInferenceFunction", "tail": True}
    stacks = {env["global"]["parameters"]["stack_name"] for env in (default, litert)}
    assert len(stacks) == 2 and all(len(name) <= 49 for name in stacks)  # CodeDeployHook_<name>


# --- bulk inference: the batch function, the state machine, the queue, Batch Operations -------

STATE_MACHINE = ROOT / "infra" / "statemachine" / "classify_bucket.asl.json"


def test_batch_functions_ship_the_http_functions_package_with_their_own_entry(
    template: dict[str, Any],
) -> None:
    """The batch function is the same image (Dockerfile, context, tag, build args) or the same
    zip (one make rule builds both) with handler.batch.handler, and its own limits and logs."""
    resources = template["Resources"]
    image, batch = resources["InferenceFunction"], resources["BatchFunction"]
    for key in ("DockerContext", "Dockerfile", "DockerTag", "DockerBuildArgs"):
        assert batch["Metadata"][key] == image["Metadata"][key], key
    assert batch["Condition"] == "UseTensorFlow"
    assert batch["Properties"]["ImageConfig"]["Command"] == ["handler.batch.handler"]
    lite, lite_batch = resources["LiteInferenceFunction"], resources["LiteBatchFunction"]
    assert {k: v for k, v in lite_batch["Metadata"].items() if k != "checkov"} == {
        k: v for k, v in lite["Metadata"].items() if k != "checkov"}
    assert lite_batch["Condition"] == "UseLiteRT"
    assert lite_batch["Properties"]["Handler"] == "handler.batch.handler"
    assert lite_batch["Properties"]["CodeUri"] == lite["Properties"]["CodeUri"]
    assert make_rule("build-LiteBatchFunction") == make_rule("build-LiteInferenceFunction")
    for name, runtime in (("BatchFunction", "tensorflow"), ("LiteBatchFunction", "litert")):
        props = resources[name]["Properties"]
        assert props["Environment"]["Variables"]["MODEL_RUNTIME"] == runtime
        assert props["ReservedConcurrentExecutions"] == {"Ref": "BulkMaxConcurrency"}
        assert props["LoggingConfig"] == {"LogGroup": {"Ref": "BatchLogGroup"}}
        assert props["DeploymentPreference"] == {"Enabled": False}
        assert props["Policies"][0] == {"Ref": "BulkObjectsPolicy"}
        config = function_config(name)
        assert config.timeout_s > 10 + 60, "a retried INIT and the worst batch (template's reasons)"
        assert config.environment["MAX_OBJECT_BYTES"] == "50000000"
        from handler.config import BulkSettings
        assert BulkSettings.max_object_bytes == int(config.environment["MAX_OBJECT_BYTES"])
    # The entry point exists (importing it is a cold start: tests/test_batch.py does that).
    assert "\ndef handler(event: Any, context: Any)" in (ROOT / "handler" / "batch.py").read_text()


@pytest.mark.slow
def test_batch_functions_are_versioned_without_the_http_canary(
    rendered: dict[str, dict[str, Any]],
) -> None:
    """An alias for the engines, no CodeDeploy group (nothing to canary: no routes for the
    PreTraffic hook), one per runtime."""
    for render, runtime in (("defaults", "TensorFlow"), ("litert", "LiteRT")):
        cfn = rendered[render]
        batch = BATCH_FUNCTIONS[runtime]
        (alias,) = _of_function(cfn, "AWS::Lambda::Alias", batch).values()
        assert alias["Properties"]["Name"] == "live" and "UpdatePolicy" not in alias
        assert not [k for k in _of_type(cfn, "AWS::CodeDeploy::DeploymentGroup") if batch in k]
        props = cfn["Resources"][batch]["Properties"]
        assert props["ReservedConcurrentExecutions"] == "10"
        assert props["Timeout"] == 180
        assert props["Environment"]["Variables"]["OUTPUT_S3_URI"]["Fn::Sub"] == [
            "s3://${Bucket}/${BulkOutputPrefix}", {"Bucket": {"Ref": "BulkOutputBucketResource"}}]


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return policy["PolicyDocument"]["Statement"]


def _arns(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


@pytest.mark.slow
def test_bulk_iam_is_least_privilege(rendered: dict[str, dict[str, Any]]) -> None:
    """The batch function reads the input prefix and writes the output prefix; the state
    machine invokes the batch alias, lists the input prefix, writes its run results and runs
    its own children; Batch Operations may invoke the alias and use its own folder; no '*'
    resource but the log delivery and X-Ray actions that take none."""
    resources = rendered["bulk-existing"]["Resources"]
    objects = _statements(resources["BulkObjectsPolicy"]["Properties"])
    assert [(s["Action"], s["Resource"]) for s in objects] == [
        (["s3:GetObject", "s3:GetObjectVersion"],
         {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/${BulkInputPrefix}*",
                      {"Bucket": "my-photos"}]}),
        ("s3:PutObject", {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/${BulkOutputPrefix}*",
                                      {"Bucket": "my-records"}]}),
    ]
    role = resources["LiteBatchFunctionRole"]["Properties"]
    assert {"Ref": "BulkObjectsPolicy"} in role["ManagedPolicyArns"]
    assert {"Ref": "BulkQueueConsumePolicy"} in role["ManagedPolicyArns"]
    (consume,) = _statements(resources["BulkQueueConsumePolicy"]["Properties"])
    assert consume["Resource"] == {"Fn::GetAtt": ["BulkQueue", "Arn"]}
    machine_role = resources["ClassifyBucketStateMachineRole"]["Properties"]
    statements = [s for policy in machine_role["Policies"] for s in _statements(policy)]
    by_action = {json.dumps(s["Action"]): s for s in statements}
    assert by_action['"lambda:InvokeFunction"']["Resource"] == {"Ref": "LiteBatchFunctionAliaslive"}
    listing = by_action['"s3:ListBucket"']
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::Sub": "${BulkInputPrefix}*"}}}
    wildcard = [s for s in statements if "*" in _arns(s)]
    assert all(a.startswith(("logs:", "xray:")) for s in wildcard for a in s["Action"])
    ops = resources["BatchOperationsRole"]["Properties"]
    (trust,) = ops["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = ops["Policies"]
    grants = {json.dumps(s["Action"]): s["Resource"] for s in _statements(policy)}
    assert grants['"lambda:InvokeFunction"'] == {"Ref": "LiteBatchFunctionAliaslive"}
    assert "batch-operations/*" in json.dumps(grants['["s3:GetObject", "s3:GetObjectVersion", '
                                                     '"s3:PutObject"]'])


@pytest.mark.slow
def test_the_queue_path_exists_only_when_enabled(rendered: dict[str, dict[str, Any]]) -> None:
    queue_types = {"AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "AWS::Lambda::EventSourceMapping"}
    assert not [k for k, r in rendered["defaults"]["Resources"].items() if r["Type"] in queue_types]
    assert rendered["defaults"]["Outputs"]["BulkQueueUrl"]["Condition"] == "UseBulkQueue"
    for render, batch in (("bulk-queue", "BatchFunction"), ("bulk-existing", "LiteBatchFunction")):
        resources = rendered[render]["Resources"]
        queue, dlq = resources["BulkQueue"]["Properties"], resources["BulkDeadLetterQueue"]
        timeout = resources[batch]["Properties"]["Timeout"]
        assert queue["VisibilityTimeout"] >= 6 * timeout  # AWS's advice for Lambda pollers
        assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
            "Fn::GetAtt": ["BulkDeadLetterQueue", "Arn"]}
        assert queue["SqsManagedSseEnabled"] and dlq["Properties"]["SqsManagedSseEnabled"]
        mapping = resources["BulkQueueMapping"]["Properties"]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["FunctionName"] == {"Ref": f"{batch}Aliaslive"}
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == resources[batch]["Properties"][
            "ReservedConcurrentExecutions"]
        (send,) = resources["BulkQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        assert (send["Principal"], send["Action"]) == ({"Service": "s3.amazonaws.com"},
                                                        "sqs:SendMessage")
        assert set(send["Condition"]) == {"ArnEquals", "StringEquals"}
        assert send["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"][0] == (
            "arn:${AWS::Partition}:s3:::${Bucket}")
    existing = rendered["bulk-existing"]["Resources"]
    assert "BulkInputBucketResource" not in existing and "BulkOutputBucketResource" not in existing
    (send,) = existing["BulkQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert send["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"][1] == {"Bucket": "my-photos"}
    assert existing["BulkQueueMapping"]["Properties"]["ScalingConfig"]["MaximumConcurrency"] == "50"


@pytest.mark.slow
def test_a_created_input_bucket_notifies_the_queue_after_its_policy(
    rendered: dict[str, dict[str, Any]],
) -> None:
    bucket = rendered["bulk-queue"]["Resources"]["BulkInputBucketResource"]["Properties"]
    (notify,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert notify["Event"] == "s3:ObjectCreated:*"
    assert notify["Queue"] == {"Fn::GetAtt": ["BulkQueue", "Arn"]}
    assert notify["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "incoming/"}]}}
    assert {"Key": "bulk-queue-policy", "Value": {"Ref": "BulkQueuePolicy"}} in bucket["Tags"]
    # The queue policy names the bucket by the same computed name (no Ref: no cycle).
    (send,) = rendered["bulk-queue"]["Resources"]["BulkQueuePolicy"]["Properties"][
        "PolicyDocument"]["Statement"]
    assert send["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"][1]["Bucket"] == (
        bucket["BucketName"])
    assert "BulkInputBucketResource" not in _references(rendered["bulk-queue"]["Resources"])
    plain = rendered["defaults"]["Resources"]["BulkInputBucketResource"]["Properties"]
    assert "NotificationConfiguration" not in plain and "Tags" not in plain
    for props in (bucket, plain):
        assert all(props["PublicAccessBlockConfiguration"].values())


@pytest.mark.slow
def test_the_state_machine_gets_its_definition_and_the_stacks_numbers(
    rendered: dict[str, dict[str, Any]],
) -> None:
    """Every ${...} of the definition file is substituted, from the parameters; the batch
    function's transient error is one the map's Retry names."""
    from handler.engines import TransientBatchError

    definition = STATE_MACHINE.read_text()
    used = set(re.findall(r"\$\{(\w+)\}", definition))
    machine = rendered["bulk-existing"]["Resources"]["ClassifyBucketStateMachine"]["Properties"]
    substitutions = machine["DefinitionSubstitutions"]
    assert set(substitutions) == used
    assert substitutions["BatchFunctionArn"] == {"Ref": "LiteBatchFunctionAliaslive"}
    assert (substitutions["InputBucket"], substitutions["InputPrefix"]) == ("my-photos", "")
    assert (substitutions["MaxConcurrency"], substitutions["BatchSize"]) == ("50", "32")
    assert substitutions["ToleratedFailurePercentage"] == "5"
    assert machine["LoggingConfiguration"]["Level"] == "ERROR"
    states = json.loads(definition)["States"]
    task = states["ClassifyObjects"]["ItemProcessor"]["States"]["ClassifyBatch"]
    (retry,) = task["Retry"]
    assert TransientBatchError.__name__ in retry["ErrorEquals"]
    assert {"Lambda.TooManyRequestsException", "States.Timeout"} <= set(retry["ErrorEquals"])
    assert states["ClassifyObjects"]["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert states["ClassifyObjects"]["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"


@pytest.mark.parametrize(("inputs", "outputs", "accepted"), [
    (("", "incoming/"), ("", "records/"), True),  # two created buckets
    (("photos", "incoming/"), ("records", "records/"), True),
    (("photos", "incoming/"), ("photos", "records/"), True),
    (("photos", ""), ("photos", "records/"), False),  # the whole bucket holds the output
    (("photos", "x/"), ("photos", "x/"), False),
])
def test_bulk_rule_keeps_output_apart_from_input(
    template: dict[str, Any], inputs: tuple[str, str], outputs: tuple[str, str], accepted: bool
) -> None:
    rule = template["Rules"]["BulkOutputOutsideInput"]
    values = {"BulkInputBucket": inputs[0], "BulkInputPrefix": inputs[1],
              "BulkOutputBucket": outputs[0], "BulkOutputPrefix": outputs[1]}
    applies = _evaluate_rule(rule["RuleCondition"], values)
    passed = all(_evaluate_rule(a["Assert"], values) for a in rule["Assertions"])
    assert (not applies or passed) == accepted

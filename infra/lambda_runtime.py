"""A Lambda-like runtime in this process: configuration from template.yaml, context, report line.

`function_config` and `lambda_environment` say what `sam local` takes from the template for a
function; the local Lambda's containers (infra/container.py) run with them. `Report` is
Lambda's REPORT line and `Invocation` an invocation's outcome, for both. `LocalFunction` calls
an already-imported handler in this process with a context object and a START/END/REPORT log
triple: the fast path of `infra.local_api.serve`, for unit tests.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
#: Where the image puts the function's code; mapped to the project root when run here.
IMAGE_TASK_ROOT = "/var/task"
DEFAULT_HANDLER = "handler.app.handler"
#: template.yaml's HTTP functions: the image (ModelRuntime=TensorFlow, the default) and the zip
#: (LiteRT); and its batch functions (handler.batch.handler), from the same image and zip.
DEFAULT_FUNCTION = "InferenceFunction"
FUNCTIONS = (DEFAULT_FUNCTION, "LiteInferenceFunction")
BATCH_FUNCTIONS = ("BatchFunction", "LiteBatchFunction")
REGION = "us-east-1"
ACCOUNT = "123456789012"

Handler = Callable[[dict[str, Any], Any], Any]


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (`!Ref X`) as their long form."""


def _cfn_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The SAM template as plain data, intrinsic functions kept as `{"Ref": ...}` mappings."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 (SafeLoader)


@dataclass(frozen=True)
class FunctionConfig:
    """What `sam local` takes from the template for one function."""

    name: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    #: its entry point (a zip's Handler, an image's ImageConfig Command)
    handler: str = DEFAULT_HANDLER


def _resolve(value: Any, parameters: Mapping[str, Any]) -> str | None:
    """A plain value or `!Ref Parameter` (its default); None for anything only AWS can resolve."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        default = parameters[value["Ref"]].get("Default")
        return None if default is None else str(default)
    if value == {"Ref": "AWS::Region"}:
        return REGION
    return None


def _local_path(value: str) -> str:
    """/var/task/... (the image's code folder) is the project root when run here."""
    if value == IMAGE_TASK_ROOT or value.startswith(IMAGE_TASK_ROOT + "/"):
        return str(ROOT) + value[len(IMAGE_TASK_ROOT):]
    return value


def function_config(
    name: str = DEFAULT_FUNCTION, template: Mapping[str, Any] | None = None
) -> FunctionConfig:
    """Memory, timeout and environment of the template's function `name`, Globals merged in."""
    template = load_template() if template is None else template
    resource_ = template.get("Resources", {}).get(name, {})
    if resource_.get("Type") != "AWS::Serverless::Function":
        raise ValueError(f"{name} is not an AWS::Serverless::Function of the template")
    globals_ = template.get("Globals", {}).get("Function", {})
    props = {**globals_, **resource_.get("Properties", {})}
    variables = {
        **globals_.get("Environment", {}).get("Variables", {}),
        **resource_.get("Properties", {}).get("Environment", {}).get("Variables", {}),
    }
    parameters = template.get("Parameters", {})
    resolved = {key: _resolve(value, parameters) for key, value in variables.items()}
    environment = {key: _local_path(value) for key, value in resolved.items() if value is not None}
    command = props.get("ImageConfig", {}).get("Command") or [props.get("Handler", DEFAULT_HANDLER)]
    return FunctionConfig(
        name=name,
        memory_mb=int(props.get("MemorySize", 128)),
        timeout_s=int(props.get("Timeout", 3)),
        environment=environment,
        handler=command[0],
    )


def lambda_environment(config: FunctionConfig) -> dict[str, str]:
    """The variables Lambda sets for the function: its own, then the template's.

    /var/task in the template's values is mapped to the project root (see `_local_path`).
    """
    return {
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "LAMBDA_TASK_ROOT": str(ROOT),
        **config.environment,
    }


def apply_environment(config: FunctionConfig, overrides: Mapping[str, str] = {}) -> None:
    """Set the function's environment in os.environ, as Lambda does before INIT.

    Precedence, lowest first: `lambda_environment`, the caller's own environment (so that
    `MODEL_DIR=... make run` works), then `overrides` (`--env KEY=VAL`).
    """
    for key, value in lambda_environment(config).items():
        os.environ.setdefault(key, value)
    os.environ.update(overrides)


@dataclass
class LambdaContext:
    """The attributes and method of the context object that Lambda passes to a Python handler."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    invoked_function_arn: str = field(init=False)
    log_group_name: str = field(init=False)
    log_stream_name: str = field(init=False)
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        arn_prefix = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
        self.invoked_function_arn = f"{arn_prefix}:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{day}/[$LATEST]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def peak_rss_kb(pid: int | str = "self") -> int:
    """Peak RSS of process `pid` (default: this one) so far, in kB: Linux's VmHWM; 0 once it
    has ended.

    Not getrusage's ru_maxrss: that one survives exec, so a process started by a big parent (a
    test run holding TensorFlow: ~650 MB) reports the parent's peak; measured: 611 MB reported
    for a real peak of 10 MB. ru_maxrss only where there is no /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (kb,) = (line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kb)


def max_memory_used_mb() -> int:
    """Lambda's 'Max Memory Used': the peak RSS, in MB."""
    return math.ceil(peak_rss_kb() / 1024)


@dataclass(frozen=True)
class Report:
    """What Lambda's REPORT line says of one invocation."""

    request_id: str
    duration_ms: float
    memory_mb: int
    #: Max Memory Used (a container's: see infra/container.py's `Container.max_memory_mb`)
    max_memory_mb: int
    init_ms: float | None = None
    restore_ms: float | None = None
    #: None, "timeout" or "error"
    status: str | None = None
    error_type: str | None = None

    @property
    def billed_ms(self) -> int:
        """Billed Duration: the invocation and, on the first, its INIT (billed for every
        on-demand function since 2025-08-01), rounded up to 1 ms."""
        return math.ceil(self.duration_ms + (self.init_ms or 0.0))

    def line(self) -> str:
        parts = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {self.billed_ms} ms",
            f"Memory Size: {self.memory_mb} MB",
            f"Max Memory Used: {self.max_memory_mb} MB",
        ]
        if self.init_ms is not None:
            parts.append(f"Init Duration: {self.init_ms:.2f} ms")
        if self.restore_ms is not None:
            parts.append(f"Restore Duration: {self.restore_ms:.2f} ms")
            parts.append(f"Billed Restore Duration: {math.ceil(self.restore_ms)} ms")
        if self.status:
            parts.append(f"Status: {self.status}")
        if self.error_type:
            parts.append(f"Error Type: {self.error_type}")
        return "\t".join(parts)


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation: the handler's response or Lambda's error payload."""

    response: Any
    error: bool
    report: Report
    #: the container cannot be used again (it was killed, timed out or failed its INIT)
    ended: bool = False


class LocalFunction:
    """The handler, already imported, invoked in this process one invocation at a time."""

    def __init__(self, handler: Handler, config: FunctionConfig) -> None:
        self.handler = handler
        self.config = config

    def invoke(self, event: Any) -> Invocation:
        """Call the handler with `event` and a fresh context; log START/END/REPORT like Lambda."""
        context = LambdaContext(self.config.name, self.config.memory_mb, self.config.timeout_s)
        request_id = context.aws_request_id
        _log(f"START RequestId: {request_id} Version: $LATEST")
        started = time.perf_counter()
        try:
            response, error = self.handler(event, context), False
        except Exception as exc:  # Lambda turns any handler exception into an error payload
            traceback.print_exc()
            response, error = error_payload(exc, request_id), True
        duration_ms = (time.perf_counter() - started) * 1000
        timed_out = duration_ms > self.config.timeout_s * 1000
        report = Report(request_id, duration_ms, self.config.memory_mb, max_memory_used_mb(),
                        status="timeout" if timed_out else None)
        _log(f"END RequestId: {request_id}")
        _log(report.line())
        return Invocation(response, error or timed_out, report)


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """What Lambda returns when a handler raises."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def claim_stdout() -> TextIO:
    """Keep the real stdout for the tool's own output; send all else written to fd 1 to stderr.

    Lambda sends a function's stdout to its logs, never into the response. Redirecting at the
    file-descriptor level keeps the function's prints, Powertools' JSON logs and EMF metrics,
    and TensorFlow's C++ messages out of what the tool prints (responses, the server's URL).
    """
    sys.stdout.flush()
    tool_output = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return tool_output


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

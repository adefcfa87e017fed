"""checkov (IaC security scan) finds nothing in template.yaml that is not skipped with a reason.

checkov runs from its own venv (.venv-checkov, `make checkov`): its pins clash with both the
runtime's and aws-sam-cli's. One scan (~4 s) covers template.yaml as it is, and the same template
with its `Metadata: checkov: skip:` entries removed, which must fail exactly the skipped checks:
so the scan sees the resources, and the skips are the only thing keeping it clean. checkov
evaluates Conditions with the parameters' defaults, so it sees one inference function (the
ModelRuntime default's): both files are scanned a second time with ModelRuntime defaulting to
LiteRT, to see the zip functions, and a third time with the bulk SQS path on (BulkOnArrival).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from infra.lambda_runtime import ROOT, load_template

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
#: Each skip is justified in template.yaml, where it is made; a new one must be added here too.
#: Skipped on each function of a ModelRuntime (the HTTP one and the batch one):
FUNCTION_SKIPS = {
    "CKV_AWS_116",  # no DLQ: synchronous only, or the engines keep failures
    "CKV_AWS_117",  # no VPC: nothing private
    "CKV_AWS_173",  # no secrets in env
}
#: Each ModelRuntime's functions.
RUNTIME_FUNCTIONS = {"TensorFlow": ("InferenceFunction", "BatchFunction"),
                     "LiteRT": ("LiteInferenceFunction", "LiteBatchFunction")}
#: And on the rest:
COMMON_SKIPS = {
    ("CKV_AWS_158", "AWS::Logs::LogGroup.FunctionLogGroup"),  # service-encrypted logs
    ("CKV_AWS_158", "AWS::Logs::LogGroup.ApiAccessLogGroup"),
    ("CKV_AWS_158", "AWS::Logs::LogGroup.PreTrafficHookLogGroup"),
    ("CKV_AWS_158", "AWS::Logs::LogGroup.BatchLogGroup"),
    ("CKV_AWS_158", "AWS::Logs::LogGroup.StateMachineLogGroup"),
    # The PreTraffic hook: run by CodeDeploy once per deployment, it reads nothing private.
    ("CKV_AWS_115", "AWS::Lambda::Function.PreTrafficHook"),  # no reservation for it
    ("CKV_AWS_116", "AWS::Lambda::Function.PreTrafficHook"),  # reports to CodeDeploy, no DLQ
    ("CKV_AWS_117", "AWS::Lambda::Function.PreTrafficHook"),  # no VPC
    ("CKV_AWS_173", "AWS::Lambda::Function.PreTrafficHook"),  # a version ARN, no secrets
    # The bulk buckets the stack creates: no access-log bucket, no versioning of rewritten records.
    ("CKV_AWS_18", "AWS::S3::Bucket.BulkInputBucketResource"),
    ("CKV_AWS_21", "AWS::S3::Bucket.BulkInputBucketResource"),
    ("CKV_AWS_18", "AWS::S3::Bucket.BulkOutputBucketResource"),
    ("CKV_AWS_21", "AWS::S3::Bucket.BulkOutputBucketResource"),
}
#: With the SQS path (BulkOnArrival=Enabled): SSE-SQS, which the check does not read.
QUEUE_SKIPS = {
    ("CKV_AWS_27", "AWS::SQS::Queue.BulkQueue"),
    ("CKV_AWS_27", "AWS::SQS::Queue.BulkDeadLetterQueue"),
}
#: The scanned files: {file name: (ModelRuntime's default, BulkOnArrival's, skips kept)}.
VARIANTS = {
    "template.yaml": ("TensorFlow", "Disabled", True),
    "unskipped.json": ("TensorFlow", "Disabled", False),
    "litert.json": ("LiteRT", "Disabled", True),
    "litert-unskipped.json": ("LiteRT", "Disabled", False),
    "queue.json": ("LiteRT", "Enabled", True),
    "queue-unskipped.json": ("LiteRT", "Enabled", False),
}
#: Checks that the template passes by design (reserved concurrency, access logs, SourceArn...).
MUST_PASS = {"CKV_AWS_115", "CKV_AWS_95", "CKV_AWS_364", "CKV_AWS_66", "CKV_AWS_45"}
#: ... and in the bulk resources (S3 public access blocked, encrypted by default).
BULK_MUST_PASS = {"CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV_AWS_19"}


def skipped(runtime: str, queue: str) -> set[tuple[str, str]]:
    """What the template skips, with `runtime`'s functions deployed, and the queue or not."""
    functions = {(check, f"AWS::Serverless::Function.{function}")
                 for check in FUNCTION_SKIPS for function in RUNTIME_FUNCTIONS[runtime]}
    return COMMON_SKIPS | functions | (QUEUE_SKIPS if queue == "Enabled" else set())


def _checks(results: dict[str, Any], kind: str, file: str) -> set[tuple[str, str]]:
    return {
        (check["check_id"], check["resource"]) for check in results[kind]
        if check["file_path"].endswith("/" + file)
    }


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov`")
    folder = tmp_path_factory.mktemp("checkov")
    files = [ROOT / "template.yaml"]
    for name, (runtime, queue, keep_skips) in VARIANTS.items():
        if name == "template.yaml":
            continue
        variant = load_template()
        variant["Parameters"]["ModelRuntime"]["Default"] = runtime
        variant["Parameters"]["BulkOnArrival"]["Default"] = queue
        if not keep_skips:
            for resource in variant["Resources"].values():
                resource.get("Metadata", {}).pop("checkov", None)
        files.append(folder / name)
        files[-1].write_text(json.dumps(variant))
    proc = subprocess.run(
        # --skip-download: no Prisma Cloud guideline lookup (no network needed).
        [CHECKOV, "--skip-download", "--output", "json", *(a for f in files for a in ("-f", f))],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HOME": str(folder)},
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: the variant fails, as it must
    report = json.loads(proc.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["results"]["parsing_errors"]
    return report["results"]


@pytest.mark.slow
@pytest.mark.parametrize("file", ["template.yaml", "litert.json", "queue.json"])
def test_template_passes_checkov_except_justified_skips(scan: dict[str, Any], file: str) -> None:
    runtime, queue, _ = VARIANTS[file]
    assert _checks(scan, "failed_checks", file) == set()
    assert _checks(scan, "skipped_checks", file) == skipped(runtime, queue)
    for check in scan["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment") or "") > 20, check["check_id"]
    passed = _checks(scan, "passed_checks", file)
    assert MUST_PASS | BULK_MUST_PASS <= {check_id for check_id, _ in passed}
    for function in RUNTIME_FUNCTIONS[runtime]:  # both reserved
        assert ("CKV_AWS_115", f"AWS::Serverless::Function.{function}") in passed


@pytest.mark.slow
@pytest.mark.parametrize("file", ["unskipped.json", "litert-unskipped.json",
                                  "queue-unskipped.json"])
def test_without_its_skips_the_template_fails_exactly_those_checks(
    scan: dict[str, Any], file: str
) -> None:
    runtime, queue, _ = VARIANTS[file]
    assert _checks(scan, "failed_checks", file) == skipped(runtime, queue)

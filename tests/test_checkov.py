"""checkov (IaC security scan) finds nothing in template.yaml that is not skipped with a reason.

checkov runs from its own venv (.venv-checkov, `make checkov`): its pins clash with both the
runtime's and aws-sam-cli's. One scan (~4 s) covers two files: template.yaml as it is, and the
same template with its `Metadata: checkov: skip:` entries removed, which must fail exactly the
skipped checks: so the scan sees the resources, and the skips are the only thing keeping it clean.
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
SKIPPED = {
    ("CKV_AWS_116", "AWS::Serverless::Function.InferenceFunction"),  # no DLQ: synchronous only
    ("CKV_AWS_117", "AWS::Serverless::Function.InferenceFunction"),  # no VPC: nothing private
    ("CKV_AWS_173", "AWS::Serverless::Function.InferenceFunction"),  # no secrets in env
    ("CKV_AWS_158", "AWS::Logs::LogGroup.FunctionLogGroup"),  # service-encrypted logs
    ("CKV_AWS_158", "AWS::Logs::LogGroup.ApiAccessLogGroup"),
    ("CKV_AWS_158", "AWS::Logs::LogGroup.PreTrafficHookLogGroup"),
    # The PreTraffic hook: run by CodeDeploy once per deployment, it reads nothing private.
    ("CKV_AWS_115", "AWS::Lambda::Function.PreTrafficHook"),  # no reservation for it
    ("CKV_AWS_116", "AWS::Lambda::Function.PreTrafficHook"),  # reports to CodeDeploy, no DLQ
    ("CKV_AWS_117", "AWS::Lambda::Function.PreTrafficHook"),  # no VPC
    ("CKV_AWS_173", "AWS::Lambda::Function.PreTrafficHook"),  # a version ARN, no secrets
}
#: Checks that the template passes by design (reserved concurrency, access logs, SourceArn...).
MUST_PASS = {"CKV_AWS_115", "CKV_AWS_95", "CKV_AWS_364", "CKV_AWS_66", "CKV_AWS_45"}


def _checks(results: dict[str, Any], kind: str, file: str) -> set[tuple[str, str]]:
    return {
        (check["check_id"], check["resource"]) for check in results[kind]
        if check["file_path"].endswith(file)
    }


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov`")
    unskipped = load_template()
    for resource in unskipped["Resources"].values():
        resource.get("Metadata", {}).pop("checkov", None)
    variant = tmp_path_factory.mktemp("checkov") / "unskipped.json"
    variant.write_text(json.dumps(unskipped))
    proc = subprocess.run(
        # --skip-download: no Prisma Cloud guideline lookup (no network needed).
        [CHECKOV, "--skip-download", "--output", "json", "-f", "template.yaml", "-f", str(variant)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HOME": str(variant.parent)},
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: the variant fails, as it must
    report = json.loads(proc.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["results"]["parsing_errors"]
    return report["results"]


@pytest.mark.slow
def test_template_passes_checkov_except_justified_skips(scan: dict[str, Any]) -> None:
    assert _checks(scan, "failed_checks", "/template.yaml") == set()
    assert _checks(scan, "skipped_checks", "/template.yaml") == SKIPPED
    for check in scan["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment") or "") > 20, check["check_id"]
    assert MUST_PASS <= {check_id for check_id, _ in _checks(scan, "passed_checks", "template.yaml")}


@pytest.mark.slow
def test_without_its_skips_the_template_fails_exactly_those_checks(
    scan: dict[str, Any],
) -> None:
    assert _checks(scan, "failed_checks", "unskipped.json") == SKIPPED

"""template.yaml as CloudFormation, the way the SAM transform renders it for given parameter values.

    .venv-tools/bin/python -m infra.sam_translate ApiAuth=JWT Tracing=Active

`sam validate --lint` checks the template but renders nothing; this runs the same translator
(samtranslator, installed with aws-sam-cli in .venv-tools) offline, so the tests can look at what
CloudFormation would receive in each mode. Run it with the tools venv's Python: samtranslator is
not in the runtime venv. The image URI, the zip's and the state machine definition's S3 URIs are
placeholders for what `sam build` and `sam package` put in place of the template's (the image's is an intrinsic that only stands in
when the image is not built; the zip's is a local folder).

With no arguments on the command line it reads a JSON list of parameter mappings on stdin and
prints a JSON list of rendered templates (one process for many renders: the tests use this).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
PLACEHOLDER_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tf-lambda-serving:latest"
PLACEHOLDER_ZIP = "s3://aws-sam-cli-managed-default-bucket/tf-lambda-serving/0123abcd"
PLACEHOLDER_DEFINITION = "s3://aws-sam-cli-managed-default-bucket/tf-lambda-serving/4567ef01"


class _NoManagedPolicies:
    """The translator asks for AWS managed policy names only for `Policies: [Name]` entries."""

    def load(self) -> dict[str, str]:
        return {}


def render(parameters: dict[str, Any], template_path: Path = TEMPLATE) -> dict[str, Any]:
    """The CloudFormation template SAM makes of template.yaml with these parameter values."""
    template = yaml_parse(template_path.read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if properties.get("PackageType") == "Image":
            properties["ImageUri"] = PLACEHOLDER_IMAGE
        elif "CodeUri" in properties:
            properties["CodeUri"] = PLACEHOLDER_ZIP
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = PLACEHOLDER_DEFINITION
    return transform(template, parameters, _NoManagedPolicies())


def main(argv: list[str]) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # pseudo-parameters need a region
    if argv:
        print(json.dumps(render(dict(arg.split("=", 1) for arg in argv)), indent=2))
        return
    print(json.dumps([render(parameters) for parameters in json.load(sys.stdin)]))


if __name__ == "__main__":
    main(sys.argv[1:])

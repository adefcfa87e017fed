"""The Distributed Map state machine's definition (infra/statemachine/classify_bucket.asl.json)
passes a real Amazon States Language validator: asl-validator from npm, locked by
package-lock.json and installed by `make node` (which `make test` runs). No Step Functions Local
exists offline; tests/test_batch*.py run the batch function on the events this map sends.

The file is checked as it is (placeholders and all: they sit in strings) and as CloudFormation
hands it to Step Functions, with template.yaml's substitutions made for the defaults.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from infra.lambda_runtime import ROOT, load_template

VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
DEFINITION = ROOT / "infra" / "statemachine" / "classify_bucket.asl.json"
#: what CloudFormation would substitute for the template's defaults (an account's values)
SUBSTITUTED = {
    "BatchFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:tf-lambda-serving-"
                        "BatchFunction-AbCdEf123456:live",
    "InputBucket": "bulk-input-1c2fa620-982a-11e3-aff7-50e2416294e0",
    "OutputBucket": "tf-lambda-serving-bulkoutputbucketresource-1a2b3c4d5e6f",
}


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not VALIDATOR.exists():
        pytest.fail(f"{VALIDATOR} is missing: run `make node`")
    return subprocess.run([VALIDATOR, "--json-path", str(path)], capture_output=True, text=True)


def substituted() -> str:
    """The definition with the defaults' values in place of every ${...}."""
    parameters = load_template()["Parameters"]
    names = {"InputPrefix": "BulkInputPrefix", "OutputPrefix": "BulkOutputPrefix",
             "MaxConcurrency": "BulkMaxConcurrency", "BatchSize": "BulkBatchSize",
             "ToleratedFailurePercentage": "BulkToleratedFailurePercentage"}
    values = {**{key: str(parameters[name]["Default"]) for key, name in names.items()},
              **SUBSTITUTED}
    text = DEFINITION.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(values)
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


@pytest.mark.slow
def test_the_definition_passes_asl_validator(tmp_path: Path) -> None:
    proc = validate(DEFINITION)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deployed = tmp_path / "deployed.asl.json"
    deployed.write_text(substituted())
    proc = validate(deployed)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is valid" in proc.stdout


@pytest.mark.slow
def test_the_validator_refuses_a_broken_definition(tmp_path: Path) -> None:
    """The check has teeth: a Map without its ItemProcessor, a Retry without ErrorEquals."""
    definition = json.loads(substituted())
    mapped = definition["States"]["ClassifyObjects"]
    for broken in ({k: v for k, v in mapped.items() if k != "ItemProcessor"},
                   {**mapped, "MaxConcurrencyPath": 10}):
        path = tmp_path / "broken.json"
        path.write_text(json.dumps({**definition, "States": {**definition["States"],
                                                              "ClassifyObjects": broken}}))
        proc = validate(path)
        assert proc.returncode != 0, broken.keys()


def test_the_numbers_reach_the_map_as_numbers() -> None:
    """DefinitionSubstitutions are text: the Pass state turns them into JSON numbers, which the
    map reads by path."""
    states = json.loads(substituted())["States"]
    configure = states["Configure"]["Parameters"]
    assert configure == {
        "MaxConcurrency.$": "States.StringToJson('10')",
        "ToleratedFailurePercentage.$": "States.StringToJson('5')",
        "BatchSize.$": "States.StringToJson('32')",
    }
    mapped = states["ClassifyObjects"]
    assert (mapped["MaxConcurrencyPath"], mapped["ToleratedFailurePercentagePath"],
            mapped["ItemBatcher"]["MaxItemsPerBatchPath"]) == (
        "$.MaxConcurrency", "$.ToleratedFailurePercentage", "$.BatchSize")
    assert mapped["ItemBatcher"]["BatchInput"] == {
        "InputBucket": SUBSTITUTED["InputBucket"], "InputPrefix": "incoming/",
        "OutputBucket": SUBSTITUTED["OutputBucket"], "OutputPrefix": "records/"}
    assert mapped["ResultWriter"]["Parameters"]["Prefix"] == "records/map-runs"
    # The batch function reads what the map sends (events/bulk/ holds such a batch).
    from events.bulk import distributed_map

    assert set(distributed_map()["BatchInput"]) == set(mapped["ItemBatcher"]["BatchInput"])

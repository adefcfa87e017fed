"""The OpenAPI schema says what the function really accepts: schemathesis (`st run`, every
check) against the local API finds no 5xx and no schema-valid request refused, but for the
refusals tests/schemathesis.toml declares per operation (what no schema can say: bytes that are
not an image, Open Inference `data` that does not fill its `shape`, ...).

Served: the demo classifier (an image input) and a tensor model of several named inputs and
outputs (float, int, bool). `st run` runs in a subprocess, deterministic (the same requests every
run) and bounded by the configuration's max-examples.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from handler.adapter import lambda_handler as make_handler
from handler.api import create_app
from handler.config import Settings
from handler.loader import load_model
from infra.local_api import serve
from tests.tensor_models import multi_io

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "schemathesis.toml"
TF_SERVING_PREDICT = r":predict$"
NAMED_PREDICT = r"^/models/.*/predict$"


def fuzz(url: str, tmp_path: Path, *args: str) -> str:
    """`st run` against `url`'s schema with every check (positive_data_acceptance as the
    configuration's `accepted_or_declared`); fail with its report unless it passes."""
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
        f"{url}/openapi.json", "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--workers", "1", "--no-color", *args,
    ]
    env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "hypothesis")}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    # a failing request's body can be megabytes (curl lines): cut every line
    report = "\n".join(line[:500] for line in (proc.stdout + proc.stderr).splitlines()[-400:])
    assert proc.returncode == 0, report
    assert " passed" in report and "Tested:" in report, report
    return report


@pytest.fixture(scope="module")
def tensor_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local API serving `multi_io`: float32 features [?, 3], int32 ids [?, ?] and bool flag
    [?] in; float32 total, int64 doubled and float32 scores out."""
    folder = multi_io(tmp_path_factory.mktemp("multi"))
    settings = Settings.from_env({"MODEL_DIR": str(folder), "MODEL_RUNTIME": "tensorflow"})
    with serve(make_handler(create_app(load_model(settings)))) as url:
        yield url


def test_tensor_model(tensor_api_url: str, tmp_path: Path) -> None:
    fuzz(tensor_api_url, tmp_path)


def test_demo_classifier(local_api_url: str, tmp_path: Path) -> None:
    """Every operation but TF Serving predict (below) and the native API's named and pinned
    forms of POST /predict (`/models/{name}/...`: the same endpoint, fuzzed here as /predict and
    on the tensor model in every form)."""
    fuzz(local_api_url, tmp_path, "--exclude-path-regex", f"{TF_SERVING_PREDICT}|{NAMED_PREDICT}")


def test_demo_classifier_tf_serving_predict(local_api_url: str, tmp_path: Path) -> None:
    """TF Serving predict without the coverage and stateful phases: for the demo's 256x256x1
    image input they build the numeric form's bodies (65,536 numbers a row, 32 rows at the
    batch limit) for minutes of schemathesis's own time. Fuzzing still sends both forms (images
    and numbers); the tensor model's run covers TF Serving with every phase."""
    fuzz(local_api_url, tmp_path, "--include-path-regex", TF_SERVING_PREDICT,
         "--phases", "examples,fuzzing")

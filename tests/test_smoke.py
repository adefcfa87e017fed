"""infra.smoke, the post-deploy smoke test, run as a user runs it against the local API: passing
on the demo model, failing (non-zero, one FAIL line per broken check) when nothing listens or the
model served cannot tell a kitten from a dog."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def smoke(*args: str) -> tuple[int, list[str]]:
    proc = subprocess.run([sys.executable, "-m", "infra.smoke", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stderr == "" or proc.returncode == 2, proc.stderr
    return proc.returncode, proc.stdout.splitlines()


def by_check(lines: list[str]) -> dict[str, str]:
    """'PASS  predict cat  ...' -> {'predict cat': 'PASS  predict cat  ...'}"""
    return {line[6:23].strip(): line for line in lines if line[:4] in ("PASS", "FAIL")}


def test_passes_against_the_demo_model(local_api_url: str):
    code, lines = smoke(local_api_url)
    checks = by_check(lines)
    assert code == 0, lines
    assert list(checks) == ["health", "models", "tf-serving", "predict cat", "predict dog"]
    assert all(line.startswith("PASS") for line in checks.values()), lines
    assert "labels cat, dog" in checks["models"]
    assert "test1.jpeg -> cat" in checks["predict cat"]
    assert "test2.jpeg -> dog" in checks["predict dog"]
    assert lines[-1] == f"smoke test passed: 5 checks against {local_api_url}"


def test_fails_when_nothing_listens():
    with socket.socket() as sock:  # a port that was free a moment ago, and now closed
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    code, lines = smoke(url, "--timeout", "5")
    assert code == 1
    checks = by_check(lines)
    assert len(checks) == 5 and all(line.startswith("FAIL") for line in checks.values()), lines
    assert f"cannot reach {url}/health" in checks["health"]
    assert lines[-1] == f"smoke test FAILED: 5 of 5 checks failed against {url}"


def test_fails_when_the_model_gets_the_photos_wrong(seed_handler):
    """The seed model serves fine but answers 'horizontal'/'vertical': the photo checks fail."""
    from infra.local_api import serve

    with serve(seed_handler) as url:
        code, lines = smoke(url)
    checks = by_check(lines)
    assert code == 1, lines
    assert [checks[c][:4] for c in ("health", "models", "tf-serving")] == ["PASS"] * 3
    assert checks["predict cat"].startswith("FAIL"), lines
    assert re.search(r"expected cat, got (horizontal|vertical) \(0\.\d\d\); 'cat' is not one of "
                     r"its labels", checks["predict cat"]), checks["predict cat"]
    assert lines[-1].startswith("smoke test FAILED: 2 of 5")


def test_bad_arguments_exit_2():
    assert smoke("ftp://example.com")[0] == 2
    assert smoke("http://127.0.0.1:9", "--expect", "nosuchphoto=cat")[0] == 2


def test_sigv4_signs_for_the_api_region(monkeypatch):
    """--sigv4 (ApiAuth=IAM): execute-api SigV4, region taken from the API's host name."""
    from infra.smoke import sigv4_signer

    for key, value in {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    url = "https://abc123.execute-api.eu-west-3.amazonaws.com/health"
    headers = sigv4_signer(url)("GET", url, None, {"Accept": "application/json"})
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"
    ) and "/eu-west-3/execute-api/aws4_request" in headers["Authorization"]
    assert headers["Accept"] == "application/json" and "X-Amz-Date" in headers


def test_checks_every_model_of_a_repository(tmp_path):
    """A repository's function: every served model's signature and TF Serving status."""
    from handler.adapter import lambda_handler
    from handler.api import create_app
    from handler.catalog import Catalog, Loaded, ServedModel, ServedVersion
    from handler.config import Settings
    from handler.loader import load_model
    from infra.local_api import serve
    from infra.smoke import Api, run
    from tests.tensor_models import multi_io, strings

    models = {}
    for make in (multi_io, strings):
        model = load_model(Settings.from_env({"MODEL_DIR": str(make(tmp_path / make.__name__))}))
        version = ServedVersion(model.name, 1, "1", model.manifest, Loaded(model))
        models[model.name] = ServedModel(model.name, {1: version})
    catalog = Catalog(models, None, "0" * 64, model.limits, repository=True)
    lines: list[str] = []
    with serve(lambda_handler(create_app(catalog))) as url:
        assert run(Api(url), [], lines.append)
    checks = by_check(lines)
    assert all(line.startswith("PASS") for line in checks.values()), lines
    assert "multi" in checks["models"] and "inputs text, outputs echo" in checks["models"]
    assert "multi AVAILABLE, strings AVAILABLE" in checks["tf-serving"]

"""`python -m infra.batch SRC DST`: the batch function's job on one machine, on a folder (in a
fresh process, as a user runs it, Ctrl-C included) and on S3 (moto, in this process), resuming
where it or the engines stopped, with exit status 0, 1 or 2.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handler import s3 as s3_module
from infra import batch
from infra.lambda_runtime import ROOT
from tests.bulk_helpers import (
    INPUT_BUCKET, INPUT_PREFIX, OUTPUT_BUCKET, OUTPUT_PREFIX, bad_objects, batch_entry, by_input,
    fail_calls, invoke, listed, map_batch, photo_objects, stored_records, upload,
)
from tests.test_batch import slow_down


@pytest.fixture(autouse=True)
def restore_environment() -> Iterator[None]:
    """The tool sets the batch function's environment (as Lambda would) in this process: undo."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def run_cli(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra.batch", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=300)


@pytest.fixture(scope="module")
def cli_env(demo_model_dir: Path) -> dict[str, str]:
    """The demo model on LiteRT (a 0.5 s cold start) with the tests' small MAX_OBJECT_BYTES."""
    return {"MODEL_DIR": str(demo_model_dir), "MODEL_RUNTIME": "litert",
            "MAX_OBJECT_BYTES": "1000000"}


@pytest.fixture(scope="module")
def inputs(photos: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    """{key: (bytes, the record's label or error code)}: photos in many encodings, bad files."""
    return {**photo_objects(photos), **bad_objects(photos)}


def write_folder(root: Path, objects: dict[str, tuple[bytes, str]]) -> Path:
    for key, (body, _) in objects.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return root


def folder_records(root: Path) -> dict[str, dict[str, Any]]:
    import json

    found = {}
    for path in root.rglob("*.jsonl"):
        (line,) = path.read_text().splitlines()
        found[str(path.relative_to(root))] = json.loads(line)
    return found


def outcome(record: dict[str, Any]) -> str:
    return record["answer"]["label"] if record["status"] == "ok" else record["error"]["code"]


def summary_count(stdout: str, what: str) -> int:
    return int(re.search(rf"{what}: (\d+)", stdout).group(1))


@pytest.mark.slow
def test_a_folder_into_a_folder_then_resumed_then_forced(tmp_path, inputs, cli_env) -> None:
    src, dst = write_folder(tmp_path / "src", inputs), tmp_path / "dst"
    first = run_cli(src, dst, "--batch-size", "3", "--concurrency", "2", env=cli_env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "obj/s" in first.stderr  # the progress bar
    records = folder_records(dst)
    assert {r["key"]: outcome(r) for r in records.values()} == {
        key: expected for key, (_, expected) in inputs.items()}
    assert all(r["bucket"] is None and len(r["etag"]) == 32 for r in records.values())
    assert re.search(r"objects: (\d+) of \1 in [\d.]+ s, [\d.]+ objects/s", first.stdout)
    assert "errors (" in first.stdout and "not_an_image 1" in first.stdout
    # Resumed: every input already has its record for this model version.
    again = run_cli(src, dst, "--batch-size", "7", env=cli_env)
    assert again.returncode == 0
    assert summary_count(again.stdout, "skipped") == len(inputs)
    assert folder_records(dst) == records
    # --force classifies them again, into the same record files.
    forced = run_cli(src, dst, "--force", env=cli_env)
    assert forced.returncode == 0 and summary_count(forced.stdout, "skipped") == 0
    assert folder_records(dst).keys() == records.keys()


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_a_rerun_completes(tmp_path, photos, cli_env) -> None:
    """SIGINT mid-job: exit 1, whole records only; the rerun skips them and does the rest, so
    every input ends with exactly one record."""
    dog = photos["dog"].read_bytes()
    count = 300
    src = write_folder(tmp_path / "src", {
        f"{i:03d}.jpeg": (dog + i.to_bytes(2, "big"), "dog") for i in range(count)})  # distinct
    dst = tmp_path / "dst"
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.batch", str(src), str(dst), "-k", "1", "-n", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **cli_env},
    )
    deadline = time.monotonic() + 120
    while len(list(dst.rglob("*.jsonl"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr[-2000:]
    assert "interrupted" in stderr
    done = folder_records(dst)
    assert 5 <= len(done) < count, "the job ended before the interruption: make it longer"
    assert not [p for p in dst.rglob("*") if p.is_file() and p.suffix != ".jsonl"]  # no partials
    rerun = run_cli(src, dst, "-k", "8", env=cli_env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert summary_count(rerun.stdout, "skipped") == len(done)
    assert len(by_input(folder_records(dst))) == count


@pytest.mark.parametrize("args", [
    ["{src}", "{src}/records"],  # DST inside SRC
    ["{src}/missing", "{dst}"],
    ["s3:/no-bucket", "{dst}"],
    ["{src}", "{dst}", "--batch-size", "0"],
    ["{src}"],
])
def test_bad_arguments_exit_2(tmp_path, args) -> None:
    (tmp_path / "src").mkdir()
    argv = [a.format(src=tmp_path / "src", dst=tmp_path / "dst") for a in args]
    with pytest.raises(SystemExit) as exited:
        sys.exit(batch.main(argv))
    assert exited.value.code == 2


# --- on S3 (moto, in this process) -------------------------------------------------------------

@pytest.fixture
def s3_env(demo_model_dir: Path) -> Iterator[Any]:
    """moto's S3 with the inputs' buckets, the demo model to serve."""
    os.environ.update({"MODEL_DIR": str(demo_model_dir), "MAX_OBJECT_BYTES": "1000000",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
            client.create_bucket(Bucket=bucket)
        yield client


SRC = f"s3://{INPUT_BUCKET}/{INPUT_PREFIX}"
DST = f"s3://{OUTPUT_BUCKET}/{OUTPUT_PREFIX}"


@pytest.mark.slow
def test_s3_to_s3_finishes_what_the_engines_started(s3_env, inputs, demo_model_dir,
                                                    capsys) -> None:
    """The batch function classified the first batch (a Distributed Map child); the tool then
    skips exactly those, by the same record keys, and does the rest."""
    upload(s3_env, {key: body for key, (body, _) in inputs.items()})
    items = listed(s3_env)
    with batch_entry(MODEL_DIR=str(demo_model_dir), MAX_OBJECT_BYTES="1000000") as entry:
        invoke(entry, map_batch(items[:4]))
    assert batch.main([SRC, DST, "-k", "5"]) == 0
    out = capsys.readouterr().out
    assert summary_count(out, "skipped") == 4
    records = by_input(stored_records(s3_env))
    assert {key.removeprefix(INPUT_PREFIX): outcome(r) for key, r in records.items()} == {
        key: expected for key, (_, expected) in inputs.items()}
    assert all(r["bucket"] == INPUT_BUCKET for r in records.values())


@pytest.mark.slow
def test_s3_transient_failures_exit_1_and_a_rerun_completes(s3_env, inputs, monkeypatch,
                                                            capsys) -> None:
    upload(s3_env, {key: body for key, (body, _) in inputs.items()})
    throttled = {INPUT_PREFIX + "dog.jpeg"}
    real_client = s3_module.client

    def flaky_client() -> Any:
        client = real_client()
        fail_calls(client, "GetObject", throttled, slow_down)
        return client

    monkeypatch.setattr(s3_module, "client", flaky_client)
    assert batch.main([SRC, DST]) == 1
    assert "not done: 1 (SlowDown 1)" in capsys.readouterr().out
    monkeypatch.setattr(s3_module, "client", real_client)
    assert batch.main([SRC, DST]) == 0
    assert len(by_input(stored_records(s3_env))) == len(inputs)


@pytest.mark.slow
def test_local_invoke_runs_the_batch_functions_entry(tmp_path, cli_env) -> None:
    """`python -m infra.invoke --function LiteBatchFunction` (the `sam local invoke` stand-in)
    takes the batch function's entry point, memory and timeout from template.yaml."""
    import json

    event = json.loads((ROOT / "events" / "bulk" / "sqs-s3-notifications.json").read_text())
    event["Records"] = event["Records"][:1]  # S3's test event: answered without S3
    path = tmp_path / "test-event.json"
    path.write_text(json.dumps(event))
    proc = subprocess.run(
        [sys.executable, "-m", "infra.invoke", str(path), "--function", "LiteBatchFunction",
         "--env", "OUTPUT_S3_URI=s3://tf-lambda-serving-output/records/",
         "--env", "AWS_DEFAULT_REGION=us-east-1"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, **cli_env}, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == {"batchItemFailures": []}
    assert "Memory Size: 1769 MB" in proc.stderr and "Init Duration" in proc.stderr

"""SnapStart's runtime hooks (handler/snapstart.py), run as the Lambda runtime client runs them:
awslambdaric's `on_init_complete` (before-snapshot hooks, `restore/next`, after-restore hooks) or
its hooks runner, in this process. A "restored copy" is simulated by putting the state back as
the snapshot held it and running the after-restore hooks again.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import weakref
from pathlib import Path

import numpy as np
import pytest
import snapshot_restore_py
from awslambdaric import bootstrap, lambda_runtime_hooks_runner
from moto import mock_aws

from handler import snapstart, source
from handler.adapter import lambda_handler
from handler.api import create_app
from handler.config import Settings
from handler.loader import load_catalog
from handler.observability import logger, metrics, MetricUnit
from tests.handler_events import http_v2, invoke

BUCKET = "models"


@pytest.fixture
def registry(monkeypatch):
    """Empty hook registries (the runner pops the before-snapshot one), then the hooks installed
    as handler.app installs them. Afterwards nothing stays frozen: the before-snapshot hook
    freezes whatever is alive, and the test process is no snapshot."""
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    snapstart.install()
    yield
    gc.unfreeze()


@pytest.fixture
def s3_env(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


def upload_repository(demo_model_dir: Path) -> str:
    """The demo bundle as version 1 of a one-model repository at s3://models/repo/; returns
    the pin (models.json's sha256)."""
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    digest = hashlib.sha256((demo_model_dir / "model.json").read_bytes()).hexdigest()
    config = json.dumps({"model_config_list": [
        {"name": "catsordogs", "versions": {"1": digest}}]}).encode()
    client.put_object(Bucket=BUCKET, Key="repo/models.json", Body=config)
    for name in ("model.json", "model.tflite"):
        client.upload_file(str(demo_model_dir / name), BUCKET, f"repo/catsordogs/1/{name}")
    client.close()
    return hashlib.sha256(config).hexdigest()


class FakeRuntimeClient:
    """What awslambdaric's on_init_complete calls on its Runtime API client."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def restore_next(self) -> None:
        self.calls.append("restore_next")

    def post_init_error(self, *args) -> None:
        self.calls.append("post_init_error")

    def report_restore_error(self, *args) -> None:
        self.calls.append("report_restore_error")


def test_hooks_run_through_the_runtime_clients_snapstart_flow(registry, monkeypatch):
    """on_init_complete runs our before-snapshot hook, asks for the restore, then our
    after-restore hook; an entry's own before hooks run before the module's."""
    order: list[str] = []
    monkeypatch.setattr(snapstart, "before_snapshot", lambda: order.append("before"))
    monkeypatch.setattr(snapstart, "after_restore", lambda: order.append("after"))
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    snapstart.install(before=[lambda: order.append("entry before")],
                      after=[lambda: order.append("entry after")])
    snapstart.install()  # twice (a second import): registered once
    client = FakeRuntimeClient()
    real_restore_next = client.restore_next
    client.restore_next = lambda: (order.append("restore_next"), real_restore_next())
    bootstrap.on_init_complete(client, log_sink=None)
    assert order == ["entry before", "before", "restore_next", "after", "entry after"]
    assert client.calls == ["restore_next"]


def test_no_s3_client_or_credentials_survive_into_the_snapshot(
    registry, s3_env, tmp_path, demo_model_dir, photos,
):
    """A lazy S3 repository keeps its source for loads on first use: before the snapshot its
    client (connection pool, credentials) and boto3's default session are gone, not merely
    unreferenced by us; after restore a load that must download makes a new client, and the
    model answers."""
    import boto3

    pin = upload_repository(demo_model_dir)
    cache = tmp_path / "cache"
    catalog = load_catalog(Settings.from_env({
        "MODEL_S3_URI": f"s3://{BUCKET}/repo", "MODEL_CACHE_DIR": str(cache),
        "MODEL_SHA256": pin, "MODEL_RUNTIME": "litert", "MODEL_LOAD": "lazy",
    }))
    [s3_source] = [s for s in source._S3_SOURCES if s.cache == cache]
    client = s3_source._client
    assert client is not None
    credentials = client._request_signer._credentials
    assert credentials is not None and boto3.DEFAULT_SESSION is not None
    # its connection pool (moto answers before any socket opens: its existence is what counts)
    pool = client._endpoint.http_session._manager
    refs = {"client": weakref.ref(client), "credentials": weakref.ref(credentials),
            "connection pool": weakref.ref(pool)}
    del client, credentials, pool

    lambda_runtime_hooks_runner.run_before_snapshot()

    gc.collect()
    assert s3_source._client is None
    assert [name for name, ref in refs.items() if ref() is not None] == []
    assert boto3.DEFAULT_SESSION is None

    lambda_runtime_hooks_runner.run_after_restore()
    # The version's model file went missing from /tmp after the snapshot: fetched anew.
    (cache / "catsordogs" / "1" / "model.tflite").unlink()
    handler = lambda_handler(create_app(catalog))
    event = http_v2("POST", "/predict", photos["dog"].read_bytes(), {"Content-Type": "image/jpeg"})
    assert invoke(handler, event).json()["predictions"][0]["label"] == "dog"
    assert s3_source._client is not None  # a new client, made on demand


def test_the_model_and_its_warm_up_stay_and_answer_the_same(registry, demo_model_dir, photos):
    settings = Settings.from_env({"MODEL_DIR": str(demo_model_dir), "MODEL_RUNTIME": "litert"})
    catalog = load_catalog(settings)
    model = catalog.only_model()
    handler = lambda_handler(create_app(catalog))
    event = http_v2("POST", "/predict", photos["dog"].read_bytes(), {"Content-Type": "image/jpeg"})
    before = invoke(handler, event).json()

    lambda_runtime_hooks_runner.run_before_snapshot()
    lambda_runtime_hooks_runner.run_after_restore()

    assert catalog.only_model() is model  # the same loaded runtime: nothing reloaded
    assert invoke(handler, event).json() == before


def draws() -> tuple[list[float], list[float]]:
    return [random.random() for _ in range(4)], list(np.random.random_sample(4))


def test_restored_copies_draw_different_random_numbers(registry):
    """Two copies restored from one snapshot start with the same generator states; after the
    after-restore hooks they draw different numbers. Without the hooks they draw the same (the
    control: the comparison can fail)."""
    random.seed(1234)
    np.random.seed(1234)
    snapshot = random.getstate(), np.random.get_state()

    def restored_copy(hooks: bool) -> tuple[list[float], list[float]]:
        random.setstate(snapshot[0])
        np.random.set_state(snapshot[1])
        if hooks:
            lambda_runtime_hooks_runner.run_after_restore()
        return draws()

    assert restored_copy(hooks=False) == restored_copy(hooks=False)
    first, second = restored_copy(hooks=True), restored_copy(hooks=True)
    assert first[0] != second[0]
    assert first[1] != second[1]


def test_log_sampling_is_decided_again_in_each_copy(registry, monkeypatch):
    """POWERTOOLS_LOGGER_SAMPLE_RATE: INIT decided whether this environment logs at DEBUG with
    the snapshot's random state; each restored copy decides again with its own."""
    calls = []
    monkeypatch.setattr(logger, "refresh_sample_rate_calculation", lambda: calls.append(1))
    lambda_runtime_hooks_runner.run_after_restore()
    assert calls == [1]


def test_metrics_recorded_at_init_are_flushed_once_before_the_snapshot(registry, capsys):
    metrics.add_metric("InitThing", MetricUnit.Count, 1)
    lambda_runtime_hooks_runner.run_before_snapshot()
    assert not metrics.metric_set
    emitted = [line for line in capsys.readouterr().out.splitlines() if "InitThing" in line]
    assert len(emitted) == 1


def test_each_restored_copys_first_invocation_is_a_cold_start(
    registry, demo_model_dir, monkeypatch,
):
    """The snapshot holds Powertools' cold-start flag set, even if something invoked the handler
    during INIT: a restored copy's first invocation is its cold start (it waited for the
    restore), its next is not."""
    from aws_lambda_powertools.logging import logger as logger_module

    seen: list[bool] = []
    is_cold_start = logger_module._is_cold_start
    monkeypatch.setattr(logger_module, "_is_cold_start",
                        lambda: seen.append(is_cold_start()) or seen[-1])
    settings = Settings.from_env({"MODEL_DIR": str(demo_model_dir), "MODEL_RUNTIME": "litert"})
    handler = lambda_handler(create_app(load_catalog(settings)))
    invoke(handler, http_v2("GET", "/health"))  # an invocation during INIT
    assert seen == [logger_module.is_cold_start is False and seen[0]]

    lambda_runtime_hooks_runner.run_before_snapshot()
    assert logger_module.is_cold_start is True
    lambda_runtime_hooks_runner.run_after_restore()
    seen.clear()
    invoke(handler, http_v2("GET", "/health"))
    invoke(handler, http_v2("GET", "/health"))
    assert seen == [True, False]


def test_the_batch_entrys_client_is_dropped_and_made_anew(registry, s3_env, demo_model_dir, photos):
    """handler.batch registers its own hooks: its S3 client (the job's source) is gone before
    the snapshot, a new one serves after the restore, and a batch is classified with it."""
    import boto3

    from tests.bulk_helpers import (
        INPUT_BUCKET, OUTPUT_BUCKET, batch_entry, listed, map_batch, stored_records, upload,
    )
    from tests.bulk_helpers import invoke as invoke_batch

    s3 = boto3.client("s3")
    for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    upload(s3, {"dog.jpeg": photos["dog"].read_bytes()})
    with batch_entry(MODEL_DIR=str(demo_model_dir), MODEL_RUNTIME="litert") as entry:
        old = weakref.ref(entry.client)
        lambda_runtime_hooks_runner.run_before_snapshot()
        gc.collect()
        assert entry.client is None and entry.job.source is None and old() is None
        lambda_runtime_hooks_runner.run_after_restore()
        assert entry.job.source.s3 is entry.client is not None
        invoke_batch(entry, map_batch(listed(s3)))
    [record] = stored_records(s3).values()
    assert record["answer"]["label"] == "dog", record

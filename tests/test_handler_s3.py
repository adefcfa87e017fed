"""The S3 model source (MODEL_S3_URI) against moto: download once to /tmp, verify, reuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from moto import mock_aws

from handler.adapter import lambda_handler
from handler.api import create_app
from handler.config import Settings
from handler.loader import load_model
from handler.manifest import ModelBundleError, load_manifest
from handler.source import resolve_model_dir
from tests.handler_events import http_v2, invoke

BUCKET, PREFIX = "models", "catsordogs/v1"
URI = f"s3://{BUCKET}/{PREFIX}"


@pytest.fixture
def s3(monkeypatch, demo_model_dir: Path):
    """A moto S3 holding the frozen demo bundle under s3://models/catsordogs/v1/."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        for name in ("model.json", "model.pb"):
            client.upload_file(str(demo_model_dir / name), BUCKET, f"{PREFIX}/{name}")
        yield client


def settings(uri: str, cache: Path, env: dict[str, str] | None = None) -> Settings:
    return Settings.from_env({"MODEL_S3_URI": uri, "MODEL_CACHE_DIR": str(cache), **(env or {})})


def test_model_from_s3_serves_and_is_cached(s3, tmp_path, demo_model_dir, photos):
    handler = lambda_handler(create_app(load_model(settings(URI, tmp_path))))
    event = http_v2("POST", "/predict", photos["dog"].read_bytes(), {"Content-Type": "image/jpeg"})
    assert invoke(handler, event).json()["predictions"][0]["label"] == "dog"
    assert (tmp_path / "model.pb").read_bytes() == (demo_model_dir / "model.pb").read_bytes()

    # A second cold start in the same sandbox (INIT retried): the verified graph is not fetched.
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/model.pb")
    assert resolve_model_dir(settings(URI, tmp_path)) == tmp_path


def test_tampered_graph_in_s3_is_refused(s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/model.pb", Body=b"not the frozen graph")
    with pytest.raises(ModelBundleError, match=r"model\.pb does not match its manifest"):
        load_model(settings(URI, tmp_path))


@pytest.mark.parametrize("uri,message", [
    (f"s3://{BUCKET}/nothing-here", rf"cannot download s3://{BUCKET}/nothing-here/model\.json"),
    ("s3://no-such-bucket/x", r"cannot download s3://no-such-bucket/x/model\.json"),
    ("https://example.com/model", r"not of the form s3://bucket/prefix"),
])
def test_missing_s3_bundle_names_what_and_where(s3, tmp_path, uri, message):
    with pytest.raises(ModelBundleError, match=message):
        load_model(settings(uri, tmp_path))


def test_pin_refuses_a_replaced_bundle_that_agrees_with_itself(
    s3, tmp_path, demo_model_dir, seed_model_dir
):
    """Whoever can write model.pb to the bucket can write model.json too: only MODEL_SHA256,
    set by the deployment, tells the graph it named from another consistent bundle."""
    pin = load_manifest(demo_model_dir).graph.sha256
    pinned = {"MODEL_SHA256": pin}
    assert load_model(settings(URI, tmp_path / "a", pinned)).version == pin[:12]

    for name in ("model.json", "model.pb"):  # the seed model, with its own honest manifest
        s3.upload_file(str(seed_model_dir / name), BUCKET, f"{PREFIX}/{name}")
    assert load_model(settings(URI, tmp_path / "b")).name == "seed"  # unpinned: served
    with pytest.raises(ModelBundleError, match=rf"is not the pinned MODEL_SHA256 {pin}"):
        load_model(settings(URI, tmp_path / "c", pinned))

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
from handler.source import read_bundle
from tests.handler_events import http_v2, invoke
from tests.test_trust import manifest_sha256, with_swapped_labels

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
        for name in ("model.json", "model.pb", "model.tflite"):
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
    _, graph = read_bundle(settings(URI, tmp_path))
    assert graph == (demo_model_dir / "model.pb").read_bytes()


def test_a_cached_graph_not_the_manifests_is_fetched_again(s3, tmp_path, demo_model_dir):
    """A copy in /tmp that fails its check (an INIT cut short mid-download) is replaced."""
    (tmp_path / "model.pb").write_bytes(b"half a graph")
    _, graph = read_bundle(settings(URI, tmp_path))
    assert graph == (demo_model_dir / "model.pb").read_bytes()
    assert (tmp_path / "model.pb").read_bytes() == graph


def test_litert_downloads_only_the_tflite(s3, tmp_path, demo_model_dir, photos):
    """MODEL_RUNTIME=litert: model.json and model.tflite come down, the 15 MB graph does not."""
    model = load_model(settings(URI, tmp_path, {"MODEL_RUNTIME": "litert"}))
    handler = lambda_handler(create_app(model))
    event = http_v2("POST", "/predict", photos["dog"].read_bytes(), {"Content-Type": "image/jpeg"})
    assert invoke(handler, event).json()["predictions"][0]["label"] == "dog"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.tflite"]


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
    set by the deployment, tells the bundle it named from another consistent bundle."""
    pin = manifest_sha256(demo_model_dir)
    pinned = {"MODEL_SHA256": pin}
    assert load_model(settings(URI, tmp_path / "a", pinned)).name == "catsordogs"

    for name in ("model.json", "model.pb"):  # the seed model, with its own honest manifest
        s3.upload_file(str(seed_model_dir / name), BUCKET, f"{PREFIX}/{name}")
    assert load_model(settings(URI, tmp_path / "b")).name == "seed"  # unpinned: served
    with pytest.raises(ModelBundleError, match=rf"is not the pinned MODEL_SHA256 {pin}"):
        load_model(settings(URI, tmp_path / "c", pinned))


def test_pin_refuses_swapped_labels_before_downloading_the_graph(
    s3, tmp_path, demo_model_dir
):
    """Labels swapped in the bucket's model.json, model.pb untouched: the pin (model.json's
    sha256) refuses it after one small download, before the graph is fetched."""
    pin = manifest_sha256(demo_model_dir)
    with_swapped_labels(demo_model_dir, tmp_path / "tampered")
    s3.upload_file(str(tmp_path / "tampered" / "model.json"), BUCKET, f"{PREFIX}/model.json")
    assert load_model(settings(URI, tmp_path / "a")).manifest.task.labels == ["dog", "cat"]  # unpinned

    cache = tmp_path / "b"
    with pytest.raises(ModelBundleError, match=rf"model\.json sha256 \w+ is not the pinned "
                                               rf"MODEL_SHA256 {pin}"):
        read_bundle(settings(URI, cache, {"MODEL_SHA256": pin}))
    assert sorted(p.name for p in cache.iterdir()) == ["model.json"]  # no graph fetched

    # The bundle it names, put back: the same pin loads it.
    s3.upload_file(str(demo_model_dir / "model.json"), BUCKET, f"{PREFIX}/model.json")
    model = load_model(settings(URI, cache, {"MODEL_SHA256": pin}))
    assert model.manifest.task.labels == ["cat", "dog"]


def test_pinned_bundle_reuses_the_cached_graph(s3, tmp_path, demo_model_dir):
    """An INIT retried in the same sandbox: model.json is fetched and checked again, the graph
    already in /tmp with the manifest's sha256 is not."""
    pinned = {"MODEL_SHA256": manifest_sha256(demo_model_dir)}
    load_model(settings(URI, tmp_path, pinned))
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/model.pb")
    assert load_model(settings(URI, tmp_path, pinned)).name == "catsordogs"


def test_manifest_cannot_name_a_graph_outside_the_cache(s3, tmp_path, demo_model_dir):
    manifest = load_manifest(demo_model_dir)
    graph = manifest.artifacts.graph.model_copy(update={"path": "../escaped.pb"})
    escaping = manifest.model_copy(update={
        "artifacts": manifest.artifacts.model_copy(update={"graph": graph})
    })
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/model.json", Body=escaping.model_dump_json())
    with pytest.raises(ModelBundleError, match=r"model path '\.\./escaped\.pb' is not a file name"):
        read_bundle(settings(URI, tmp_path / "cache"))
    assert not (tmp_path / "escaped.pb").exists()

"""The model bundle, read once at cold start from the local MODEL_DIR or from S3 (MODEL_S3_URI,
cached in /tmp), and checked once, in this order, before any runtime is imported:

1. model.json against the MODEL_SHA256 pin (handler/trust.py). From S3 it is the first download,
   so a bundle this deployment did not name costs one small file.
2. The manifest: it parses and validates, and names the file the runtime runs (model.pb for
   TensorFlow, model.tflite for LiteRT). From S3 that name must be a plain file name, since it
   becomes a path under /tmp.
3. That file's size and sha256 against the manifest. From S3 it is fetched only if the cache
   lacks a copy that passes this check (an INIT retried in the same sandbox).
4. For a TensorFlow graph, its ops (handler/trust.py).

The pin names model.json and model.json names the model file's sha256: so one pin covers labels,
preprocessing and model alike.
"""

from __future__ import annotations

from pathlib import Path

from handler import trust
from handler.config import Settings
from handler.manifest import (
    MANIFEST_NAME, Artifact, Manifest, ModelBundleError, load_manifest, read_verified,
)
from handler.runtime import artifact_for, check_model
from handler.storage import s3_location


def read_bundle(settings: Settings) -> tuple[Manifest, bytes]:
    """The manifest and the checked bytes of the model file `settings.runtime` runs."""
    if settings.model_s3_uri:
        manifest, data = download_from_s3(settings.model_s3_uri, settings)
    else:
        manifest, artifact = _checked_manifest(settings.model_dir, settings)
        data = read_verified(settings.model_dir, artifact)
    check_model(settings.runtime, data, manifest, settings.extra_allowed_ops)
    return manifest, data


def _checked_manifest(model_dir: Path, settings: Settings) -> tuple[Manifest, Artifact]:
    """`model_dir`'s manifest once model.json matches the pin, and its entry for the runtime's
    model file."""
    trust.check_pin(model_dir, settings.model_sha256)
    manifest = load_manifest(model_dir)
    return manifest, artifact_for(settings.runtime, manifest)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix without slashes at its ends)."""
    try:
        where = s3_location(uri)
    except ValueError as exc:
        raise ModelBundleError(f"MODEL_S3_URI={exc}") from None
    assert where.bucket is not None
    return where.bucket, where.prefix.rstrip("/")


def download_from_s3(uri: str, settings: Settings) -> tuple[Manifest, bytes]:
    """Fetch model.json and the runtime's model file from `uri` into MODEL_CACHE_DIR, checking
    each as it comes (steps 1-3 above); return the manifest and the model file's verified bytes."""
    import boto3  # only this configuration pays for boto3's import (0.3-0.8 s)
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_uri(uri)
    cache_dir = settings.model_cache_dir
    s3 = boto3.client("s3")
    cache_dir.mkdir(parents=True, exist_ok=True)

    def fetch(name: str) -> None:
        key = f"{prefix}/{name}" if prefix else name
        try:
            s3.download_file(bucket, key, str(cache_dir / name))
        except (BotoCoreError, ClientError) as exc:
            raise ModelBundleError(f"cannot download s3://{bucket}/{key}: {exc}") from None

    fetch(MANIFEST_NAME)
    manifest, artifact = _checked_manifest(cache_dir, settings)
    if Path(artifact.path).name != artifact.path:
        # The name becomes a path under /tmp: an unpinned manifest must not write elsewhere.
        raise ModelBundleError(f"the manifest's model path {artifact.path!r} is not a file name")
    try:  # a copy left by an INIT retried in this sandbox, if it passes
        return manifest, read_verified(cache_dir, artifact)
    except ModelBundleError:  # none, or not the manifest's: fetch it
        fetch(artifact.path)
    return manifest, read_verified(cache_dir, artifact)

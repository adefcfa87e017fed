"""Where the model bundle comes from: the local MODEL_DIR, or S3 (MODEL_S3_URI) cached in /tmp.

The S3 bundle is downloaded once per container, at cold start: model.json first, checked
against the MODEL_SHA256 pin before anything else is fetched (a bundle this deployment did not
name costs one small download), then the one model file the runtime runs (model.pb for
TensorFlow, model.tflite for LiteRT), unless the cache already holds a copy with the manifest's
sha256 (an INIT retried in the same sandbox).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from handler import trust
from handler.config import Settings
from handler.manifest import MANIFEST_NAME, ModelBundleError, load_manifest, sha256_file
from handler.runtime import TENSORFLOW, artifact_for


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix without slashes at its ends)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ModelBundleError(f"MODEL_S3_URI={uri!r} is not of the form s3://bucket/prefix")
    return parsed.netloc, parsed.path.strip("/")


def download_from_s3(
    uri: str, cache_dir: Path, pin: str | None = None, runtime: str = TENSORFLOW
) -> Path:
    """Fetch model.json, check it against `pin` (MODEL_SHA256), then fetch the model file
    `runtime` runs unless a copy with the manifest's sha256 is cached; return the folder."""
    import boto3  # only this configuration pays for boto3's import (0.3-0.8 s)
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_uri(uri)
    s3 = boto3.client("s3")
    cache_dir.mkdir(parents=True, exist_ok=True)

    def fetch(name: str) -> None:
        key = f"{prefix}/{name}" if prefix else name
        try:
            s3.download_file(bucket, key, str(cache_dir / name))
        except (BotoCoreError, ClientError) as exc:
            raise ModelBundleError(f"cannot download s3://{bucket}/{key}: {exc}") from None

    fetch(MANIFEST_NAME)
    trust.check_pin(cache_dir, pin)
    artifact = artifact_for(runtime, load_manifest(cache_dir))
    if Path(artifact.path).name != artifact.path:
        # The name becomes a path under /tmp: an unpinned manifest must not write elsewhere.
        raise ModelBundleError(f"the manifest's model path {artifact.path!r} is not a file name")
    cached = cache_dir / artifact.path
    if not (cached.is_file() and sha256_file(cached) == artifact.sha256):
        fetch(artifact.path)
    return cache_dir


def resolve_model_dir(settings: Settings) -> Path:
    """The local folder to load the bundle from, downloading it first if it lives in S3."""
    if settings.model_s3_uri:
        return download_from_s3(
            settings.model_s3_uri, settings.model_cache_dir, settings.model_sha256,
            settings.runtime,
        )
    return settings.model_dir

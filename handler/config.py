"""The function's configuration: environment variables, read once at cold start.

`handler.app` calls `Settings.from_env()` when it is imported (the Lambda INIT phase), so every
value is fixed for the container's life; `handler.observability` reads the service name and
namespace when it is imported. Nothing reads the environment per request. (No module-level
instance here: a test or tool that imports a handler module first would freeze a stale one.)

Model source
    MODEL_DIR          folder holding model.json + model.pb (default: `model/` beside `handler/`,
                       i.e. /var/task/model in the Lambda image).
    MODEL_S3_URI       s3://bucket/prefix: download model.json + model.pb from there at cold start
                       instead (boto3 is imported only then); verified like a local bundle.
    MODEL_CACHE_DIR    where the S3 download goes (default /tmp/model; /tmp is Lambda's only
                       writable disk and lives as long as the container).

Limits (one place; every one answers 413 when exceeded)
    MAX_REQUEST_BYTES  decoded request body (default 6 MiB: Lambda's synchronous request bound).
    MAX_IMAGE_BYTES    one encoded image (default 4.4 MB: the largest image that fits a 6 MB
                       event once API Gateway base64-encodes it).
    MAX_IMAGE_PIXELS   width x height from the image header, checked before decoding (default
                       40 M; a decompression bomb is refused before any pixel is decoded).
    MAX_BATCH          images or tensor rows in one request (default 32).

Observability (read by Powertools for AWS Lambda itself)
    POWERTOOLS_SERVICE_NAME       service name in logs and metrics (default tf-lambda-serving).
    POWERTOOLS_METRICS_NAMESPACE  CloudWatch namespace of the EMF metrics (default TfLambdaServing).
    POWERTOOLS_LOG_LEVEL, LOG_LEVEL  log level (default INFO).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "model"
DEFAULT_SERVICE_NAME = "tf-lambda-serving"
DEFAULT_METRICS_NAMESPACE = "TfLambdaServing"


@dataclass(frozen=True)
class Limits:
    """Request limits; see the module docstring for what each one bounds and why."""

    max_request_bytes: int = 6 * 1024 * 1024
    max_image_bytes: int = 4_400_000
    max_image_pixels: int = 40_000_000
    max_batch: int = 32

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        defaults = cls()
        return cls(
            max_request_bytes=int(env.get("MAX_REQUEST_BYTES", defaults.max_request_bytes)),
            max_image_bytes=int(env.get("MAX_IMAGE_BYTES", defaults.max_image_bytes)),
            max_image_pixels=int(env.get("MAX_IMAGE_PIXELS", defaults.max_image_pixels)),
            max_batch=int(env.get("MAX_BATCH", defaults.max_batch)),
        )


@dataclass(frozen=True)
class Settings:
    """Everything the function reads from its environment."""

    model_dir: Path
    model_s3_uri: str | None
    model_cache_dir: Path
    service_name: str
    metrics_namespace: str
    limits: Limits

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            model_dir=Path(env.get("MODEL_DIR") or DEFAULT_MODEL_DIR),
            model_s3_uri=env.get("MODEL_S3_URI") or None,
            model_cache_dir=Path(env.get("MODEL_CACHE_DIR") or "/tmp/model"),
            service_name=env.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE,
            limits=Limits.from_env(env),
        )

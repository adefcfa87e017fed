"""The model source, read once at cold start from the local MODEL_DIR or from S3 (MODEL_S3_URI,
cached in /tmp): a single bundle, or a repository of bundles (handler/repository.py). Each
bundle is checked once, in this order, before any runtime is imported:

1. model.json against its pin: MODEL_SHA256 for a single bundle, the sha256 that models.json
   records for a repository's version (models.json itself against MODEL_SHA256 first). From S3
   it is the first download, so a bundle this deployment did not name costs one small file.
2. The manifest: it parses and validates, and names the file the runtime runs (model.pb for
   TensorFlow, model.tflite for LiteRT). From S3 that name must be a plain file name, since it
   becomes a path under /tmp.
3. That file's size and sha256 against the manifest. From S3 it is fetched only if the cache
   lacks a copy that passes this check (an INIT retried in the same sandbox).
4. For a TensorFlow graph, its ops (handler/trust.py).

The pin names model.json (or models.json, which names each model.json) and model.json names the
model file's sha256: so one pin covers labels, preprocessing and model alike.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from handler import trust
from handler.config import Settings
from handler.manifest import (
    MANIFEST_NAME, Manifest, ModelBundleError, load_manifest, read_verified, sha256_file,
)
from handler.repository import REPOSITORY_NAME, RepositoryConfig, layout, parse_repository
from handler.runtime import artifact_for, check_model
from handler.storage import s3_location


@dataclass(frozen=True)
class Bundle:
    """One bundle's place in the source: `sub` ('' for the source itself, else
    '<name>/<version>') and the sha256 its model.json must have (None: unpinned)."""

    sub: str = ""
    pin: str | None = None
    named_by: str = "MODEL_SHA256"


class Source(Protocol):
    """Where the bundles are: MODEL_DIR, or MODEL_S3_URI cached in MODEL_CACHE_DIR. One per
    cold start (an S3 source downloads each file once)."""

    def repository(self) -> RepositoryConfig | None:
        """The source's models.json (checked against MODEL_SHA256), or None for a single
        bundle."""
        ...

    def manifest(self, bundle: Bundle) -> tuple[Manifest, Path]:
        """A bundle's checked manifest and the folder its files are read from."""
        ...

    def model_file(self, bundle: Bundle, manifest: Manifest) -> bytes:
        """The verified bytes of the file the runtime runs."""
        ...

    def digest(self, repository: bool) -> str:
        """The sha256 of the source's own file (model.json or models.json), as read: what tells
        containers apart in /health and the logs."""
        ...


def open_source(settings: Settings) -> Source:
    return _S3(settings) if settings.model_s3_uri else _Local(settings)


def read_bundle(
    settings: Settings, bundle: Bundle | None = None, source: Source | None = None
) -> tuple[Manifest, bytes]:
    """The manifest and the checked bytes of the model file `settings.runtime` runs, of the
    source's single bundle (default) or of one version of a repository."""
    bundle = bundle or Bundle(pin=settings.model_sha256)
    source = source or open_source(settings)
    manifest, _ = source.manifest(bundle)
    data = source.model_file(bundle, manifest)
    check_model(settings.runtime, data, manifest, settings.extra_allowed_ops)
    return manifest, data


class _Local:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.model_dir

    def repository(self) -> RepositoryConfig | None:
        if layout(self.root) == "bundle":
            return None
        trust.check_pin(self.root, self.settings.model_sha256, REPOSITORY_NAME)
        path = self.root / REPOSITORY_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelBundleError(f"cannot read {path}: {exc}") from None
        return parse_repository(text, str(path))

    def manifest(self, bundle: Bundle) -> tuple[Manifest, Path]:
        folder = self.root / bundle.sub
        trust.check_pin(folder, bundle.pin, MANIFEST_NAME, bundle.named_by)
        return load_manifest(folder), folder

    def model_file(self, bundle: Bundle, manifest: Manifest) -> bytes:
        return read_verified(self.root / bundle.sub, artifact_for(self.settings.runtime, manifest))

    def digest(self, repository: bool) -> str:
        return sha256_file(self.root / (REPOSITORY_NAME if repository else MANIFEST_NAME))


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix without slashes at its ends)."""
    try:
        where = s3_location(uri)
    except ValueError as exc:
        raise ModelBundleError(f"MODEL_S3_URI={exc}") from None
    assert where.bucket is not None
    return where.bucket, where.prefix.rstrip("/")


#: every S3 source still alive (a lazy repository's slots keep theirs for loads on first use):
#: what `disconnect_s3_sources` reaches before a SnapStart snapshot
_S3_SOURCES: weakref.WeakSet[_S3] = weakref.WeakSet()


def disconnect_s3_sources() -> int:
    """Close and forget the S3 client of every live S3 source (its connection pool and the
    credentials it signs with), so that none is frozen into a SnapStart snapshot and shared by
    every copy restored from it; a source makes a new client if it downloads again. Returns how
    many clients were closed."""
    return sum(source.disconnect() for source in list(_S3_SOURCES))


class _S3:
    """Downloads from MODEL_S3_URI into MODEL_CACHE_DIR, each file checked as it comes (steps
    1-3 above), each downloaded once per cold start. boto3 is imported only here: only this
    configuration pays for it (0.3-0.8 s). The client is made on first use and again after
    `disconnect()` (handler/snapstart.py: before a snapshot)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = settings.model_cache_dir
        self.bucket, self.prefix = parse_s3_uri(settings.model_s3_uri or "")
        self._client: Any = None
        self.fetched: set[tuple[str, str]] = set()
        _S3_SOURCES.add(self)

    @property
    def s3(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def disconnect(self) -> bool:
        """Close the client (its pooled connections) and drop it; True if there was one."""
        client, self._client = self._client, None
        if client is None:
            return False
        client.close()
        return True

    def fetch(self, sub: str, name: str, missing_ok: bool = False, again: bool = False) -> bool:
        """Download `sub/name` into the cache, once (`again`: even if it was); False if absent
        (and `missing_ok`)."""
        from botocore.exceptions import BotoCoreError, ClientError

        if (sub, name) in self.fetched and not again:
            return True
        key = "/".join(part for part in (self.prefix, sub, name) if part)
        target = self.cache / sub / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.s3.download_file(self.bucket, key, str(target))
        except ClientError as exc:
            # Without s3:ListBucket (the function has none), S3 answers a missing key with 403.
            absent = exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "403")
            if missing_ok and absent:
                return False
            raise ModelBundleError(f"cannot download s3://{self.bucket}/{key}: {exc}") from None
        except BotoCoreError as exc:
            raise ModelBundleError(f"cannot download s3://{self.bucket}/{key}: {exc}") from None
        self.fetched.add((sub, name))
        return True

    def repository(self) -> RepositoryConfig | None:
        """models.json, if the prefix holds no model.json (a single bundle) but that."""
        if self.fetch("", MANIFEST_NAME, missing_ok=True):
            return None
        if not self.fetch("", REPOSITORY_NAME, missing_ok=True):
            raise ModelBundleError(
                f"neither {MANIFEST_NAME} nor {REPOSITORY_NAME} at s3://{self.bucket}/"
                f"{self.prefix} (or the function may not read them)"
            )
        trust.check_pin(self.cache, self.settings.model_sha256, REPOSITORY_NAME)
        text = (self.cache / REPOSITORY_NAME).read_bytes()
        return parse_repository(text, f"s3://{self.bucket}/{self.prefix}")

    def manifest(self, bundle: Bundle) -> tuple[Manifest, Path]:
        folder = self.cache / bundle.sub
        self.fetch(bundle.sub, MANIFEST_NAME)
        trust.check_pin(folder, bundle.pin, MANIFEST_NAME, bundle.named_by)
        return load_manifest(folder), folder

    def model_file(self, bundle: Bundle, manifest: Manifest) -> bytes:
        folder = self.cache / bundle.sub
        artifact = artifact_for(self.settings.runtime, manifest)
        if Path(artifact.path).name != artifact.path:
            # The name becomes a path under /tmp: an unpinned manifest must not write elsewhere.
            raise ModelBundleError(
                f"the manifest's model path {artifact.path!r} is not a file name"
            )
        try:  # a copy left by an INIT retried in this sandbox, if it passes
            return read_verified(folder, artifact)
        except ModelBundleError:  # none, or not the manifest's (or gone since): fetch it
            self.fetch(bundle.sub, artifact.path, again=True)
        return read_verified(folder, artifact)

    def digest(self, repository: bool) -> str:
        return sha256_file(self.cache / (REPOSITORY_NAME if repository else MANIFEST_NAME))

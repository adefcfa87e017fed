"""S3 as the bulk job's source and sink (handler/storage.py), through boto3.

Imported by the batch entry (handler/batch.py) and the local tool only: the HTTP function never
pays for boto3's import (0.3-0.8 s) unless its model comes from S3. Any S3 endpoint the SDK is
pointed at works (AWS_ENDPOINT_URL: moto's server, MinIO).

Errors, as handler/storage.py defines them: throttling (SlowDown, 503), timeouts, 5xx, broken
connections, and an object replaced between its HEAD and its GET (412 on If-Match) are
`TransientError`s, after botocore's own retries (standard mode, 3 attempts); no such object or
version (404) is `NotFound` (`object_not_found`), and any other refusal of a read (403, an
archived object) `Unprocessable` (`object_unreadable`), each naming S3's code. A write that S3
refuses for good (the output bucket's policy, say) raises as it is: no record can be written,
so the batch fails loudly.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from handler.errors import NotFound, Unprocessable
from handler.storage import Location, ObjectHead, ObjectRef, TransientError, clean_etag

#: S3 error codes that a later try can succeed at, beside any 5xx
TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "PreconditionFailed", "RequestLimitExceeded",
})
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchBucket"})
CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30,
    max_pool_connections=16,
)


def client() -> Any:
    """An S3 client for the bulk job (thread-safe; one per process is enough)."""
    return boto3.client("s3", config=CONFIG)


def _transient(exc: Exception) -> TransientError | None:
    """The TransientError `exc` amounts to, or None if a retry cannot help."""
    if isinstance(exc, BotoCoreError):  # connection refused or reset, read or connect timeout
        return TransientError(type(exc).__name__, str(exc))
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in TRANSIENT_CODES or status >= 500 or status in (408, 429):
            return TransientError(code or str(status), error.get("Message") or str(exc))
    return None


def _read_error(exc: ClientError, ref: ObjectRef) -> Exception:
    """A read's error as the job's kind of failure."""
    transient = _transient(exc)
    if transient is not None:
        return transient
    code = str(exc.response.get("Error", {}).get("Code", ""))
    where = f"s3://{ref.bucket}/{ref.key}" + (f" version {ref.version_id}" if ref.version_id else "")
    if code in NOT_FOUND_CODES:
        return NotFound("object_not_found", f"{where} does not exist (S3 {code})")
    return Unprocessable("object_unreadable", f"S3 refused to read {where}: {code}")


class S3Source:
    """Reads input objects from any bucket the caller may read."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def _call(self, ref: ObjectRef, method: str, **kwargs: Any) -> Any:
        version = {"VersionId": ref.version_id} if ref.version_id else {}
        try:
            return getattr(self.s3, method)(Bucket=ref.bucket, Key=ref.key, **version, **kwargs)
        except ClientError as exc:
            raise _read_error(exc, ref) from None
        except BotoCoreError as exc:
            raise _transient(exc) from None

    def head(self, ref: ObjectRef) -> ObjectHead:
        answer = self._call(ref, "head_object")
        version = answer.get("VersionId")
        return ObjectHead(
            size=int(answer["ContentLength"]), etag=clean_etag(answer["ETag"]),
            version_id=None if version in (None, "null") else version,
        )

    def get(self, ref: ObjectRef, head: ObjectHead) -> bytes:
        pinned = ObjectRef(ref.bucket, ref.key, head.version_id or ref.version_id, head.etag)
        answer = self._call(pinned, "get_object", IfMatch=f'"{head.etag}"')
        try:
            return answer["Body"].read()
        except BotoCoreError as exc:  # the connection broke mid-body
            raise _transient(exc) from None


class S3Sink:
    """Writes record objects under one bucket and prefix."""

    def __init__(self, s3: Any, location: Location) -> None:
        self.s3 = s3
        self.location = location

    def put(self, key: str, body: bytes) -> None:
        try:
            self.s3.put_object(Bucket=self.location.bucket, Key=self.location.prefix + key,
                               Body=body, ContentType="application/x-ndjson")
        except (ClientError, BotoCoreError) as exc:
            transient = _transient(exc)
            if transient is None:
                raise
            raise transient from None

    def keys(self, prefix: str) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.prefix + prefix
        )
        start = len(self.location.prefix)
        return {item["Key"][start:] for page in pages for item in page.get("Contents", [])}

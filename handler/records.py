"""Bulk records: one JSON Lines object per input, at a key that the input's identity decides.

Identity. An input is (bucket, key, version, model version), where the version is the object's
version id in a versioned bucket and its ETag otherwise, both as HEAD reports them (every
engine's item is HEADed first, so a Distributed Map listing, an S3 notification and a Batch
Operations manifest naming the same object agree). A new model version is a new set of records;
a replaced object (another ETag or version) is a new input.

Keys. Each record is its own object, `<model>/<model version>/<h>.jsonl` under the output
prefix, where `h` is the first 32 hex digits of a sha256 over the identity. So the identity alone
decides where the record goes: a retried batch, a re-run of the whole job, the same object in
batches of another size or reached through another engine all write the same key, and S3 replaces
an object whole, so there is exactly one record per input, never zero (an input whose record PUT
failed is retried by its engine) and never two. Batching never enters a key, so no batch size
can duplicate one. The cost is one PUT per input ($0.005 per 1,000), the price of needing no
coordination at all. Reading them: every object under `<model>/<model version>/` is one JSON
line (`aws s3 cp --recursive` then `cat`, or Athena's JSON SerDe over the prefix).

Record fields: bucket, key, version_id, etag, size, model, model_version, status (`ok` or
`error`), and `answer` (a classifier's label and probabilities, or a tensor model's named
outputs) or `error` (the API's code and message).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from handler.storage import ObjectHead, ObjectRef

SUFFIX = ".jsonl"
#: hex digits of the identity's sha256 in a record's key (128 bits: no collision in any bucket)
DIGEST_HEX = 32


def model_prefix(model: str, version: str) -> str:
    """Where one model version's records live, relative to the output prefix."""
    return f"{model}/{version}/"


def record_key(ref: ObjectRef, head: ObjectHead | None, model: str, version: str) -> str:
    """The record's key (relative to the output prefix) for input `ref` as `head` saw it; without
    a HEAD (the object is gone), the version and ETag the engine named."""
    version_id = head.version_id if head else ref.version_id
    etag = head.etag if head else ref.etag
    content = f"v:{version_id}" if version_id else f"e:{etag or ''}"
    identity = json.dumps([ref.bucket or "", ref.key, content, version])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:DIGEST_HEX]
    return f"{model_prefix(model, version)}{digest}{SUFFIX}"


def record(
    ref: ObjectRef, head: ObjectHead | None, model: str, version: str,
    answer: dict[str, Any] | None = None, error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One input's record: its answer, or its error as (code, message)."""
    body: dict[str, Any] = {
        "bucket": ref.bucket, "key": ref.key,
        "version_id": head.version_id if head else ref.version_id,
        "etag": head.etag if head else ref.etag,
        "size": head.size if head else None,
        "model": model, "model_version": version,
    }
    if error is not None:
        code, message = error
        return {**body, "status": "error", "error": {"code": code, "message": message}}
    return {**body, "status": "ok", "answer": answer}


def line(record_: dict[str, Any]) -> bytes:
    """A record as one JSON line (UTF-8, compact)."""
    return (json.dumps(record_, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

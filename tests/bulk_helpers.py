"""Helpers for the bulk tests: the batch entry imported under moto's S3, the input objects
(real photos in many encodings, bad files), the events each engine sends, and the records.

moto's in-process mock serves every boto3 client of this process, the batch entry's included
(its client is made at import, inside the mock). No Step Functions Local, S3 Batch Operations or
event source mapping exists here: the tests send the batch function the events those engines
send, in the shapes AWS documents (events/generate.py writes them).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from events.bulk import INPUT_BUCKET, INPUT_PREFIX, OUTPUT_BUCKET, OUTPUT_PREFIX
from tests.handler_events import lambda_context

#: a small MAX_OBJECT_BYTES for the tests, so that a too-large object stays small
TEST_MAX_OBJECT_BYTES = 1_000_000


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def exif_rotated(image: Image.Image) -> bytes:
    """The photo stored rotated, with EXIF orientation 6 saying how to show it upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)


def photo_objects(photos: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    """{key: (bytes, true label)}: the real photos as shipped and re-encoded in other formats,
    modes and orientations (tests/test_image_correctness.py shows each gives the model the same
    input), under keys with spaces and '+' as S3 keys may have."""
    kitten, dog, chelsea = (Image.open(photos[name]).convert("RGB")
                            for name in ("kitten", "dog", "chelsea"))
    return {
        "kitten.jpeg": (photos["kitten"].read_bytes(), "cat"),
        "dog.jpeg": (photos["dog"].read_bytes(), "dog"),
        "chelsea.png": (photos["chelsea"].read_bytes(), "cat"),
        "re-encoded/dog.webp": (encode(dog, "WEBP", lossless=True), "dog"),
        "re-encoded/dog.gif": (encode(dog.quantize(256), "GIF"), "dog"),
        "re-encoded/dog.bmp": (encode(dog, "BMP"), "dog"),
        "re-encoded/dog.tiff": (encode(dog, "TIFF"), "dog"),
        "re-encoded/kitten cmyk.jpg": (encode(kitten.convert("CMYK"), "JPEG", quality=95), "cat"),
        "re-encoded/kitten 16-bit.png": (encode(Image.fromarray(
            np.asarray(kitten.convert("L"), np.uint16) * 257), "PNG"), "cat"),
        "re-encoded/chelsea rgba.png": (encode(chelsea.convert("RGBA"), "PNG"), "cat"),
        "phone/dog rotated+exif.jpg": (exif_rotated(dog), "dog"),
    }


def bad_objects(photos: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    """{key: (bytes, the error code its record must carry)}."""
    dog = photos["dog"].read_bytes()
    flat = Image.new("L", (7000, 7000))  # 49 M pixels > MAX_IMAGE_PIXELS (40 M), ~50 KB as PNG
    return {
        "bad/notes.txt": (b"a cat, probably", "not_an_image"),
        "bad/empty.jpg": (b"", "empty_image"),
        "bad/truncated.jpg": (dog[: len(dog) // 2], "corrupt_image"),
        "bad/huge.png": (encode(flat, "PNG", optimize=True), "too_many_pixels"),
        "bad/large.bin": (os.urandom(TEST_MAX_OBJECT_BYTES + 1), "object_too_large"),
    }


@contextmanager
def mocked_buckets() -> Iterator[Any]:
    """moto's S3 for this process, with the input and output buckets made; yields a client."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
            client.create_bucket(Bucket=bucket)
        yield client


def upload(s3: Any, objects: dict[str, bytes], bucket: str = INPUT_BUCKET,
           prefix: str = INPUT_PREFIX) -> None:
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body)


def listed(s3: Any, bucket: str = INPUT_BUCKET, prefix: str = INPUT_PREFIX) -> list[dict]:
    """The items Distributed Map's ItemReader (ListObjectsV2) gives the batches: Key, Etag (with
    its quotes), LastModified (epoch seconds), Size, StorageClass; no bucket."""
    items = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            items.append({"Etag": entry["ETag"], "Key": entry["Key"],
                          "LastModified": int(entry["LastModified"].timestamp()),
                          "Size": entry["Size"], "StorageClass": entry["StorageClass"]})
    return items


def map_batch(items: list[dict], output_prefix: str = OUTPUT_PREFIX) -> dict[str, Any]:
    """A Distributed Map ItemBatcher batch with the state machine's BatchInput."""
    return {"BatchInput": {"InputBucket": INPUT_BUCKET, "InputPrefix": INPUT_PREFIX,
                           "OutputBucket": OUTPUT_BUCKET, "OutputPrefix": output_prefix},
            "Items": items}


def batches(items: list[dict], size: int) -> Iterator[dict[str, Any]]:
    for start in range(0, len(items), size):
        yield map_batch(items[start : start + size])


def stored_records(s3: Any, bucket: str = OUTPUT_BUCKET,
                   prefix: str = OUTPUT_PREFIX) -> dict[str, dict[str, Any]]:
    """{record object key: its one record}; fails if an object holds anything but one line."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode()
            lines = body.splitlines()
            assert len(lines) == 1 and body.endswith("\n"), entry["Key"]
            found[entry["Key"]] = json.loads(lines[0])
    return found


def by_input(found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records by their input's key; fails on two records for one input."""
    keyed: dict[str, dict[str, Any]] = {}
    for record in found.values():
        assert record["key"] not in keyed, f"two records for {record['key']}"
        keyed[record["key"]] = record
    return keyed


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 (S3's ETag of a single-part upload)


@contextmanager
def batch_entry(**env: str) -> Iterator[ModuleType]:
    """A fresh copy of the `handler.batch` module, imported (its cold start) with `env` on top
    of the function's environment from template.yaml; its threads stopped after. Each copy is
    its own module object, so several (one per runtime or model) can live side by side."""
    from infra.lambda_runtime import function_config, lambda_environment

    saved = dict(os.environ)
    os.environ.update({**lambda_environment(function_config("BatchFunction")), **env})
    try:
        spec = importlib.util.find_spec("handler.batch")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield module
    finally:
        module.job.close()


def invoke(module: ModuleType, event: Any) -> Any:
    return module.handler(event, lambda_context())


def fail_calls(client: Any, operation: str, keys: set[str],
               error: Callable[[], Exception]) -> Callable[[], None]:
    """Make `client`'s `operation` (e.g. GetObject) raise `error()` for the objects whose key is
    in `keys`, as botocore raises once its own retries are spent; returns the function that
    undoes it."""

    def hook(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") in keys:
            raise error()

    event = f"provide-client-params.s3.{operation}"
    client.meta.events.register(event, hook)
    return lambda: client.meta.events.unregister(event, hook)

"""One container of the batch function, measured: `python -m benchmarks.bulk_probe PARAMS RESULT`
(run by benchmarks/bulk.py, once per runtime and round, with the function's environment).

The process is pinned to one core (Lambda's 1769 MB is one vCPU), starts moto's in-process S3,
puts `objects` real photos in it (the kitten, the dog and chelsea, each copy made distinct by a
trailing counter that decoders ignore, so every object is its own input), imports
`handler.batch` (its cold start) and hands it Distributed Map batches of each size in `sizes`,
one after another as one container gets them, timing each pass over all objects; then the same
job on the same objects as local files (no S3 client or emulation at all). Then the same loaded
model answers `http_requests` POST /predict of the dog through the HTTP entry's own stack
(Mangum + FastAPI, an HTTP API v2 event), for the per-request figure of the API path.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import alternating, child_main, summary_ms

INPUT, OUTPUT = "bench-input", "bench-output"
PHOTOS = ("kitten", "dog", "chelsea")


def measure(objects: int, sizes: list[int], rounds: int, http_requests: int) -> dict[str, Any]:
    os.sched_setaffinity(0, {0})
    import boto3
    from moto import mock_aws

    from demo.photos import photo_path
    from events.generate import Request, to_event
    from infra.lambda_runtime import LambdaContext

    context = LambdaContext("BatchFunction", 1769, 180)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (INPUT, OUTPUT):
            s3.create_bucket(Bucket=bucket)
        photos = [photo_path(name).read_bytes() for name in PHOTOS]
        items = []
        for i in range(objects):
            body = photos[i % len(photos)] + i.to_bytes(4, "big")
            key = f"photos/{i:05d}"
            etag = s3.put_object(Bucket=INPUT, Key=key, Body=body)["ETag"]
            items.append({"Etag": etag, "Key": key, "LastModified": 0, "Size": len(body),
                          "StorageClass": "STANDARD"})
        started = time.perf_counter()
        import handler.batch as entry

        cold_s = time.perf_counter() - started
        passes: dict[int, list[float]] = {size: [] for size in sizes}
        for _, size in alternating(rounds, sizes):
            started = time.perf_counter()
            for start in range(0, objects, size):
                summary = entry.handler({
                    "BatchInput": {"InputBucket": INPUT, "InputPrefix": "photos/",
                                   "OutputBucket": OUTPUT, "OutputPrefix": "records/"},
                    "Items": items[start : start + size]}, context)
                assert summary["ok"] == len(items[start : start + size]), summary
            passes[size].append(time.perf_counter() - started)

        # The same job on local files: no S3 client or emulation, the job's own CPU per object.
        from handler.bulk import BulkJob
        from handler.storage import ObjectRef
        from infra.folder import FolderSink, FolderSource

        with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
            folder = Path(tmp) / "in"
            folder.mkdir()
            for item in items:
                body = s3.get_object(Bucket=INPUT, Key=item["Key"])["Body"].read()
                (folder / item["Key"].removeprefix("photos/")).write_bytes(body)
            local = BulkJob(entry.model, FolderSource(folder), entry.settings.max_object_bytes)
            sink = FolderSink(Path(tmp) / "out")
            refs = [ObjectRef(None, path.name) for path in sorted(folder.iterdir())]
            local_passes: dict[int, list[float]] = {size: [] for size in sizes}
            for _, size in alternating(rounds, sizes):
                started = time.perf_counter()
                for start in range(0, objects, size):
                    assert local.run(refs[start : start + size], sink).counts["ok"] == len(
                        refs[start : start + size])
                local_passes[size].append(time.perf_counter() - started)
            local.close()

        from handler.adapter import lambda_handler
        from handler.api import create_app

        http = lambda_handler(create_app(entry.model))
        event = to_event("http", Request("POST", "/predict", "image/jpeg", photos[1]))
        for _ in range(10):  # warm
            http(event, context)
        durations = []
        for _ in range(http_requests):
            started = time.perf_counter()
            assert http(event, context)["statusCode"] == 200
            durations.append(time.perf_counter() - started)
        entry.job.close()
    return {"runtime": entry.model.runtime.name, "objects": objects, "cold_start_s": cold_s,
            "passes_s": {str(size): seconds for size, seconds in passes.items()},
            "local_passes_s": {str(size): seconds for size, seconds in local_passes.items()},
            "http": summary_ms(durations)}


if __name__ == "__main__":
    child_main(measure)

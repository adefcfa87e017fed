"""The bulk engines' events (events/bulk/): what Step Functions Distributed Map, S3 Batch
Operations and SQS (with S3 event notifications) send the batch function, naming real photos.

Written by `python -m events.generate` beside the API events, deterministic like them. Shapes:
- Distributed Map, an ItemBatcher batch over an ItemReader of `arn:aws:states:::s3:listObjectsV2`:
  `Items` as the Step Functions guide shows a listed object (Etag with its quotes, Key,
  LastModified in epoch seconds, Size, StorageClass) and `BatchInput` as the state machine
  (infra/statemachine/classify_bucket.asl.json) passes it;
- S3 Batch Operations, invocation schema 2.0 (`s3Bucket` in each task, `userArguments` in the
  job; `sam local generate-event s3 batch-invocation` prints schema 1.0, with `s3BucketArn`);
- SQS, `sam local generate-event sqs receive-message` records whose bodies are S3 event
  notifications (`sam local generate-event s3 put`'s record, eventVersion 2.1 as S3 sends it
  today) and S3's `s3:TestEvent`.
Keys in Batch Operations tasks and S3 notifications are URL-encoded (`+` for a space), as AWS
sends them. `objects()` gives the bytes the events name, for the tests to put in S3; `expected()`
what the batch function must answer.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from urllib.parse import quote_plus

from demo.photos import photo_label, photo_path

REGION = "us-east-1"
ACCOUNT = "123456789012"
INPUT_BUCKET = "tf-lambda-serving-input"
OUTPUT_BUCKET = "tf-lambda-serving-output"
INPUT_PREFIX = "photos/"
OUTPUT_PREFIX = "records/"
#: when the objects were written and the events sent (fixed: regenerating is identical)
EPOCH = 1764226800  # 2025-11-27T07:00:00Z, events.generate.SAMPLE_TIME
EVENT_TIME = "2025-11-27T07:00:00.000Z"
NOT_AN_IMAGE = b"a cat, probably"

#: key -> (photo name, or None for the text file)
OBJECTS: dict[str, str | None] = {
    "photos/kitten.jpeg": "kitten",
    "photos/dog.jpeg": "dog",
    "photos/chelsea.png": "chelsea",
    "photos/notes.txt": None,
    "photos/my dog+friend.jpeg": "dog",
    "photos/new/kitten in a box.jpeg": "kitten",
}


def objects() -> dict[str, bytes]:
    """The bytes of every object the events name, by key (in INPUT_BUCKET)."""
    return {key: photo_path(name).read_bytes() if name else NOT_AN_IMAGE
            for key, name in OBJECTS.items()}


def _etag(key: str) -> str:
    return hashlib.md5(objects()[key]).hexdigest()  # noqa: S324 (S3's single-part ETag)


def _id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"events/bulk/{name}"))


def distributed_map() -> dict[str, Any]:
    """One ItemBatcher batch of the first four listed objects."""
    items = [{"Etag": f'"{_etag(key)}"', "Key": key, "LastModified": EPOCH,
              "Size": len(objects()[key]), "StorageClass": "STANDARD"}
             for key in list(OBJECTS)[:4]]
    return {"BatchInput": {"InputBucket": INPUT_BUCKET, "InputPrefix": INPUT_PREFIX,
                           "OutputBucket": OUTPUT_BUCKET, "OutputPrefix": OUTPUT_PREFIX},
            "Items": items}


def batch_operations(key: str) -> dict[str, Any]:
    """A schema 2.0 invocation for `key`, the job's records going to OutputUri."""
    return {
        "invocationSchemaVersion": "2.0",
        "invocationId": _id(f"invocation/{key}"),
        "job": {"id": _id("job"),
                "userArguments": {"OutputUri": f"s3://{OUTPUT_BUCKET}/{OUTPUT_PREFIX}"}},
        "tasks": [{"taskId": _id(f"task/{key}"), "s3Key": quote_plus(key, safe="/"),
                   "s3VersionId": None, "s3Bucket": INPUT_BUCKET}],
    }


def _notification(key: str) -> dict[str, Any]:
    """S3's ObjectCreated:Put event notification for `key`."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": EVENT_TIME, "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLEUPLOADER"},
        "requestParameters": {"sourceIPAddress": "192.0.2.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5J"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "classify-new-objects",
               "bucket": {"name": INPUT_BUCKET, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{INPUT_BUCKET}"},
               "object": {"key": quote_plus(key, safe="/"), "size": len(objects()[key]),
                          "eTag": _etag(key), "sequencer": "0055AED6DCD90281E5"}},
    }]}


def _test_event() -> dict[str, Any]:
    """What S3 sends a queue once, when a notification configuration is set on the bucket."""
    return {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": EVENT_TIME,
            "Bucket": INPUT_BUCKET, "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}


def _message(name: str, body: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(body)
    return {
        "messageId": _id(f"message/{name}"), "receiptHandle": f"AQEB{_id(name)}",
        "body": text,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": f"{EPOCH}000",
                       "SenderId": "AIDAEXAMPLES3NOTIFIER", "ApproximateFirstReceiveTimestamp":
                       f"{EPOCH}001"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 (SQS's own)
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:tf-lambda-serving-bulk",
        "awsRegion": REGION,
    }


def sqs() -> dict[str, Any]:
    """One event source mapping batch: S3's test event, then two new photos."""
    return {"Records": [
        _message("test-event", _test_event()),
        _message("kitten-in-a-box", _notification("photos/new/kitten in a box.jpeg")),
        _message("dog", _notification("photos/dog.jpeg")),
    ]}


def events() -> dict[str, dict[str, Any]]:
    """Every bulk event, by file name."""
    return {
        "distributed-map-batch.json": distributed_map(),
        "batch-operations-dog.json": batch_operations("photos/my dog+friend.jpeg"),
        "batch-operations-not-an-image.json": batch_operations("photos/notes.txt"),
        "sqs-s3-notifications.json": sqs(),
    }


def _label(key: str) -> str:
    name = OBJECTS[key]
    assert name is not None
    return photo_label(name)


def expected() -> dict[str, dict[str, Any]]:
    """What the batch function answers to each event, and the records it writes (by input key:
    the label, or the error code)."""
    return {
        "distributed-map-batch.json": {
            "answer": {"objects": 4, "ok": 3, "errors": 1, "transient": 0, "skipped": 0,
                       "failures": {"not_an_image": 1}},
            "records": {**{key: _label(key) for key in list(OBJECTS)[:3]},
                        "photos/notes.txt": "not_an_image"},
        },
        "batch-operations-dog.json": {
            "answer": {"resultCode": "Succeeded"},
            "records": {"photos/my dog+friend.jpeg": "dog"},
        },
        "batch-operations-not-an-image.json": {
            "answer": {"resultCode": "PermanentFailure"},
            "records": {"photos/notes.txt": "not_an_image"},
        },
        "sqs-s3-notifications.json": {
            "answer": {"batchItemFailures": []},
            "records": {"photos/new/kitten in a box.jpeg": "cat", "photos/dog.jpeg": "dog"},
        },
    }

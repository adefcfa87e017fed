"""The engines that invoke the batch entry (handler/batch.py): each one's event in, its own
answer out, around one run of the bulk job (handler/bulk.py). `dispatch` tells them apart by
shape. Events are read with Powertools' data classes where it has them.

- Step Functions Distributed Map (an ItemReader over ListObjectsV2, an ItemBatcher):
  `{"Items": [{"Key", "Etag", "Size", "LastModified", "StorageClass"}...], "BatchInput":
  {"InputBucket", "InputPrefix", "OutputBucket", "OutputPrefix"}}` (the items name no bucket).
  Answers the batch's summary (counts, failures by code, bytes, times: a few hundred bytes,
  never the records). If an object hit a transient failure it raises `TransientBatchError`
  after writing every other record; the state machine's Retry re-runs the batch, which rewrites
  the same records (handler/records.py). An output prefix overlapping the input prefix raises
  `OutputInsideInput`, which no Retry names: the job would feed on itself.
- S3 Batch Operations (schema 2.0; 1.0 is read too): one task per invocation, its key
  URL-encoded; records go to the job's `userArguments.OutputUri` or OUTPUT_S3_URI. Answers
  `Succeeded` (resultString: the record's S3 URI), `PermanentFailure` for an error record or a
  skipped object (resultString: `code: message`, short), `TemporaryFailure` for a transient
  failure (no record; Batch Operations retries it).
- SQS messages carrying S3 event notifications (keys URL-encoded, `+` for a space; records go to
  OUTPUT_S3_URI): S3's `s3:TestEvent` and events other than ObjectCreated are skipped. Answers
  `batchItemFailures` naming each message with an object that hit a transient failure, and each
  message that is no S3 notification at all (after the queue's maxReceiveCount, the dead-letter
  queue keeps it), so a failed message is retried alone, never the whole batch.

Anything else raises `UnsupportedEvent`, naming what the function takes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import (
    S3BatchOperationEvent, S3BatchOperationResponse, S3Event, SQSEvent,
)

from handler.bulk import Outcome, Report
from handler.observability import logger
from handler.storage import Location, ObjectRef, as_prefix, clean_etag, s3_location

#: the bulk job bound to a model and a source: (inputs, output location) -> its report
Runner = Callable[[Sequence[ObjectRef], Location], Report]
#: Batch Operations keeps resultString in its completion report: keep it short
RESULT_STRING_CHARS = 200


class UnsupportedEvent(ValueError):
    """The event is none of the engines' (or lacks what its engine always sends)."""


class TransientBatchError(Exception):
    """Some objects of a Distributed Map batch hit transient failures: retry the batch (the
    state machine's Retry names this class, which Lambda reports as the error type)."""


class OutputInsideInput(ValueError):
    """The output prefix overlaps the input prefix: records would become inputs."""


def dispatch(event: Any, run: Runner, output: Location | None) -> dict[str, Any]:
    """Run the job on `event`, whichever engine sent it; `output`: OUTPUT_S3_URI's location."""
    if isinstance(event, dict):
        if "Items" in event and "BatchInput" in event:
            return distributed_map(event, run)
        if "invocationSchemaVersion" in event and "tasks" in event:
            return batch_operations(event, run, output)
        records = event.get("Records")
        if records and all(r.get("eventSource") == "aws:sqs" for r in records):
            return sqs(event, run, output)
    keys = sorted(event)[:8] if isinstance(event, dict) else type(event).__name__
    raise UnsupportedEvent(
        "not a bulk event: this function takes Step Functions Distributed Map batches "
        "(Items + BatchInput), S3 Batch Operations invocations and SQS batches of S3 event "
        f"notifications; got {keys}"
    )


def _required(output: Location | None, engine: str) -> Location:
    if output is None:
        raise UnsupportedEvent(f"{engine} invocations need OUTPUT_S3_URI: set it on the function")
    return output


# --- Step Functions Distributed Map ----------------------------------------------------------

def distributed_map(event: dict[str, Any], run: Runner) -> dict[str, Any]:
    """One ItemBatcher batch of ListObjectsV2 entries -> its summary."""
    batch = event["BatchInput"]
    try:
        source = Location(batch["InputBucket"], as_prefix(batch.get("InputPrefix") or ""))
        output = Location(batch["OutputBucket"], as_prefix(batch.get("OutputPrefix") or ""))
        refs = [ObjectRef(source.bucket, item["Key"], None,
                          clean_etag(item.get("Etag") or item.get("ETag") or ""))
                for item in event["Items"]]
    except (KeyError, TypeError) as exc:
        raise UnsupportedEvent(f"malformed Distributed Map batch: no {exc}") from None
    if source.overlaps(output):
        raise OutputInsideInput(
            f"output s3://{output.bucket}/{output.prefix} overlaps input "
            f"s3://{source.bucket}/{source.prefix}: records would be classified as inputs"
        )
    report = run(refs, output)
    summary = report.summary()
    if report.counts["transient"]:
        codes = sorted({o.code or "" for o in report.outcomes if o.status == "transient"})
        raise TransientBatchError(
            f"{report.counts['transient']} of {len(refs)} objects hit transient failures "
            f"({', '.join(codes)}); the others' records are written: retry the batch"
        )
    return summary


# --- S3 Batch Operations -----------------------------------------------------------------------

def _result(outcome: Outcome, output: Location) -> tuple[str, str]:
    """A task's resultCode and resultString."""
    if outcome.status == "ok":
        return "Succeeded", f"s3://{output.bucket}/{output.prefix}{outcome.key}"
    code = {"error": "PermanentFailure", "skipped": "PermanentFailure",
            "transient": "TemporaryFailure"}[outcome.status]
    return code, f"{outcome.code}: {outcome.message}"[:RESULT_STRING_CHARS]


def batch_operations(
    event: dict[str, Any], run: Runner, output: Location | None
) -> dict[str, Any]:
    """One Batch Operations task -> its result."""
    invocation = S3BatchOperationEvent(event)
    uri = invocation.job.user_arguments.get("OutputUri")
    try:
        where = s3_location(uri) if uri else _required(output, "S3 Batch Operations")
    except ValueError as exc:
        raise UnsupportedEvent(f"userArguments.OutputUri: {exc}") from None
    response = S3BatchOperationResponse(
        invocation.invocation_schema_version, invocation.invocation_id, "PermanentFailure"
    )
    task = invocation.task
    report = run([ObjectRef(task.s3_bucket, task.s3_key, task.s3_version_id or None)], where)
    (outcome,) = report.outcomes
    response.add_result(task.build_task_batch_response(*_result(outcome, where)))
    return response.asdict()


# --- SQS with S3 event notifications -----------------------------------------------------------

def _notified(body: str) -> list[ObjectRef] | None:
    """The objects an S3 notification names ([] for a test event or no ObjectCreated), or None
    when the message is no S3 notification at all."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and r.get("eventSource") == "aws:s3" and "s3" in r for r in records
    ):
        return None
    refs = []
    for record in S3Event(message).records:
        if not record.event_name.startswith("ObjectCreated:"):
            continue
        obj = record.s3.get_object
        refs.append(ObjectRef(record.s3.bucket.name, unquote_plus(obj.key),
                              obj.version_id or None, obj.etag or None))
    return refs


def sqs(event: dict[str, Any], run: Runner, output: Location | None) -> dict[str, Any]:
    """One SQS batch -> its batchItemFailures."""
    where = _required(output, "SQS")
    failed: list[str] = []
    owners: list[str] = []  # the message of each ref, in order
    refs: list[ObjectRef] = []
    for message in SQSEvent(event).records:
        named = _notified(message.body)
        if named is None:
            logger.warning("not an S3 event notification: left to the queue's redrive policy",
                           extra={"message_id": message.message_id})
            failed.append(message.message_id)
            continue
        refs += named
        owners += [message.message_id] * len(named)
    report = run(refs, where) if refs else None
    for owner, outcome in zip(owners, report.outcomes if report else [], strict=True):
        if outcome.status == "transient" and owner not in failed:
            failed.append(owner)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

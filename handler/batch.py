"""The bulk inference entry point, `handler.batch.handler`: the template's batch function, from
the same image and zip as the HTTP one (`handler.app.handler`), so that HTTP traffic and bulk
jobs scale, throttle and alarm apart. Importing this module is the cold start: the model (a
single bundle, or a repository's default model) is found, verified, loaded and warmed up exactly
as `handler.app` does it, then an S3 client and
the bulk job's threads are made (boto3 is imported here, never by the HTTP entry).

Each invocation is one engine's batch (handler/engines.py: Step Functions Distributed Map, S3
Batch Operations, SQS with S3 notifications), run by the bulk job (handler/bulk.py) from S3 to
S3, one record per input (handler/records.py). Logs are Powertools' JSON with the request id;
each batch's metrics (objects, records, failures by code, bytes, model time) are flushed as EMF
after the invocation. Settings: handler/config.py (OUTPUT_S3_URI, MAX_OBJECT_BYTES, and the
model's and limits' variables the HTTP function reads too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handler.heap import init_phase

with init_phase():  # the collector paused, then what INIT made frozen (handler/heap.py)
    from handler import s3, snapstart
    from handler.bulk import BulkJob, Report
    from handler.config import BulkSettings, Settings
    from handler.engines import dispatch
    from handler.loader import load_default_model
    from handler.observability import logger, metrics, model_metrics, traced
    from handler.storage import Location, ObjectRef, s3_location

    model = load_default_model(Settings.from_env())
    settings = BulkSettings.from_env()
    #: where SQS and Batch Operations records go (a Distributed Map batch names its own)
    output = s3_location(settings.output_s3_uri) if settings.output_s3_uri else None
    client = s3.client()
    job = BulkJob(model, s3.S3Source(client), settings.max_object_bytes)


def _disconnect() -> None:
    """Before a SnapStart snapshot: close the S3 client (its connections, its credentials)
    and drop it, so that restored copies make their own (handler/snapstart.py)."""
    global client
    client.close()
    client = job.source = None  # type: ignore[assignment]


def _reconnect() -> None:
    """After a restore: a new client, with this environment's credentials."""
    global client
    client = s3.client()
    job.source = s3.S3Source(client)


snapstart.install(before=[_disconnect], after=[_reconnect])


def run(refs: Sequence[ObjectRef], where: Location) -> Report:
    """The bulk job on `refs`, its records under `where`."""
    return job.run(refs, s3.S3Sink(client, where))


@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        return dispatch(event, run, output)
    finally:
        for sink in (metrics, model_metrics):
            if sink.metric_set:
                sink.flush_metrics()

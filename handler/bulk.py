"""The bulk job: a batch of input objects -> one record each (handler/records.py) in a sink.

Every engine of the batch entry (handler/batch.py: Step Functions Distributed Map, S3 Batch
Operations, SQS) and the local tool (infra/batch.py) run this, on any `Source` and `Sink`
(handler/storage.py). For each object:

1. An object under the sink's own location is skipped, with no record: classifying the output
   would feed the job on itself (an SQS notification for a record, say). So are folder markers
   (keys ending in '/': the console's empty "folders", not inputs).
2. HEAD: the size against MAX_OBJECT_BYTES (413 `object_too_large`, before any byte is read),
   the ETag and version that make the record's identity. A resumed job (`skip`) passes over an
   input whose record already exists.
3. GET exactly what HEAD saw (its version, If-Match its ETag), decode (handler/objects.py: the
   model's image codec, or .npy/.npz for a tensor model, with the API's pixel and element limits).

The examples then run through the model in batches of at most MAX_BATCH, grouped by shape (a
model with open dimensions takes examples of any size, but one batch holds one shape). A batch the
model refuses as a whole is run again row by row, so one bad example never fails its neighbours.
Each input then gets its record: the answer (a classifier's label and probabilities, else every
output by name as the API's JSON) or the error (the API's code and message).

Each object ends as one `Outcome`: `ok` or `error` (a record was written), `transient` (no
record: a retry can fix it, TransientError; the engine retries) or `skipped` (no record, step 1
or a resumed input). A bug raises, failing the whole batch, which the engine retries or reports.

Objects are read and decoded, and records written, by `threads` threads, so that S3's latency
overlaps; the model runs in the calling thread, one batch at a time under `lock` (TensorFlow
uses every core for it), which also keeps Powertools' metrics (not thread-safe) to one thread at
a time when runs overlap. Memory: each thread holds at most one object's bytes and its decoded
image at a time, beside the batch's rows.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

import numpy as np

from handler import records
from handler.classification import classify
from handler.errors import ServingError, TooLarge
from handler.model import Model
from handler.objects import Example, decode_object
from handler.observability import MetricUnit, add_metric_by, logger, metrics
from handler.storage import ObjectHead, ObjectRef, Sink, Source, TransientError
from handler.tensors import outputs_json

Status = Literal["ok", "error", "transient", "skipped"]
#: threads reading objects and writing records: enough to overlap S3's ~20-50 ms per request
#: with ~5 ms of decoding and model time per photo, few enough that 4 objects at MAX_OBJECT_BYTES
#: and their decoded pixels fit beside TensorFlow in the function's 1769 MB
THREADS = 4


@dataclass(frozen=True)
class Outcome:
    """How one input ended (see the module docstring)."""

    ref: ObjectRef
    status: Status
    #: the error's, transient failure's or skip's code (None when ok)
    code: str | None = None
    message: str = ""
    #: bytes read from the source
    size: int = 0
    #: the record's key (relative to the sink's prefix) when one was written
    key: str | None = None


@dataclass
class _Item:
    """One input on its way through the job."""

    ref: ObjectRef
    head: ObjectHead | None = None
    example: Example | None = None
    answer: dict[str, Any] | None = None
    error: tuple[str, str] | None = None
    #: set when the input ends without a record (transient or skipped)
    ended: Outcome | None = None
    size: int = 0


@dataclass
class Report:
    """One batch's totals, as logged and sent as metrics."""

    outcomes: list[Outcome]
    model_ms: float = 0.0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.counts.update(o.status for o in self.outcomes)
        self.failures.update(o.code for o in self.outcomes if o.status == "error" and o.code)

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        """Small enough for any engine's answer (Step Functions' 256 KiB state limit)."""
        return {
            "objects": len(self.outcomes), "ok": self.counts["ok"], "errors": self.counts["error"],
            "transient": self.counts["transient"], "skipped": self.counts["skipped"],
            "failures": dict(self.failures), "bytes": self.bytes,
            "model_ms": round(self.model_ms, 1), "seconds": round(self.seconds, 3),
        }


class BulkJob:
    """One model classifying objects from one source, into the sink each run names (see the
    module docstring). Its threads live as long as it does (a container's life)."""

    def __init__(
        self, model: Model, source: Source, max_object_bytes: int, threads: int = THREADS,
        skip: Callable[[str], bool] = lambda key: False,
    ) -> None:
        self.model = model
        self.source = source
        self.max_object_bytes = max_object_bytes
        #: the model's limits, with the bulk byte limit in place of the API's per-image one
        self.limits = replace(model.limits, max_image_bytes=max_object_bytes)
        self.skip = skip
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bulk")
        #: held for the model and for metrics, so that runs may overlap (infra.batch runs
        #: several batches at once: their reads and writes overlap, their model runs take turns)
        self.lock = threading.Lock()

    def close(self, cancel: bool = False) -> None:
        """Stop the threads (dropping queued work when `cancel`)."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    def record_key(self, ref: ObjectRef, head: ObjectHead | None) -> str:
        return records.record_key(ref, head, self.model.name, self.model.version)

    def run(self, refs: Sequence[ObjectRef], sink: Sink) -> Report:
        """Classify `refs` into `sink`; one Outcome each, in order; logged and counted as one
        batch."""
        started = time.perf_counter()
        items = list(self._pool.map(partial(self._load, sink), refs))
        with self.lock:
            model_ms = self._answer([item for item in items if item.example is not None])
        outcomes = list(self._pool.map(partial(self._write, sink), items))
        report = Report(outcomes, model_ms, time.perf_counter() - started)
        with self.lock:
            self._emit(report)
        return report

    # --- per object, in the threads -------------------------------------------------------------
    def _load(self, sink: Sink, ref: ObjectRef) -> _Item:
        item = _Item(ref)
        if ref.key.endswith("/") or sink.location.holds(ref.bucket, ref.key):
            why = "folder_marker" if ref.key.endswith("/") else "output_object"
            item.ended = Outcome(ref, "skipped", why, "not an input")
            return item
        try:
            item.head = head = self.source.head(ref)
            if self.skip(self.record_key(ref, head)):
                item.ended = Outcome(ref, "skipped", "record_exists", "its record exists")
                return item
            if head.size > self.max_object_bytes:
                raise TooLarge(
                    "object_too_large", f"object of {head.size} bytes exceeds the limit of "
                    f"{self.max_object_bytes} bytes (MAX_OBJECT_BYTES)"
                )
            data = self.source.get(ref, head)
            item.size = len(data)
            item.example = decode_object(data, self.model.manifest, self.limits)
        except TransientError as exc:
            item.ended = Outcome(ref, "transient", exc.code, exc.message, item.size)
        except ServingError as exc:
            item.error = (exc.code, exc.message)
        return item

    def _write(self, sink: Sink, item: _Item) -> Outcome:
        if item.ended is not None:
            return item.ended
        key = self.record_key(item.ref, item.head)
        body = records.record(item.ref, item.head, self.model.name, self.model.version,
                              answer=item.answer, error=item.error)
        try:
            sink.put(key, records.line(body))
        except TransientError as exc:
            return Outcome(item.ref, "transient", exc.code, exc.message, item.size)
        if item.error is not None:
            code, message = item.error
            return Outcome(item.ref, "error", code, message, item.size, key)
        return Outcome(item.ref, "ok", size=item.size, key=key)

    # --- the model, in the calling thread -------------------------------------------------------
    def _answer(self, items: list[_Item]) -> float:
        """Give every decoded item its answer or error; the model's time in ms."""
        groups: dict[tuple, list[_Item]] = {}
        for item in items:
            assert item.example is not None
            shapes = tuple((name, row.shape) for name, row in item.example.items())
            groups.setdefault(shapes, []).append(item)
        started = time.perf_counter()
        batch = self.model.limits.max_batch
        for group in groups.values():
            for start in range(0, len(group), batch):
                self._run(group[start : start + batch])
        return (time.perf_counter() - started) * 1e3

    def _run(self, chunk: list[_Item]) -> None:
        feeds = {name: np.stack([item.example[name] for item in chunk])  # type: ignore[index]
                 for name in chunk[0].example or {}}
        try:
            outputs = self.model.infer(feeds)
        except ServingError as exc:
            if len(chunk) == 1:
                chunk[0].error = (exc.code, exc.message)
                return
            for item in chunk:  # attribute the refusal to its own example
                self._run([item])
            return
        for row, item in enumerate(chunk):
            try:
                item.answer = self._row_answer(outputs, row)
            except ServingError as exc:
                item.error = (exc.code, exc.message)

    def _row_answer(self, outputs: dict[str, np.ndarray], row: int) -> dict[str, Any]:
        task = self.model.manifest.task
        if task is not None:
            (ranking,) = classify(task, outputs[task.output][row : row + 1])
            return {"label": ranking.label, "probabilities": dict(ranking.ranked)}
        rows = outputs_json({name: value[row : row + 1] for name, value in outputs.items()})
        return {"outputs": {name: value[0] for name, value in rows.items()}}

    # --- observability ----------------------------------------------------------------------------
    def _emit(self, report: Report) -> None:
        summary = report.summary()
        logger.info("bulk batch", extra={"model": self.model.name,
                                         "version": self.model.version, **summary})
        for name, value, unit in (
            ("BulkObjects", len(report.outcomes), MetricUnit.Count),
            ("BulkRecords", report.counts["ok"] + report.counts["error"], MetricUnit.Count),
            ("BulkErrorRecords", report.counts["error"], MetricUnit.Count),
            ("BulkTransientFailures", report.counts["transient"], MetricUnit.Count),
            ("BulkSkipped", report.counts["skipped"], MetricUnit.Count),
            ("BulkBytes", report.bytes, MetricUnit.Bytes),
            ("BulkModelTime", report.model_ms, MetricUnit.Milliseconds),
        ):
            metrics.add_metric(name, unit, value)
        add_metric_by("BulkErrors", "code", report.failures)

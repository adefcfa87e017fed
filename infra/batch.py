"""Classify a whole folder or bucket on this machine, with the batch function's own job.

    python -m infra.batch SRC DST [--concurrency N] [--batch-size K] [--force]

SRC and DST are each a local folder or an `s3://bucket/prefix` (any S3 endpoint the AWS SDK is
pointed at, e.g. with AWS_ENDPOINT_URL). The model is the one the batch function serves, loaded
the same way from template.yaml's environment for BatchFunction (MODEL_DIR, MODEL_RUNTIME...:
set them to override, e.g. MODEL_RUNTIME=litert). Every object under SRC goes through the bulk
job (handler/bulk.py) in batches of K, N batches at a time, and gets one record under DST
(handler/records.py: `<DST>/<model>/<version>/<hash>.jsonl`), exactly as the engines' runs write
them, so the two can finish each other's work.

It resumes: an input whose record exists in DST for this model version is skipped (after its
HEAD, which gives its identity) unless --force. Ctrl-C stops it cleanly: batches under way
finish, no other starts, and a rerun completes the job. A progress bar goes to stderr, the
summary (objects, failures by code, objects per second) to stdout.

Exit status: 0 when every input has a record (error records included), 1 when some could not be
done (a transient failure after the SDK's retries, or an interruption: run it again), 2 for bad
arguments (and an SRC or DST that cannot be used, or a DST inside SRC).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from handler.storage import Location, ObjectRef, Sink, Source

#: the batch function's entry in template.yaml: its environment is the model's
FUNCTION = "BatchFunction"
DEFAULT_CONCURRENCY = 4
DEFAULT_BATCH_SIZE = 32
OK, INCOMPLETE, BAD_ARGUMENTS = 0, 1, 2


class BadArguments(Exception):
    """SRC or DST cannot be used (exit status 2)."""


@dataclass
class Totals:
    """What the job did so far, over every batch."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    transient: Counter[str] = field(default_factory=Counter)

    def add(self, outcomes: Sequence[Any]) -> None:
        for outcome in outcomes:
            self.counts[outcome.status] += 1
            by_status = {"error": self.failures, "skipped": self.skipped,
                         "transient": self.transient}
            if outcome.status in by_status:
                by_status[outcome.status][outcome.code or "?"] += 1

    def lines(self, total: int, seconds: float) -> list[str]:
        done = sum(self.counts.values())

        def detail(counter: Counter[str]) -> str:
            return f" ({', '.join(f'{code} {n}' for code, n in counter.most_common())})" if counter else ""

        rate = done / seconds if seconds > 0 else 0.0
        return [
            f"objects: {done} of {total} in {seconds:.1f} s, {rate:.1f} objects/s",
            f"  records: {self.counts['ok']} answers, {self.counts['error']} errors"
            + detail(self.failures),
            f"  skipped: {self.counts['skipped']}" + detail(self.skipped),
            f"  not done: {self.counts['transient'] + total - done}" + detail(self.transient),
        ]


def _is_s3(where: str) -> bool:
    return where.startswith("s3://")


def _source(src: str, s3: Any) -> tuple[Source, Iterator[ObjectRef], Location]:
    """The source, its objects and its location."""
    from handler.s3 import S3Source
    from handler.storage import s3_location
    from infra.folder import FolderSource

    if _is_s3(src):
        where = s3_location(src)
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=where.bucket,
                                                             Prefix=where.prefix)
        refs = (ObjectRef(where.bucket, item["Key"], None, item["ETag"].strip('"'))
                for page in pages for item in page.get("Contents", []))
        return S3Source(s3), refs, where
    root = Path(src)
    if not root.is_dir():
        raise BadArguments(f"SRC {src} is not a folder")
    folder = FolderSource(root)
    return folder, folder.list(), Location(None, f"{root.resolve()}/")


def _sink(dst: str, s3: Any) -> Sink:
    from handler.s3 import S3Sink
    from handler.storage import s3_location
    from infra.folder import FolderSink

    return S3Sink(s3, s3_location(dst)) if _is_s3(dst) else FolderSink(Path(dst))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.batch", description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 every input has a record, 1 some could not be done (run again), "
        "2 bad arguments.",
    )
    parser.add_argument("src", metavar="SRC", help="a folder, or s3://bucket/prefix")
    parser.add_argument("dst", metavar="DST", help="a folder, or s3://bucket/prefix")
    parser.add_argument(
        "--concurrency", "-n", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
        help=f"batches under way at once (default {DEFAULT_CONCURRENCY}); their reads, decoding "
        "and writes overlap, and their model runs take turns on the one model loaded here (no "
        "local Lambda containers exist without Docker: threads stand in for them)",
    )
    parser.add_argument(
        "--batch-size", "-k", type=int, default=DEFAULT_BATCH_SIZE, metavar="K",
        help=f"objects per batch (default {DEFAULT_BATCH_SIZE}, the API's MAX_BATCH); one "
        "batch is what one engine invocation gets",
    )
    parser.add_argument("--force", action="store_true",
                        help="classify inputs that already have a record for this model version")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.batch_size < 1:
        parser.error("--concurrency and --batch-size must be at least 1")
    return args


def _chunks(refs: list[ObjectRef], size: int) -> Iterator[list[ObjectRef]]:
    for start in range(0, len(refs), size):
        yield refs[start : start + size]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Locally, logs above INFO only (the bar shows progress) and no EMF (no CloudWatch here).
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from infra.lambda_runtime import apply_environment, function_config

    apply_environment(function_config(FUNCTION))
    from handler import records, s3
    from handler.bulk import BulkJob
    from handler.config import BulkSettings, Settings
    from handler.loader import load_model
    from handler.observability import metrics

    client = s3.client() if _is_s3(args.src) or _is_s3(args.dst) else None
    try:
        source, listing, source_at = _source(args.src, client)
        sink = _sink(args.dst, client)
        if source_at.overlaps(sink.location):
            raise BadArguments(f"DST {args.dst} and SRC {args.src} overlap: records would become "
                               "inputs")
        refs = list(listing)
    except (BadArguments, ValueError, ClientError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_ARGUMENTS
    model = load_model(Settings.from_env())
    existing = set() if args.force else sink.keys(records.model_prefix(model.name, model.version))
    job = BulkJob(model, source, BulkSettings.from_env().max_object_bytes,
                  threads=max(args.concurrency, 4), skip=existing.__contains__)
    totals = Totals()
    bar = tqdm(total=len(refs), unit="obj", desc=f"{model.name} {model.version}", file=sys.stderr)
    interrupted = False
    with ThreadPoolExecutor(max_workers=args.concurrency, thread_name_prefix="batch") as pool:
        chunks = _chunks(refs, args.batch_size)
        running: set[Future] = set()
        try:
            while True:
                while len(running) < args.concurrency and (chunk := next(chunks, None)):
                    running.add(pool.submit(job.run, chunk, sink))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    report = future.result()
                    totals.add(report.outcomes)
                    bar.update(len(report.outcomes))
                    bar.set_postfix(errors=totals.counts["error"], refresh=False)
                with job.lock:
                    metrics.clear_metrics()  # disabled metrics are never flushed: drop them
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: finishing the batches under way; run again to complete",
                  file=sys.stderr)
            for future in wait(running).done:
                totals.add(future.result().outcomes)
        finally:
            job.close(cancel=True)
            bar.close()
    for line in totals.lines(len(refs), bar.format_dict["elapsed"]):
        print(line)
    complete = not interrupted and totals.counts["ok"] + totals.counts["error"] + totals.counts[
        "skipped"] == len(refs)
    return OK if complete else INCOMPLETE


if __name__ == "__main__":
    sys.exit(main())

"""Bulk inference, measured: objects per second per container of the batch function at batch
sizes 1, 8 and 32 on both runtimes, and what a million predictions cost in bulk (each engine)
against the same million through the HTTP API.

    python -m benchmarks.bulk [--objects N] [--rounds R] [--processes P]   (or: make bench-bulk)

Each container is a fresh process pinned to one core (benchmarks/bulk_probe.py), the runtimes
alternating (TensorFlow, LiteRT, LiteRT, TensorFlow...); the figure for a batch size is the
median over every pass of every process. S3 is moto's, in process: its requests cost microseconds
of CPU instead of S3's ~10-50 ms of latency, which the job's threads overlap in Lambda but which
this does not measure; so the objects per second are the container's CPU bound (decode, model,
records, the SDK's own work), the ceiling a real bucket approaches.

The cost of a million predictions is computed from those durations and the PRICES below (dated,
with their sources): Lambda GB-seconds at 1769 MB and requests, API Gateway requests, S3 GET,
HEAD, PUT and LIST, Step Functions state transitions, SQS requests, Batch Operations' own fee.
Prints markdown tables, writes build/bulk-benchmark.json and benchmarks/BULK_RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, alternating, machine, run_child, runtime_envs
from benchmarks.prices import HTTP_API_REQUEST, LAMBDA_GB_SECOND, LAMBDA_REQUEST, MILLION, Price

SIZES = (1, 8, 32)
#: the batch function's memory (template.yaml): GB-seconds per second of duration
GB = 1769 / 1024


def _listed(item: Price) -> tuple[float, int, str]:
    return item.usd, item.per, f"{item.url} ({item.unit})"


#: us-east-1 list prices, x86_64, without free tiers, as read on 2026-12-01 (their pages' excerpts
#: in this project's search index): {name: (USD, per how many, source)}; Lambda's and the HTTP
#: API's from benchmarks.prices, where their sources are kept
PRICES: dict[str, tuple[float, int, str]] = {
    "lambda_gb_s": _listed(LAMBDA_GB_SECOND["x86_64"]),
    "lambda_request": _listed(LAMBDA_REQUEST),
    "http_api_request": _listed(HTTP_API_REQUEST),
    "s3_get_head": (0.0004, 1000, "https://aws.amazon.com/s3/pricing/ (S3 Standard GET, SELECT "
                                  "and all other requests)"),
    "s3_put_list": (0.005, 1000, "https://aws.amazon.com/s3/pricing/ (S3 Standard PUT, COPY, "
                                 "POST, LIST)"),
    "sfn_transition": (0.025, 1000, "https://aws.amazon.com/step-functions/pricing/ (Standard)"),
    "sqs_request": (0.40, MILLION, "https://aws.amazon.com/sqs/pricing/ (Standard, per 64 KB chunk)"),
    "batch_ops_object": (1.00, MILLION, "https://aws.amazon.com/s3/pricing/ (Management & "
                                        "Insights: S3 Batch Operations; not re-read for this run)"),
    "batch_ops_job": (0.25, 1, "https://aws.amazon.com/s3/pricing/ (S3 Batch Operations, per job)"),
}


def price(name: str, count: float) -> float:
    usd, per, _ = PRICES[name]
    return usd * count / per


def per_object_seconds(result: dict[str, Any], size: int, key: str = "passes_s") -> float:
    """Median seconds per object at batch `size` over a runtime's passes (`key`: through the
    batch function on moto's S3, or local_passes_s: the job on local files)."""
    passes = [s for child in result["children"] for s in child[key][str(size)]]
    return statistics.median(passes) / result["children"][0]["objects"]


def million(per_object_s: dict[int, float], http_request_s: float, batch: int = 32) -> dict[
        str, dict[str, float]]:
    """USD per million photos by path and item. Bulk engines: one HEAD, GET and record PUT per
    photo; Distributed Map lists 1,000 keys per LIST and runs one child (one Task state, counted
    twice for its start and a retry allowance) per batch; SQS: S3's SendMessage per photo, one
    ReceiveMessage per batch and one DeleteMessageBatch per 10; Batch Operations invokes once per
    photo (batch 1). The HTTP API path: one API request and one invocation per photo, the client
    reading each photo from the same bucket (a GET); and the same with its answers stored as the
    bulk path stores them (a PUT each), which is what the bulk path's bill pays for."""
    http = {"Lambda GB-s": price("lambda_gb_s", MILLION * http_request_s * GB),
            "Lambda requests": price("lambda_request", MILLION),
            "API Gateway requests": price("http_api_request", MILLION),
            "S3 GET (the client's)": price("s3_get_head", MILLION)}
    objects_s3 = {"S3 GET + HEAD": price("s3_get_head", 2 * MILLION),
                  "S3 PUT (records)": price("s3_put_list", MILLION)}

    def lambda_cost(seconds: float, invocations: float) -> dict[str, float]:
        return {"Lambda GB-s": price("lambda_gb_s", MILLION * seconds * GB),
                "Lambda requests": price("lambda_request", invocations)}

    paths = {
        f"Distributed Map (batch {batch})": {
            **lambda_cost(per_object_s[batch], MILLION / batch), **objects_s3,
            "S3 LIST": price("s3_put_list", MILLION / 1000),
            "Step Functions transitions": price("sfn_transition", 2 * MILLION / batch),
        },
        f"SQS notifications (batch {batch})": {
            **lambda_cost(per_object_s[batch], MILLION / batch), **objects_s3,
            "SQS requests": price("sqs_request", MILLION * (1 + 1 / batch + 1 / 10)),
        },
        "S3 Batch Operations (batch 1)": {
            **lambda_cost(per_object_s[1], MILLION), **objects_s3,
            "Batch Operations": price("batch_ops_object", MILLION) + price("batch_ops_job", 1),
        },
        "HTTP API (1 photo per request)": http,
        "HTTP API, answers stored as records": {
            **http, "S3 PUT (records)": price("s3_put_list", MILLION)},
    }
    return {path: {**items, "total": sum(items.values())} for path, items in paths.items()}


def measure(model_dir: Path, objects: int, rounds: int, processes: int,
            http_requests: int) -> dict[str, Any]:
    envs, skipped = runtime_envs(model_dir)
    results: dict[str, Any] = {"machine": machine(), "skipped": skipped, "prices": PRICES,
                               "date": datetime.now(UTC).date().isoformat(), "runtimes": {}}
    children: dict[str, list[dict[str, Any]]] = {runtime: [] for runtime in envs}
    for _, runtime in alternating(processes, list(envs)):
        print(f"[bench-bulk] {runtime} container ...", file=sys.stderr, flush=True)
        children[runtime].append(run_child(
            "benchmarks.bulk_probe", envs[runtime], objects=objects, sizes=list(SIZES),
            rounds=rounds, http_requests=http_requests))
    for runtime, runs in children.items():
        result: dict[str, Any] = {"children": runs}
        per_object = {size: per_object_seconds(result, size) for size in SIZES}
        http_s = statistics.median(child["http"]["p50_ms"] for child in runs) / 1e3
        local = {size: per_object_seconds(result, size, "local_passes_s") for size in SIZES}
        result["objects_per_s"] = {size: 1 / seconds for size, seconds in per_object.items()}
        result["per_object_ms"] = {size: seconds * 1e3 for size, seconds in per_object.items()}
        result["local_objects_per_s"] = {size: 1 / seconds for size, seconds in local.items()}
        result["http_p50_ms"] = http_s * 1e3
        result["million_usd"] = million(per_object, http_s)
        results["runtimes"][runtime] = result
    return results


def report(results: dict[str, Any]) -> str:
    runtimes = results["runtimes"]
    lines = [f"# Bulk inference: measured {results['date']}", "",
             f"{results['machine'].get('cpu', '?')}, one core per container (pinned), moto S3 in "
             "process (S3's own latency not measured), demo model, real photos. "
             "`python -m benchmarks.bulk` (make bench-bulk).", "",
             "| batch size | " + " | ".join(
                 f"{r} objects/s | {r} ms/object | {r} objects/s, local files" for r in runtimes)
             + " |", "| --- |" + " --- | --- | --- |" * len(runtimes)]
    for size in SIZES:
        cells = [f"{runtimes[r]['objects_per_s'][size]:.1f} | {runtimes[r]['per_object_ms'][size]:.1f}"
                 f" | {runtimes[r]['local_objects_per_s'][size]:.1f}" for r in runtimes]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines.append("| HTTP API, 1 photo per request (p50) | " + " | ".join(
        f"{1e3 / runtimes[r]['http_p50_ms']:.1f} | {runtimes[r]['http_p50_ms']:.1f} | -"
        for r in runtimes) + " |")
    for runtime, result in runtimes.items():
        costs = result["million_usd"]
        items = sorted({item for path in costs.values() for item in path if item != "total"})
        lines += ["", f"## A million photos, USD ({runtime} durations, us-east-1, x86_64, list "
                  "prices without free tiers)", "",
                  "| item | " + " | ".join(costs) + " |", "| --- |" + " --- |" * len(costs)]
        for item in [*items, "total"]:
            cells = [f"{costs[path][item]:.2f}" if item in costs[path] else "-" for path in costs]
            name = f"**{item}**" if item == "total" else item
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Prices (USD), as read on 2026-12-01:", ""]
    lines += [f"- {name}: {usd} per {per:,} ({source})" for name, (usd, per, source)
              in results["prices"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "model")
    parser.add_argument("--objects", type=int, default=96, help="photos per pass (default 96)")
    parser.add_argument("--rounds", type=int, default=3, help="passes per batch size and container")
    parser.add_argument("--processes", type=int, default=2, help="containers per runtime")
    parser.add_argument("--http-requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bulk-benchmark.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "benchmarks" / "BULK_RESULTS.md")
    args = parser.parse_args(argv)
    results = measure(args.model_dir, args.objects, args.rounds, args.processes,
                      args.http_requests)
    text = report(results)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    args.markdown.write_text(text)


if __name__ == "__main__":
    main()

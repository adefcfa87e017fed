"""Run every benchmark, print the results as tables, write them as JSON and markdown.

    python -m benchmarks [--quick] [--install-size] [--only SECTION ...] [--cold-baseline REV]
                                                                             (or: make bench)
    python -m benchmarks --memory-invocations 50000     (the memory slope's long run, +8 min)

MODEL_DIR (default model/) is the frozen bundle to serve; --demo-dir holds the checkpoint and
Keras file it came from (for the size comparison); --multi-dir is where the multi-output model
(mtcnn's ONet, from demo.zoo) is exported and frozen, --repository-dir the repository of
several models (demo.repository). Every figure that needs the handler comes from
fresh processes of this interpreter with the function's environment (template.yaml + MODEL_DIR),
once per runtime (MODEL_RUNTIME=tensorflow, and =litert if the bundle has a model.tflite), so the
two runtimes are measured side by side in one run; cold start, warm path and batching alternate
them.
Targets are ratios against a floor measured in the same run; nothing here asserts a time.
--cold-baseline (default 8976556, `none` to skip) is the commit whose LiteRT cold start this
one's is measured against, in the same rounds (benchmarks/baseline.py extracts it under build/).
--quick uses tiny counts (a smoke test of the code, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import (
    baseline, batching, cold_start, local_api, multi_output, report, repository, size, warm_path,
)
from benchmarks.common import ROOT, machine, run_child, runtime_envs
from infra.local_api import reserved_concurrency

SECTIONS = ("cold_start", "warm_path", "multi_output", "repository", "local_api", "batching",
            "memory", "size")
#: (full, --quick) counts.
COUNTS = {
    "cold_rounds": (7, 1),
    "warm_calls": (300, 10),
    "processes_per_runtime": (3, 1),
    "api_requests": (300, 8),
    "api_seconds": (20.0, 5.0),
    "batch_repeats": (15, 1),
    "memory_invocations": (10_000, 50),
    "repository_rounds": (3, 1),
}


def run(args: argparse.Namespace) -> dict[str, Any]:
    pick = {key: value[1 if args.quick else 0] for key, value in COUNTS.items()}
    if args.memory_invocations:
        pick["memory_invocations"] = args.memory_invocations
    envs, skipped = runtime_envs(args.model_dir)
    if skipped:
        print(f"[bench] {skipped}", file=sys.stderr, flush=True)
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "counts": pick,
                               "runtimes": list(envs), "skipped": skipped}
    started = time.perf_counter()

    def section(name: str, measure: Any) -> None:
        if name in args.only:
            t = time.perf_counter()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            results[name] = measure()
            print(f"[bench] {name} done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)

    def each_runtime(measure: Any) -> dict[str, Any]:
        return {runtime: measure(env) for runtime, env in envs.items()}

    section("cold_start", lambda: cold_start.measure(
        envs, pick["cold_rounds"], _baseline(args.cold_baseline, args.model_dir)))
    section("warm_path", lambda: warm_path.measure_runtimes(
        envs, pick["warm_calls"], pick["processes_per_runtime"]))
    section("multi_output", lambda: multi_output.measure_runtimes(
        {r: env for r, env in runtime_envs(multi_output.build(args.multi_dir))[0].items()
         if r in envs}, pick["warm_calls"], pick["processes_per_runtime"]))
    section("repository", lambda: repository.measure_runtimes(
        envs, repository.build(args.repository_dir, args.demo_dir), pick["repository_rounds"],
        memory_mb=int(next(iter(envs.values()))["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])))
    section("local_api", lambda: each_runtime(lambda env: local_api.measure(
        env, [1, 2, reserved_concurrency() or 8], pick["api_requests"], pick["api_seconds"])))
    section("batching", lambda: batching.measure_runtimes(
        envs, [1, 8, 32], pick["batch_repeats"], pick["processes_per_runtime"]))
    section("memory", lambda: each_runtime(lambda env: run_child(
        "benchmarks.memory", env, invocations=pick["memory_invocations"])))
    section("size", lambda: size.measure(
        args.demo_dir, args.model_dir, args.install_size, list(envs)))
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["command"] = " ".join(["python -m benchmarks", shlex.join(sys.argv[1:])]).strip()
    return results


def _baseline(rev: str, model_dir: Path) -> dict[str, Any] | None:
    """The cold-start baseline commit's tree and bundle, or why it is not measured."""
    if rev == "none":
        return None
    try:
        tree, bundle = baseline.prepare(rev, model_dir, ROOT / "build" / "cold-baseline")
    except baseline.BaselineUnavailable as exc:
        print(f"[bench] cold-start baseline skipped: {exc}", file=sys.stderr, flush=True)
        return {"rev": rev, "skipped": str(exc)}
    return {"rev": rev, "tree": tree, "model_dir": bundle}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke test")
    parser.add_argument("--install-size", action="store_true",
                        help="measure `pip install --target -r` each runtime's requirements "
                             "(~25 s for TensorFlow's; cached)")
    parser.add_argument("--memory-invocations", type=int, default=None, metavar="N",
                        help="warm invocations per runtime in the memory section (default "
                             f"{COUNTS['memory_invocations'][0]:,}; 50000 for the RSS slope over "
                             "the last 40,000, ~4 min more per runtime)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--cold-baseline", default="8976556", metavar="REV",
                        help="the commit whose LiteRT cold start is measured beside this one's "
                             "(`none`: skip)")
    parser.add_argument("--model-dir", type=Path,
                        default=Path(os.environ.get("MODEL_DIR") or ROOT / "model"))
    parser.add_argument("--demo-dir", type=Path, default=ROOT / "build" / "demo")
    parser.add_argument("--multi-dir", type=Path, default=ROOT / "build" / "bench-onet",
                        help="where the multi-output model (ONet) is exported and frozen")
    parser.add_argument("--repository-dir", type=Path, default=ROOT / "build" / "bench-repository",
                        help="where the repository (demo.repository) is built")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "benchmarks.json",
                        help="where to write the figures as JSON")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="where to write the tables (default: benchmarks/RESULTS.md, "
                             "except with --quick)")
    args = parser.parse_args(argv)
    args.model_dir = args.model_dir.resolve()
    if not (args.model_dir / "model.json").is_file():
        parser.error(f"no model.json in {args.model_dir}: run `make model` first")

    results = run(args)
    text = report.markdown(results)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    markdown = args.markdown or (None if args.quick else ROOT / "benchmarks" / "RESULTS.md")
    if markdown:
        markdown.write_text(text + "\n", "utf-8")
    print(f"\nwrote {args.json}" + (f" and {markdown}" if markdown else ""), file=sys.stderr)


if __name__ == "__main__":
    main()

"""Choosing the memory size: both runtimes at several MemorySizes in the local Lambda, and the
cost of a million predictions at each (the way AWS Lambda Power Tuning chooses one).

    python -m benchmarks.tune [--sizes MB ...] [--runtimes tensorflow litert] [--warm N]
                              [--cold N] [--target-p99-ms X] [--cold-share S] [--out DIR]
                              (or: make tune)

Per runtime and size, `--cold` fresh containers (infra/container.py: `python -m awslambdaric
handler.app.handler` in cgroups with MemorySize / 1,769 of a core and a MemorySize memory cap;
INIT with `--init-cpu`, "burst" by default) each run INIT, answer the first request (a real
photo, benchmarks.common's, as an API Gateway HTTP API event) and then a share of the `--warm`
warm invocations. The rounds alternate over every runtime and size, so the machine's drift hits
them alike. Reported: cold start (INIT + first request), warm p50 / p99 of the REPORT line's
Duration (what Lambda bills), Max Memory Used, and a status: ok, killed (the size is below what
the runtime needs: Lambda's "Runtime exited with error: signal: killed"), timeout, init-timeout
(INIT past 10 s: Lambda re-runs it inside the first invocation) or error.

Cost per million predictions (benchmarks/prices.py: list prices and billing rules with their
pages and the day they were read): requests, the warm and first requests' billed durations,
and INIT for a share `--cold-share` of cold starts, billed as AWS bills it for the function's
package type. x86_64 is measured; arm64 is an estimate: the same durations at arm64's price
(nothing here runs on arm64). With LiteRT, SnapStart is measured too (infra/snapshot.py: one
INIT, then restored copies forked from it): restore + first request in place of INIT + first
request, priced with SnapStart's restore charge (its cache charge, per GB-second of MemorySize
while a version is cached, is not per request: stated apart).

The pick, per runtime: the cheapest size (x86_64, per million) whose warm p99 meets
`--target-p99-ms` (default: template.yaml's LatencyAlarmP99Ms) with status ok. Prints the
table; writes benchmarks/TUNE_RESULTS.md, benchmarks/tune.png (cost against p99 latency, one
point per size) and build/tune.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import prices
from benchmarks.common import (
    PHOTO, PHOTO_LABEL, ROOT, alternating, check_prediction, jpeg_event, machine, percentile,
    photo_bytes,
)
from benchmarks.prices import MILLION, billed_ms, init_is_billed, invocations_cost, snapstart_cost
from handler.runtime import LITERT, TENSORFLOW

SIZES = (256, 512, 1024, 1769, 3008)
RUNTIMES = (TENSORFLOW, LITERT)
#: template.yaml's HTTP function and package type per runtime
FUNCTIONS = {TENSORFLOW: ("InferenceFunction", "Image"), LITERT: ("LiteInferenceFunction", "Zip")}
LABELS = {TENSORFLOW: "TensorFlow", LITERT: "LiteRT"}
FULL_VCPU_MB = 1769
#: worst first: the status a size gets from its worst container
STATUSES = ("killed", "timeout", "init-timeout", "error", "ok")
DEFAULT_COLD_SHARE = 0.01
#: what each --init-cpu means (infra/container.py's Options.init_cpu)
INIT_CPU_NOTES = {
    "burst": "at least one vCPU whatever the size, as third-party measurements report of "
             "Lambda's on-demand INIT; AWS documents none",
    "proportional": "the memory's share, like an invocation: the conservative case",
}
#: a month of a cached SnapStart version, for the cache charge stated beside the table
MONTH_S = 30 * 86_400


def template_target_p99_ms() -> float:
    """template.yaml's LatencyAlarmP99Ms default: the p99 Duration that rolls a deployment back."""
    from infra.lambda_runtime import load_template

    return float(load_template()["Parameters"]["LatencyAlarmP99Ms"]["Default"])


# --- measuring --------------------------------------------------------------------------------
def _outcome(invocation: Any) -> str:
    """The status of one invocation: ok only for a 200 with the photo's label."""
    if invocation.report.status == "timeout":
        return "timeout"
    if invocation.error:
        message = str((invocation.response or {}).get("errorMessage", ""))
        return "killed" if message.endswith("signal: killed") else "error"
    try:
        check_prediction(invocation.response, PHOTO_LABEL)
    except RuntimeError:
        return "error"
    return "ok"


def _worst(statuses: Sequence[str]) -> str:
    return min(statuses, key=STATUSES.index) if statuses else "ok"


def _log_tail(log: io.StringIO, lines: int = 6) -> str:
    return "\n".join(log.getvalue().splitlines()[-lines:])


def cold_round(config: Any, options: Any, overrides: dict[str, str], event: dict[str, Any],
               warm: int) -> dict[str, Any]:
    """One fresh container: INIT, the first request, then `warm` warm invocations."""
    from infra.container import Container

    log = io.StringIO()
    container = Container(config, options, overrides, log)
    try:
        started = container.start()
        init_ms = container._init.duration_ms  # noqa: SLF001 (also on a failed INIT)
        result: dict[str, Any] = {"init_ms": init_ms, "first_ms": None, "warm_ms": []}
        # INIT past its limit is stopped with SIGKILL too: tell it from the memory cap's kill
        if not started and not container._init.timed_out:  # noqa: SLF001
            code = container.process.poll() if container.process else None
            # killed by the memory cap during INIT (Lambda would only repeat it): nothing to invoke
            result.update(status="killed" if code == -9 else "error",
                          max_memory_mb=container.max_memory_mb(), log=_log_tail(log))
            return result
        first = container.invoke(event)
        statuses = ["init-timeout"] if not started else []
        statuses.append(_outcome(first))
        result["first_ms"] = first.report.duration_ms
        result["max_memory_mb"] = first.report.max_memory_mb
        for _ in range(warm):
            if container.ended:
                break
            invocation = container.invoke(event)
            statuses.append(_outcome(invocation))
            result["warm_ms"].append(invocation.report.duration_ms)
            result["max_memory_mb"] = max(result["max_memory_mb"], invocation.report.max_memory_mb)
        result["status"] = _worst(statuses)
        if result["status"] != "ok":
            result["log"] = _log_tail(log)
        return result
    finally:
        container.stop()


def snapstart_rounds(config: Any, options: Any, overrides: dict[str, str],
                     event: dict[str, Any], restores: int) -> dict[str, Any]:
    """SnapStart: one INIT to the snapshot point, then `restores` restored copies (forked from
    it), each answering the first request."""
    from infra.snapshot import RestoreFailed, Snapshot

    snapshot = Snapshot(config, options, overrides, io.StringIO(), fork=True)
    result: dict[str, Any] = {"init_ms": None, "restores": [], "status": "ok"}
    try:
        if not snapshot.take():
            result["status"] = "error"
            return result
        result["init_ms"] = snapshot.init_ms
        for _ in range(restores):
            try:
                copy = snapshot.restore(io.StringIO())
            except RestoreFailed:
                result["status"] = "error"
                break
            try:
                first = copy.invoke(event)
                status = _outcome(first)
                result["restores"].append({"restore_ms": first.report.restore_ms,
                                           "first_ms": first.report.duration_ms,
                                           "status": status})
                result["status"] = _worst([result["status"], status])
            finally:
                copy.stop()
        return result
    finally:
        snapshot.close()


def measure(sizes: Sequence[int], runtimes: Sequence[str], cold: int, warm: int,
            model_dir: Path, init_cpu: str, snapstart: bool) -> dict[str, Any]:
    """Every runtime at every size: `cold` rounds (alternating over the cells), `warm` warm
    invocations in all, spread over the rounds; then SnapStart for LiteRT."""
    from infra.container import Options
    from infra.lambda_runtime import function_config

    event = jpeg_event(photo_bytes(PHOTO))
    configs = {r: function_config(FUNCTIONS[r][0]) for r in runtimes}
    overrides = {r: {"MODEL_DIR": str(model_dir), "MODEL_RUNTIME": r} for r in runtimes}
    cells = [(r, mb) for r in runtimes for mb in sizes]
    samples: dict[tuple[str, int], dict[str, Any]] = {
        (r, mb): {"runtime": r, "memory_mb": mb, "package_type": FUNCTIONS[r][1], "cold": [],
                  "warm_ms": [], "snapstart": None} for r, mb in cells}

    def options(runtime: str, mb: int) -> Options:
        return Options(memory_mb=mb, timeout_s=configs[runtime].timeout_s, init_cpu=init_cpu)

    for round_, (runtime, mb) in alternating(cold, cells):
        share = warm // cold + (1 if round_ < warm % cold else 0)
        cell = samples[(runtime, mb)]
        if round_ and cell["cold"][-1]["status"] in ("killed", "timeout"):
            continue  # a size the runtime does not fit in (or cannot start in): once is enough
        print(f"[tune] {runtime} {mb} MB: cold start {round_ + 1}/{cold} ...", file=sys.stderr,
              flush=True)
        result = cold_round(configs[runtime], options(runtime, mb), overrides[runtime], event,
                            share)
        cell["warm_ms"] += result.pop("warm_ms")
        cell["cold"].append(result)
        if result["status"] != "ok":
            print(f"[tune] {runtime} {mb} MB: {result['status']}\n{result.get('log', '')}",
                  file=sys.stderr, flush=True)
    if snapstart and LITERT in runtimes:
        for mb in sizes:
            print(f"[tune] litert {mb} MB: SnapStart ...", file=sys.stderr, flush=True)
            samples[(LITERT, mb)]["snapstart"] = snapstart_rounds(
                configs[LITERT], options(LITERT, mb), overrides[LITERT],
                event, cold)
    return {"cells": list(samples.values())}


# --- the pure part: figures, costs, the pick ----------------------------------------------------
def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _mean_billed(values: Sequence[float]) -> float:
    return statistics.fmean(billed_ms(v) for v in values) if values else 0.0


def cost_per_million(memory_mb: int, architecture: str, package_type: str,
                     warm_ms: Sequence[float], first_ms: Sequence[float],
                     init_ms: Sequence[float], cold_share: float) -> float:
    """USD for a million predictions: a share `cold_share` are cold starts (their first
    request's duration, plus their INIT where AWS bills INIT for `package_type`), the rest
    warm. Every duration rounded up as Lambda bills it."""
    mean_billed = ((1 - cold_share) * _mean_billed(warm_ms or first_ms)
                   + cold_share * _mean_billed(first_ms or warm_ms))
    return invocations_cost(
        MILLION, memory_mb, architecture, mean_billed, cold_start_share=cold_share,
        init_billed_ms=_mean_billed(init_ms), init_billed=init_is_billed(package_type),
    ).per_million()


def snapstart_per_million(memory_mb: int, architecture: str, warm_ms: Sequence[float],
                          first_ms: Sequence[float], restore_ms: Sequence[float],
                          cold_share: float) -> float:
    """USD for a million predictions with SnapStart: cold starts are restores (charged per GB
    restored plus their billed restore duration, no INIT); the snapshot cache is not included."""
    mean_billed = ((1 - cold_share) * _mean_billed(warm_ms or first_ms)
                   + cold_share * _mean_billed(first_ms or warm_ms))
    invocations = invocations_cost(MILLION, memory_mb, architecture, mean_billed).per_million()
    return invocations + snapstart_cost(memory_mb, architecture, restores=cold_share * MILLION,
                                        billed_restore_ms=_mean_billed(restore_ms))


def summarize(cell: dict[str, Any], cold_share: float) -> dict[str, Any]:
    """One table row from one cell's samples (see `measure`); no costs where the runtime did
    not serve (killed, timeout, error)."""
    colds = cell["cold"]
    mb, package = cell["memory_mb"], cell["package_type"]
    status = _worst([c["status"] for c in colds])
    # Lambda's limit holds for all the environment's memory; the local group is not charged for
    # pages another group already cached (TensorFlow's libraries), so a runtime whose peak RSS
    # passes MemorySize can survive here: it would not on Lambda
    rss_over_cap = any((c.get("max_memory_mb") or 0) > mb for c in colds)
    if rss_over_cap:
        status = "killed"
    init = [c["init_ms"] for c in colds if c["init_ms"] is not None]
    first = [c["first_ms"] for c in colds if c["first_ms"] is not None]
    served = [c for c in colds if c["first_ms"] is not None]
    warm = sorted(cell["warm_ms"])
    row: dict[str, Any] = {
        "runtime": cell["runtime"], "memory_mb": mb, "package_type": package,
        "vcpu": round(mb / FULL_VCPU_MB, 3), "status": status, "rss_over_cap": rss_over_cap,
        "cold_starts": len(colds),
        "init_ms": _median(init), "first_ms": _median(first),
        "cold_ms": _median([c["init_ms"] + c["first_ms"] for c in served]),
        "warm_n": len(warm),
        "warm_p50_ms": statistics.median(warm) if warm else None,
        "warm_p99_ms": percentile(warm, 99) if warm else None,
        "max_memory_mb": max((c.get("max_memory_mb") or 0 for c in colds), default=0),
        "usd_per_million": {},
    }
    if served and status in ("ok", "init-timeout"):  # a size that served: what it would cost
        row["usd_per_million"] = {arch: cost_per_million(mb, arch, package, warm, first, init,
                                                         cold_share)
                                  for arch in prices.ARCHITECTURES}
    snap = cell.get("snapstart")
    if snap:
        restores = [r for r in snap["restores"] if r["restore_ms"] is not None]
        restore = [r["restore_ms"] for r in restores]
        snap_first = [r["first_ms"] for r in restores]
        row["snapstart"] = {
            "status": snap["status"], "init_ms": snap["init_ms"], "restores": len(restores),
            "restore_ms": _median(restore), "first_ms": _median(snap_first),
            "cold_ms": _median([r + f for r, f in zip(restore, snap_first, strict=True)]),
            "usd_per_million": {arch: snapstart_per_million(mb, arch, warm, snap_first, restore,
                                                            cold_share)
                                for arch in prices.ARCHITECTURES} if restores else {},
            "cache_usd_per_month": snapstart_cost(mb, "x86_64", restores=0,
                                                  cached_seconds=MONTH_S),
        }
    return row


def pick(rows: Sequence[dict[str, Any]], target_p99_ms: float,
         architecture: str = "x86_64") -> dict[str, dict[str, Any] | None]:
    """Per runtime, the cheapest row (per million on `architecture`; the smaller size on a tie)
    whose status is ok and whose warm p99 is at most `target_p99_ms`; None where none is."""
    picks: dict[str, dict[str, Any] | None] = {}
    for row in rows:
        picks.setdefault(row["runtime"], None)
        fits = (row["status"] == "ok" and row["warm_p99_ms"] is not None
                and row["warm_p99_ms"] <= target_p99_ms and architecture in row["usd_per_million"])
        if not fits:
            continue
        best = picks[row["runtime"]]
        key = (row["usd_per_million"][architecture], row["memory_mb"])
        if best is None or key < (best["usd_per_million"][architecture], best["memory_mb"]):
            picks[row["runtime"]] = row
    return picks


# --- output -------------------------------------------------------------------------------------
def _ms(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _usd(row: dict[str, Any], arch: str) -> str:
    usd = row["usd_per_million"].get(arch)
    return "-" if usd is None else f"{usd:.3f}"


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    header = ["runtime", "MemorySize MB", "vCPU", "status", "cold start ms (INIT + 1st request)",
              "INIT ms", "1st request ms", "warm p50 ms", "warm p99 ms", "Max Memory Used MB",
              "$ / million, x86_64", "$ / million, arm64 (estimate)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        status = f"**{r['status']}**" if r["status"] != "ok" else "ok"
        status += " (RSS > MemorySize)" if r.get("rss_over_cap") else ""
        memory = f"{r['max_memory_mb']:,}" + (" (cap)" if r["max_memory_mb"] == r["memory_mb"]
                                               else "")
        lines.append("| " + " | ".join([
            LABELS[r["runtime"]], f"{r['memory_mb']:,}", f"{r['vcpu']:.2f}", status,
            _ms(r["cold_ms"]), _ms(r["init_ms"]), _ms(r["first_ms"]), _ms(r["warm_p50_ms"], 1),
            _ms(r["warm_p99_ms"], 1), memory, _usd(r, "x86_64"), _usd(r, "arm64"),
        ]) + " |")
    return lines


def snapstart_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    snaps = [r for r in rows if r.get("snapstart")]
    if not snaps:
        return []
    lines = ["| MemorySize MB | status | on-demand cold start ms (INIT + 1st) | snapshot's INIT ms "
             "| restore ms (fork + after-restore hooks) | restore + 1st request ms | saved ms "
             "| $ / million with SnapStart, x86_64 | cache $ / month (one version) |",
             "|" + "---|" * 9]
    for r in snaps:
        s = r["snapstart"]
        saved = (r["cold_ms"] - s["cold_ms"]) if r["cold_ms"] and s["cold_ms"] else None
        usd = s["usd_per_million"].get("x86_64")
        lines.append(f"| {r['memory_mb']:,} | {s['status']} | {_ms(r['cold_ms'])} | "
                     f"{_ms(s['init_ms'])} | {_ms(s['restore_ms'], 1)} | {_ms(s['cold_ms'])} | "
                     f"{_ms(saved)} | {'-' if usd is None else f'{usd:.3f}'} | "
                     f"{s['cache_usd_per_month']:.2f} |")
    return lines


def pick_lines(picks: dict[str, dict[str, Any] | None], target_p99_ms: float) -> list[str]:
    lines = []
    for runtime, row in picks.items():
        if row is None:
            lines.append(f"- {LABELS[runtime]}: no size measured meets warm p99 <= "
                         f"{target_p99_ms:,.0f} ms with status ok.")
            continue
        lines.append(
            f"- {LABELS[runtime]} ({FUNCTIONS[runtime][0]}): **{row['memory_mb']:,} MB**, "
            f"${row['usd_per_million']['x86_64']:.3f} per million on x86_64 "
            f"(${row['usd_per_million']['arm64']:.3f} estimated on arm64), warm p99 "
            f"{row['warm_p99_ms']:.1f} ms, cold start {row['cold_ms']:,.0f} ms, Max Memory Used "
            f"{row['max_memory_mb']:,} MB.")
    return lines


def plot(rows: Sequence[dict[str, Any]], target_p99_ms: float, path: Path) -> Path:
    """Cost per million against warm p99, one point per size (labelled), one series per runtime
    and architecture (arm64 dashed: estimated); sizes that did not run are left out of the plot
    (the table says why)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    colors = {TENSORFLOW: "tab:orange", LITERT: "tab:blue"}
    for runtime in dict.fromkeys(r["runtime"] for r in rows):
        points = [r for r in rows if r["runtime"] == runtime and r["usd_per_million"]
                  and r["warm_p99_ms"] is not None]
        for arch, style in (("x86_64", "-o"), ("arm64", "--s")):
            if not points:
                continue
            xs = [r["warm_p99_ms"] for r in points]
            ys = [r["usd_per_million"][arch] for r in points]
            label = f"{LABELS[runtime]}, {arch}" + (" (estimate)" if arch == "arm64" else "")
            ax.plot(xs, ys, style, color=colors[runtime], label=label,
                    alpha=1.0 if arch == "x86_64" else 0.6)
            if arch == "x86_64":
                for r, x, y in zip(points, xs, ys, strict=True):
                    ax.annotate(f"{r['memory_mb']} MB", (x, y), textcoords="offset points",
                                xytext=(5, 5), fontsize=8)
    ax.axvline(target_p99_ms, color="grey", linestyle=":", label=f"target p99 {target_p99_ms:,.0f} ms")
    left_out = [f"{LABELS[r['runtime']]} {r['memory_mb']} MB ({r['status']})" for r in rows
                if not r["usd_per_million"] or r["warm_p99_ms"] is None]
    if left_out:
        fig.text(0.01, 0.01, "not plotted (did not serve): " + ", ".join(left_out), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("warm p99 Duration (ms, log scale)")
    ax.set_ylabel("USD per million predictions")
    ax.set_title("Cost against latency per MemorySize (local Lambda)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown(results: dict[str, Any], png_name: str) -> str:
    m, rows = results["machine"], results["rows"]
    share = results["cold_share"]
    lines = [
        f"# Memory size, measured: {results['finished_at']}", "",
        f"{m['nproc']} x {m['cpu']}, Python {m['python']}, TensorFlow {m['tensorflow']}, "
        f"ai-edge-litert {m['ai_edge_litert']}; load average at start {m['load_average_at_start']}, "
        f"at end {results['load_average_at_end']} (a machine shared with others: compare figures "
        f"within this run only). `{results['command']}` in {results['seconds']:.0f} s: "
        f"{results['cold']} cold starts and {results['warm']} warm invocations per runtime and "
        f"size, the rounds alternating over them.", "",
        "The local Lambda (infra/container.py): `python -m awslambdaric handler.app.handler` in "
        "cgroups, CPU quota MemorySize / 1,769 of a core (capped at this machine's cores), memory "
        f"cap MemorySize, INIT's CPU `{results['init_cpu']}` ({INIT_CPU_NOTES[results['init_cpu']]}"
        "). The request: `POST /predict` of the dog photo "
        "(image/jpeg) as an API Gateway HTTP API event. Durations are the REPORT line's; Max "
        "Memory Used is the larger of the memory group's peak and the runtime's peak RSS.", "",
        *table(rows), "",
        "killed: the memory cap ended the runtime (in INIT or a request), as Lambda ends it "
        "(\"Runtime exited with error: signal: killed\"); (RSS > MemorySize): it ran here, but "
        "its peak RSS passed MemorySize, which a Lambda environment cannot hold (the local "
        "memory group is not charged for library pages that other processes of this machine "
        "cached first), so it counts as killed too, without a cost. The other figures of such "
        "a row are medians of the cold starts that did serve.", "",
        f"Cost: a million predictions of which {share:.1%} are cold starts (their first request "
        "and, where AWS bills it, their INIT: since 2025-08-01 for zip and image functions "
        "alike), the rest warm; requests $0.20 per million; every duration rounded up to 1 ms. "
        "x86_64 is measured here; **arm64 is an estimate**: the same durations at arm64's "
        "price per GB-second (nothing here runs on arm64). No free tier, no HTTP API charge "
        "(the same $1.00 per million at every size). Prices, as read on "
        f"{prices.READ_ON.isoformat()}: x86_64 ${prices.LAMBDA_GB_SECOND['x86_64'].usd} and "
        f"arm64 ${prices.LAMBDA_GB_SECOND['arm64'].usd} per GB-second, "
        f"{prices.LAMBDA_PRICING_URL}; INIT billing: {prices.INIT_BILLING_URL} "
        "(benchmarks/prices.py holds every figure with its basis).", "",
    ]
    snap = snapstart_table(rows)
    if snap:
        lines += [
            "## LiteRT with SnapStart", "",
            "One INIT to the snapshot point (infra/snapshot.py), then restored copies forked "
            "from it, each running the after-restore hooks and answering the first request. A "
            "fork shares the snapshot's memory at once, where Lambda restores it from its "
            "snapshot cache: the restore figures here are a lower bound of Lambda's Restore "
            "Duration. $ / million: the same warm durations, cold starts priced as restores "
            "(per GB restored plus their billed restore duration, no INIT); the cache charge "
            "(MemorySize x time a version is cached) is apart, shown per month.", "",
            *snap, "",
        ]
    lines += [
        f"## The pick: cheapest x86_64 size with warm p99 <= {results['target_p99_ms']:,.0f} ms "
        f"({results['target_source']}) and status ok", "",
        *pick_lines(results["picks"], results["target_p99_ms"]), "",
        f"![cost per million against warm p99, per MemorySize]({png_name})", "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(), "sizes": args.sizes, "runtimes": args.runtimes, "cold": args.cold,
        "warm": args.warm, "cold_share": args.cold_share, "init_cpu": args.init_cpu,
    }
    measured = measure(args.sizes, args.runtimes, args.cold, args.warm, args.model_dir,
                       args.init_cpu, not args.no_snapstart)
    rows = [summarize(cell, args.cold_share) for cell in measured["cells"]]
    results.update(
        cells=measured["cells"], rows=rows, target_p99_ms=args.target_p99_ms,
        target_source=args.target_source, picks=pick(rows, args.target_p99_ms),
        seconds=round(time.perf_counter() - started, 1),
        load_average_at_end=[round(x, 2) for x in os.getloadavg()],
        finished_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=" ".join(["python -m benchmarks.tune", shlex.join(sys.argv[1:])]).strip(),
    )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), metavar="MB")
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES))
    parser.add_argument("--cold", type=int, default=3, help="cold starts per runtime and size")
    parser.add_argument("--warm", type=int, default=300,
                        help="warm invocations per runtime and size, over the cold rounds")
    parser.add_argument("--target-p99-ms", type=float, default=None,
                        help="default: template.yaml's LatencyAlarmP99Ms")
    parser.add_argument("--cold-share", type=float, default=DEFAULT_COLD_SHARE,
                        help=f"share of invocations that are cold starts (default {DEFAULT_COLD_SHARE})")
    parser.add_argument("--init-cpu", choices=("burst", "proportional"), default="burst")
    parser.add_argument("--no-snapstart", action="store_true", help="skip LiteRT's SnapStart rows")
    parser.add_argument("--model-dir", type=Path,
                        default=Path(os.environ.get("MODEL_DIR") or ROOT / "model"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks",
                        help="where TUNE_RESULTS.md and tune.png go (default benchmarks/)")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "tune.json")
    args = parser.parse_args(argv)
    args.model_dir = args.model_dir.resolve()
    if not (args.model_dir / "model.json").is_file():
        parser.error(f"no model.json in {args.model_dir}: run `make model` first")
    if args.cold < 1 or args.warm < 1 or not 0 <= args.cold_share <= 1:
        parser.error("--cold and --warm must be >= 1, --cold-share 0..1")
    args.target_source = "--target-p99-ms"
    if args.target_p99_ms is None:
        args.target_p99_ms = template_target_p99_ms()
        args.target_source = "template.yaml's LatencyAlarmP99Ms"

    results = run(args)
    png = plot(results["rows"], results["target_p99_ms"], args.out / "tune.png")
    text = markdown(results, png.name)
    print(text)
    (args.out / "TUNE_RESULTS.md").write_text(text, "utf-8")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", "utf-8")
    print(f"\nwrote {args.out / 'TUNE_RESULTS.md'}, {png} and {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()

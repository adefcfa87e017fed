"""The results as markdown tables (printed, and written to benchmarks/RESULTS.md).

Every table has one column (or row group) per runtime measured, TensorFlow first; the first
table puts the headline figures of both side by side with their LiteRT / TensorFlow ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.cold_start import PHASES
from handler.runtime import LITERT, TENSORFLOW

FULL_VCPU_MB = 1769
LABELS = {TENSORFLOW: "TensorFlow", LITERT: "LiteRT"}


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _heads(runtimes: list[str], *columns: str) -> list[str]:
    """`columns` once per runtime, each headed with the runtime's name."""
    return [f"{LABELS[r]} {c}".strip() for r in runtimes for c in columns]


def _side_by_side(results: dict[str, Any]) -> list[str]:
    """Headline figures of each runtime, and LiteRT / TensorFlow when both ran."""
    runtimes = results["runtimes"]
    both = len(runtimes) == 2
    rows: list[list[Any]] = []

    def row(label: str, value: Callable[[str], float], fmt: str = "{:.2f}") -> None:
        values = [value(r) for r in runtimes]
        ratio = [f"{values[1] / values[0]:.2f}x"] if both else []
        rows.append([label, *(fmt.format(v) for v in values), *ratio])

    cold, warm = results.get("cold_start"), results.get("warm_path")
    batching, memory, size = results.get("batching"), results.get("memory"), results.get("size")
    if cold:
        row("cold start: fresh process to first answer (s)", lambda r: cold["handler"][r]["total"])
        row("  of which INIT, import of `handler.app` (s)", lambda r: cold["handler"][r]["init"])
        row("peak RSS after cold start (MB)", lambda r: cold["handler"][r]["peak_rss_mb"], "{:.0f}")
    if warm:
        row("warm `POST /predict` through the handler, p50 (ms)",
            lambda r: warm[r]["handler"]["p50_ms"])
        row("warm `POST /predict` through the handler, p99 (ms)",
            lambda r: warm[r]["handler"]["p99_ms"])
    multi = results.get("multi_output")
    if multi and set(runtimes) <= set(multi):
        row("multi-output model (ONet, 3 outputs): v2 `infer` JSON through the handler, p50 (ms)",
            lambda r: multi[r]["v2_json"]["p50_ms"])
    if batching and "32" in batching[TENSORFLOW]["sizes"]:
        row("32 photos in one request, p50 (ms)",
            lambda r: batching[r]["sizes"]["32"]["request_p50_ms"], "{:.1f}")
    if memory:
        n = memory[TENSORFLOW]["invocations"]
        row(f"peak RSS after {n:,} warm invocations (MB)",
            lambda r: memory[r]["peak_rss_after_invocations_mb"], "{:.0f}")
    if size:
        files = {TENSORFLOW: "frozen_pb_mb", LITERT: "tflite_mb"}
        row("model file, model.pb / model.tflite (MB)", lambda r: size["model"][files[r]], "{:.1f}")
        row("requirements installed, this venv (MB)",
            lambda r: size["installed_here"][r]["total_mb"], "{:,.0f}")
        if set(size["pip_install_target"]) == set(runtimes):
            row("`pip install --target -r` the requirements (MB)",
                lambda r: size["pip_install_target"][r]["total_mb"], "{:,.0f}")
    header = ["", *(LABELS[r] for r in runtimes), *(["LiteRT / TensorFlow"] if both else [])]
    lines = ["### TensorFlow vs LiteRT (same bundle, same run)", ""]
    if results.get("skipped"):
        lines += [f"LiteRT not measured: {results['skipped']}.", ""]
    lines += [*_table(header, rows), ""]
    paired = (cold or {}).get("litert_vs_tensorflow")
    if paired:
        lines += [f"Cold start LiteRT / TensorFlow per round (both measured in the same round), "
                  f"median: {paired['total_per_round_median']:.2f}x.", ""]
    return lines


def _cold(c: dict[str, Any], runtimes: list[str]) -> list[str]:
    h, floor, libs = c["handler"], c["floor"], c["libraries"]
    tf_ratio = c["ratio_to_floor"][TENSORFLOW]
    lines = [
        f"### Cold start ({c['rounds']} interleaved rounds of fresh processes, medians)", "",
        *_table(["", *_heads(runtimes, "seconds", "peak RSS")], [
            ["runtime import only (floor): " + ", ".join(
                f"`import {c['floor_modules'][r]}`" for r in runtimes),
             *(x for r in runtimes
               for x in (f"{floor[r]['total']:.2f}", f"{floor[r]['peak_rss_mb']:.0f} MB"))],
            ["the libraries INIT imports, alone (the handler's list of modules, neither the "
             "standard library's nor the project's; the collector paused as at INIT)",
             *(x for r in runtimes for x in (
                 f"{libs[r]['total']:.2f}", f"{libs[r]['peak_rss_mb']:.0f} MB"))],
            ["handler import + first request",
             *(x for r in runtimes for x in (f"{h[r]['total']:.2f}", f"{h[r]['peak_rss_mb']:.0f} MB"))],
            ["of which INIT (import of `handler.app`)",
             *(x for r in runtimes for x in (f"{h[r]['init']:.2f}", ""))],
        ]), "",
        f"TensorFlow: {tf_ratio:.2f}x its floor (median of per-round ratios "
        f"{c['ratio_to_floor_per_round_median'][TENSORFLOW]:.2f}x); target <= "
        f"{c['target_ratio']}x: {_verdict(tf_ratio <= c['target_ratio'])}.",
    ]
    if LITERT in runtimes:
        lines[-1] += (f" LiteRT: {c['ratio_to_floor'][LITERT]:.2f}x its floor (its runtime "
                      "imports so fast that the handler's own imports dominate).")
    lines += ["", "Against the libraries INIT imports (the project's own code, model load and "
              "first request are the difference): " + "; ".join(
                  f"{LABELS[r]} {c['ratio_to_libraries'][r]:.2f}x, "
                  f"+{(h[r]['total'] - libs[r]['total']) * 1e3:.0f} ms" for r in runtimes) + "."]
    lines += _baseline(c)
    return [
        *lines, "",
        *_table(["handler cold start, phase", *_heads(runtimes, "ms", "share")], [
            [label, *(x for r in runtimes for x in (
                (f"{h[r][key] * 1e3:.0f}", f"{h[r][key] / h[r]['total']:.0%}") if key in h[r]
                else ("-", "")))]
            for key, label in PHASES
        ]), "",
    ]


def _baseline(c: dict[str, Any]) -> list[str]:
    """LiteRT's cold start against the baseline commit's, measured in the same rounds."""
    base = c.get("baseline")
    if not base:
        return []
    if "litert" not in base:
        return ["", f"Baseline {base['rev']} not measured: {base.get('skipped', 'no LiteRT')}."]
    vs, old, new = c["litert_vs_baseline"], base["litert"], c["handler"][LITERT]
    libs = c["libraries"][LITERT]["total"]
    return [
        "",
        *_table(["LiteRT cold start (medians)", f"commit {base['rev']}", "this one", "ratio"], [
            ["fresh process to first answer (s)", f"{old['total']:.3f}", f"{new['total']:.3f}",
             f"{vs['total']:.2f}x"],
            ["of which INIT, import of `handler.app` (s)", f"{old['init']:.3f}",
             f"{new['init']:.3f}", f"{vs['init']:.2f}x"],
            ["of which the handler's own imports (s)", f"{old['handler_imports']:.3f}",
             f"{new['handler_imports']:.3f}",
             f"{new['handler_imports'] / old['handler_imports']:.2f}x"],
            ["first request (s)", f"{old['first_request']:.3f}", f"{new['first_request']:.3f}",
             f"{new['first_request'] / old['first_request']:.2f}x"],
        ]), "",
        f"LiteRT: {vs['total']:.2f}x the cold start of {base['rev']} (median of per-round ratios "
        f"{vs['total_per_round_median']:.2f}x); target <= {vs['target_ratio']}x: "
        f"{_verdict(vs['total'] <= vs['target_ratio'])}. The target is "
        f"{vs['target_ratio'] * old['total']:.3f} s; the libraries INIT imports take "
        f"{libs:.3f} s alone ({libs / old['total']:.2f}x {base['rev']}'s cold start), before "
        "any model is read.",
    ]


def _warm(w: dict[str, Any], runtimes: list[str]) -> list[str]:
    names = [
        ("handler", "handler: Mangum + FastAPI, `POST /predict` image/jpeg"),
        ("handler_multipart", "handler: the same photo as a multipart upload"),
        ("bare", "bare: Pillow decode + resize + the runtime's run (floor)"),
        ("predict", "the runtime's run alone (`session.run` / `invoke`, batch of 1)"),
        ("handler_health", "handler: `GET /health` (fixed cost of an invocation, no model)"),
    ]
    first = w[runtimes[0]]
    lines = [
        f"### Warm path (in-process, {first['handler']['n']} interleaved calls each per runtime "
        f"over {w['processes_per_runtime']} alternating processes, {first['photo_bytes']}-byte JPEG)",
        "",
        *_table(["path", *_heads(runtimes, "p50 ms", "p99 ms")], [
            [label, *(x for r in runtimes
                      for x in (f"{w[r][k]['p50_ms']:.2f}", f"{w[r][k]['p99_ms']:.2f}"))]
            for k, label in names
        ]), "",
    ]
    for r in runtimes:
        lines.append(
            f"{LABELS[r]}: p50 ratio handler / bare {w[r]['ratio_p50']:.2f}x (multipart "
            f"{w[r]['ratio_p50_multipart']:.2f}x); target <= {w[r]['target_ratio']}x: "
            f"{_verdict(w[r]['ratio_p50'] <= w[r]['target_ratio'])}.")
    return [*lines, ""]


def _multi_output(m: dict[str, Any], runtimes: list[str]) -> list[str]:
    names = [
        ("v2_json", "handler: v2 `infer`, FP32 JSON in, all outputs JSON"),
        ("v2_binary", "handler: v2 `infer`, binary tensors in and out"),
        ("tfserving_rows", "handler: TF Serving `instances`, `{output: row}` per instance"),
        ("run", "the runtime's run of all outputs alone (floor)"),
    ]
    first = m[runtimes[0]]
    lines = [
        f"### A multi-output model ({m['model']}: outputs {', '.join(first['outputs'])}; "
        f"{first['run']['n']} interleaved calls each per runtime over "
        f"{m['processes_per_runtime']} alternating processes, batch of 1)",
        "",
        *_table(["path", *_heads(runtimes, "p50 ms", "p99 ms")], [
            [label, *(x for r in runtimes
                      for x in (f"{m[r][k]['p50_ms']:.2f}", f"{m[r][k]['p99_ms']:.2f}"))]
            for k, label in names
        ]), "",
    ]
    for r in runtimes:
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in m[r]["ratio_p50"].items())
        lines.append(f"{LABELS[r]}: p50 ratio handler / run: {ratios}.")
    return [*lines, ""]


def _repository(r: dict[str, Any], runtimes: list[str]) -> list[str]:
    first = r[runtimes[0]]
    configs = [c for c in first if isinstance(first[c], dict) and "init_s" in first[c]]
    lines = [
        f"### Several models in one function (median of {r['rounds']} fresh processes each; "
        f"GB-seconds at {r['memory_mb']} MB)", "",
        *_table(["served", *_heads(runtimes, "INIT s", "peak RSS MB", "first requests ms")], [
            [f"`{c}` ({first[c]['versions']} versions)" if c.startswith("repository")
             else f"`{c}` alone", *(x for rt in runtimes for x in (
                 f"{r[rt][c]['init_s']:.2f}", f"{r[rt][c]['peak_rss_mb']:.0f}",
                 ", ".join(f"{n} {ms:.0f}" for n, ms in r[rt][c]["first_request_ms"].items())))]
            for c in configs
        ]), "",
    ]
    for rt in runtimes:
        x = r[rt]
        lines.append(
            f"{LABELS[rt]}: each version added at INIT costs {x['added_init_s_per_version']:.2f} s; "
            f"INIT of the repository {x['init_gb_s']['repository']:.2f} GB-s against "
            f"{x['init_gb_s']['functions_per_model']:.2f} GB-s for a function per model (three "
            f"cold starts). MODEL_LOAD=lazy, a budget of one demo graph, the demo's two "
            f"versions alternating (each request loads one, unloads the other): RSS "
            f"{x['churn_rss_mb'][0]:.0f} MB after the first cycle, {x['churn_rss_mb'][-1]:.0f} MB "
            f"after {len(x['churn_rss_mb'])}.")
    return [*lines, ""]


def _local_api(a: dict[str, Any], runtimes: list[str]) -> list[str]:
    first = a[runtimes[0]]
    return [
        f"### Through the local API (HTTP on 127.0.0.1, at most {first['requests_per_level']} "
        f"requests or {first['seconds_per_level']:.0f} s per level; one server per runtime, in turn; "
        f"up to ReservedConcurrency warm containers)",
        "",
        *_table(["runtime", "clients", "requests", "req/s", "p50 ms", "p99 ms"], [
            [LABELS[r], x["clients"], x["requests"], x["requests_per_s"], f"{x['p50_ms']:.1f}",
             f"{x['p99_ms']:.1f}"] for r in runtimes for x in a[r]["levels"]
        ]), "",
    ]


def _batching(b: dict[str, Any], runtimes: list[str]) -> list[str]:
    return [
        f"### Batching (multipart `POST /predict`, median of {b['repeats']} requests per size and "
        f"runtime over {b['processes_per_runtime']} alternating processes)", "",
        *_table(["images / request", "runtime", "request ms", "images/s", "model run ms",
                 "model run images/s"], [
            [x["images"], LABELS[r], f"{x['request_p50_ms']:.1f}", x["images_per_s"],
             f"{x['predict_p50_ms']:.1f}", x["predict_images_per_s"]]
            for size in b[runtimes[0]]["sizes"] for r in runtimes for x in [b[r]["sizes"][size]]
        ]), "",
    ]


def _memory(m: dict[str, Any], runtimes: list[str]) -> list[str]:
    n = m[runtimes[0]]["invocations"]
    rows = [
        ("peak RSS after cold start (first request answered)", "peak_rss_after_cold_start_mb"),
        ("RSS after cold start", "rss_after_cold_start_mb"),
        (f"RSS after {n:,} warm invocations", "rss_after_invocations_mb"),
        (f"peak RSS after {n:,} warm invocations", "peak_rss_after_invocations_mb"),
    ]
    split = [(f"  of which anonymous / file-backed, {when}", key) for when, key in (
        ("after cold start", "rss_split_after_cold_start_mb"),
        (f"after {n:,}", "rss_split_after_invocations_mb"))]
    lines = [f"### Memory (one process per runtime, {n:,} warm invocations each)", "",
             *_table(["MB", *(LABELS[r] for r in runtimes)],
                     [[label, *(m[r][key] for r in runtimes)] for label, key in rows]
                     + [[label, *(f"{m[r][key]['anon']} / {m[r][key]['file']}" for r in runtimes)]
                        for label, key in split]), ""]
    for r in runtimes:
        x = m[r]
        ops = (f" Graph ops {x['graph_ops_before']} before, {x['graph_ops_after']} after."
               if x["graph_ops_before"] is not None else "")
        start, end = x["slope_window"]
        lines.append(
            f"{LABELS[r]}: growth over {x['growth_at']:,} invocations {x['growth_pct']:+.2f}%; "
            f"target <= {x['target_growth_pct']}%: "
            f"{_verdict(x['growth_pct'] <= x['target_growth_pct'])}. RSS slope over "
            f"{start:,}-{end:,} {x['slope_mb_per_10k']:+.2f} MB per 10,000; target < "
            f"{x['target_slope_mb_per_10k']} MB over 10,000-50,000: "
            + (_verdict(x["slope_mb_per_10k"] < x["target_slope_mb_per_10k"]) if end >= 50_000
               else "not measured (a 50,000 run: `--memory-invocations 50000`)") + "." + ops)
    return [*lines, ""]


def _size(s: dict[str, Any], runtimes: list[str]) -> list[str]:
    m = s["model"]
    rows = [
        ["TF1 checkpoint (all files)", f"{m['checkpoint_mb']:.1f}"],
        ["Keras .h5 (with optimizer state)", f"{m['keras_h5_mb']:.1f}"],
        ["frozen model.pb", f"{m['frozen_pb_mb']:.1f}"],
    ]
    if m["tflite_mb"] is not None:
        rows.append(["model.tflite (converted from model.pb)", f"{m['tflite_mb']:.1f}"])
    for r in runtimes:
        here, name = s["installed_here"][r], s["requirements"][r]
        rows.append([f"{LABELS[r]}: {name} installed ({here['distributions']} distributions, "
                     "this venv)", f"{here['total_mb']:,}"])
        rows += [[f"  of which {dist}", f"{mb:,.0f}"]
                 for dist, mb in list(here["largest_mb"].items())[:3]]
        pip = s["pip_install_target"].get(r)
        if pip:
            rows.append([f"{LABELS[r]}: `pip install --target -r {name}`"
                         f"{' (cached)' if pip['cached'] else ''}",
                         f"{pip['total_mb']:,} (tensorflow {pip['tensorflow_mb']:,})"])
        else:
            rows.append([f"{LABELS[r]}: `pip install --target -r {name}`",
                         "not measured (--install-size)"])
    rows.append(["Lambda limit, zip package unzipped / container image",
                 f"{s['lambda_zip_limit_mb']} / {s['lambda_image_limit_mb']:,}"])
    return ["### Size", "", *_table(["", "MB"], rows), ""]


def _sizing(results: dict[str, Any], runtimes: list[str]) -> list[str]:
    lines = ["### Sizing figures", ""]
    for r in runtimes:
        peak = max(results["memory"][r]["peak_rss_after_invocations_mb"],
                   results["cold_start"]["handler"][r]["peak_rss_mb"])
        lines.append(
            f"{LABELS[r]}: peak RSS {peak:.0f} MB: {FULL_VCPU_MB} MB (1 full vCPU) leaves "
            f"{FULL_VCPU_MB / peak:.1f}x headroom; INIT here "
            f"{results['cold_start']['handler'][r]['init']:.1f} s of Lambda's 10 s INIT limit.")
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    m, runtimes = results["machine"], results["runtimes"]
    lines = [
        "## Benchmark results", "",
        f"Measured {results['finished_at']} on {m['nproc']} x {m['cpu']}, Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, ai-edge-litert {m['ai_edge_litert']} (load average at "
        f"start {m['load_average_at_start']}, at end {results['load_average_at_end']}); "
        f"`{results['command']}` in "
        f"{results['seconds']:.0f} s.", "",
        *_side_by_side(results),
    ]
    sections = {"cold_start": _cold, "warm_path": _warm, "multi_output": _multi_output,
                "repository": _repository, "local_api": _local_api,
                "batching": _batching, "memory": _memory, "size": _size}
    for key, render in sections.items():
        if key in results:
            lines += render(results[key], runtimes)
    if "memory" in results and "cold_start" in results:
        lines += _sizing(results, runtimes)
    return "\n".join(lines)

"""The results as markdown tables (printed, and written to benchmarks/RESULTS.md)."""

from __future__ import annotations

from typing import Any

from benchmarks.cold_start import PHASES

FULL_VCPU_MB = 1769


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _cold(c: dict[str, Any]) -> list[str]:
    h, tf = c["handler"], c["tf_only"]
    lines = [
        f"### Cold start ({c['rounds']} interleaved rounds of fresh processes, medians)", "",
        *_table(["", "seconds", "peak RSS"], [
            ["`import tensorflow` only (floor)", f"{tf['total']:.2f}", f"{tf['peak_rss_mb']:.0f} MB"],
            ["handler import + first request", f"{h['total']:.2f}", f"{h['peak_rss_mb']:.0f} MB"],
            ["of which INIT (import of `handler.app`)", f"{h['init']:.2f}", ""],
        ]), "",
        f"Ratio {c['ratio']:.2f}x the floor (median of per-round ratios "
        f"{c['ratio_per_round_median']:.2f}x); target <= {c['target_ratio']}x: "
        f"{_verdict(c['ratio'] <= c['target_ratio'])}.", "",
        *_table(["handler cold start, phase", "ms", "share"], [
            [label, f"{h[key] * 1e3:.0f}", f"{h[key] / h['total']:.0%}"] for key, label in PHASES
        ]), "",
    ]
    return lines


def _warm(w: dict[str, Any]) -> list[str]:
    names = [
        ("handler", "handler: Mangum + FastAPI, `POST /predict` image/jpeg"),
        ("handler_multipart", "handler: the same photo as a multipart upload"),
        ("bare", "bare: Pillow decode + resize + `session.run` (floor)"),
        ("session_run", "`session.run` alone (batch of 1)"),
        ("handler_health", "handler: `GET /health` (fixed cost of an invocation, no model)"),
    ]
    return [
        f"### Warm path (in-process, {w['handler']['n']} interleaved calls each, "
        f"{w['photo_bytes']}-byte JPEG)", "",
        *_table(["path", "p50 ms", "p99 ms"],
                [[label, f"{w[k]['p50_ms']:.2f}", f"{w[k]['p99_ms']:.2f}"] for k, label in names]),
        "",
        f"p50 ratio handler / bare: {w['ratio_p50']:.2f}x (multipart {w['ratio_p50_multipart']:.2f}x);"
        f" target <= {w['target_ratio']}x: {_verdict(w['ratio_p50'] <= w['target_ratio'])}.", "",
    ]


def _local_api(a: dict[str, Any]) -> list[str]:
    return [
        f"### Through the local API (HTTP on 127.0.0.1, at most {a['requests_per_level']} "
        f"requests or {a['seconds_per_level']:.0f} s per level)", "",
        *_table(["clients", "requests", "req/s", "p50 ms", "p99 ms"], [
            [r["clients"], r["requests"], r["requests_per_s"], f"{r['p50_ms']:.1f}",
             f"{r['p99_ms']:.1f}"] for r in a["levels"]
        ]), "",
    ]


def _batching(b: dict[str, Any]) -> list[str]:
    return [
        f"### Batching (multipart `POST /predict`, median of {b['repeats']} requests)", "",
        *_table(["images / request", "request ms", "images/s", "session.run ms",
                 "session.run images/s"], [
            [r["images"], f"{r['request_p50_ms']:.1f}", r["images_per_s"],
             f"{r['session_run_p50_ms']:.1f}", r["session_run_images_per_s"]]
            for r in b["sizes"].values()
        ]), "",
    ]


def _memory(m: dict[str, Any]) -> list[str]:
    return [
        "### Memory", "",
        *_table(["", "MB"], [
            ["peak RSS after cold start (first request answered)", m["peak_rss_after_cold_start_mb"]],
            ["RSS after cold start", m["rss_after_cold_start_mb"]],
            [f"RSS after {m['invocations']:,} warm invocations", m["rss_after_invocations_mb"]],
            [f"peak RSS after {m['invocations']:,} warm invocations",
             m["peak_rss_after_invocations_mb"]],
        ]), "",
        f"Growth {m['growth_pct']:+.2f}%; target <= {m['target_growth_pct']}%: "
        f"{_verdict(m['growth_pct'] <= m['target_growth_pct'])}. Graph ops "
        f"{m['graph_ops_before']} before, {m['graph_ops_after']} after.", "",
    ]


def _size(s: dict[str, Any]) -> list[str]:
    m, here = s["model"], s["requirements_installed_here"]
    rows = [
        ["TF1 checkpoint (all files)", f"{m['checkpoint_mb']:.1f}"],
        ["Keras .h5 (with optimizer state)", f"{m['keras_h5_mb']:.1f}"],
        ["frozen model.pb", f"{m['frozen_pb_mb']:.1f}"],
        [f"requirements.txt installed ({here['distributions']} distributions, this venv)",
         f"{here['total_mb']:,}"],
    ]
    rows += [[f"  of which {name}", f"{mb:,.0f}"] for name, mb in list(here["largest_mb"].items())[:3]]
    pip = s.get("pip_install_target")
    if pip:
        rows.append([f"`pip install --target` of requirements.txt{' (cached)' if pip['cached'] else ''}",
                     f"{pip['total_mb']:,} (tensorflow {pip['tensorflow_mb']:,})"])
    else:
        rows.append(["`pip install --target` of requirements.txt", "not measured (--install-size)"])
    rows.append(["Lambda limit, zip package unzipped / container image",
                 f"{s['lambda_zip_limit_mb']} / {s['lambda_image_limit_mb']:,}"])
    return ["### Size", "", *_table(["", "MB"], rows), ""]


def _sizing(results: dict[str, Any]) -> list[str]:
    peak = max(results["memory"]["peak_rss_after_invocations_mb"],
               results["cold_start"]["handler"]["peak_rss_mb"])
    return [
        "### Sizing figures", "",
        f"Peak RSS {peak:.0f} MB: {FULL_VCPU_MB} MB (1 full vCPU) leaves "
        f"{FULL_VCPU_MB / peak:.1f}x headroom; INIT here "
        f"{results['cold_start']['handler']['init']:.1f} s of Lambda's 10 s INIT limit.", "",
    ]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "## Benchmark results", "",
        f"Measured {results['finished_at']} on {m['nproc']} x {m['cpu']}, Python {m['python']}, "
        f"TensorFlow {m['tensorflow']} (load average at start {m['load_average_at_start']}); "
        f"`{results['command']}` in {results['seconds']:.0f} s.", "",
    ]
    sections = {"cold_start": _cold, "warm_path": _warm, "local_api": _local_api,
                "batching": _batching, "memory": _memory, "size": _size}
    for key, render in sections.items():
        if key in results:
            lines += render(results[key])
    if "memory" in results and "cold_start" in results:
        lines += _sizing(results)
    return "\n".join(lines)

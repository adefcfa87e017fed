"""What every benchmark shares: fresh processes, the function's environment, statistics, requests."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from urllib3 import encode_multipart_formdata

from handler.manifest import load_manifest
from handler.runtime import LITERT, TENSORFLOW

ROOT = Path(__file__).resolve().parents[1]
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
#: The photo every single-image request carries, and the label it must get.
PHOTO, PHOTO_LABEL = "dog", "dog"


def function_env(model_dir: Path) -> dict[str, str]:
    """The environment of a fresh function process: Lambda's and the template's variables, then
    this process's own, then MODEL_DIR (the same precedence as `infra.invoke`)."""
    from infra.lambda_runtime import function_config, lambda_environment

    return {**lambda_environment(function_config()), **os.environ, "MODEL_DIR": str(model_dir)}


def runtime_envs(model_dir: Path) -> tuple[dict[str, dict[str, str]], str | None]:
    """`function_env` for each runtime the bundle can be served by (MODEL_RUNTIME set), and why
    LiteRT is left out if it is: TensorFlow serves any bundle, LiteRT only one whose manifest
    names a model.tflite."""
    env = function_env(model_dir)
    envs = {TENSORFLOW: {**env, "MODEL_RUNTIME": TENSORFLOW}}
    if load_manifest(model_dir).artifacts.tflite is None:
        return envs, (f"{model_dir / 'model.json'} names no model.tflite, so LiteRT is not "
                      "measured: freeze with --tflite (make model does)")
    return {**envs, LITERT: {**env, "MODEL_RUNTIME": LITERT}}, None


def alternating[T](rounds: int, items: Sequence[T]) -> Iterator[tuple[int, T]]:
    """(round, item) for every item in every round, in reverse order on odd rounds (A B, B A,
    ...), so a noisy machine's drift and any order effect (page cache, CPU boost) hit every item
    alike."""
    for round_ in range(rounds):
        for item in items[::-1] if round_ % 2 else items:
            yield round_, item


def run_fresh(module: str, args: Sequence[str], env: dict[str, str], timeout: float = 900) -> dict:
    """Run `python -m module *args RESULT_FILE` in a new process; return the JSON it wrote there.

    The function's stdout (JSON logs, EMF metrics) is discarded, as Lambda would ship it away;
    stderr is kept to explain a failure.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result = Path(tmp) / "result.json"
        proc = subprocess.run(
            [sys.executable, "-m", module, *args, str(result)], cwd=ROOT, env=env, timeout=timeout,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(f"{module} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
        return json.loads(result.read_text("utf-8"))


def run_child(module: str, env: dict[str, str], **params: Any) -> dict[str, Any]:
    """`run_fresh` of a `child_main` module with keyword `params`; fails unless the child served
    the runtime `env` asks for (a child reports its `runtime`)."""
    result = run_fresh(module, [json.dumps(params)], env)
    if result.get("runtime") != env["MODEL_RUNTIME"]:
        raise RuntimeError(f"{module} ran {result.get('runtime')!r}, not MODEL_RUNTIME="
                           f"{env['MODEL_RUNTIME']}")
    return result


def alternate_children(module: str, envs: dict[str, dict[str, str]], processes: int,
                       **params: Any) -> dict[str, list[dict[str, Any]]]:
    """`processes` `run_child` runs of `module` per runtime of `envs`, the runtimes alternating
    (`alternating`): one process serves one runtime, so this is how their samples interleave."""
    runs: dict[str, list[dict[str, Any]]] = {runtime: [] for runtime in envs}
    for _, runtime in alternating(processes, list(envs)):
        runs[runtime].append(run_child(module, envs[runtime], **params))
    return runs


def child_main(measure: Callable[..., dict[str, Any]]) -> None:
    """Entry point of a fresh benchmark process: `python -m M JSON_PARAMS RESULT_FILE`."""
    params, result_file = json.loads(sys.argv[1]), sys.argv[2]
    Path(result_file).write_text(json.dumps(measure(**params)), "utf-8")


def rss_kb() -> int:
    """Current resident set size of this process (from /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE_KB


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50, p99, mean, min and max of durations in seconds, as milliseconds."""
    ms = sorted(s * 1e3 for s in seconds)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(ms[0], 3),
        "max_ms": round(ms[-1], 3),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (the 'inclusive' method); exact for small samples."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def interleaved(work: dict[str, Callable[[], Any]], calls: int, warmup: int
                ) -> dict[str, list[float]]:
    """Each of `work` called in turn, round after round; the seconds of each call after the
    first `warmup` rounds (interleaving spreads the machine's noise over all of them)."""
    samples: dict[str, list[float]] = {name: [] for name in work}
    for round_ in range(warmup + calls):
        for name, call in work.items():
            seconds, _ = timed(call)
            if round_ >= warmup:
                samples[name].append(seconds)
    return samples


def photo_bytes(name: str = PHOTO) -> bytes:
    from demo.photos import photo_path

    return photo_path(name).read_bytes()


def jpeg_event(image: bytes, path: str = "/predict") -> dict[str, Any]:
    """The HTTP API v2 event of `POST path` with a raw image/jpeg body, as API Gateway sends it."""
    from infra.local_api import http_api_event

    headers = [("host", "api.example.com"), ("content-type", "image/jpeg"),
               ("content-length", str(len(image)))]
    return http_api_event("POST", path, headers, image, "192.0.2.1")


def multipart_event(images: Sequence[bytes]) -> dict[str, Any]:
    """The HTTP API v2 event of `POST /predict` with one multipart `file` part per image."""
    from infra.local_api import http_api_event

    body, content_type = encode_multipart_formdata(
        [("file", (f"photo{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    )
    headers = [("host", "api.example.com"), ("content-type", content_type),
               ("content-length", str(len(body)))]
    return http_api_event("POST", "/predict", headers, body, "192.0.2.1")


def lambda_context() -> Any:
    """A Lambda context object for direct handler calls (new request id each time)."""
    from infra.lambda_runtime import LambdaContext

    return LambdaContext("benchmark", 1769, 15)


def check_prediction(response: dict[str, Any], label: str, count: int = 1) -> None:
    """Fail loudly unless the handler answered 200 with `count` predictions, the first `label`."""
    import base64

    body = response.get("body", "")
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    if response.get("statusCode") != 200:
        raise RuntimeError(f"handler answered {response.get('statusCode')}: {body[:500]}")
    predictions = json.loads(body)["predictions"]
    if len(predictions) != count or predictions[0]["label"] != label:
        raise RuntimeError(f"expected {count} predictions, the first {label!r}; got {body[:500]}")


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor() or "unknown",
    )
    from importlib.metadata import PackageNotFoundError, version

    def pkg(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "tensorflow": pkg("tensorflow-cpu") if pkg("tensorflow-cpu") != "-" else pkg("tensorflow"),
        "ai_edge_litert": pkg("ai-edge-litert"),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def image_feeds(model: Any, images: Sequence[bytes]) -> dict[str, Any]:
    """The runtime's feeds for `images`, decoded by the data plane as a request's would be."""
    import numpy as np

    items = np.empty(len(images), dtype=object)
    items[:] = list(images)
    return model.validate({model.manifest.image_input.name: items})


def task_scores(model: Any, feeds: dict[str, Any]) -> Any:
    """The classifier output's tensor for `feeds`, from the runtime alone."""
    output = model.manifest.task.output
    return model.runtime.run(feeds, [output])[output]

"""Cold start: find the bundle, verify it, open the session, warm it up; or fail loudly.

The bundle's trust (handler/trust.py: the MODEL_SHA256 pin on model.json, first), the manifest,
the graph's size and sha256 against it, and the inference-op allowlist are checked before
TensorFlow is imported, so a missing, mismatched or untrusted bundle fails in milliseconds with
one log line saying what is wrong and where it looked, and the raised error makes Lambda report an
INIT failure: never a wrong answer.
"""

from __future__ import annotations

import time

from handler import trust
from handler.config import Settings
from handler.manifest import ModelBundleError, load_manifest, read_verified_graph
from handler.model import Model
from handler.observability import logger
from handler.source import resolve_model_dir


def load_model(settings: Settings) -> Model:
    """The served model, loaded per `settings`; raises ModelBundleError after logging it."""
    where = settings.model_s3_uri or str(settings.model_dir)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[f"{name}_ms"] = round((now - clock) * 1e3, 1)
        clock = now

    try:
        model_dir = resolve_model_dir(settings)  # from S3: already checked against the pin
        # The pin names model.json; the manifest names the graph's sha256: in this order, one
        # pin covers labels, preprocessing and graph alike.
        trust.check_pin(model_dir, settings.model_sha256)
        manifest = load_manifest(model_dir)
        graph = read_verified_graph(model_dir, manifest)
        trust.check_ops(graph, manifest, settings.extra_allowed_ops)
        lap("read_verify")
        # The runtime's import is TensorFlow's (~2 s): only once the bundle is known to be good.
        from handler.runtime.tf_graph import TensorFlowRuntime

        lap("import_tensorflow")
        runtime = TensorFlowRuntime(graph, manifest)
        lap("load_graph")
        runtime.warm_up()
        lap("warm_up")
    except ModelBundleError as exc:
        logger.error(f"cold start failed, no model to serve (looked in {where}): {exc}")
        raise
    logger.info(
        "model loaded",
        extra={"model": manifest.name, "version": manifest.version, "source": where,
               "pinned": settings.model_sha256 is not None, **timings},
    )
    return Model(runtime, settings.limits.for_input(manifest.input.shape))

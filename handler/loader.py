"""Cold start: find the bundle, verify it, load it into its runtime, warm it up; or fail loudly.

The bundle is read and checked once (handler/source.py: the MODEL_SHA256 pin on model.json,
the manifest, the model file's size and sha256, a TensorFlow graph's ops) before the runtime
(MODEL_RUNTIME) is imported, so a missing, mismatched or untrusted bundle fails in milliseconds
with one log line saying what is wrong and where it looked, and the raised error makes Lambda
report an INIT failure: never a wrong answer.
"""

from __future__ import annotations

import time

from handler.config import Settings
from handler.manifest import ModelBundleError
from handler.model import Model
from handler.observability import logger
from handler.runtime import entry, runtime_class
from handler.source import read_bundle


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
        entry(settings.runtime)
        manifest, data = read_bundle(settings)
        lap("read_verify")
        # TensorFlow's import takes ~2 s: only once the bundle is known to be good.
        load = runtime_class(settings.runtime)
        lap("import_runtime")
        runtime = load(data, manifest)
        lap("load_model")
        runtime.warm_up()
        lap("warm_up")
    except ModelBundleError as exc:
        logger.error(f"cold start failed, no model to serve (looked in {where}): {exc}")
        raise
    logger.info(
        "model loaded",
        extra={"model": manifest.name, "version": manifest.version, "runtime": runtime.name,
               "source": where,
               "pinned": settings.model_sha256 is not None, **timings},
    )
    return Model(runtime, settings.limits)

"""Cold start: find the source, verify it, load every served model into its runtime, warm it
up; or fail loudly.

Each bundle is read and checked once (handler/source.py: the pin on model.json, or models.json's
record of it, the manifest, the model file's size and sha256, a TensorFlow graph's ops) before
the runtime (MODEL_RUNTIME) is imported, so a missing, mismatched or untrusted bundle fails in
milliseconds with one log line saying what is wrong and where it looked, and the raised error
makes Lambda report an INIT failure: never a wrong answer.

A repository's versions load one after another (or, with MODEL_LOAD=lazy, are checked now and
loaded on first use: handler/lazy.py) within MODEL_INIT_BUDGET_S (Lambda ends INIT at
10 s without a word and retries it inside the first invocation): before each load the time
spent so far plus the slowest load yet must fit, or the cold start stops with a line naming what
did not fit. With `on_load_error: serve_others` a bad bundle is listed as unavailable instead
(a pin mismatch always fails).
"""

from __future__ import annotations

import time
from dataclasses import replace

from handler.catalog import Catalog, Loaded, ServedModel, ServedVersion
from handler.config import Settings
from handler.lazy import LazySlot, Pool
from handler.manifest import ModelBundleError
from handler.model import Model
from handler.observability import logger
from handler.repository import RepositoryConfig
from handler.runtime import entry, runtime_class
from handler.source import Bundle, Source, open_source, read_bundle
from handler.trust import PinMismatch


def load_model(
    settings: Settings, bundle: Bundle | None = None, source: Source | None = None
) -> Model:
    """One served model (the source's single bundle, or `bundle` of a repository, read from
    `source`: default, a new one), loaded per `settings`; raises ModelBundleError after logging
    it."""
    where = settings.model_s3_uri or str(settings.model_dir)
    if bundle is not None and bundle.sub:
        where += f" {bundle.sub}"
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[f"{name}_ms"] = round((now - clock) * 1e3, 1)
        clock = now

    try:
        entry(settings.runtime)
        manifest, data = read_bundle(settings, bundle, source)
        lap("read_verify")
        # TensorFlow's import takes ~2 s: only once the bundle is known to be good.
        load = runtime_class(settings.runtime)
        lap("import_runtime")
        runtime = load(data, manifest)
        # The runtime holds what it needs. TensorFlow's import leaves cyclic garbage that reaches
        # this frame, and INIT's garbage is never collected (handler/heap.py): no model bytes here.
        del data
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
               "pinned": (bundle.pin if bundle else settings.model_sha256) is not None,
               **timings},
    )
    return Model(runtime, settings.limits)


def load_catalog(settings: Settings) -> Catalog:
    """Everything the source serves: a single bundle, or a repository's served versions."""
    start = time.perf_counter()  # the INIT budget counts the source and models.json too
    try:
        source = open_source(settings)
        config = source.repository()
    except ModelBundleError as exc:
        logger.error(f"cold start failed, no model to serve: {exc}")
        raise
    if config is None:
        model = load_model(settings, source=source)
        return Catalog.single(model, source.digest(repository=False))
    return _load_repository(settings, source, config, start)


def load_default_model(settings: Settings) -> Model:
    """The one model a single-model entry (the batch function) runs: the source's bundle, or a
    repository's default model at its highest version (only that version is loaded)."""
    source = open_source(settings)
    try:
        config = source.repository()
        if config is not None:
            if config.default_model is None and len(config.model_config_list) > 1:
                raise ModelBundleError(
                    "the batch function runs one model: name it as default_model in models.json"
                )
            name = config.default_model or config.model_config_list[0].name
            number = config.entry(name).served[-1]
            version = _load_version(settings, source, config, name, number, None)
            if version.slot is None:
                raise ModelBundleError(f"{name} version {number}: {version.error}")
            return version.slot.get()
    except ModelBundleError as exc:
        logger.error(f"cold start failed, no model to serve: {exc}")
        raise
    return load_model(settings, source=source)


def _load_repository(
    settings: Settings, source: Source, config: RepositoryConfig, start: float
) -> Catalog:
    digest = source.digest(repository=True)
    pool = None
    if settings.model_load == "lazy":
        budget = settings.memory_budget_mb
        pool = Pool(None if budget is None else budget * 1024 * 1024)
        runtime_class(settings.runtime)  # at INIT: the first request pays its model's load only
    slowest = 0.0
    planned = [(e, n) for e in config.model_config_list for n in e.served]
    models: dict[str, ServedModel] = {}
    for index, (model_entry, number) in enumerate(planned):
        spent = time.perf_counter() - start
        if spent + slowest > settings.init_budget_s:
            left = ", ".join(f"{e.name} {n}" for e, n in planned[index:])
            message = (
                f"cold start stopped: {left} would not load within MODEL_INIT_BUDGET_S="
                f"{settings.init_budget_s:g} s ({spent:.1f} s spent, the slowest load took "
                f"{slowest:.1f} s; Lambda ends INIT at 10 s): serve fewer versions, or raise the "
                "budget if INIT has the room"
            )
            logger.error(message)
            raise ModelBundleError(message)
        loaded = time.perf_counter()
        version = _load_version(settings, source, config, model_entry.name, number, pool)
        slowest = max(slowest, time.perf_counter() - loaded)
        served = models.setdefault(
            model_entry.name, ServedModel(model_entry.name, {}, dict(model_entry.version_labels))
        )
        served.versions[number] = version
    names = list(models)
    default = config.default_model or (names[0] if len(names) == 1 else None)
    catalog = Catalog(models, default, digest, settings.limits, repository=True)
    logger.info("repository loaded", extra={
        "digest": digest, "models": {n: sorted(m.versions) for n, m in models.items()},
        "unavailable": [f"{n} {v.number}" for n, m in models.items()
                        for v in m.versions.values() if not v.available],
        "load_ms": round((time.perf_counter() - start) * 1e3, 1),
    })
    return catalog


def _load_version(
    settings: Settings, source: Source, config: RepositoryConfig, name: str, number: int,
    pool: Pool | None,
) -> ServedVersion:
    """One version of a repository's model: its bundle, pinned by models.json, whose manifest
    must carry the folder's model name; loaded now, or with a `pool` (MODEL_LOAD=lazy) checked
    now and loaded on first use. Unavailable instead of failing only where the file says so,
    and never for a pin mismatch."""
    model_entry = config.entry(name)
    pin = model_entry.versions[str(number)]
    bundle = Bundle(f"{name}/{number}", pin, f"{name} {number} in models.json")
    own = replace(settings, extra_allowed_ops=settings.extra_allowed_ops
                  | frozenset(model_entry.extra_allowed_ops))
    try:
        if pool is None:
            model = load_model(own, bundle, source)
            manifest, slot = model.manifest, Loaded(model)
        else:
            manifest, data = read_bundle(own, bundle, source)  # every check, at INIT
            slot = LazySlot(f"{name} {number}", lambda: load_model(own, bundle, source),
                            len(data), pool)
        if manifest.name != name:
            raise ModelBundleError(
                f"{bundle.sub}/model.json names model {manifest.name!r}, not its folder's "
                f"{name!r}"
            )
    except ModelBundleError as exc:
        if isinstance(exc, PinMismatch) or config.on_load_error == "fail":
            logger.error(f"cold start failed: {name} version {number}: {exc}")
            raise
        logger.warning(f"{name} version {number} is unavailable: {exc}")
        return ServedVersion(name, number, str(number), None, None, str(exc))
    return ServedVersion(name, number, str(number), manifest, slot)

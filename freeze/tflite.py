"""`model.tflite` (`--tflite`): the frozen graph converted for LiteRT (every input and output), then
checked to compute what the graph computes on the same verification batch, output by output, run
by the function's own LiteRT runtime.

Measured on the demo model: conversion takes ~0.4 s, gives the same bytes every time and a file
the size of the `.pb` (float32, no quantization), and agrees with the graph within ~2e-7.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from freeze import FreezeError, first_line
from freeze.graph import Frozen
from freeze.verify import compare_outputs
from handler.manifest import Manifest, ModelBundleError
from handler.runtime.litert import LiteRtRuntime

#: what to do when the graph has no faithful LiteRT form: serve it with TensorFlow only
WITHOUT = "freeze without --tflite to serve the .pb with TensorFlow only"


def convert(frozen: Frozen) -> bytes:
    """The frozen GraphDef as a TFLite flatbuffer, every input and output of it, with LiteRT's
    builtin ops only (the function registers no others) and the batch dimension kept as -1 in
    its signature (its tensors are allocated for a batch of 1, which is how the function runs
    it). Refused, saying every reason at once, when an op has no builtin or when the graph has
    init ops (lookup tables filled at cold start: the LiteRT runtime runs none)."""
    reasons = []
    if frozen.init_ops:
        reasons.append(
            f"its lookup tables are filled at cold start by {len(frozen.init_ops)} init op(s), "
            "which the LiteRT runtime does not run"
        )
    # The converter exports the default graph's collections with the GraphDef: make that a graph
    # of the frozen nodes alone, not the checkpoint session's (its Saver and initializers).
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(frozen.graph_def, name="")
        inputs, outputs = (
            [graph.get_tensor_by_name(spec.tensor) for spec in specs]
            for specs in (frozen.inputs, frozen.outputs)
        )
        try:
            model = tf.compat.v1.lite.TFLiteConverter(frozen.graph_def, inputs, outputs).convert()
        except Exception as exc:  # ConverterError (not exported by tf.lite), ValueError, ...
            reasons.append(_reason(exc))
    if reasons:
        raise FreezeError(f"cannot convert the graph for LiteRT: {'; '.join(reasons)}; {WITHOUT}")
    return model


def _reason(exc: Exception) -> str:
    """The ops LiteRT lacks, when that is the problem (the converter's message spans pages of
    MLIR); otherwise the message's first line."""
    ops = sorted({
        error.operator.name.removeprefix("tf.")
        for error in getattr(exc, "errors", [])
        if error.operator.name
    })
    return f"no LiteRT builtin op for {', '.join(ops)}" if ops else first_line(exc)


def check_parity(
    model: bytes, manifest: Manifest, feeds: Mapping[str, np.ndarray],
    frozen_outputs: Mapping[str, np.ndarray], tolerance: float,
) -> dict[str, float]:
    """Largest |frozen - tflite| per output over the verification batch (`frozen_outputs`: the
    graph's on it), the .tflite loaded as the function loads it, so it must also fit the
    manifest (every input and output found by name)."""
    tflite = manifest.artifacts.tflite
    assert tflite is not None  # the caller built the manifest with the .tflite's entry
    try:
        runtime = LiteRtRuntime(model, manifest)
        got = runtime.run(feeds, [spec.name for spec in manifest.outputs])
    except ModelBundleError as exc:
        raise FreezeError(f"{first_line(exc)}; {WITHOUT}") from None
    except (ValueError, RuntimeError) as exc:
        raise FreezeError(
            f"{tflite.path} fails on the verification batch: {first_line(exc)}; {WITHOUT}"
        ) from None
    return compare_outputs(
        dict(frozen_outputs), got, tflite.path, "the frozen graph", tolerance,
        advice=f"; {WITHOUT}, or raise --tolerance if that difference is acceptable",
    )

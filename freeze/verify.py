"""The freeze step checks its own work: the frozen bytes, run by the function's own runtime, must
compute every output the original computed, on the verification batch (`freeze.samples`), and a
classifier's output must hold probabilities."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import tensorflow as tf

from freeze import FreezeError, first_line
from freeze.graph import Frozen
from handler.manifest import Classification, Manifest, ModelBundleError
from handler.runtime.tf_graph import TensorFlowRuntime

#: float32 math reordered by oneDNN moves results by ~1e-7; anything near 1e-5 is a real change
TOLERANCE = 1e-5
#: how far a softmax row's sum may be from 1 (float32 rounding over many classes stays far below)
SUM_TOLERANCE = 1e-3

Tensors = dict[str, np.ndarray]
Model = Callable[[Mapping[str, np.ndarray]], Tensors]


def verify(
    frozen: Frozen,
    manifest: Manifest,
    graph_bytes: bytes,
    feeds: Mapping[str, np.ndarray],
    tolerance: float = TOLERANCE,
) -> tuple[dict[str, float], Tensors]:
    """Largest |original - frozen| per output over the batch, and the frozen graph's outputs
    (what another form of the graph, the .tflite, is compared with). Fail above `tolerance`, on
    NaN, on a new shape, or when a classifier's output is not the probabilities its activation
    says."""
    expected = run_model("the original model", frozen.reference, feeds, manifest)
    got = run_model(
        "the frozen graph", lambda rows: run_frozen(graph_bytes, manifest, rows), feeds, manifest
    )
    diffs = compare_outputs(expected, got, "frozen graph", "the original", tolerance)
    if manifest.task is not None:
        check_probabilities(got[manifest.task.output], manifest.task)
    return diffs, got


def run_frozen(graph_bytes: bytes, manifest: Manifest, feeds: Mapping[str, np.ndarray]) -> Tensors:
    """Run every output of the graph bytes as the function will: through its own runtime (one
    session configured as the function's, the init ops run once, no Grappler pass)."""
    try:
        runtime = TensorFlowRuntime(graph_bytes, manifest)
    except ModelBundleError as exc:
        raise FreezeError(f"the frozen graph does not load: {first_line(exc)}") from None
    try:
        return runtime.run(feeds, [spec.name for spec in manifest.outputs])
    finally:
        runtime.close()


def run_model(
    what: str, model: Model, feeds: Mapping[str, np.ndarray], manifest: Manifest
) -> Tensors:
    """One model run over the batch (row by row when an input fixes its batch at 1); TensorFlow's
    failure (a long multi-line message) becomes one line."""
    fixed = {spec.shape[0] for spec in manifest.inputs} - {None}
    if fixed - {1}:
        raise FreezeError(
            f"the inputs fix the batch at {sorted(fixed)}: only an open batch or a batch of 1 "
            "can be served"
        )
    rows = len(next(iter(feeds.values())))
    chunks = [slice(i, i + 1) for i in range(rows)] if fixed else [slice(0, rows)]
    try:
        parts = [model({name: value[chunk] for name, value in feeds.items()}) for chunk in chunks]
    except (tf.errors.OpError, ValueError, TypeError) as exc:
        ints = any(spec.dtype.startswith(("int", "uint")) for spec in manifest.inputs)
        hint = " (integer inputs are drawn from --verify_int_range, default 0,9)" if ints else ""
        raise FreezeError(
            f"{what} fails on the verification batch: {first_line(exc)}{hint}"
        ) from None
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def compare_outputs(
    expected: Tensors, got: Tensors, subject: str, reference: str, tolerance: float,
    advice: str = "",
) -> dict[str, float]:
    """`compare` for every output of `expected`, by name."""
    return {
        name: compare(expected[name], got[name], f"{subject} output {name!r}", reference,
                      tolerance, advice)
        for name in expected
    }


def compare(
    expected: np.ndarray,
    got: np.ndarray,
    subject: str,
    reference: str,
    tolerance: float,
    advice: str = "",
) -> float:
    """Largest |expected - got| (strings: 0 if equal); fail on another shape, on NaN, on other
    strings, or above `tolerance`."""
    if expected.shape != got.shape:
        raise FreezeError(
            f"{subject} gives shape {got.shape}, {reference} {expected.shape}{advice}"
        )
    if expected.dtype == object or got.dtype == object:
        if not np.array_equal(expected, got):
            raise FreezeError(f"{subject} gives other strings than {reference}{advice}")
        return 0.0
    diff = float(np.max(np.abs(expected.astype(np.float64) - got.astype(np.float64)), initial=0))
    if not diff <= tolerance:
        raise FreezeError(
            f"{subject} differs from {reference} by {diff:.3g} (> {tolerance:g}){advice}"
        )
    return diff


def check_probabilities(outputs: np.ndarray, task: Classification) -> None:
    """Refuse logits declared as probabilities: the function would serve them as probabilities."""
    low, high = float(np.min(outputs)), float(np.max(outputs))
    name = task.output
    if task.activation == "softmax":
        sums = outputs.astype(np.float64).sum(axis=-1)
        if low < 0 or high > 1 or np.any(np.abs(sums - 1) > SUM_TOLERANCE):
            raise FreezeError(
                f"output {name!r} looks like logits, not probabilities: softmax decoding needs "
                f"rows in [0, 1] summing to 1, but values span {low:.3g}..{high:.3g} and row sums "
                f"{sums.min():.3g}..{sums.max():.3g}; choose a node after the Softmax "
                "(--output_node_names) or pass the right --decoding"
            )
    elif low < 0 or high > 1:
        raise FreezeError(
            f"output {name!r} looks like logits, not probabilities: sigmoid decoding needs values "
            f"in [0, 1], but they span {low:.3g}..{high:.3g}; choose a node after the Sigmoid "
            "(--output_node_names) or pass the right --decoding"
        )


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"

"""The freeze step checks its own work: the frozen bytes must compute what the original computed,
on noise and on an encoded image preprocessed the way the function will, and give probabilities."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from freeze import FreezeError, first_line
from freeze.graph import Frozen
from freeze.images import load_batch, synthetic_png
from handler.manifest import Manifest, ModelBundleError, Preprocessing, TensorSpec
from handler.runtime.tf_graph import TensorFlowRuntime

#: float32 math reordered by oneDNN moves results by ~1e-7; anything near 1e-5 is a real change
TOLERANCE = 1e-5
#: how far a softmax row's sum may be from 1 (float32 rounding over many classes stays far below)
SUM_TOLERANCE = 1e-3


def random_batch(
    spec: TensorSpec, preprocessing: Preprocessing, rows: int, seed: int = 0
) -> np.ndarray:
    """Deterministic uniform noise over the input's value range (0..255 scaled and offset)."""
    shape = [rows, *spec.shape[1:]]
    if len(shape) == 4:
        shape[1] = shape[1] or preprocessing.height
        shape[2] = shape[2] or preprocessing.width
    if None in shape:
        raise FreezeError(f"cannot make a verification batch for input shape {spec.shape}")
    low = preprocessing.offset
    high = preprocessing.offset + 255 * preprocessing.scale
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(spec.dtype)


def verification_batch(
    frozen: Frozen, preprocessing: Preprocessing, rows: int, images: list[Path]
) -> np.ndarray:
    """`rows` of noise, a generated PNG, then the given photos, preprocessed per the manifest."""
    if rows < 1:
        raise FreezeError(f"verify_rows must be at least 1, not {rows}")
    batch = random_batch(frozen.input, preprocessing, rows)
    try:
        photos = load_batch([io.BytesIO(synthetic_png()), *images], preprocessing)
    except OSError as exc:
        raise FreezeError(f"cannot read verification image: {exc}") from None
    if photos.shape[1:] != batch.shape[1:]:
        raise FreezeError(
            f"images preprocess to {list(photos.shape[1:])}, "
            f"but the input takes {frozen.input.shape}"
        )
    return np.concatenate([batch, photos.astype(batch.dtype)])


def verify(
    frozen: Frozen,
    manifest: Manifest,
    graph_bytes: bytes,
    batch: np.ndarray,
    tolerance: float = TOLERANCE,
) -> tuple[float, np.ndarray]:
    """Largest |original - frozen| over the batch, and the frozen graph's outputs (what another
    form of the graph, the .tflite, is compared with). Fail above `tolerance`, on NaN, on a new
    shape, or when the outputs are not the probabilities the manifest's decoding says they are."""
    expected = _run("the original model", frozen.reference, batch)
    got = _run("the frozen graph", lambda rows: run_frozen(graph_bytes, manifest, rows), batch)
    diff = compare(expected, got, "frozen graph", "the original", tolerance)
    check_probabilities(got, manifest.decoding, manifest.output.name)
    return diff, got


def run_frozen(graph_bytes: bytes, manifest: Manifest, batch: np.ndarray) -> np.ndarray:
    """Run the graph bytes as the function will: through its own runtime (one session
    configured as the function's, no Grappler pass)."""
    try:
        runtime = TensorFlowRuntime(graph_bytes, manifest)
    except ModelBundleError as exc:
        raise FreezeError(f"the frozen graph does not load: {first_line(exc)}") from None
    try:
        return runtime.predict(batch)
    finally:
        runtime.session.close()


def compare(
    expected: np.ndarray,
    got: np.ndarray,
    subject: str,
    reference: str,
    tolerance: float,
    advice: str = "",
) -> float:
    """Largest |expected - got|; fail on another shape, on NaN, or above `tolerance`."""
    if expected.shape != got.shape:
        raise FreezeError(f"{subject} gives shape {got.shape}, {reference} {expected.shape}{advice}")
    diff = float(np.max(np.abs(expected.astype(np.float64) - got)))
    if not diff <= tolerance:
        raise FreezeError(
            f"{subject} differs from {reference} by {diff:.3g} (> {tolerance:g}){advice}"
        )
    return diff


def _run(what: str, model: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> np.ndarray:
    """One model run; TensorFlow's failure (a long multi-line message) becomes one line."""
    try:
        return model(batch)
    except (tf.errors.OpError, ValueError) as exc:
        raise FreezeError(f"{what} fails on the verification batch: {first_line(exc)}") from None


def check_probabilities(outputs: np.ndarray, decoding: str, name: str) -> None:
    """Refuse logits declared as probabilities: the function would serve them as probabilities."""
    low, high = float(np.min(outputs)), float(np.max(outputs))
    if decoding == "softmax":
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

"""The freeze step checks its own work: the frozen bytes must compute what the original computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from freeze import FreezeError
from freeze.graph import Frozen
from freeze.images import load_batch
from handler.manifest import Preprocessing, TensorSpec

#: float32 math reordered by oneDNN moves results by ~1e-7; anything near 1e-5 is a real change
TOLERANCE = 1e-5


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
    """`rows` of noise, then the given photos preprocessed per the manifest."""
    batch = random_batch(frozen.input, preprocessing, rows)
    if images:
        try:
            photos = load_batch(images, preprocessing)
        except OSError as exc:
            raise FreezeError(f"cannot read verification image: {exc}") from None
        if photos.shape[1:] != batch.shape[1:]:
            raise FreezeError(
                f"images preprocess to {list(photos.shape[1:])}, "
                f"but the input takes {frozen.input.shape}"
            )
        batch = np.concatenate([batch, photos.astype(batch.dtype)])
    return batch


def run_graph(
    graph_bytes: bytes, input: TensorSpec, output: TensorSpec, batch: np.ndarray
) -> np.ndarray:
    """Run serialized GraphDef bytes the way the function does: import, one session, one run."""
    graph_def = tf.compat.v1.GraphDef.FromString(graph_bytes)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(output.tensor, {input.tensor: batch})


def max_abs_diff(
    frozen: Frozen, graph_bytes: bytes, batch: np.ndarray, tolerance: float = TOLERANCE
) -> float:
    """Largest |original - frozen| over the batch; fail above `tolerance`, on NaN or new shape."""
    expected = frozen.reference(batch)
    got = run_graph(graph_bytes, frozen.input, frozen.output, batch)
    if expected.shape != got.shape:
        raise FreezeError(f"frozen graph gives shape {got.shape}, the original {expected.shape}")
    diff = float(np.max(np.abs(expected.astype(np.float64) - got)))
    if not diff <= tolerance:
        raise FreezeError(f"frozen graph differs from the original by {diff:.3g} (> {tolerance:g})")
    return diff


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"

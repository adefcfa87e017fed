"""The model runtime interface: what the data plane needs from whatever executes the model.

Two runtimes serve the same frozen model, chosen by MODEL_RUNTIME at cold start:
`tensorflow` (the default: a TensorFlow session over `model.pb`) and `litert` (a LiteRT
interpreter over `model.tflite`, converted from that same graph by the freeze step). A runtime is
built once per container (at import) and shared by every request; each is imported only when
chosen, so a bad bundle fails before any heavy import and the LiteRT function never imports
TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from handler import trust
from handler.manifest import Artifact, Manifest, ModelBundleError

TENSORFLOW = "tensorflow"
LITERT = "litert"
#: MODEL_RUNTIME values
RUNTIMES = (TENSORFLOW, LITERT)


class ModelRuntime(Protocol):
    """Executes one model: a float batch shaped like `manifest.input` in, its output tensor out."""

    manifest: Manifest
    #: MODEL_RUNTIME's value for it (RUNTIMES)
    name: str
    #: the Open Inference Protocol's `platform` of what it runs
    platform: str

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a batch; return its output tensor (probabilities, a row per input)."""
        ...

    def warm_up(self) -> None:
        """Pay first-run costs now (during INIT); raise ModelBundleError if the model cannot run."""
        ...


def check_runtime(name: str) -> None:
    """MODEL_RUNTIME must name a runtime; a typo fails the cold start, never falls back."""
    if name not in RUNTIMES:
        raise ModelBundleError(
            f"MODEL_RUNTIME={name!r} is not a runtime: use {' or '.join(RUNTIMES)}"
        )


def artifact_for(name: str, manifest: Manifest) -> Artifact:
    """The bundle file runtime `name` executes: model.pb for TensorFlow, model.tflite for LiteRT."""
    check_runtime(name)
    if name == TENSORFLOW:
        return manifest.graph
    if manifest.tflite is None:
        raise ModelBundleError(
            f"MODEL_RUNTIME={LITERT} needs model.tflite, and the manifest of {manifest.name} "
            f"{manifest.version} names none: freeze with --tflite (make model does)"
        )
    return manifest.tflite


def check_model(
    name: str, data: bytes, manifest: Manifest, extra_allowed_ops: frozenset[str]
) -> None:
    """Refuse what runtime `name` must not load from verified bytes: for a TensorFlow graph,
    any op outside the allowlist (handler/trust.py). A .tflite needs no op check: LiteRT runs
    only its builtin kernels (no file, network or Python ops exist among them) and this function
    registers no custom ones, so an unknown op fails the interpreter's load."""
    if name == TENSORFLOW:
        trust.check_ops(data, manifest, extra_allowed_ops)


def runtime_class(name: str) -> Callable[[bytes, Manifest], ModelRuntime]:
    """Import runtime `name` (TensorFlow: ~2 s; LiteRT: ~0.05 s); call the result with the
    model's verified bytes and its manifest to load it."""
    check_runtime(name)
    try:
        if name == TENSORFLOW:
            from handler.runtime.tf_graph import TensorFlowRuntime

            return TensorFlowRuntime
        from handler.runtime.litert import LiteRtRuntime

        return LiteRtRuntime
    except ImportError as exc:  # e.g. MODEL_RUNTIME=tensorflow in the zip, which has none
        raise ModelBundleError(
            f"MODEL_RUNTIME={name} cannot run here: {exc} (the zip function has LiteRT only; "
            "the container image has both)"
        ) from None


def check_output_shape(manifest: Manifest, artifact: Artifact, out: np.ndarray) -> None:
    """After a warm-up run on one zero row: the output must be shaped as the manifest says."""
    expected = [1 if d is None else d for d in manifest.output.shape]
    if list(out.shape) != expected:
        raise ModelBundleError(
            f"{artifact.path} returned shape {list(out.shape)}, manifest says {expected}"
        )


def zero_row(manifest: Manifest) -> np.ndarray:
    """A batch of one zero input: what warm-up runs."""
    shape = [1 if d is None else d for d in manifest.input.shape]
    return np.zeros(shape, manifest.input.dtype)

"""The model runtime interface and registry: what the data plane needs from whatever executes the
model, and which runtimes exist.

Two runtimes serve the same frozen model, chosen by MODEL_RUNTIME at cold start: `tensorflow`
(the default: a TensorFlow session over `model.pb`) and `litert` (a LiteRT interpreter over
`model.tflite`, converted from that same graph by the freeze step). A runtime is built once per
container (at import) and shared by every request; each is imported only when chosen, so a bad
bundle fails before any heavy import and the LiteRT function never imports TensorFlow.

A runtime takes and returns named tensors: feeds keyed by the manifest's logical input names
(every input, batch first, in the manifest's dtype; strings as NumPy object arrays of bytes), and
the outputs asked for, keyed by their logical names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from handler import trust
from handler.manifest import Artifact, Manifest, ModelBundleError, TensorSpec

#: MODEL_RUNTIME values (the keys of RUNTIMES)
TENSORFLOW = "tensorflow"
LITERT = "litert"
#: a dimension the graph leaves open gets this size in warm-up and verification inputs
OPEN_DIM = 16


class ModelRuntime(Protocol):
    """Executes one model on named tensors."""

    manifest: Manifest
    #: MODEL_RUNTIME's value for it (a key of RUNTIMES)
    name: str
    #: the Open Inference Protocol's `platform` of what it runs
    platform: str

    def run(
        self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Run the model on one batch: `feeds` holds every input by logical name; return the
        outputs named in `fetches`, batch first."""
        ...

    def warm_up(self) -> None:
        """Pay first-run costs now (during INIT); raise ModelBundleError if the model cannot run."""
        ...

    def close(self) -> None:
        """Release what the runtime holds (a lazily loaded version being unloaded)."""
        ...


@dataclass(frozen=True)
class RuntimeEntry:
    """How to find, check and load one runtime, without importing it."""

    #: module and class implementing ModelRuntime; its constructor takes (bytes, Manifest)
    module: str
    cls: str
    #: the key in `manifest.artifacts` naming the file it executes, and that file's usual name
    artifact: str
    file: str
    #: what to do when the bundle lacks that file
    missing_hint: str
    #: refuses model bytes this runtime must not load (None: nothing to check)
    check: Callable[[bytes, Manifest, frozenset[str]], None] | None = None


RUNTIMES: dict[str, RuntimeEntry] = {
    TENSORFLOW: RuntimeEntry(
        "handler.runtime.tf_graph", "TensorFlowRuntime", "graph", "model.pb",
        "freeze the model (make model)", trust.check_ops,
    ),
    # A .tflite needs no op check: LiteRT runs only its builtin kernels (no file, network or
    # Python ops exist among them) and this function registers no custom ones, so an unknown op
    # fails the interpreter's load.
    LITERT: RuntimeEntry(
        "handler.runtime.litert", "LiteRtRuntime", "tflite", "model.tflite",
        "freeze with --tflite (make model does)",
    ),
}


def entry(name: str) -> RuntimeEntry:
    """MODEL_RUNTIME must name a runtime; a typo fails the cold start, never falls back."""
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ModelBundleError(
            f"MODEL_RUNTIME={name!r} is not a runtime: use {' or '.join(RUNTIMES)}"
        ) from None


def artifact_for(name: str, manifest: Manifest) -> Artifact:
    """The bundle file runtime `name` executes (model.pb for TensorFlow, model.tflite for
    LiteRT)."""
    found = getattr(manifest.artifacts, entry(name).artifact)
    if found is None:
        raise ModelBundleError(
            f"MODEL_RUNTIME={name} needs {entry(name).file}, and the manifest of "
            f"{manifest.name} {manifest.version} names none: {entry(name).missing_hint}"
        )
    return found


def check_model(
    name: str, data: bytes, manifest: Manifest, extra_allowed_ops: frozenset[str]
) -> None:
    """Refuse what runtime `name` must not load from verified bytes (a TensorFlow graph: any op
    outside the allowlist, handler/trust.py)."""
    check = entry(name).check
    if check is not None:
        check(data, manifest, extra_allowed_ops)


def runtime_class(name: str) -> Callable[[bytes, Manifest], ModelRuntime]:
    """Import runtime `name` (TensorFlow: ~2 s; LiteRT: ~0.05 s); call the result with the
    model's verified bytes and its manifest to load it."""
    found = entry(name)
    try:
        return getattr(importlib.import_module(found.module), found.cls)
    except ImportError as exc:  # e.g. MODEL_RUNTIME=tensorflow in the zip, which has none
        raise ModelBundleError(
            f"MODEL_RUNTIME={name} cannot run here: {exc} (the zip function has LiteRT only; "
            "the container image has both)"
        ) from None


def numpy_dtype(dtype: str) -> np.dtype:
    """The NumPy dtype holding a manifest dtype (strings: object arrays of bytes)."""
    return np.dtype(object) if dtype == "string" else np.dtype(dtype)


def sample_shape(spec: TensorSpec, batch: int) -> list[int]:
    """`spec`'s shape with the batch dimension `batch` and every other open one OPEN_DIM."""
    return [batch, *(OPEN_DIM if d is None else d for d in spec.shape[1:])]


def zero_feeds(manifest: Manifest) -> dict[str, np.ndarray]:
    """A batch of one all-zero (or empty-string) row per input: what warm-up runs."""
    feeds = {}
    for spec in manifest.inputs:
        shape = sample_shape(spec, 1)
        if spec.dtype == "string":
            feeds[spec.name] = np.full(shape, b"", dtype=object)
        else:
            feeds[spec.name] = np.zeros(shape, spec.dtype)
    return feeds


def check_outputs(
    manifest: Manifest, artifact: Artifact, outputs: Mapping[str, np.ndarray]
) -> None:
    """After a warm-up run: every output must have the rank and fixed dimensions the manifest
    says."""
    for spec in manifest.outputs:
        got = list(outputs[spec.name].shape)
        fits = len(got) == len(spec.shape) and all(
            d is None or d == g for d, g in zip(spec.shape[1:], got[1:], strict=True)
        )
        if not fits:
            raise ModelBundleError(
                f"{artifact.path} returned shape {got} for output {spec.name!r}, manifest says "
                f"{spec.shape}"
            )


def warm_up(
    runtime: ModelRuntime, artifact: Artifact, errors: tuple[type[Exception], ...]
) -> None:
    """One run of every output on `zero_feeds`: first-run costs are paid during INIT, and a
    model that cannot run, or runs to other shapes than its manifest's, fails the cold start."""
    manifest = runtime.manifest
    try:
        outputs = runtime.run(zero_feeds(manifest), [spec.name for spec in manifest.outputs])
    except errors as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise ModelBundleError(f"warm-up run of {artifact.path} failed: {message}") from None
    check_outputs(manifest, artifact, outputs)

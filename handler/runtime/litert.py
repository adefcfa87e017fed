"""`model.tflite` in one LiteRT interpreter: the frozen graph without TensorFlow.

The freeze step converts the same GraphDef that `model.pb` holds and checks the two agree (within
1e-5; measured ~2e-7 on the demo model). `ai-edge-litert` imports in ~0.05 s and adds ~60 MB of
memory where TensorFlow takes ~2 s and ~500 MB, which is what lets the function ship as a zip.

The converted model's tensors are found by the graph tensor names the manifest records (LiteRT
names a tensor after its graph tensor, without a `:0`). Its batch is one. The interpreter runs a
request row by row at that batch instead of resizing its inputs per request: resizing re-plans
XNNPACK's kernels (measured 66 ms to grow to 32 rows, more than running them), while one row
costs the same in either form (~1.7 ms on the demo model), so a batch of n costs n rows either
way. A dimension the graph leaves open (PNet's height and width) is allocated at OPEN_DIM first
(the converter leaves it 1), then resized whenever a row's shape differs from the one allocated.
An interpreter is not thread-safe: a lock
serializes runs (one Lambda container serves one request at a time anyway; the local API runs
requests on threads).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from handler.manifest import Manifest, ModelBundleError, TensorSpec
from handler.runtime import LITERT, OPEN_DIM, warm_up


def _find(
    details: list[dict[str, Any]], spec: TensorSpec, kind: str, path: str
) -> dict[str, Any]:
    """The interpreter's tensor for `spec`: by name, with the manifest's rank and fixed
    dimensions beyond the batch (the converted model's open ones are -1)."""
    names = {spec.tensor, spec.tensor.removesuffix(":0")}
    found = next((detail for detail in details if detail["name"] in names), None)
    if found is None:
        raise ModelBundleError(
            f"{path} does not fit its manifest: no {kind} tensor named {spec.tensor!r} (it has "
            f"{[d['name'] for d in details]})"
        )
    shape = [int(d) for d in found["shape_signature"]]
    fits = len(shape) == len(spec.shape) and all(
        want is None or got in (-1, want)
        for want, got in zip(spec.shape[1:], shape[1:], strict=True)
    )
    if not fits:
        raise ModelBundleError(
            f"{path} does not fit its manifest: {kind} {spec.name!r} has shape {shape}, the "
            f"manifest says {spec.shape}"
        )
    return found


class LiteRtRuntime:
    """`model.tflite` behind `ModelRuntime`; thread-safe (its lock)."""

    name = LITERT
    platform = "tflite"

    def __init__(self, model: bytes, manifest: Manifest) -> None:
        self.manifest = manifest
        artifact = manifest.artifacts.tflite
        assert artifact is not None  # handler.runtime.artifact_for checked it
        self.artifact = artifact
        try:
            self.interpreter = Interpreter(model_content=model)
            self._open_inputs_at(OPEN_DIM)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelBundleError(f"{artifact.path} does not load in LiteRT: {exc}") from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != len(manifest.inputs) or len(outputs) != len(manifest.outputs):
            raise ModelBundleError(
                f"{artifact.path} does not fit its manifest: it has {len(inputs)} inputs and "
                f"{len(outputs)} outputs, the manifest {len(manifest.inputs)} and "
                f"{len(manifest.outputs)}"
            )
        self._inputs = {
            s.name: _find(inputs, s, "input", artifact.path)["index"] for s in manifest.inputs
        }
        self._outputs = {
            s.name: _find(outputs, s, "output", artifact.path)["index"] for s in manifest.outputs
        }
        self._shapes = {d["index"]: tuple(d["shape"]) for d in inputs}
        self._lock = threading.Lock()

    def _open_inputs_at(self, size: int) -> None:
        """Give each open dimension past the batch `size` before the first allocation: the
        converter leaves them 1, where a convolution's kernel may not fit (PNet's 3x3 on 1x1)."""
        for detail in self.interpreter.get_input_details():
            signature = [int(d) for d in detail["shape_signature"]]
            if -1 in signature[1:]:
                shape = [1, *(size if d == -1 else d for d in signature[1:])]
                self.interpreter.resize_tensor_input(detail["index"], shape)

    def _set(self, feeds: Mapping[str, np.ndarray], row: int) -> None:
        """Feed row `row` of every input, resizing an input whose row shape changed."""
        rows = {self._inputs[name]: value[row : row + 1] for name, value in feeds.items()}
        resized = False
        for index, value in rows.items():
            if value.shape != self._shapes[index]:
                self.interpreter.resize_tensor_input(index, list(value.shape))
                self._shapes[index] = value.shape
                resized = True
        if resized:
            self.interpreter.allocate_tensors()
        for index, value in rows.items():
            self.interpreter.set_tensor(index, value)

    def run(
        self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str]
    ) -> dict[str, np.ndarray]:
        batch = len(next(iter(feeds.values())))
        rows: dict[str, list[np.ndarray]] = {name: [] for name in fetches}
        with self._lock:
            for row in range(batch):
                self._set(feeds, row)
                self.interpreter.invoke()
                for name in fetches:
                    rows[name].append(self.interpreter.get_tensor(self._outputs[name]))  # a copy
        return {name: np.concatenate(parts) for name, parts in rows.items()}

    def warm_up(self) -> None:
        """One run on a zero row: pays the first-run costs during INIT, not in a request."""
        warm_up(self, self.artifact, (ValueError, RuntimeError))

    def close(self) -> None:
        with self._lock:
            del self.interpreter

"""`model.tflite` in one LiteRT interpreter: the frozen graph without TensorFlow.

The freeze step converts the same GraphDef that `model.pb` holds and checks the two agree (within
1e-5; measured ~2e-7 on the demo model). `ai-edge-litert` imports in ~0.05 s and adds ~60 MB of
memory where TensorFlow takes ~2 s and ~500 MB, which is what lets the function ship as a zip.

The converted model has a batch of one. The interpreter runs a request row by row at that batch
instead of resizing its input per request: resizing re-plans XNNPACK's kernels (measured 66 ms
to grow to 32 rows, more than running them), while one row costs the same in either form
(~1.7 ms on the demo model), so a batch of n costs n rows either way and no request changes the
interpreter's memory. An interpreter is not thread-safe: a lock serializes runs (one Lambda
container serves one request at a time anyway; the local API runs requests on threads).
"""

from __future__ import annotations

import threading

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from handler.manifest import Manifest, ModelBundleError
from handler.runtime import LITERT, check_output_shape, zero_row


class LiteRtRuntime:
    """`model.tflite` behind `ModelRuntime`; thread-safe (its lock)."""

    name = LITERT
    platform = "tflite"

    def __init__(self, model: bytes, manifest: Manifest) -> None:
        self.manifest = manifest
        self.artifact = manifest.tflite
        assert self.artifact is not None  # handler.runtime.artifact_for checked it
        try:
            self.interpreter = Interpreter(model_content=model)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelBundleError(
                f"{self.artifact.path} does not load in LiteRT: {exc}"
            ) from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        row = [1, *manifest.input.shape[1:]]
        if len(inputs) != 1 or len(outputs) != 1 or list(inputs[0]["shape"]) != row:
            raise ModelBundleError(
                f"{self.artifact.path} does not fit its manifest: it takes "
                f"{[d['shape'].tolist() for d in inputs]} and gives {len(outputs)} outputs; the "
                f"manifest says one input of {row} and one output"
            )
        self._input = inputs[0]["index"]
        self._output = outputs[0]["index"]
        self._lock = threading.Lock()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        rows = []
        with self._lock:
            for row in batch:
                self.interpreter.set_tensor(self._input, row[np.newaxis])
                self.interpreter.invoke()
                rows.append(self.interpreter.get_tensor(self._output))  # a copy
        return np.concatenate(rows)

    def warm_up(self) -> None:
        """One run on a zero row: pays the first-run costs during INIT, not in a request."""
        try:
            out = self.predict(zero_row(self.manifest))
        except (ValueError, RuntimeError) as exc:
            raise ModelBundleError(f"warm-up run of {self.artifact.path} failed: {exc}") from None
        check_output_shape(self.manifest, self.artifact, out)

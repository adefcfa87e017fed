"""The protocol-agnostic data plane: preprocess -> predict -> postprocess (KServe's Model shape).

Protocols (native, TF Serving, Open Inference v2) differ only in how they parse requests and
format answers; they all go through one `Model`, which owns the limits, the metrics and the
manifest-driven decoding of outputs into per-label probabilities.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from handler.config import Limits
from handler.errors import ApiError
from handler.images import open_checked, to_input
from handler.observability import MetricUnit, metrics
from handler.runtime import ModelRuntime


@dataclass(frozen=True)
class Classification:
    """One image's answer: its label and every label's probability, most likely first."""

    label: str
    ranked: list[tuple[str, float]]


class Model:
    """One served model: its runtime (made at cold start), manifest and request limits."""

    def __init__(self, runtime: ModelRuntime, limits: Limits) -> None:
        self.runtime = runtime
        self.manifest = runtime.manifest
        self.limits = limits
        self.input_shape = tuple(runtime.manifest.input.shape[1:])
        self.input_dtype = np.dtype(runtime.manifest.input.dtype)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def check_batch(self, size: int) -> None:
        if size == 0:
            raise ApiError(400, "no_inputs", "the request holds no image or tensor row")
        if size > self.limits.max_batch:
            raise ApiError(
                413, "too_many_inputs",
                f"{size} inputs in one request exceed the limit of {self.limits.max_batch}",
            )

    def preprocess(self, images: Sequence[bytes]) -> np.ndarray:
        """Encoded images -> one input batch, per the manifest's preprocessing.

        Every header is read and the request's pixels summed before the first decode, so a
        request over MAX_REQUEST_PIXELS costs no decoding at all."""
        self.check_batch(len(images))
        opened = deque(open_checked(data, self.limits) for data in images)  # headers only
        pixels = sum(image.width * image.height for image in opened)
        if pixels > self.limits.max_request_pixels:
            raise ApiError(
                413, "request_too_many_pixels",
                f"the request's images have {pixels} pixels in all, over the limit of "
                f"{self.limits.max_request_pixels} pixels per request",
            )
        for data, image in zip(images, opened, strict=True):
            metrics.add_metric("ImageBytes", MetricUnit.Bytes, len(data))
            metrics.add_metric("ImagePixels", MetricUnit.Count, image.width * image.height)
        rows = []
        while opened:  # popped: each image's full-size pixels are freed before the next decode
            rows.append(to_input(opened.popleft(), self.manifest.preprocessing))
        return np.stack(rows).astype(self.input_dtype, copy=False)

    def numbers(self, values: Any) -> np.ndarray:
        """JSON numbers (nested lists) -> an array; 400 if ragged or not numeric."""
        try:
            array = np.asarray(values)
        except ValueError:
            raise ApiError(
                400, "invalid_tensor", "the tensor is ragged: rows differ in shape"
            ) from None
        if array.dtype.kind not in "iuf":
            raise ApiError(
                400, "wrong_dtype",
                f"the tensor must hold numbers ({self.input_dtype.name}), not {array.dtype.name}",
            )
        return array

    def tensor(self, rows: Any) -> np.ndarray:
        """A client's raw tensor (batch first) -> a checked input batch."""
        array = rows if isinstance(rows, np.ndarray) else self.numbers(rows)
        if array.ndim != len(self.input_shape) + 1 or array.shape[1:] != self.input_shape:
            raise ApiError(
                400, "wrong_shape",
                f"tensor of shape {list(array.shape)} does not fit the model input "
                f"{[-1, *self.input_shape]} (batch first)",
            )
        self.check_batch(array.shape[0])
        return array.astype(self.input_dtype, copy=False)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run the model; returns its output tensor as the graph emits it."""
        start = time.perf_counter()
        outputs = self.runtime.predict(batch)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        metrics.add_metric("InferenceTime", MetricUnit.Milliseconds, elapsed_ms)
        metrics.add_metric("BatchSize", MetricUnit.Count, len(batch))
        return outputs

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Output tensor -> (batch, labels) probabilities; a sigmoid unit is P(labels[1])."""
        if self.manifest.decoding == "sigmoid":
            positive = outputs.reshape(len(outputs), -1)[:, :1]
            return np.hstack([1.0 - positive, positive])
        return outputs.reshape(len(outputs), -1)

    def classify(self, outputs: np.ndarray) -> list[Classification]:
        """Output tensor -> one Classification per input row."""
        labels = self.manifest.labels
        answers = []
        for row in self.probabilities(outputs):
            order = np.argsort(-row, kind="stable")
            ranked = [(labels[i], float(row[i])) for i in order]
            answers.append(Classification(label=ranked[0][0], ranked=ranked))
        return answers

"""The protocol-agnostic data plane (KServe's Model shape): named tensors in, named tensors out.

Protocols (native, TF Serving, Open Inference v2) differ only in how they parse requests and
format answers. Each builds a dict of arrays keyed by the manifest's input names (strings as
object arrays of bytes) and calls `Model.infer`, which runs one pipeline:

1. validate: every input given and no other; an input with a codec given as bytes is decoded
   by that codec (images); each input's dtype and shape must fit the manifest (open dimensions
   accepted), all inputs must share one batch size, within the limits;
2. run the runtime on the inputs, fetching the outputs asked for (default: all);
3. record metrics (inference time, batch size).

Problems are domain errors (handler/errors.py); the edge gives them their HTTP status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from handler import images
from handler.config import Limits
from handler.errors import BadRequest, TooLarge
from handler.manifest import InputSpec
from handler.observability import MetricUnit, metrics, model_metrics
from handler.runtime import ModelRuntime, numpy_dtype
from handler.tensors import check_elements

#: codec kind -> decoder of a batch of encoded items into an input batch
DECODERS: dict[str, Callable[[Sequence[bytes], InputSpec, Limits], np.ndarray]] = {
    "image": lambda items, spec, limits: images.decode_batch(
        items, spec.codec, limits, numpy_dtype(spec.dtype)
    ),
}


def _dims(shape: Sequence[int | None]) -> list[int]:
    return [-1 if d is None else d for d in shape]


class Model:
    """One served model: its runtime (made at cold start), manifest and request limits."""

    def __init__(self, runtime: ModelRuntime, limits: Limits) -> None:
        self.runtime = runtime
        self.manifest = runtime.manifest
        self.limits = limits.for_inputs([spec.shape for spec in self.manifest.inputs])

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def element_limit(self) -> int:
        """MAX_TENSOR_ELEMENTS for this model (resolved at construction)."""
        assert self.limits.max_tensor_elements is not None
        return self.limits.max_tensor_elements

    def check_batch(self, size: int) -> None:
        if size == 0:
            raise BadRequest("no_inputs", "the request holds no image or tensor row")
        if size > self.limits.max_batch:
            raise TooLarge(
                "too_many_inputs",
                f"{size} inputs in one request exceed the limit of {self.limits.max_batch}",
            )

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Validate, run, record: the named outputs (default: every output), batch first."""
        feeds = self.validate(inputs)
        fetches = self.fetches(outputs)
        start = time.perf_counter()
        result = self.runtime.run(feeds, fetches)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        batch = len(next(iter(feeds.values())))
        model_metrics.add_dimension("model", self.name)
        model_metrics.add_dimension("version", self.version)
        for sink in (metrics, model_metrics):
            sink.add_metric("InferenceTime", MetricUnit.Milliseconds, elapsed_ms)
            sink.add_metric("BatchSize", MetricUnit.Count, batch)
        return result

    def fetches(self, outputs: Sequence[str] | None) -> list[str]:
        """The output names to compute; 400 naming an unknown one."""
        known = [spec.name for spec in self.manifest.outputs]
        if outputs is None:
            return known
        for name in outputs:
            if name not in known:
                raise BadRequest(
                    "unknown_output", f"no output {name!r}; the model's outputs are {known}"
                )
        if not outputs:
            raise BadRequest("no_outputs", "the request asks for no output")
        return list(dict.fromkeys(outputs))

    def validate(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Client inputs -> the runtime's feeds (see the module docstring, step 1)."""
        known = [spec.name for spec in self.manifest.inputs]
        unknown = sorted(set(inputs) - set(known))
        if unknown:
            raise BadRequest(
                "unknown_input", f"no input named {unknown}; the model's inputs are {known}"
            )
        missing = [name for name in known if name not in inputs]
        if missing:
            raise BadRequest(
                "missing_input", f"inputs {missing} are missing; the model's inputs are {known}"
            )
        check_elements(
            sum(value.size for value in inputs.values()), self.element_limit,
            "the request's tensors",
        )
        feeds = {spec.name: self._feed(spec, inputs[spec.name]) for spec in self.manifest.inputs}
        sizes = {name: len(value) for name, value in feeds.items()}
        if len(set(sizes.values())) > 1:
            raise BadRequest(
                "batch_mismatch", f"the inputs' batch sizes differ: {sizes}; every input needs "
                "one row per example"
            )
        self.check_batch(next(iter(sizes.values())))
        return feeds

    def _feed(self, spec: InputSpec, value: np.ndarray) -> np.ndarray:
        """One input's batch, decoded by its codec when given as bytes, checked against `spec`."""
        where = f"input {spec.name!r}"
        if spec.codec is not None and value.dtype == object:
            items = list(value.ravel())
            self.check_batch(len(items))
            return DECODERS[spec.codec.kind](items, spec, self.limits)
        if value.ndim and not len(value):
            self.check_batch(0)
        target = numpy_dtype(spec.dtype)
        if (value.dtype == object) != (target == object):
            given = "strings" if value.dtype == object else value.dtype.name
            takes = spec.dtype + (" or images" if spec.codec is not None else "")
            raise BadRequest("wrong_dtype", f"{where} takes {takes}, not {given}")
        fits = value.ndim == len(spec.shape) and all(
            d is None or d == g for d, g in zip(spec.shape, value.shape, strict=True)
        )
        if not fits:
            raise BadRequest(
                "wrong_shape",
                f"{where}: a tensor of shape {list(value.shape)} does not fit "
                f"{_dims(spec.shape)} (batch first)",
            )
        self.check_batch(value.shape[0])
        return value.astype(target, copy=False)

"""A Keras file (.keras/.h5) -> a frozen GraphDef, through a `tf.function` around the model.

Every input and output of the model is frozen, under its own layer names (an input's InputLayer,
an output's layer), unless names are given for them (--input_node_names/--output_node_names,
or the config's input_node/output_node: one name per input or output, in the model's order).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from freeze import FreezeError, first_line
from freeze.function import freeze_function
from freeze.graph import Frozen
from handler.manifest import Source


def freeze_keras(path: Path, input_names: Sequence[str], output_names: Sequence[str]) -> Frozen:
    """Freeze every input and output of the Keras model in `path`; given names rename them."""
    import keras

    if not path.is_file():
        raise FreezeError(f"Keras file {path} does not exist")
    try:
        with warnings.catch_warnings():  # Keras 3 warns about Keras 2 files' `input_shape`
            warnings.simplefilter("ignore", UserWarning)
            model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py, zipfile and Keras each raise their own types for a bad file
        raise FreezeError(f"cannot load Keras model {path}: {first_line(exc)}") from None
    inputs = _names(model.inputs, input_names, "input", "--input_node_names")
    outputs = _names(model.outputs, output_names, "output", "--output_node_names")
    specs = [
        tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype, name=name)
        for tensor, name in zip(model.inputs, inputs, strict=True)
    ]

    @tf.function
    def serve(*rows: tf.Tensor) -> list[tf.Tensor]:
        with warnings.catch_warnings():  # a dict-structured model fed a list, in its own order
            warnings.simplefilter("ignore", UserWarning)
            result = model(list(rows) if len(rows) > 1 else rows[0], training=False)
        return keras.tree.flatten(result)  # the order of model.outputs

    function = serve.get_concrete_function(*specs)

    def reference(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = function(*(tf.constant(feeds[name]) for name in inputs))
        return {name: result.numpy() for name, result in zip(outputs, results, strict=True)}

    return freeze_function(
        function,
        inputs,
        lambda frozen: dict(zip(outputs, frozen.outputs, strict=True)),
        reference,
        Source(kind="keras", path=str(path), size_bytes=path.stat().st_size),
        method=f"Keras {keras.__version__} model in a tf.function",
    )


def _names(tensors: Sequence[Any], given: Sequence[str], role: str, flag: str) -> list[str]:
    """The model's names for its inputs or outputs (the layers that make them), or the given
    ones, one per tensor."""
    own = [getattr(getattr(t, "_keras_history", None), "operation", t).name for t in tensors]
    if not given:
        return own
    if len(given) != len(own):
        raise FreezeError(
            f"{flag} names {len(given)} {role}s ({', '.join(given)}), but the Keras model has "
            f"{len(own)} ({', '.join(own)})"
        )
    return list(given)

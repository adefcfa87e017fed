"""A TF2 SavedModel or a Keras file (.keras/.h5) -> a frozen GraphDef.

Both become one concrete function (the SavedModel's serving signature, or a `tf.function` around
the Keras model) whose captured variables `convert_variables_to_constants_v2` turns into constants;
then the same pruning and stripping as a checkpoint's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tensorflow.types.experimental import ConcreteFunction

from freeze import FreezeError, first_line
from freeze.graph import Frozen, strip, tensor_spec
from handler.manifest import Source

DEFAULT_INPUT = "input"
DEFAULT_OUTPUT = "probabilities"


def freeze_keras(path: Path, input: str | None, output: str | None) -> Frozen:
    """Freeze a one-input, one-output Keras model; its nodes get the given (or default) names."""
    import keras

    if not path.is_file():
        raise FreezeError(f"Keras file {path} does not exist")
    try:
        with warnings.catch_warnings():  # Keras 3 warns about Keras 2 files' `input_shape`
            warnings.simplefilter("ignore", UserWarning)
            model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py, zipfile and Keras each raise their own types for a bad file
        raise FreezeError(f"cannot load Keras model {path}: {first_line(exc)}") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise FreezeError(
            f"Keras model {path} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "the manifest describes exactly one of each"
        )
    input, output = input or DEFAULT_INPUT, output or DEFAULT_OUTPUT
    spec = tf.TensorSpec([None, *model.input_shape[1:]], model.inputs[0].dtype, name=input)

    @tf.function
    def serve(x: tf.Tensor) -> tf.Tensor:
        return tf.identity(model(x, training=False), name=output)

    function = serve.get_concrete_function(spec)
    return _freeze(
        function,
        lambda frozen: frozen.graph.get_tensor_by_name(f"{output}:0"),
        None,
        lambda batch: function(tf.constant(batch)).numpy(),
        Source(kind="keras", path=str(path), size_bytes=path.stat().st_size),
    )


def freeze_saved_model(path: Path, signature: str, output_key: str | None) -> Frozen:
    """Freeze one serving signature of a SavedModel (one input; `output_key` picks one output)."""
    if not (path / "saved_model.pb").is_file():
        raise FreezeError(f"{path} is not a SavedModel folder (no saved_model.pb)")
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # protobuf, OpError and ValueError all mean an unreadable SavedModel
        raise FreezeError(f"cannot load SavedModel {path}: {first_line(exc)}") from None
    if signature not in loaded.signatures:
        names = ", ".join(loaded.signatures) or "none"
        raise FreezeError(f"SavedModel {path} has no signature {signature!r} (it has: {names})")
    function = loaded.signatures[signature]
    inputs = function.structured_input_signature[1]
    if len(inputs) != 1:
        raise FreezeError(f"signature {signature!r} has {len(inputs)} inputs; one is supported")
    (argument,) = inputs
    outputs = function.structured_outputs
    if output_key is None and len(outputs) == 1:
        (output_key,) = outputs
    if output_key not in outputs:
        raise FreezeError(
            f"signature {signature!r} has no output {output_key!r}; "
            f"pick one with --output_node_names: {', '.join(outputs)}"
        )

    def reference(batch: np.ndarray) -> np.ndarray:
        _ = loaded  # the signature's variables live as long as the loaded object
        return function(**{argument: tf.constant(batch)})[output_key].numpy()

    size = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    return _freeze(
        function,
        # the frozen function returns a flat list: tf.nest order, i.e. the dict's sorted keys
        lambda frozen: frozen.outputs[sorted(outputs).index(output_key)],
        output_key,
        reference,
        Source(kind="savedmodel", path=str(path), size_bytes=size),
    )


def _freeze(
    function: ConcreteFunction,
    pick_output: Callable[[ConcreteFunction], tf.Tensor],
    output_name: str | None,
    reference: Callable[[np.ndarray], np.ndarray],
    source: Source,
) -> Frozen:
    """Constants for variables, then prune to the picked output and strip training-only nodes."""
    frozen = convert_variables_to_constants_v2(function)
    (x,) = frozen.inputs  # the captured variables are constants now: only the image input is left
    y = pick_output(frozen)
    graph_def = strip(frozen.graph.as_graph_def(), x.op.name, y.op.name)
    return Frozen(graph_def, tensor_spec(x), tensor_spec(y, output_name), reference, source)

"""Rebuild a Keras Sequential of plain layers as a TF1 graph holding the same weights.

Why by hand: a TF1 checkpoint needs `tf.compat.v1` variables in a graph and a `Saver`. Keras 3 has
no graph-mode session, and `tf-keras` (Keras 2, which has one) depends on the full 572 MB
`tensorflow` wheel beside `tensorflow-cpu`. A Sequential of Conv2D/MaxPooling2D/Flatten/Dense/
Dropout is a few `tf.nn` ops per layer, so it is rebuilt op by op, under each layer's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod

import keras
import numpy as np
import tensorflow as tf

ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "linear": tf.identity,
    "relu": tf.nn.relu,
    "sigmoid": tf.sigmoid,
    "softmax": tf.nn.softmax,
    "tanh": tf.tanh,
}


class UnsupportedLayerError(ValueError):
    """The model holds a layer (or a layer option) this rebuild does not translate."""


@dataclass
class Rebuilt:
    """The rebuilt graph, its input and output, and each variable with the Keras value it takes."""

    graph: tf.Graph
    input: tf.Tensor
    output: tf.Tensor
    weights: list[tuple[tf.Variable, np.ndarray]]

    def load_weights(self, session: tf.compat.v1.Session) -> None:
        """Initialise every variable from its Keras value, fed to its initializer.

        Feeding keeps the weights out of the graph: constant initializers would copy all of them
        into the `.meta` file.
        """
        session.run(
            [variable.initializer for variable, _ in self.weights],
            {variable.initial_value: value for variable, value in self.weights},
        )


Layer = keras.layers.Layer
Arrays = list[np.ndarray]
NewVariable = Callable[[str, np.ndarray], tf.Variable]
#: a layer translator: (layer, its config, its weights as arrays, input, variable factory) -> output
Translate = Callable[[Layer, dict, Arrays, tf.Tensor, NewVariable], tf.Tensor]


def rebuild(model: keras.Model, input_name: str, output_name: str) -> Rebuilt:
    """A new graph computing the model's inference pass, with variables named after its layers."""
    if not isinstance(model, keras.Sequential):
        raise UnsupportedLayerError(f"only Sequential models rebuild, not {type(model).__name__}")
    layers = [(lay, _LAYERS.get(type(lay).__name__), lay.get_weights()) for lay in model.layers]
    for layer, translate, _ in layers:
        if translate is None:
            raise UnsupportedLayerError(
                f"layer {layer.name!r} of type {type(layer).__name__} is not supported "
                f"(supported: {', '.join(sorted(_LAYERS))})"
            )
    weights: list[tuple[tf.Variable, np.ndarray]] = []

    def variable(name: str, value: np.ndarray) -> tf.Variable:
        var = tf.compat.v1.get_variable(
            name, shape=value.shape, dtype=tf.float32, initializer=tf.compat.v1.zeros_initializer()
        )
        weights.append((var, value))
        return var

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, *model.input_shape[1:]], name=input_name)
        h = x
        for layer, translate, values in layers:
            with tf.compat.v1.variable_scope(layer.name):
                h = translate(layer, layer.get_config(), values, h, variable)
        y = tf.identity(h, name=output_name)
    return Rebuilt(graph, x, y, weights)


def _require(layer: Layer, ok: bool, what: str) -> None:
    if not ok:
        raise UnsupportedLayerError(f"layer {layer.name!r}: {what} is not supported")


def _biased(
    layer: Layer, cfg: dict, values: Arrays, h: tf.Tensor, variable: NewVariable
) -> tf.Tensor:
    """Add the bias (the layer's second weight) if it has one, then apply its activation."""
    if cfg["use_bias"]:
        h = tf.nn.bias_add(h, variable("bias", values[1]))
    name = cfg["activation"]
    _require(layer, isinstance(name, str) and name in ACTIVATIONS, f"activation {name!r}")
    return ACTIVATIONS[name](h)


def _conv2d(
    layer: Layer, cfg: dict, values: Arrays, h: tf.Tensor, variable: NewVariable
) -> tf.Tensor:
    _require(layer, cfg["data_format"] == "channels_last", f"data_format {cfg['data_format']}")
    _require(layer, tuple(cfg["dilation_rate"]) == (1, 1), f"dilation_rate {cfg['dilation_rate']}")
    _require(layer, cfg["groups"] == 1, f"groups={cfg['groups']}")
    kernel = variable("kernel", values[0])  # Keras and tf.nn.conv2d share the HWIO layout
    h = tf.nn.conv2d(h, kernel, strides=[1, *cfg["strides"], 1], padding=cfg["padding"].upper())
    return _biased(layer, cfg, values, h, variable)


def _max_pooling2d(
    layer: Layer, cfg: dict, values: Arrays, h: tf.Tensor, variable: NewVariable
) -> tf.Tensor:
    _require(layer, cfg["data_format"] == "channels_last", f"data_format {cfg['data_format']}")
    return tf.nn.max_pool2d(
        h, ksize=cfg["pool_size"], strides=cfg["strides"], padding=cfg["padding"].upper()
    )


def _flatten(
    layer: Layer, cfg: dict, values: Arrays, h: tf.Tensor, variable: NewVariable
) -> tf.Tensor:
    _require(layer, cfg.get("data_format") in (None, "channels_last"), "data_format channels_first")
    return tf.reshape(h, [-1, prod(h.shape[1:])])


def _dense(
    layer: Layer, cfg: dict, values: Arrays, h: tf.Tensor, variable: NewVariable
) -> tf.Tensor:
    _require(layer, h.shape.rank == 2, f"an input of rank {h.shape.rank}")
    h = tf.matmul(h, variable("kernel", values[0]))
    return _biased(layer, cfg, values, h, variable)


def _dropout(
    layer: Layer, cfg: dict, values: Arrays, h: tf.Tensor, variable: NewVariable
) -> tf.Tensor:
    """Dropout is the identity at inference."""
    return h


_LAYERS: dict[str, Translate] = {
    "Conv2D": _conv2d,
    "MaxPooling2D": _max_pooling2d,
    "Flatten": _flatten,
    "Dense": _dense,
    "Dropout": _dropout,
}

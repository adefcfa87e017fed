"""GraphDef surgery shared by every source: find nodes, prune to the output, strip, describe.

Uses TensorFlow's own `tf.compat.v1.graph_util` tools; they still work in TF 2.x and log
deprecation notes through TensorFlow's logger (the CLI quiets it).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from freeze import FreezeError
from handler.manifest import Source, TensorSpec

graph_util = tf.compat.v1.graph_util


@dataclass(frozen=True)
class Frozen:
    """A frozen graph, its input and output, and a way to run the model it came from."""

    graph_def: tf.compat.v1.GraphDef
    input: TensorSpec
    output: TensorSpec
    #: runs the original (checkpoint session / Keras or SavedModel function) on one batch
    reference: Callable[[np.ndarray], np.ndarray]
    source: Source


def node_name(name: str) -> str:
    """`x:0` and `^x` name node `x`; flags may use any of the three forms."""
    return name.lstrip("^").split(":")[0]


def require_node(graph_def: tf.compat.v1.GraphDef, name: str, role: str) -> str:
    """The node's name if the graph has it; otherwise fail and list the closest names."""
    name = node_name(name)
    names = [node.name for node in graph_def.node]
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"the graph has {len(names)} nodes"
    raise FreezeError(f"{role} node {name!r} is not in the graph ({hint})")


def resolve_input(graph_def: tf.compat.v1.GraphDef, output: str, requested: str | None) -> str:
    """The input node: the requested one (checked), or the only Placeholder the output needs."""
    needed = {node.name: node.op for node in graph_util.extract_sub_graph(graph_def, [output]).node}
    if requested is not None:
        name = require_node(graph_def, requested, "input")
        if name not in needed:
            raise FreezeError(f"output {output!r} does not depend on input node {name!r}")
        return name
    placeholders = sorted(name for name, op in needed.items() if op == "Placeholder")
    if len(placeholders) != 1:
        found = ", ".join(placeholders) or "none"
        raise FreezeError(
            f"cannot infer the input node: output {output!r} needs {len(placeholders)} "
            f"placeholders ({found}); pass --input_node_name"
        )
    return placeholders[0]


def prune(graph_def: tf.compat.v1.GraphDef, output: str) -> tf.compat.v1.GraphDef:
    """Keep only the nodes the output needs (drops loss, optimizer, Save/Restore, initializers)."""
    return graph_util.extract_sub_graph(graph_def, [output])


def strip(graph_def: tf.compat.v1.GraphDef, input: str, output: str) -> tf.compat.v1.GraphDef:
    """Leave only inference: drop control edges (once variables are constants they only ordered
    variable reads), nodes the output does not need, training-only nodes (Identity chains,
    CheckNumerics) and device pins. `input` and `output` keep their names."""
    copy = tf.compat.v1.GraphDef()
    copy.CopyFrom(graph_def)
    for node in copy.node:
        node.device = ""
        node.input[:] = [name for name in node.input if not name.startswith("^")]
    return graph_util.remove_training_nodes(prune(copy, output), protected_nodes=[input, output])


def op_types(graph_def: tf.compat.v1.GraphDef) -> list[str]:
    """Sorted op types the graph uses (the function's runtime must register each)."""
    return sorted({node.op for node in graph_def.node})


def tensor_spec(tensor: tf.Tensor, name: str | None = None) -> TensorSpec:
    """Describe a tensor for the manifest: logical name (default: its node), dtype, shape."""
    if tensor.shape.rank is None:
        raise FreezeError(f"tensor {tensor.name} has an unknown rank; the manifest needs a shape")
    return TensorSpec(
        name=name or tensor.op.name,
        tensor=tensor.name,
        dtype=np.dtype(tensor.dtype.as_numpy_dtype).name,
        shape=tensor.shape.as_list(),
    )

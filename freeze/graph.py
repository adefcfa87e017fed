"""GraphDef surgery shared by every source: find nodes, prune to the output, strip, describe.

Uses TensorFlow's own `tf.compat.v1.graph_util` tools; they still work in TF 2.x and log
deprecation notes through TensorFlow's logger (the CLI quiets it).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from freeze import FreezeError
from handler.manifest import Source, TensorSpec

graph_util = tf.compat.v1.graph_util
#: ops that turn a classifier's scores into probabilities
_ACTIVATIONS = {"Softmax", "Sigmoid"}
#: ops a classifier's answer usually comes from (a named output is often an Identity)
_ANSWER_OPS = {*_ACTIVATIONS, "Identity"}
#: ops that only save, restore, initialise or train
_MACHINERY_OPS = {
    "NoOp", "Assign", "AssignVariableOp", "VarIsInitializedOp", "IsVariableInitialized",
    "SaveV2", "RestoreV2", "MergeV2Checkpoints", "VariableV2", "VarHandleOp", "Const",
}
#: name scopes of the same machinery (tf.compat.v1 Saver, initializers, optimizers, gradients)
_MACHINERY = re.compile(
    r"(save|init|gradients|Adam|GradientDescent|Momentum|RMSProp|Adagrad|Ftrl|train|"
    r"IsInitialized|beta[12]_power)(_\d+)?"
)


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
    likely = likely_outputs(graph_def) if role == "output" and not close else []
    if close:
        hint = f"closest: {', '.join(close)}"
    elif likely:
        hint = f"likely outputs: {', '.join(likely)}"
    else:
        hint = f"the graph has {len(names)} nodes"
    raise FreezeError(f"{role} node {name!r} is not in the graph ({hint})")


def likely_outputs(graph_def: tf.compat.v1.GraphDef, limit: int = 5) -> list[str]:
    """Nodes a model's answer plausibly comes from: nodes nothing consumes, and Softmax/Sigmoid
    nodes (an accuracy metric may consume those), minus save/restore/init/training machinery.
    Softmax, Sigmoid and Identity (a named output) come first, sinks before the rest."""
    consumed = {node_name(name) for node in graph_def.node for name in node.input}
    candidates = [
        (node.op not in _ANSWER_OPS, node.name in consumed, index, node.name)
        for index, node in enumerate(graph_def.node)
        if (node.name not in consumed or node.op in _ACTIVATIONS)
        and node.op not in _MACHINERY_OPS
        and not any(_MACHINERY.fullmatch(part) for part in node.name.split("/"))
    ]
    return [name for *_, name in sorted(candidates)[:limit]]


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

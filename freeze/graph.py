"""GraphDef surgery shared by every source: find nodes, resolve inputs, inline functions, strip,
name outputs, describe tensors.

Uses TensorFlow's own `tf.compat.v1.graph_util` tools and Grappler's function inliner; they still
work in TF 2.x and log deprecation notes through TensorFlow's logger (the CLI quiets it).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from freeze import FreezeError
from handler.manifest import Source, TensorSpec

graph_util = tf.compat.v1.graph_util
#: runs the original model (checkpoint session, Keras or SavedModel function) on one batch:
#: feeds by logical input name -> every output by logical name
Reference = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
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
#: what TensorFlow accepts as a node name
_NODE_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/>]*")


@dataclass(frozen=True)
class Frozen:
    """A frozen graph, its named inputs and outputs, and a way to run the model it came from."""

    graph_def: tf.compat.v1.GraphDef
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    reference: Reference
    source: Source
    #: how the source was read, for the report (e.g. which SavedModel loader)
    method: str
    #: nodes the function runs once at cold start (lookup table initializers), sorted
    init_ops: list[str]
    signature_name: str = "serving_default"


def node_name(name: str) -> str:
    """`x:0` and `^x` name node `x`; flags may use any of the three forms."""
    return name.lstrip("^").split(":")[0]


def tensor_name(name: str) -> str:
    """`x` and `x:0` name tensor `x:0`; `x:1` is the node's second output."""
    name = name.lstrip("^")
    return name if ":" in name else f"{name}:0"


def logical_name(tensor: str) -> str:
    """What clients call a graph tensor: its node's name, or `node:N` past the first output."""
    return tensor.removesuffix(":0")


def split_names(names: str | Sequence[str] | None) -> list[str]:
    """TensorFlow's comma-separated form (`a,b`), a list, or None (none given)."""
    if names is None:
        return []
    parts = names.split(",") if isinstance(names, str) else list(names)
    return [part.strip() for part in parts if part.strip()]


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


def resolve_inputs(
    graph_def: tf.compat.v1.GraphDef, outputs: Sequence[str], requested: Sequence[str]
) -> list[str]:
    """The input nodes: the requested ones (each checked to be needed by some output), or else
    every Placeholder the outputs need, sorted by name."""
    needed = {node.name: node.op for node in graph_util.extract_sub_graph(graph_def, outputs).node}
    if requested:
        names = [require_node(graph_def, name, "input") for name in requested]
        for name in names:
            if name not in needed:
                named = ", ".join(outputs)
                raise FreezeError(f"no output ({named}) depends on input node {name!r}")
        return names
    placeholders = sorted(name for name, op in needed.items() if op == "Placeholder")
    if not placeholders:
        raise FreezeError(
            f"the outputs ({', '.join(outputs)}) need no Placeholder: nothing to feed them"
        )
    return placeholders


def inline_functions(
    graph_def: tf.compat.v1.GraphDef, keep: Sequence[str]
) -> tf.compat.v1.GraphDef:
    """Calls into the graph's function library (a TF2 graph loaded in a TF1 session calls its
    model through StatefulPartitionedCall) inlined by Grappler, as
    `convert_variables_to_constants_v2` does for a TF2 function: the graph then holds every op
    it runs at top level, and none of the library's unused functions (a SavedModel's save and
    restore functions among them). `keep`: the nodes that must survive under their names."""
    if not graph_def.library.function:
        return graph_def
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    meta = meta_graph_pb2.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    meta.collection_def["train_op"].node_list.value.extend(keep)  # Grappler's "fetch" nodes
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.min_graph_nodes = -1  # small graphs too
    rewrite.optimizers.append("function")
    return tf_optimizer.OptimizeGraph(config, meta)


def strip(graph_def: tf.compat.v1.GraphDef, keep: Sequence[str]) -> tf.compat.v1.GraphDef:
    """Leave only inference: drop control edges (once variables are constants they only ordered
    variable reads), nodes that `keep` (the inputs and outputs) does not need, training-only
    nodes (Identity chains, CheckNumerics) and device pins. The nodes in `keep` keep their names."""
    copy = tf.compat.v1.GraphDef()
    copy.CopyFrom(graph_def)
    for node in copy.node:
        node.device = ""
        node.input[:] = [name for name in node.input if not name.startswith("^")]
    pruned = graph_util.extract_sub_graph(copy, list(keep))
    return graph_util.remove_training_nodes(pruned, protected_nodes=list(keep))


def alias_outputs(
    graph_def: tf.compat.v1.GraphDef, outputs: Sequence[TensorSpec]
) -> tuple[tf.compat.v1.GraphDef, list[TensorSpec]]:
    """Give each output a graph tensor named after its logical name, by an Identity node, where
    that name is free and a valid node name: a SavedModel's outputs otherwise come out as
    `StatefulPartitionedCall:2` or `Identity_3`. Returns the graph and the outputs' new specs."""
    copy = tf.compat.v1.GraphDef()
    copy.CopyFrom(graph_def)
    taken = {node.name for node in copy.node}
    named = []
    for spec in outputs:
        if spec.name in taken or not _NODE_NAME.fullmatch(spec.name):
            named.append(spec)
            continue
        node = copy.node.add(name=spec.name, op="Identity", input=[spec.tensor.removesuffix(":0")])
        node.attr["T"].type = tf.as_dtype(spec.dtype).as_datatype_enum
        taken.add(spec.name)
        named.append(spec.model_copy(update={"tensor": f"{spec.name}:0"}))
    return copy, named


def described(
    graph_def: tf.compat.v1.GraphDef, inputs: Mapping[str, tf.Tensor],
    outputs: Mapping[str, tf.Tensor], **rest: Any,
) -> Frozen:
    """The frozen graph with its inputs and outputs described under their logical names, each
    output given its own named tensor (`alias_outputs`); `rest`: Frozen's other fields."""
    graph_def, output_specs = alias_outputs(
        graph_def, [tensor_spec(tensor, name) for name, tensor in outputs.items()]
    )
    return Frozen(
        graph_def=graph_def,
        inputs=[tensor_spec(tensor, name) for name, tensor in inputs.items()],
        outputs=output_specs,
        **rest,
    )


def op_types(graph_def: tf.compat.v1.GraphDef) -> list[str]:
    """Sorted op types the graph uses (the function's runtime must register each)."""
    return sorted({node.op for node in graph_def.node})


def dtype_name(dtype: tf.DType) -> str:
    """The manifest's name for a TensorFlow dtype: NumPy's, or "string"."""
    return "string" if dtype == tf.string else np.dtype(dtype.as_numpy_dtype).name


def tensor_spec(tensor: tf.Tensor, name: str | None = None) -> TensorSpec:
    """Describe a tensor for the manifest: logical name (default: from its graph name), dtype,
    shape."""
    if tensor.shape.rank is None:
        raise FreezeError(f"tensor {tensor.name} has an unknown rank; the manifest needs a shape")
    return TensorSpec(
        name=name or logical_name(tensor.name),
        tensor=tensor.name,
        dtype=dtype_name(tensor.dtype),
        shape=tensor.shape.as_list(),
    )

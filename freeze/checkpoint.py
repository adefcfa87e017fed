"""A TF1 checkpoint (`.index`/`.data-*` weights, with its `.meta` graph or a separate GraphDef)
-> a session holding the graph and its weights, frozen by `freeze.session`.

TensorFlow's `freeze_graph` flags name it either way: `--input_meta_graph M.meta` (or the meta
graph beside the prefix) with `--input_checkpoint PREFIX`, or `--input_graph G.pb|G.pbtxt`
(`--input_binary` for a binary one) with `--input_checkpoint PREFIX`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from freeze import FreezeError, first_line, session
from freeze.graph import Frozen, logical_name, require_node, resolve_inputs, tensor_name
from handler.manifest import Source

#: the ops holding a TF1 graph's variables
VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp"})


@dataclass(frozen=True)
class CheckpointFiles:
    """One checkpoint: its prefix (`.../model.ckpt`) and the graph file (a meta graph, or a
    GraphDef when `binary` is not None: binary or text)."""

    prefix: Path
    graph: Path
    binary: bool | None = None

    @property
    def files(self) -> list[Path]:
        data = sorted(self.prefix.parent.glob(f"{self.prefix.name}.data-*"))
        return [self.graph, self.prefix.with_name(f"{self.prefix.name}.index"), *data]

    @property
    def size_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)


def locate(
    checkpoint_dir: Path | None,
    prefix: Path | None = None,
    meta: Path | None = None,
    input_graph: Path | None = None,
    input_binary: bool = False,
) -> CheckpointFiles:
    """Find the checkpoint: the latest one in `checkpoint_dir`, or the given prefix; its graph:
    `input_graph` (a GraphDef), `meta`, or PREFIX.meta."""
    if meta is not None and input_graph is not None:
        raise FreezeError("give --input_meta_graph or --input_graph, not both")
    if checkpoint_dir is not None:
        if not checkpoint_dir.is_dir():
            raise FreezeError(f"checkpoint folder {checkpoint_dir} does not exist")
        latest = tf.train.latest_checkpoint(str(checkpoint_dir))
        if latest is None:
            raise FreezeError(
                f"no checkpoint in {checkpoint_dir}: it needs a 'checkpoint' state file naming a "
                "prefix whose .index and .data-* files exist"
            )
        prefix = Path(latest)
    if prefix is None:
        raise FreezeError(
            "no checkpoint given: pass --checkpoint_dir or --input_checkpoint (--input_graph "
            "needs --input_checkpoint for the variables' values)"
        )
    if input_graph is not None:
        files = CheckpointFiles(prefix, input_graph, input_binary)
    else:
        files = CheckpointFiles(prefix, meta or prefix.with_name(f"{prefix.name}.meta"))
    missing = [path for path in files.files[:2] if not path.is_file()]
    if missing or len(files.files) < 3:
        what = ", ".join(map(str, missing)) or f"{prefix}.data-*"
        raise FreezeError(f"checkpoint {prefix} is incomplete: missing {what}")
    return files


@contextmanager
def restore(files: CheckpointFiles) -> Iterator[tf.compat.v1.Session]:
    """A session holding the checkpoint's graph and weights, closed on exit."""
    graph = tf.Graph()
    with graph.as_default():
        saver = _meta_saver(files) if files.binary is None else _graph_def_saver(files)
    with tf.compat.v1.Session(graph=graph) as sess:
        if saver is not None:  # a graph without variables has nothing to restore
            try:
                saver.restore(sess, str(files.prefix))
            except (tf.errors.OpError, ValueError) as exc:
                reason = first_line(exc)
                raise FreezeError(f"cannot restore checkpoint {files.prefix}: {reason}") from None
        yield sess


def _meta_saver(files: CheckpointFiles) -> tf.compat.v1.train.Saver | None:
    """Import the meta graph into the default graph; its Saver restores the variables."""
    try:
        return tf.compat.v1.train.import_meta_graph(str(files.graph), clear_devices=True)
    except (DecodeError, ValueError, KeyError, OSError, tf.errors.OpError) as exc:
        raise FreezeError(f"cannot read meta graph {files.graph}: {first_line(exc)}") from None


def _graph_def_saver(files: CheckpointFiles) -> tf.compat.v1.train.Saver | None:
    """Import the GraphDef into the default graph; a Saver over its variables (by node name, as
    the checkpoint keys them) restores them, as TensorFlow's freeze_graph does."""
    graph_def = tf.compat.v1.GraphDef()
    form = "binary" if files.binary else "text"
    try:
        data = files.graph.read_bytes()
        if files.binary:
            graph_def.ParseFromString(data)
        else:
            text_format.Parse(data.decode(), graph_def)
    except (DecodeError, text_format.ParseError, UnicodeDecodeError) as exc:
        other = "without --input_binary" if files.binary else "with --input_binary"
        raise FreezeError(
            f"cannot read {files.graph} as a {form} GraphDef ({other} it is read as "
            f"{'text' if files.binary else 'binary'}): {first_line(exc)}"
        ) from None
    for node in graph_def.node:
        node.device = ""
    try:
        tf.compat.v1.import_graph_def(graph_def, name="")
    except ValueError as exc:
        raise FreezeError(f"cannot import graph {files.graph}: {first_line(exc)}") from None
    graph = tf.compat.v1.get_default_graph()
    variables = [op for op in graph.get_operations() if op.type in VARIABLE_OPS]
    if not variables:
        return None
    try:
        stored = tf.train.load_checkpoint(str(files.prefix)).get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as exc:
        raise FreezeError(f"cannot read checkpoint {files.prefix}: {first_line(exc)}") from None
    missing = sorted(op.name for op in variables if op.name not in stored)
    if missing:
        raise FreezeError(
            f"checkpoint {files.prefix} holds no value for the graph's variables "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    return tf.compat.v1.train.Saver({op.name: _saveable(op) for op in variables})


def _saveable(op: tf.Operation) -> tf.Tensor:
    """What a Saver restores a variable through: a ref variable's tensor, or a read of a
    resource variable's handle."""
    if op.type == "VarHandleOp":
        return tf.raw_ops.ReadVariableOp(resource=op.outputs[0], dtype=op.get_attr("dtype"))
    return op.outputs[0]


def freeze(
    sess: tf.compat.v1.Session, files: CheckpointFiles, outputs: Sequence[str],
    inputs: Sequence[str],
) -> Frozen:
    """Freeze the session's graph down to the named output nodes or tensors (`y` or `y:1`), fed by
    the named inputs (default: every Placeholder they need). Logical names are the node names
    (`node:N` for a node's other outputs)."""
    if not outputs:
        raise FreezeError(
            "no output node: pass --output_node_names or set output_node in the model config"
        )
    graph_def = sess.graph.as_graph_def()
    for name in outputs:
        require_node(graph_def, name, "output")
    output_tensors = [tensor_name(name) for name in outputs]
    for tensor in output_tensors:
        try:
            sess.graph.get_tensor_by_name(tensor)
        except (KeyError, ValueError):
            raise FreezeError(f"output {tensor} is not a tensor of the graph") from None
    input_nodes = resolve_inputs(graph_def, [t.split(":")[0] for t in output_tensors], inputs)
    return session.freeze(
        sess,
        inputs={name: f"{name}:0" for name in input_nodes},
        outputs={logical_name(tensor): tensor for tensor in output_tensors},
        source=Source(kind="checkpoint", path=str(files.prefix), size_bytes=files.size_bytes),
        method=f"TF1 checkpoint restored in a session ({files.graph.name})",
    )

"""A TF1 checkpoint (`.meta` graph + `.index`/`.data-*` weights) -> a frozen GraphDef.

The classic path of TensorFlow's `freeze_graph`: import the meta graph, restore the weights into a
session, prune to the output, turn variables into constants, strip training-only nodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from freeze import FreezeError, first_line
from freeze.graph import Frozen, prune, require_node, resolve_input, strip, tensor_spec
from handler.manifest import Source


@dataclass(frozen=True)
class CheckpointFiles:
    """One checkpoint: its prefix (`.../model.ckpt`) and meta graph file."""

    prefix: Path
    meta: Path

    @property
    def files(self) -> list[Path]:
        data = sorted(self.prefix.parent.glob(f"{self.prefix.name}.data-*"))
        return [self.meta, self.prefix.with_name(f"{self.prefix.name}.index"), *data]

    @property
    def size_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)


def locate(
    checkpoint_dir: Path | None, prefix: Path | None = None, meta: Path | None = None
) -> CheckpointFiles:
    """Find the checkpoint: the latest one in `checkpoint_dir`, or the given prefix (and meta)."""
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
        raise FreezeError("no checkpoint given: pass --checkpoint_dir or --input_checkpoint")
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
    try:
        with graph.as_default():
            saver = tf.compat.v1.train.import_meta_graph(str(files.meta), clear_devices=True)
    except (DecodeError, ValueError, KeyError, OSError, tf.errors.OpError) as exc:
        raise FreezeError(f"cannot read meta graph {files.meta}: {first_line(exc)}") from None
    with tf.compat.v1.Session(graph=graph) as session:
        if saver is not None:  # a graph without variables has nothing to restore
            try:
                saver.restore(session, str(files.prefix))
            except (tf.errors.OpError, ValueError) as exc:
                reason = first_line(exc)
                raise FreezeError(f"cannot restore checkpoint {files.prefix}: {reason}") from None
        yield session


def freeze(
    session: tf.compat.v1.Session, files: CheckpointFiles, output: str | None, input: str | None
) -> Frozen:
    """Freeze the session's graph down to `output`; `input` is checked, or inferred if None."""
    if output is None:
        raise FreezeError(
            "no output node: pass --output_node_names or set output_node in the model config"
        )
    graph_def = session.graph.as_graph_def()
    output = require_node(graph_def, output, "output")
    input = resolve_input(graph_def, output, input)
    graph_def = tf.compat.v1.graph_util.convert_variables_to_constants(
        session, prune(graph_def, output), [output]
    )
    x = session.graph.get_tensor_by_name(f"{input}:0")
    y = session.graph.get_tensor_by_name(f"{output}:0")

    def reference(batch: np.ndarray) -> np.ndarray:
        return session.run(y, {x: batch})

    return Frozen(
        graph_def=strip(graph_def, input, output),
        input=tensor_spec(x),
        output=tensor_spec(y),
        reference=reference,
        source=Source(kind="checkpoint", path=str(files.prefix), size_bytes=files.size_bytes),
    )


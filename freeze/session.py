"""A model in a TF1 session (a restored checkpoint, or a SavedModel loaded the TF1 way) -> a frozen
GraphDef: the classic path of TensorFlow's `freeze_graph`.

Prune to the outputs, turn variables into constants (the session holds their values), inline
function calls (a TF2 graph loaded in a session calls its model through StatefulPartitionedCall),
strip training-only nodes, and write the lookup tables in as constants (`freeze.tables`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from freeze import FreezeError, first_line, tables
from freeze.graph import Frozen, described, inline_functions, node_name, strip
from handler.manifest import Source

graph_util = tf.compat.v1.graph_util


def freeze(
    session: tf.compat.v1.Session,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    source: Source,
    method: str,
    signature_name: str = "serving_default",
) -> Frozen:
    """Freeze the session's graph down to `outputs`, fed by `inputs` (each: logical name ->
    graph tensor name, already checked to exist). The Frozen's reference runs this session,
    which must stay open while it is used."""
    graph = session.graph
    graph_def = graph.as_graph_def()
    keep_inputs = [node_name(tensor) for tensor in inputs.values()]
    keep_outputs = list(dict.fromkeys(node_name(tensor) for tensor in outputs.values()))
    found = tables.find_tables(graph_util.extract_sub_graph(graph_def, keep_outputs))
    tables.initialize(session, found)
    contents = tables.export_session(session, found)
    try:
        frozen = graph_util.convert_variables_to_constants(session, graph_def, keep_outputs)
    except (tf.errors.OpError, ValueError) as exc:
        raise FreezeError(
            f"cannot read the variables' values ({method}): {first_line(exc)}"
        ) from None
    keep = [*keep_inputs, *keep_outputs, *(table.node for table in found)]
    frozen = strip(inline_functions(frozen, keep), keep)
    frozen, init_ops = tables.embed(frozen, found, contents)

    feeds = {name: graph.get_tensor_by_name(tensor) for name, tensor in inputs.items()}
    fetches = {name: graph.get_tensor_by_name(tensor) for name, tensor in outputs.items()}

    def reference(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return session.run(fetches, {feeds[name]: value for name, value in batch.items()})

    return described(
        frozen, feeds, fetches, reference=reference, source=source, method=method,
        init_ops=init_ops, signature_name=signature_name,
    )

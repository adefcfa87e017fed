"""A TF2 concrete function (a SavedModel's signature, or a `tf.function` around a Keras model) ->
a frozen GraphDef.

`convert_variables_to_constants_v2` turns the captured variables into constants and inlines the
calls; a captured lookup table stays a resource placeholder, which `freeze.tables` replaces with
the table and its contents. Then the same stripping as a checkpoint's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tensorflow.types.experimental import ConcreteFunction

from freeze import FreezeError, first_line, tables
from freeze.graph import Frozen, Reference, described, strip
from handler.manifest import Source


def freeze_function(
    function: ConcreteFunction,
    input_names: Sequence[str],
    pick_outputs: Callable[[ConcreteFunction], dict[str, tf.Tensor]],
    reference: Reference,
    source: Source,
    method: str,
    signature_name: str = "serving_default",
) -> Frozen:
    """Freeze `function`. Its first len(`input_names`) inputs are the model's, in that order (the
    rest are captures: a lookup table's stays a placeholder); `pick_outputs` names the frozen
    function's output tensors (logical name -> tensor), in the manifest's order."""
    try:
        frozen = convert_variables_to_constants_v2(function)
    except (ValueError, TypeError, tf.errors.OpError) as exc:
        raise FreezeError(
            f"cannot turn the model's variables into constants: {first_line(exc)}"
        ) from None
    inputs = dict(zip(input_names, frozen.inputs[: len(input_names)], strict=True))
    # what the function captured, by the placeholder standing for it (kept in the frozen graph)
    handles = {internal.op.name: external for external, internal in function.graph.captures}
    outputs = pick_outputs(frozen)
    graph_def = frozen.graph.as_graph_def()
    found = tables.find_tables(graph_def)
    contents = tables.export_eager(found, handles)
    keep = [
        *(tensor.op.name for tensor in (*inputs.values(), *outputs.values())),
        *(table.node for table in found),
    ]
    graph_def, init_ops = tables.embed(strip(graph_def, keep), found, contents)
    return described(
        graph_def, inputs, outputs, reference=reference, source=source, method=method,
        init_ops=init_ops, signature_name=signature_name,
    )

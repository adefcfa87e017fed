"""Lookup tables (string vocabularies, Keras `StringLookup`/`TextVectorization`,
`tf.lookup.StaticHashTable`): frozen as constants, filled once at cold start.

A graph that looks tokens up holds the table (a HashTableV2 node) but not its contents: those
come from an initializer (TF1), or sit in a resource a TF2 function captured (after freezing, a
resource placeholder). A frozen graph whose tables are never filled fails or answers default ids.
So every table the outputs use is read from the live model (keys and values, sorted so the same
model gives the same bytes) and written into the graph as two constants and a
LookupTableImportV2 node that fills the table; those nodes are the manifest's `init_ops`, run
once by the function at cold start. A table initialized from a vocabulary file
(InitializeTableFromTextFileV2, a file op the function's allowlist refuses) thus becomes that
vocabulary as constants: the frozen graph reads no file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from freeze import FreezeError, first_line
from freeze.graph import node_name

#: the static table the frozen graph holds
TABLE_OP = "HashTableV2"
#: ops that fill a table (input 0 is the table)
INITIALIZER_OPS = frozenset({
    "InitializeTableV2", "InitializeTableFromTextFileV2", "LookupTableImportV2",
})
#: other tables: they change while the graph runs, which a frozen graph cannot keep
MUTABLE_OPS = frozenset({
    "MutableHashTableV2", "MutableHashTableOfTensorsV2", "MutableDenseHashTableV2",
})
#: ops that take a table handle as input 0, with their key and value dtype attributes
_TYPED_CONSUMERS = {"LookupTableFindV2": ("Tin", "Tout"), "LookupTableImportV2": ("Tin", "Tout")}

#: a table's keys and values, in the same order
Contents = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Table:
    """A lookup table a frozen graph uses: a HashTableV2 node, or a TF2 function's captured
    table (a resource placeholder that becomes one)."""

    node: str
    key_dtype: tf.DType
    value_dtype: tf.DType


def find_tables(graph_def: tf.compat.v1.GraphDef) -> list[Table]:
    """The graph's lookup tables, by node name. A mutable table, or a captured resource that no
    lookup op consumes, cannot be frozen: refused."""
    consumers: dict[str, list[tf.compat.v1.NodeDef]] = {}
    for node in graph_def.node:
        if node.input:
            consumers.setdefault(node_name(node.input[0]), []).append(node)
    tables = []
    for node in graph_def.node:
        if node.op in MUTABLE_OPS:
            raise FreezeError(
                f"lookup table {node.name} is a {node.op}: a table that changes while the graph "
                "runs cannot be frozen (only static tables, tf.lookup.StaticHashTable, can)"
            )
        if node.op == TABLE_OP:
            tables.append(Table(node.name, tf.as_dtype(node.attr["key_dtype"].type),
                                tf.as_dtype(node.attr["value_dtype"].type)))
        elif node.op == "Placeholder" and node.attr["dtype"].type == tf.resource.as_datatype_enum:
            typed = _typed_consumer(node.name, consumers)
            if typed is None:
                users = sorted({c.op for c in consumers.get(node.name, [])}) or ["nothing"]
                raise FreezeError(
                    f"the model captures a resource {node.name} (used by {', '.join(users)}) "
                    "that is neither a variable nor a lookup table: it cannot be frozen"
                )
            key, value = _TYPED_CONSUMERS[typed.op]
            tables.append(Table(node.name, tf.as_dtype(typed.attr[key].type),
                                tf.as_dtype(typed.attr[value].type)))
    return tables


def _typed_consumer(
    name: str, consumers: Mapping[str, list[tf.compat.v1.NodeDef]]
) -> tf.compat.v1.NodeDef | None:
    """The first lookup op that takes the handle `name`, through Identity nodes (a TF2 function
    passes its captures on through them)."""
    pending, seen = [name], set()
    while pending:
        for node in consumers.get(pending.pop(), []):
            if node.op in _TYPED_CONSUMERS:
                return node
            if node.op == "Identity" and node.name not in seen:
                seen.add(node.name)
                pending.append(node.name)
    return None


def initialize(session: tf.compat.v1.Session, tables: Sequence[Table]) -> None:
    """Run the session graph's initializers of `tables` (TF1 graphs keep them at top level;
    running one again refills the same contents). A vocabulary file that cannot be read fails
    here, in one line."""
    names = {table.node for table in tables}
    ops = [
        op for op in session.graph.get_operations()
        if op.type in INITIALIZER_OPS and op.inputs and op.inputs[0].op.name in names
    ]
    for op in ops:
        try:
            session.run(op)
        except tf.errors.OpError as exc:
            table = op.inputs[0].op.name
            raise FreezeError(
                f"cannot initialize lookup table {table} ({op.type} {op.name}): {first_line(exc)}"
            ) from None


def export_session(session: tf.compat.v1.Session, tables: Sequence[Table]) -> dict[str, Contents]:
    """Each table's contents, read in the session holding it."""
    with session.graph.as_default():
        exports = {
            table.node: tf.raw_ops.LookupTableExportV2(
                table_handle=session.graph.get_tensor_by_name(f"{table.node}:0"),
                Tkeys=table.key_dtype, Tvalues=table.value_dtype,
            )
            for table in tables
        }
    return {name: _sorted(name, *session.run(export)) for name, export in exports.items()}


def export_eager(tables: Sequence[Table], handles: Mapping[str, tf.Tensor]) -> dict[str, Contents]:
    """Each table's contents, read through the resource handle the TF2 function captured."""
    contents = {}
    for table in tables:
        if table.node not in handles:
            raise FreezeError(f"lookup table {table.node} is not one the function captured")
        keys, values = tf.raw_ops.LookupTableExportV2(
            table_handle=handles[table.node], Tkeys=table.key_dtype, Tvalues=table.value_dtype
        )
        contents[table.node] = _sorted(table.node, keys.numpy(), values.numpy())
    return contents


def _sorted(name: str, keys: np.ndarray, values: np.ndarray) -> Contents:
    """Keys in order (a hash table exports in hash order, which differs between runs)."""
    if keys.size == 0:
        raise FreezeError(
            f"lookup table {name} is empty: its initializer did not run, so the frozen graph "
            "would answer every lookup with the default value"
        )
    order = np.argsort(keys, kind="stable")
    return keys[order], values[order]


def embed(
    graph_def: tf.compat.v1.GraphDef, tables: Sequence[Table], contents: Mapping[str, Contents]
) -> tuple[tf.compat.v1.GraphDef, list[str]]:
    """Each table as a HashTableV2 node (a captured placeholder is replaced under its name) with
    its contents as constants and a LookupTableImportV2 node that fills it. Returns the graph
    and the import nodes' names (the manifest's `init_ops`), sorted."""
    copy = tf.compat.v1.GraphDef()
    copy.CopyFrom(graph_def)
    taken = {node.name for node in copy.node}
    by_name = {node.name: node for node in copy.node}
    init_ops = []
    for table in tables:
        node = by_name[table.node]
        if node.op != TABLE_OP:  # a TF2 function's captured table
            node.Clear()
            node.name, node.op = table.node, TABLE_OP
            node.attr["key_dtype"].type = table.key_dtype.as_datatype_enum
            node.attr["value_dtype"].type = table.value_dtype.as_datatype_enum
        init = _unique(taken, f"{table.node}/init")
        keys, values = contents[table.node]
        for suffix, data, dtype in (("keys", keys, table.key_dtype),
                                    ("values", values, table.value_dtype)):
            const = copy.node.add(name=f"{init}/{suffix}", op="Const")
            const.attr["dtype"].type = dtype.as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(data, dtype))
            taken.add(const.name)
        importer = copy.node.add(
            name=init, op="LookupTableImportV2",
            input=[table.node, f"{init}/keys", f"{init}/values"],
        )
        importer.attr["Tin"].type = table.key_dtype.as_datatype_enum
        importer.attr["Tout"].type = table.value_dtype.as_datatype_enum
        init_ops.append(init)
    return copy, sorted(init_ops)


def _unique(taken: set[str], base: str) -> str:
    name, n = base, 1
    while name in taken or any(other.startswith(f"{name}/") for other in taken):
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name

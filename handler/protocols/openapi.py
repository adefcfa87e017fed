"""The OpenAPI schema narrowed to the served model: what the function really accepts.

The protocols' Pydantic models say what holds for any model. `create_app` builds the app for one
model, so `handler.api` then lets each protocol narrow its part of the schema with these helpers:
the model's name and versions in the paths, its input and output names, each input's values by
dtype and shape, the batch limit.

What no JSON Schema can say is left to the function's own checks: whether bytes are an image,
that Open Inference `data` holds as many values as its `shape` says, that every input has the
same batch size, that the rows of an open dimension have one length. (tests/schemathesis.toml
declares these, per operation, for the fuzzer.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from handler.manifest import InputSpec

Schema = dict[str, Any]

#: null: a body field given as null is absent
NULL: Schema = {"type": "null"}

#: TF Serving's binary string value (an image file for an input with an image codec)
B64: Schema = {
    "type": "object", "required": ["b64"], "additionalProperties": False,
    "properties": {"b64": {"type": "string", "contentEncoding": "base64"}},
}


def pin_path_parameters(schema: Schema, prefix: str, values: dict[str, list[Any]]) -> None:
    """Each path parameter named in `values`, on every path under `prefix`, as an enum of the
    values this function serves (any other is a 404)."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(prefix):
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in values:
                    parameter["schema"] = {
                        **parameter["schema"], "enum": values[parameter["name"]]
                    }


def leaf(dtype: str, text: Schema | None = None) -> Schema:
    """One JSON element of a tensor of `dtype`: a number within the dtype's range, a boolean,
    or for strings `text` (default: TF Serving's UTF-8 text or {"b64": ...})."""
    if dtype == "string":
        return text or {"anyOf": [{"type": "string"}, B64]}
    if dtype == "bool":
        return {"type": "boolean"}
    kind = np.dtype(dtype)
    if kind.kind == "f":
        bound = float(np.finfo(kind).max)
        return {"type": "number", "minimum": -bound, "maximum": bound}
    info = np.iinfo(kind)
    return {"type": "integer", "minimum": int(info.min), "maximum": int(info.max)}


def nested(dims: Sequence[int | None], item: Schema) -> Schema:
    """Nested JSON arrays of `dims` (None: any length) around `item`."""
    for size in reversed(dims):
        fixed = {} if size is None else {"minItems": size, "maxItems": size}
        item = {"type": "array", "items": item, **fixed}
    return item


def batch_of(rows: Schema, max_batch: int) -> Schema:
    """A batch: one or more `rows`, within MAX_BATCH."""
    return {"type": "array", "items": rows, "minItems": 1, "maxItems": max_batch}


def rows(spec: InputSpec) -> list[Schema]:
    """The kinds of row an input takes in TF Serving's JSON (also the native API's): nested
    arrays of its dtype's values, and for an input with an image codec an image file as
    {"b64": ...}. One request's rows of one input are all of one kind."""
    values = nested(spec.shape[1:], leaf(spec.dtype))
    return [values] if spec.codec is None else [values, B64]


def batch(spec: InputSpec, max_batch: int) -> Schema:
    """One input's batch in TF Serving's JSON: rows of one kind."""
    kinds = [batch_of(kind, max_batch) for kind in rows(spec)]
    return kinds[0] if len(kinds) == 1 else {"anyOf": kinds}


def named(values: dict[str, Schema]) -> Schema:
    """An object naming every input, each with its value, and no other."""
    return {
        "type": "object", "properties": values, "required": list(values),
        "additionalProperties": False,
    }

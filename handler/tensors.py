"""Tensors on the wire: one dtype table, and every conversion between client data (JSON values,
the Open Inference Protocol's binary tensors, base64) and NumPy arrays.

Strings are TensorFlow's tf.string: NumPy object arrays of `bytes`. The limits on what a request
may hold (MAX_TENSOR_ELEMENTS) are checked here on the client's data before NumPy builds an
array; shapes and dtypes against the model are the data plane's (handler/model.py).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from handler.errors import BadRequest, TooLarge, Unprocessable
from handler.manifest import InputSpec


@dataclass(frozen=True)
class DType:
    """One tensor dtype under each of its names."""

    name: str  #: the manifest's (NumPy's, or "string")
    v2: str  #: the Open Inference Protocol's datatype
    tf: str  #: TensorFlow's DataType enum, as TF Serving's metadata spells it

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(object) if self.name == "string" else np.dtype(self.name)


DTYPES: dict[str, DType] = {d.name: d for d in (
    DType("float16", "FP16", "DT_HALF"), DType("float32", "FP32", "DT_FLOAT"),
    DType("float64", "FP64", "DT_DOUBLE"),
    DType("int8", "INT8", "DT_INT8"), DType("int16", "INT16", "DT_INT16"),
    DType("int32", "INT32", "DT_INT32"), DType("int64", "INT64", "DT_INT64"),
    DType("uint8", "UINT8", "DT_UINT8"), DType("uint16", "UINT16", "DT_UINT16"),
    DType("uint32", "UINT32", "DT_UINT32"), DType("uint64", "UINT64", "DT_UINT64"),
    DType("bool", "BOOL", "DT_BOOL"), DType("string", "BYTES", "DT_STRING"),
)}
BY_V2: dict[str, DType] = {d.v2: d for d in DTYPES.values()}


def check_elements(count: int, limit: int, where: str) -> None:
    """413 if `count` elements exceed MAX_TENSOR_ELEMENTS."""
    if count > limit:
        raise TooLarge(
            "too_many_elements",
            f"{where}: {count} elements exceed the limit of {limit} elements per request",
        )


def json_shape(values: Any) -> list[int]:
    """The shape of nested JSON lists, read along the first element at each depth: it costs the
    depth, not the elements. Exact for any array NumPy can build (a rectangular one); ragged
    lists fail NumPy's shape discovery later, before an array is allocated."""
    shape, first = [], values
    while isinstance(first, list):
        shape.append(len(first))
        first = first[0] if first else None
    return shape


_URL_SAFE = str.maketrans("-_", "+/")


def b64decode(text: str, where: str) -> bytes:
    """Base64 in the forms clients produce: the standard or URL-safe alphabet, padding optional,
    whitespace ignored, behind an optional `data:<type>;base64,` prefix (what a browser's
    FileReader.readAsDataURL gives). Anything else is a 400 naming the bad field."""
    data = "".join(text.split())
    if data[:5].lower() == "data:":
        header, _, data = data.partition(",")
        if not header.lower().endswith(";base64"):
            raise BadRequest(
                "invalid_base64", f"{where} is a data: URI without ';base64,' before its data"
            )
    try:
        return base64.b64decode(data.translate(_URL_SAFE) + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("invalid_base64", f"{where} is not valid base64") from None


def as_numbers(values: Any, dtype: DType, where: str) -> np.ndarray:
    """JSON numbers (or booleans for BOOL), or a NumPy array of them -> an array of `dtype`; 400
    if ragged, of another kind, or out of the dtype's range (a float's too: past it, it would
    become inf). An integer may be written 2.0 (JSON Schema's "integer" is any number without a
    fraction); a boolean is never a number, even among numbers (NumPy would read [true, 2] as
    [1, 2])."""
    try:
        array = np.asarray(values)
    except ValueError:
        raise BadRequest("invalid_tensor", f"{where} is ragged: its rows differ in shape") from None
    target = dtype.numpy
    kind = array.dtype.kind
    if array.size == 0:
        return array.astype(target)
    # booleans among numbers (mixed), which NumPy made 0 and 1: look for them only then
    if (kind in "iuf" and ((array == 0) | (array == 1)).any()
            and _holds_booleans(values, array.ndim)):
        kind = "O"
    if kind == "f" and target.kind in "iu" and np.all(np.mod(array, 1) == 0):
        kind = "i"
    accepted = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}[target.kind]
    if kind not in accepted:
        what = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers"}[target.kind]
        got = {"U": "strings", "S": "strings", "O": "mixed or unbounded values", "b": "booleans",
               "f": "non-integer numbers"}.get(kind, array.dtype.name)
        raise BadRequest(
            "wrong_dtype", f"{where} must hold {what} ({dtype.name}), not {got}"
        )
    if target.kind in "iuf":
        info = np.iinfo(target) if target.kind in "iu" else np.finfo(target)
        # integers NumPy holds as floats (mixed with fractions or -0.0) are compared as floats: a
        # bound a float cannot hold exactly (int64's 2**63 - 1) is then itself out of range
        upper = float(info.max) if array.dtype.kind == "f" else info.max
        above = array.max() >= upper if upper != info.max else array.max() > upper
        if array.min() < info.min or above:
            raise BadRequest(
                "out_of_range",
                f"{where} holds values outside {dtype.name}'s range {info.min}..{info.max}",
            )
    return array.astype(target)


def _holds_booleans(values: Any, depth: int) -> bool:
    """Whether nested lists `depth` deep (a regular array's) hold a JSON boolean."""
    if depth == 0:
        return type(values) is bool
    for _ in range(depth - 1):
        values = chain.from_iterable(values)
    return bool in map(type, values)


def _strings(values: Any, where: str, decode_item: Callable[[Any, str], bytes]) -> np.ndarray:
    """Nested JSON lists of string items -> an object array of bytes."""
    shape = json_shape(values)
    flat: list[Any] = []

    def walk(node: Any, depth: int) -> None:
        if depth == len(shape):
            flat.append(node)
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise BadRequest("invalid_tensor", f"{where} is ragged: its rows differ in shape")
        for item in node:
            walk(item, depth + 1)

    walk(values, 0)
    items = [decode_item(item, f"{where}[{i}]") for i, item in enumerate(flat)]
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def text_item(item: Any, where: str) -> bytes:
    """A JSON string element of a string tensor: its UTF-8 bytes."""
    if not isinstance(item, str):
        raise BadRequest("wrong_dtype", f"{where} must be a string, not {type(item).__name__}")
    return item.encode()


def base64_item(item: Any, where: str) -> bytes:
    """A JSON string element holding base64 (an image file in a v2 BYTES input)."""
    if not isinstance(item, str):
        raise BadRequest("wrong_dtype", f"{where} must be a base64 string")
    return b64decode(item, where)


def tfserving_item(item: Any, where: str) -> bytes:
    """A TF Serving string value: UTF-8 text, or {"b64": "..."} for binary data."""
    if isinstance(item, dict):
        if set(item) != {"b64"} or not isinstance(item["b64"], str):
            raise BadRequest("invalid_b64_object", f'{where} must be {{"b64": "<base64>"}}')
        return b64decode(item["b64"], f"{where}.b64")
    return text_item(item, where)


def from_json(
    values: Any, dtype: DType, where: str, limit: int,
    string_item: Callable[[Any, str], bytes] = text_item,
) -> np.ndarray:
    """Nested JSON lists (or a scalar) -> an array of `dtype`, after the element limit."""
    check_elements(math.prod(json_shape(values)), limit, where)
    if dtype.name == "string":
        return _strings(values, where, string_item)
    if isinstance(values, dict) or _holds_objects(values):
        raise BadRequest("wrong_dtype", f"{where} must hold {dtype.name} values, not objects")
    return as_numbers(values, dtype, where)


def _leaf(values: Any) -> Any:
    """The first scalar (or object) of nested lists."""
    while isinstance(values, list) and values:
        values = values[0]
    return values


def _holds_objects(values: Any) -> bool:
    return isinstance(_leaf(values), dict)


def input_from_json(values: Any, spec: InputSpec, where: str, limit: int) -> np.ndarray:
    """One model input's JSON values in TF Serving's vocabulary (also the native API's): numbers,
    booleans, strings, `{"b64": "..."}` binary strings. For an input with an image codec,
    `{"b64"}` objects are image files (bytes the data plane decodes); else the input's dtype."""
    dtype = DTYPES[spec.dtype]
    if spec.codec is not None and _holds_objects(values):
        dtype = DTYPES["string"]
    return from_json(values, dtype, where, limit, tfserving_item)


def from_binary(raw: bytes, dtype: DType, shape: list[int], where: str, limit: int) -> np.ndarray:
    """The Open Inference Protocol's binary tensor: little-endian row-major values, or for BYTES
    each element as a 4-byte little-endian length and its bytes."""
    count = math.prod(shape)
    check_elements(count, limit, where)
    if dtype.name == "string":
        items, offset = [], 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise BadRequest("invalid_binary_data", f"{where}: truncated BYTES element length")
            (size,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + size > len(raw):
                raise BadRequest("invalid_binary_data", f"{where}: BYTES element overruns the data")
            items.append(raw[offset : offset + size])
            offset += size
        if len(items) != count:
            raise BadRequest(
                "wrong_shape", f"{where}: shape {shape} but {len(items)} BYTES elements"
            )
        array = np.empty(count, dtype=object)
        array[:] = items
        return array.reshape(shape)
    wire = dtype.numpy.newbyteorder("<")
    if len(raw) != count * wire.itemsize:
        raise BadRequest("wrong_shape", f"{where}: {len(raw)} bytes do not fit shape {shape}")
    return np.frombuffer(raw, wire).astype(dtype.numpy).reshape(shape)


def to_binary(array: np.ndarray) -> bytes:
    """An array as the Open Inference Protocol's binary tensor (the inverse of from_binary)."""
    if array.dtype == object:
        return b"".join(struct.pack("<I", len(item)) + item for item in array.ravel())
    return np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()


def _text(item: bytes, where: str) -> str:
    try:
        return item.decode()
    except UnicodeDecodeError:
        raise Unprocessable(
            "output_not_text",
            f"{where} holds bytes that are not UTF-8 text, which JSON cannot carry: ask for it "
            "as binary data",
        ) from None


def to_json(array: np.ndarray, where: str, b64: bool = False) -> Any:
    """An array as nested JSON lists; strings as UTF-8 text, or as TF Serving's {"b64": ...}
    when `b64` (an output whose name ends in `_bytes`)."""
    if array.dtype != object:
        return array.tolist()
    if b64:
        items = [{"b64": base64.b64encode(item).decode()} for item in array.ravel()]
    else:
        items = [_text(item, where) for item in array.ravel()]
    return np.array(items, dtype=object).reshape(array.shape).tolist()


def outputs_json(outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """Named outputs as JSON values, TF Serving's way (also the native API's): string outputs
    as UTF-8 text, or as {"b64": ...} when the output's name ends in `_bytes`."""
    return {
        name: to_json(array, f"output {name!r}", b64=name.endswith("_bytes"))
        for name, array in outputs.items()
    }

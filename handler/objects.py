"""An input object's bytes -> one example: one row of every model input, by name (no batch
dimension), for the bulk job (handler/bulk.py) to stack into batches.

- A model whose one input has an image codec: the object is an image file, decoded by that
  codec exactly as the API decodes an upload (handler/images.py), with the API's pixel limit
  (MAX_IMAGE_PIXELS, from the header before any pixel is decoded); the byte limit is the bulk
  one, MAX_OBJECT_BYTES, checked on HEAD before the download (handler/bulk.py).
- Any other model (a tensor model): a NumPy file, `.npy` (numpy.save) for a model with one
  input, `.npz` (numpy.savez or savez_compressed) holding every input by name. Each array is one
  example: the input's shape without its batch dimension, or with a batch dimension of 1 (open
  dimensions take any size). Object arrays are refused, never unpickled, and each array's size is
  read from its header and checked before its data is read, all arrays together within
  MAX_TENSOR_ELEMENTS (and 8 bytes per element), so a compressed file cannot expand past the
  limits. Dtypes follow the API's rules (handler/tensors.py): integers feed a float input, but a
  float for an integer input, a value outside the dtype or text where numbers belong is refused
  (`wrong_dtype`, `out_of_range`); a string input takes byte or text arrays (text as UTF-8).

Every problem is a domain error (handler/errors.py) naming what is wrong, which the job writes
as the object's error record.
"""

from __future__ import annotations

import io
import math
import zipfile
from typing import IO

import numpy as np

from handler import images
from handler.config import Limits
from handler.errors import BadRequest, TooLarge, Unprocessable
from handler.manifest import InputSpec, Manifest
from handler.runtime import numpy_dtype
from handler.tensors import DTYPES, as_numbers, check_elements

Example = dict[str, np.ndarray]
NPY_MAGIC = b"\x93NUMPY"
_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
#: at most this many bytes per element of MAX_TENSOR_ELEMENTS (the widest numeric dtype's)
_BYTES_PER_ELEMENT = 8


def decode_object(data: bytes, manifest: Manifest, limits: Limits) -> Example:
    """The example one object holds (see the module docstring); `limits` as the model's
    (MAX_TENSOR_ELEMENTS resolved), with max_image_bytes the bulk MAX_OBJECT_BYTES."""
    spec = manifest.image_input
    if spec is not None:
        assert spec.codec is not None
        row = images.decode(data, spec.codec, limits)
        return {spec.name: row.astype(numpy_dtype(spec.dtype), copy=False)}
    arrays = _read_arrays(data, manifest, limits.max_tensor_elements or 0)
    return {spec.name: _row(spec, arrays[spec.name]) for spec in manifest.inputs}


def _read_arrays(data: bytes, manifest: Manifest, limit: int) -> dict[str, np.ndarray]:
    """The object's arrays by input name: every input, and no other."""
    names = [spec.name for spec in manifest.inputs]
    budget = [limit]
    if data.startswith(NPY_MAGIC):
        if len(names) != 1:
            raise BadRequest(
                "missing_input", f"a .npy file holds one array, and the model takes {names}: "
                "store them by name in a .npz (numpy.savez)"
            )
        return {names[0]: _read_npy(io.BytesIO(data), "the .npy file", budget)}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise Unprocessable(
            "not_a_tensor_file", "the object is neither a .npy nor a .npz file (numpy.save, "
            "numpy.savez): this model takes tensors, not images"
        ) from None
    with archive:
        members = {member.removesuffix(".npy"): member for member in archive.namelist()}
        unknown = sorted(set(members) - set(names))
        if unknown:
            raise BadRequest(
                "unknown_input", f"the .npz holds {unknown}; the model's inputs are {names}"
            )
        missing = [name for name in names if name not in members]
        if missing:
            raise BadRequest(
                "missing_input", f"inputs {missing} are missing from the .npz; the model's "
                f"inputs are {names}"
            )
        try:
            return {name: _open_npy(archive, members[name], budget) for name in names}
        except (zipfile.BadZipFile, OSError, EOFError) as exc:  # zlib's errors are OSErrors
            raise Unprocessable("corrupt_tensor_file", f"cannot read the .npz: {exc}") from None


def _open_npy(archive: zipfile.ZipFile, member: str, budget: list[int]) -> np.ndarray:
    with archive.open(member) as file:
        return _read_npy(file, f"array {member!r}", budget)


def _read_npy(file: IO[bytes], where: str, budget: list[int]) -> np.ndarray:
    """One .npy's array, its header checked against what is left of the element `budget`
    before its data is read."""
    try:
        version = np.lib.format.read_magic(file)
        if version not in _HEADERS:
            raise ValueError(f"format version {version} is not supported (1.0 and 2.0 are)")
        shape, fortran_order, dtype = _HEADERS[version](file)
    except ValueError as exc:
        raise Unprocessable("corrupt_tensor_file", f"{where}: {exc}") from None
    if dtype.hasobject:
        raise Unprocessable(
            "wrong_dtype", f"{where} holds Python objects, which are never unpickled: save "
            "numbers, booleans or strings"
        )
    count = math.prod(shape)
    check_elements(count, budget[0], f"{where} (all arrays together)")
    if count * dtype.itemsize > _BYTES_PER_ELEMENT * budget[0]:
        raise TooLarge(
            "too_many_elements", f"{where}: {count * dtype.itemsize} bytes exceed "
            f"{_BYTES_PER_ELEMENT} bytes per element of the limit"
        )
    budget[0] -= count
    raw = file.read(count * dtype.itemsize)
    if len(raw) != count * dtype.itemsize:
        raise Unprocessable("corrupt_tensor_file", f"{where} is truncated")
    return np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran_order else "C")


def _row(spec: InputSpec, array: np.ndarray) -> np.ndarray:
    """One input's array as one row of `spec` (its shape without the batch dimension)."""
    where = f"input {spec.name!r}"
    row_shape = spec.shape[1:]
    if array.ndim == len(spec.shape) and array.shape[:1] == (1,):
        array = array[0]
    fits = array.ndim == len(row_shape) and all(
        d is None or d == g for d, g in zip(row_shape, array.shape, strict=True)
    )
    if not fits:
        dims = ["?" if d is None else d for d in row_shape]
        raise BadRequest(
            "wrong_shape", f"{where}: an array of shape {list(array.shape)} is not one example "
            f"of shape {dims} (or [1, {', '.join(map(str, dims))}])"
        )
    if spec.dtype != "string":
        target = DTYPES[spec.dtype].numpy
        if array.dtype.kind == "f" and target.kind in "iu":  # a file says its dtype: no 2.0 for 2
            raise BadRequest(
                "wrong_dtype", f"{where} must hold integers ({spec.dtype}), not {array.dtype.name}"
            )
        return as_numbers(array, DTYPES[spec.dtype], where)
    if array.dtype.kind not in "SU":
        raise BadRequest("wrong_dtype", f"{where} takes strings, not {array.dtype.name}")
    items = [item.encode() if isinstance(item, str) else bytes(item) for item in array.ravel()]
    strings = np.empty(len(items), dtype=object)
    strings[:] = items
    return strings.reshape(array.shape)

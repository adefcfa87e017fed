"""The Open Inference Protocol (KServe v2) over REST, enough for `tritonclient.http` to infer.

Inputs: the model's one input as FP32 (JSON `data`, flat or nested, or the binary tensor
extension that tritonclient uses by default), or as BYTES whose elements are image files:
base64 strings in JSON, raw length-prefixed bytes with the binary extension. Outputs are always
JSON `data` (clients read both forms).

Model paths also answer under `/versions/{version}` (tritonclient's `model_version`), where the
version is the one the metadata lists, the manifest's; any other is a 404
`model_version_not_found`.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from handler import __version__
from handler.errors import ApiError
from handler.manifest import TensorSpec
from handler.model import Model
from handler.protocols.common import (
    b64decode,
    check_tensor_elements,
    check_version,
    json_tensor,
    NamedModel,
    parse_json,
    pinned_route,
    read_body,
    request_body,
    schema_ref,
)

BINARY_HEADER = "inference-header-content-length"
_DATATYPES = {"float16": "FP16", "float32": "FP32", "float64": "FP64", "uint8": "UINT8",
              "int32": "INT32", "int64": "INT64"}

router = APIRouter(prefix="/v2", tags=["Open Inference Protocol (v2)"])


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = Field(default=None, description="Row-major; absent with binary data.")


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[float]


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]


BODY_SCHEMAS = (InferRequest,)


def _datatype(dtype: str) -> str:
    """The protocol's name for a NumPy dtype name (FP32 for float32)."""
    return _DATATYPES.get(dtype, dtype.upper())


def _metadata_tensor(spec: TensorSpec) -> MetadataTensor:
    return MetadataTensor(
        name=spec.name,
        datatype=_datatype(spec.dtype),
        shape=[-1 if d is None else d for d in spec.shape],
    )


@router.get("")
async def server_metadata() -> ServerMetadata:
    return ServerMetadata(
        name="tf-lambda-serving", version=__version__, extensions=["binary_tensor_data"]
    )


@router.get("/health/live")
async def live() -> Live:
    return Live(live=True)


@router.get("/health/ready")
async def ready() -> Ready:
    return Ready(ready=True)  # the model loads at import: a running function is a ready one


async def _version(version: str, model: NamedModel) -> None:
    check_version(model, "version", version, [model.version])


PINS = {"/versions/{version}": _version}


@pinned_route(router, "GET", "/models/{name:model}", PINS)
async def model_metadata(model: NamedModel) -> ModelMetadata:
    m = model.manifest
    return ModelMetadata(
        name=m.name, versions=[m.version], platform=model.runtime.platform,
        inputs=[_metadata_tensor(m.input)], outputs=[_metadata_tensor(m.output)],
    )


@pinned_route(router, "GET", "/models/{name:model}/ready", PINS)
async def model_ready(model: NamedModel) -> ModelReady:
    return ModelReady(name=model.name, ready=True)


def _split_binary(request: Request, body: bytes) -> tuple[bytes, bytes]:
    """(JSON header, binary tail) per the binary tensor data extension; all JSON without it."""
    length = request.headers.get(BINARY_HEADER)
    if length is None:
        return body, b""
    if not length.isdigit() or int(length) > len(body):
        raise ApiError(
            400, "invalid_binary_header", f"{BINARY_HEADER} {length!r} does not fit the body"
        )
    return body[: int(length)], body[int(length) :]


def _deserialize_bytes(raw: bytes, where: str) -> list[bytes]:
    """BYTES tensor in binary form: each element a 4-byte little-endian length, then the bytes."""
    items, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise ApiError(400, "invalid_binary_data", f"{where}: truncated BYTES element length")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise ApiError(400, "invalid_binary_data", f"{where}: BYTES element overruns the data")
        items.append(raw[offset : offset + size])
        offset += size
    return items


def _batch(tensor: RequestInput, raw: bytes | None, model: Model) -> np.ndarray:
    """One request input (JSON data or binary bytes) -> an input batch for the model."""
    where = f"input {tensor.name!r}"
    if raw is None and tensor.data is None:
        raise ApiError(400, "missing_data", f"{where} has neither data nor binary_data_size")
    if tensor.datatype == "BYTES":
        if raw is not None:
            images = _deserialize_bytes(raw, where)
        else:
            if not all(isinstance(item, str) for item in tensor.data):
                raise ApiError(400, "wrong_dtype", f"{where}: BYTES data must be base64 strings")
            images = [b64decode(item, f"{where} data[{i}]") for i, item in enumerate(tensor.data)]
        if len(images) != math.prod(tensor.shape):
            raise ApiError(
                400, "wrong_shape", f"{where}: shape {tensor.shape} but {len(images)} elements"
            )
        return model.preprocess(images)
    accepted = _datatype(model.input_dtype.name)
    if tensor.datatype != accepted:
        raise ApiError(
            400, "wrong_dtype",
            f"{where}: datatype {tensor.datatype} is not accepted; send "
            f"{accepted} tensors or BYTES images",
        )
    if raw is not None:
        dtype = model.input_dtype.newbyteorder("<")
        check_tensor_elements(len(raw) // dtype.itemsize, model)
        if len(raw) != math.prod(tensor.shape) * dtype.itemsize:
            raise ApiError(
                400, "wrong_shape", f"{where}: {len(raw)} bytes do not fit shape {tensor.shape}"
            )
        values = np.frombuffer(raw, dtype)
    else:
        values = json_tensor(tensor.data, model)
        if values.size != math.prod(tensor.shape):
            raise ApiError(
                400, "wrong_shape", f"{where}: shape {tensor.shape} but {values.size} values"
            )
    return model.tensor(values.reshape(tensor.shape))


@pinned_route(
    router, "POST", "/models/{name:model}/infer", PINS,
    openapi_extra=request_body({"application/json": schema_ref(InferRequest)}),
)
async def infer(request: Request, model: NamedModel) -> InferResponse:
    """Run the model on its one input, given as FP32 tensor data or BYTES image files."""
    header, tail = _split_binary(request, await read_body(request, model))
    body = parse_json(InferRequest, header)
    expected = model.manifest.input.name
    if len(body.inputs) != 1 or body.inputs[0].name != expected:
        raise ApiError(
            400, "unknown_input",
            f"inputs {[t.name for t in body.inputs]} do not match the model's input {expected!r}",
        )
    tensor = body.inputs[0]
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None and (not isinstance(size, int) or size != len(tail)):
        raise ApiError(
            400, "invalid_binary_data", f"binary_data_size {size} but {len(tail)} bytes follow"
        )
    output = model.manifest.output
    for requested in body.outputs or []:
        if requested.name != output.name:
            raise ApiError(
                400, "unknown_output",
                f"no output {requested.name!r}; the model's is {output.name!r}",
            )
    result = model.predict(_batch(tensor, tail if size is not None else None, model))
    return InferResponse(
        model_name=model.name, model_version=model.version, id=body.id,
        outputs=[ResponseOutput(
            name=output.name, shape=list(result.shape),
            datatype=_datatype(output.dtype),
            data=result.ravel().tolist(),
        )],
    )

"""The Open Inference Protocol (KServe v2) over REST, what `tritonclient.http` speaks.

Inputs: every model input by name, in its own datatype (FP16/32/64, INT8-64, UINT8-64, BOOL,
BYTES for strings: UTF-8 text in JSON `data`, raw with the binary tensor extension), as JSON
`data` (flat or nested) or binary tensors (the extension tritonclient uses by default). An input
with an image codec also takes BYTES whose elements are image files (base64 strings in JSON, raw
length-prefixed bytes in binary). Outputs: the request's `outputs` list selects which come back
(default: all); each carries its own datatype and shape, as JSON `data`, or as binary data when
its `binary_data` parameter (or the request's `binary_data_output`) says so.

Model paths also answer under `/versions/{version}` (tritonclient's `model_version`): a single
bundle's version is the manifest's content hash, a repository's a folder number
(handler/catalog.py); a path without one serves the highest version; any other is a 404
`model_version_not_found`. The repository extension: `POST /v2/repository/index` lists every
model version with its state; loading and unloading are refused (a function's models are fixed
at its deployment).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from handler import __version__
from handler.catalog import Catalog, ServedVersion, ready
from handler.errors import BadRequest
from handler.http_errors import ERROR_RESPONSES
from handler.manifest import InputSpec, TensorSpec
from handler.model import Model
from handler.protocols.common import (
    NamedServed,
    Served,
    parse_json,
    pinned_route,
    read_body,
    request_body,
    schema_ref,
)
from handler.protocols.openapi import leaf, pin_path_parameters
from handler.tensors import (
    BY_V2, DTYPES, base64_item, from_binary, from_json, text_item, to_binary, to_json,
)

BINARY_HEADER = "inference-header-content-length"

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


#: the Open Inference Protocol's tensor datatypes
Datatype = Literal[tuple(BY_V2)]  # type: ignore[valid-type]


class RequestInput(BaseModel):
    name: str = Field(min_length=1)
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = Field(default=None, description="Row-major; absent with binary data.")


def _parameters(name: str, description: str) -> Any:
    """A `parameters` field: an object (what it does not name is ignored) naming `name`, or
    null."""
    def document(schema: dict[str, Any]) -> None:
        schema["anyOf"][0]["properties"] = {name: {"description": description}}

    return Field(default=None, json_schema_extra=document)


class RequestOutput(BaseModel):
    name: str = Field(min_length=1)
    parameters: dict[str, Any] | None = _parameters(
        "binary_data", "true: this output as binary data (the binary tensor extension)."
    )


class InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = _parameters(
        "binary_data_output", "true: every output not asked otherwise as binary data."
    )
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = Field(
        default=None, min_length=1, description="The outputs to answer (default: all)."
    )


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = Field(
        default=None, description="Row-major; absent when sent as binary data."
    )


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]


BODY_SCHEMAS = (InferRequest,)


def _metadata_tensor(spec: TensorSpec) -> MetadataTensor:
    return MetadataTensor(
        name=spec.name,
        datatype=DTYPES[spec.dtype].v2,
        shape=[-1 if d is None else d for d in spec.shape],
    )


@router.get("")
async def server_metadata() -> ServerMetadata:
    return ServerMetadata(
        name="tf-lambda-serving", version=__version__,
        extensions=["binary_tensor_data", "model_repository"],
    )


@router.get("/health/live")
async def live() -> Live:
    return Live(live=True)


@router.get("/health/ready")
async def server_ready(catalog: Served) -> Ready:
    """Models load at import: a running function serves; ready while any version does."""
    versions = [v for m in catalog.models.values() for v in m.versions.values()]
    return Ready(ready=any(v.available for v in versions))


async def _selected(request: Request, served: NamedServed) -> ServedVersion:
    version = request.path_params.get("version")
    return served.latest if version is None else served.by_v2(version)


Selected = Annotated[ServedVersion, Depends(_selected)]


async def _ready(version: Selected) -> Model:
    return ready(version)


#: `model: ReadyModel`: the model of the version the path names (or the highest), loaded
ReadyModel = Annotated[Model, Depends(_ready)]
async def _version(version: str) -> None:
    """Declares the `{version}` path segment (`_selected` reads it)."""


PINS = {"/versions/{version}": _version}


@pinned_route(router, "GET", "/models/{name:model}", PINS)
async def model_metadata(served: NamedServed, model: ReadyModel) -> ModelMetadata:
    m = model.manifest
    return ModelMetadata(
        name=m.name, versions=[v.v2 for v in served.versions.values()],
        platform=model.runtime.platform,
        inputs=[_metadata_tensor(spec) for spec in m.inputs],
        outputs=[_metadata_tensor(spec) for spec in m.outputs],
    )


@pinned_route(router, "GET", "/models/{name:model}/ready", PINS)
async def model_ready(served: NamedServed, version: Selected) -> ModelReady:
    return ModelReady(name=served.name, ready=version.available)


class IndexRequest(BaseModel):
    ready: bool | None = Field(default=None, description="Only versions that are (not) ready.")


class IndexEntry(BaseModel):
    name: str
    version: str
    state: Literal["READY", "UNAVAILABLE"]
    reason: str = ""


@router.post("/repository/index", responses=ERROR_RESPONSES)
async def repository_index(request: Request, catalog: Served) -> list[IndexEntry]:
    """Every model version this function serves and its state (the repository extension's
    index, what tritonclient's `get_model_repository_index` calls)."""
    body = await request.body()
    asked = parse_json(IndexRequest, body) if body.strip() else IndexRequest()
    entries = [
        IndexEntry(name=name, version=v.v2, state="READY" if v.available else "UNAVAILABLE",
                   reason=v.error or "")
        for name, served in catalog.models.items() for v in served.versions.values()
    ]
    if asked.ready is None:
        return entries
    return [e for e in entries if (e.state == "READY") == asked.ready]


@router.post("/repository/models/{name:model}/{action}", responses=ERROR_RESPONSES)
async def repository_control(name: str, action: Literal["load", "unload"]) -> None:
    """Loading and unloading: not supported (a deployment fixes what a function serves)."""
    raise BadRequest(
        "repository_control_not_supported",
        f"cannot {action} {name!r}: this function's models are fixed at deployment (deploy a "
        "new version of the function to change them)",
    )


def _split_binary(request: Request, body: bytes) -> tuple[bytes, bytes]:
    """(JSON header, binary tail) per the binary tensor data extension; all JSON without it."""
    length = request.headers.get(BINARY_HEADER)
    if length is None:
        return body, b""
    if not (length.isascii() and length.isdigit()) or int(length) > len(body):
        raise BadRequest(
            "invalid_binary_header", f"{BINARY_HEADER} {length!r} does not fit the body"
        )
    return body[: int(length)], body[int(length) :]


def _binary_size(tensor: RequestInput) -> int | None:
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise BadRequest(
            "invalid_binary_data", f"input {tensor.name!r}: binary_data_size {size!r} is not a size"
        )
    return size


def _datatypes(spec: InputSpec) -> list[str]:
    """The datatypes an input takes: its own, and BYTES (image files) with an image codec."""
    return list(dict.fromkeys([DTYPES[spec.dtype].v2] + ["BYTES"] * (spec.codec is not None)))


def _array(tensor: RequestInput, spec: InputSpec, raw: bytes | None, model: Model) -> np.ndarray:
    """One request input (JSON data or its slice of the binary tail) -> an array shaped as the
    request says, of the datatype it names: the input's own, or BYTES image files for an input
    with an image codec."""
    where = f"input {tensor.name!r}"
    accepted = _datatypes(spec)
    if tensor.datatype not in accepted:
        raise BadRequest(
            "wrong_dtype",
            f"{where}: datatype {tensor.datatype} is not accepted; send {' or '.join(accepted)}"
            + (" (image files)" if spec.codec is not None else ""),
        )
    dtype = BY_V2[tensor.datatype]
    if raw is not None:
        return from_binary(raw, dtype, tensor.shape, where, model.element_limit)
    if tensor.data is None:
        raise BadRequest("missing_data", f"{where} has neither data nor binary_data_size")
    item = base64_item if spec.codec is not None and dtype.name == "string" else text_item
    values = from_json(tensor.data, dtype, where, model.element_limit, item)
    if values.size != math.prod(tensor.shape):
        raise BadRequest(
            "wrong_shape", f"{where}: shape {tensor.shape} but {values.size} values"
        )
    return values.reshape(tensor.shape)


def _inputs(body: InferRequest, tail: bytes, model: Model) -> dict[str, np.ndarray]:
    """Every request input by name, each binary one taking the next slice of the tail."""
    known = {spec.name: spec for spec in model.manifest.inputs}
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in body.inputs:
        if tensor.name not in known:
            raise BadRequest(
                "unknown_input",
                f"no input named {tensor.name!r}; the model's inputs are {list(known)}",
            )
        if tensor.name in arrays:
            raise BadRequest("duplicate_input", f"input {tensor.name!r} is given twice")
        size = _binary_size(tensor)
        raw = None
        if size is not None:
            raw = tail[offset : offset + size]
            if len(raw) != size:
                raise BadRequest(
                    "invalid_binary_data",
                    f"input {tensor.name!r}: binary_data_size {size} but "
                    f"{len(tail) - offset} bytes follow",
                )
            offset += size
        arrays[tensor.name] = _array(tensor, known[tensor.name], raw, model)
    if offset != len(tail):
        raise BadRequest(
            "invalid_binary_data", f"{len(tail) - offset} bytes of binary data belong to no input"
        )
    return arrays


def _response(
    model: Model, version: str, body: InferRequest, outputs: dict[str, np.ndarray]
) -> Response:
    """The answer: JSON, or with any output sent as binary data the extension's JSON header plus
    its binary tail (in output order), the header's length in BINARY_HEADER."""
    default = (body.parameters or {}).get("binary_data_output") is True
    asked = {out.name: out.parameters or {} for out in body.outputs or []}
    tail: list[bytes] = []
    described = []
    for name, array in outputs.items():
        spec = model.manifest.output(name)
        entry: dict[str, Any] = {
            "name": name, "datatype": DTYPES[spec.dtype].v2, "shape": list(array.shape),
        }
        if asked.get(name, {}).get("binary_data", default) is True:
            data = to_binary(array)
            entry["parameters"] = {"binary_data_size": len(data)}
            tail.append(data)
        else:
            entry["data"] = to_json(array.ravel(), f"output {name!r}")
        described.append(entry)
    answer = InferResponse(
        model_name=model.name, model_version=version, id=body.id,
        outputs=[ResponseOutput(**entry) for entry in described],
    )
    header = answer.model_dump_json(exclude_none=True).encode()  # NaN and inf as null, valid JSON
    if not tail:
        return Response(header, media_type="application/json")
    return Response(
        header + b"".join(tail), media_type="application/octet-stream",
        headers={BINARY_HEADER: str(len(header))},
    )


_BINARY_ANSWER = {"200": {
    "description": "With any output asked as binary data: the JSON answer, then each binary "
    f"output in order; `{BINARY_HEADER}` gives the JSON's length.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    "headers": {BINARY_HEADER: {"schema": {"type": "integer", "minimum": 0}}},
}}


@pinned_route(
    router, "POST", "/models/{name:model}/infer", PINS,
    response_model=InferResponse,
    openapi_extra={
        **request_body({"application/json": schema_ref(InferRequest)}),
        "responses": _BINARY_ANSWER,
    },
)
async def infer(request: Request, model: ReadyModel, version: Selected) -> Response:
    """Run the model on its named inputs (JSON `data` or binary tensors; BYTES image files for
    an input with an image codec); `outputs` selects what comes back and in which form."""
    header, tail = _split_binary(request, await read_body(request, model))
    body = parse_json(InferRequest, header)
    inputs = _inputs(body, tail, model)
    names = [out.name for out in body.outputs] if body.outputs is not None else None
    return _response(model, version.v2, body, model.infer(inputs, names))


def pin_paths(schema: dict[str, Any], catalog: Catalog) -> None:
    """The served names and versions as this protocol's path parameters' enums."""
    pin_path_parameters(schema, "/v2/models/", {
        "name": list(catalog.models),
        "version": [v.v2 for s in catalog.models.values() for v in s.versions.values()],
    })


def openapi(schema: dict[str, Any], model: Model) -> None:
    """This protocol's bodies narrowed to `model`, a function's only one (see
    handler/protocols/openapi.py): every input once, each under its name in a datatype it
    takes, shaped as it is."""
    m = model.manifest
    components = schema["components"]["schemas"]
    components[RequestOutput.__name__]["properties"]["name"]["enum"] = [
        spec.name for spec in m.outputs
    ]
    max_batch = model.limits.max_batch
    each = [
        {"anyOf": [_input_schema(spec, datatype, max_batch, components)
                   for datatype in _datatypes(spec)]}
        for spec in m.inputs
    ]
    components[InferRequest.__name__]["properties"]["inputs"] = {
        "description": "Every input of the model once, in a datatype it takes.",
        # as many items as inputs, each input among them: each item is one of them, once
        "type": "array", "minItems": len(m.inputs), "maxItems": len(m.inputs),
        "allOf": [{"contains": one} for one in each],
    }


#: an input's parameters in a JSON request: anything (ignored), but binary data, which it has
#: none of (the binary extension's requests are not JSON)
_JSON_PARAMETERS = {"anyOf": [{"type": "null"}, {
    "type": "object",
    "properties": {"binary_data_size": {"const": 0, "description": "Bytes of binary data."}},
}]}


def _input_schema(
    spec: InputSpec, datatype: str, max_batch: int, components: dict[str, Any]
) -> dict[str, Any]:
    """One input in one of its datatypes, as JSON: its shape (a batch within MAX_BATCH first,
    then the input's own dimensions) and data nested to any depth (row-major); BYTES image
    files in any shape."""
    rows = {"type": "integer", "minimum": 1, "maximum": max_batch}
    images = datatype == "BYTES" and spec.codec is not None
    if images:
        shape: dict[str, Any] = {"type": "array", "items": rows}
        item: dict[str, Any] = {"type": "string", "contentEncoding": "base64"}
    else:
        dims = [rows] + [
            {"type": "integer", "minimum": 0} if d is None else {"const": d}
            for d in spec.shape[1:]
        ]
        shape = {"type": "array", "prefixItems": dims, "items": False,
                 "minItems": len(dims), "maxItems": len(dims)}
        item = leaf(spec.dtype, text={"type": "string"})
    data = f"V2Data{datatype}{'Images' if images else ''}"
    components[data] = {"type": "array", "items": {"anyOf": [
        item, {"$ref": f"#/components/schemas/{data}"}
    ]}}
    return {
        "type": "object",
        "properties": {
            "name": {"const": spec.name}, "datatype": {"const": datatype}, "shape": shape,
            "parameters": _JSON_PARAMETERS, "data": {"$ref": f"#/components/schemas/{data}"},
        },
        "required": ["name", "shape", "datatype", "data"],
    }

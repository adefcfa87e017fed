"""TensorFlow Serving's REST API (its `api_rest.md`), so its clients work unchanged.

GET /v1/models/{name} (status), GET /v1/models/{name}/metadata (signature_def) and
POST /v1/models/{name}:predict in either of TF Serving's forms:

- rows, `{"instances": [...]}`: each instance is `{"<input>": value, ...}` naming every input
  (all inputs share the batch), or, for a one-input model, the bare value; answered
  `{"predictions": [...]}`, a bare value per instance for a one-output model, else
  `{"<output>": value, ...}` per instance;
- columns, `{"inputs": {"<input>": batch, ...}}`, or a bare batch for a one-input model;
  answered `{"outputs": {"<output>": batch, ...}}`, or `{"outputs": batch}` for one output.

Values are JSON numbers, booleans or strings as the input's dtype says; `{"b64": "..."}` holds
binary data for a string input, or an image file for an input with an image codec. String
outputs whose name ends in `_bytes` come back as `{"b64": "..."}`, as TF Serving does.
`signature_name` may name the manifest's signature, or be "" or absent. Errors keep TF Serving's
`error` key (plus `code` and `status`). The served version is always "1": TF Serving versions
are integers; the manifest's version is in GET /model and the v2 metadata.

Each path also answers in TF Serving's pinned forms, `/v1/models/{name}/versions/{n}...` and
`/v1/models/{name}/labels/{label}...`; a path that names neither serves the highest served
version. A single bundle is version 1, labelled "stable" and "latest"; in a repository the
versions are its folders and the labels its models.json's (handler/catalog.py). Any other
version or label is a 404 `model_version_not_found`; a listed version that could not be loaded
is in the status with its error, and a predict to it is a 503 `model_unavailable`.
"""

from __future__ import annotations

from itertools import product
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from handler.catalog import Catalog, ServedVersion, ready
from handler.errors import BadRequest
from handler.manifest import TensorSpec
from handler.model import Model
from handler.protocols.common import (
    NUMBERED_PINS,
    NamedServed,
    exactly_one,
    numbered,
    numbered_values,
    parse_json,
    pinned_route,
    read_body,
    request_body,
    schema_ref,
)
from handler.protocols.openapi import NULL, batch, batch_of, named, pin_path_parameters, rows
from handler.tensors import DTYPES, input_from_json, outputs_json


router = APIRouter(prefix="/v1/models", tags=["TensorFlow Serving"])


class Status(BaseModel):
    error_code: str = "OK"
    error_message: str = ""


class ModelVersionStatus(BaseModel):
    version: str
    state: Literal["AVAILABLE", "END"] = Field(
        default="AVAILABLE", description="END: listed, but it could not be loaded."
    )
    status: Status = Status()


class ModelStatusResponse(BaseModel):
    model_version_status: list[ModelVersionStatus]


class Dim(BaseModel):
    size: str
    name: str = ""


class TensorShape(BaseModel):
    dim: list[Dim]
    unknown_rank: bool = False


class TensorInfo(BaseModel):
    dtype: str
    tensor_shape: TensorShape
    name: str


class SignatureDef(BaseModel):
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    method_name: str = "tensorflow/serving/predict"
    defaults: dict[str, Any] = {}


class SignatureDefMap(BaseModel):
    signature_def: dict[str, SignatureDef]


class Metadata(BaseModel):
    signature_def: SignatureDefMap


class ModelSpec(BaseModel):
    name: str
    signature_name: str = ""
    version: str


class MetadataResponse(BaseModel):
    model_spec: ModelSpec
    metadata: Metadata


class PredictRequest(BaseModel):
    """TF Serving's predict body: exactly one of `instances` (rows) or `inputs` (columns)."""

    model_config = ConfigDict(json_schema_extra=exactly_one("instances", "inputs"))
    signature_name: str | None = None
    instances: list[Any] | None = Field(
        default=None,
        description='Rows: {"<input name>": row, ...}, or a one-input model\'s bare rows; '
        'values are numbers, booleans, strings or {"b64": "..."} (binary strings, images).',
    )
    inputs: Any = Field(
        default=None,
        description='Columns: {"<input name>": batch, ...}, or a one-input model\'s bare batch.',
    )

    @model_validator(mode="after")
    def _one_form(self) -> PredictRequest:
        if (self.instances is None) == (self.inputs is None):
            raise ValueError("give exactly one of 'instances' (rows) or 'inputs' (columns)")
        return self


class PredictionsResponse(BaseModel):
    predictions: list[Any] = Field(
        description="One row per instance: the output's, or {output name: row} for several."
    )


class OutputsResponse(BaseModel):
    outputs: list[Any] | dict[str, list[Any]] = Field(
        description="The output tensor, batch first; for several outputs, one per name."
    )


BODY_SCHEMAS = (PredictRequest,)


def _tensor_info(spec: TensorSpec) -> TensorInfo:
    return TensorInfo(
        dtype=DTYPES[spec.dtype].tf,
        tensor_shape=TensorShape(dim=[Dim(size=str(-1 if d is None else d)) for d in spec.shape]),
        name=spec.tensor,
    )


async def _selected(request: Request, served: NamedServed) -> ServedVersion:
    return numbered(request, served)


async def _ready(version: Annotated[ServedVersion, Depends(_selected)]) -> Model:
    return ready(version)


#: `model: ReadyModel`: the model of the version the path names (or the highest), loaded
ReadyModel = Annotated[Model, Depends(_ready)]
PINS = NUMBERED_PINS


def _status(version: ServedVersion) -> ModelVersionStatus:
    if not version.available:
        return ModelVersionStatus(version=str(version.number), state="END", status=Status(
            error_code="UNAVAILABLE", error_message=version.error or ""))
    return ModelVersionStatus(version=str(version.number))


@pinned_route(router, "GET", "/{name:model}", PINS)
async def model_status(request: Request, served: NamedServed) -> ModelStatusResponse:
    """Every served version's state; a pinned path, that version's."""
    pinned = {"version", "label"} & set(request.path_params)
    versions = [numbered(request, served)] if pinned else list(served.versions.values())
    return ModelStatusResponse(model_version_status=[_status(v) for v in versions])


@pinned_route(router, "GET", "/{name:model}/metadata", PINS)
async def model_metadata(
    model: ReadyModel, version: Annotated[ServedVersion, Depends(_selected)]
) -> MetadataResponse:
    m = model.manifest
    signature = SignatureDef(
        inputs={spec.name: _tensor_info(spec) for spec in m.inputs},
        outputs={spec.name: _tensor_info(spec) for spec in m.outputs},
    )
    return MetadataResponse(
        model_spec=ModelSpec(name=m.name, version=str(version.number)),
        metadata=Metadata(
            signature_def=SignatureDefMap(signature_def={m.signature_name: signature})
        ),
    )


def _named(value: Any, model: Model, where: str) -> dict[str, Any] | None:
    """`{"<input>": value, ...}` -> that dict; None when `value` is a bare value (a one-input
    model's; `{"b64": ...}` is a value)."""
    names = [spec.name for spec in model.manifest.inputs]
    if isinstance(value, dict) and not (set(value) == {"b64"} and "b64" not in names):
        return value
    if len(names) > 1:
        raise BadRequest(
            "missing_input_names",
            f"{where} must name the model's inputs, {{{', '.join(map(repr, names))}: ...}}",
        )
    return None


def _rows(instances: list[Any], model: Model) -> dict[str, np.ndarray]:
    """The row form: one array per input, its rows taken from every instance."""
    columns: dict[str, list[Any]] = {spec.name: [] for spec in model.manifest.inputs}
    for i, instance in enumerate(instances):
        named = _named(instance, model, f"instances[{i}]")
        if named is None:
            (only,) = columns
            named = {only: instance}
        for name, value in named.items():
            columns.setdefault(name, []).append(value)
        for name, column in columns.items():
            if len(column) != i + 1:
                raise BadRequest(
                    "missing_input", f"instances[{i}] lacks input {name!r}: every instance "
                    "names every input"
                )
    return _arrays(columns, model, "instances")


def _arrays(columns: dict[str, Any], model: Model, where: str) -> dict[str, np.ndarray]:
    known = {spec.name: spec for spec in model.manifest.inputs}
    unknown = sorted(set(columns) - set(known))
    if unknown:
        raise BadRequest(
            "unknown_input", f"{where} names inputs {unknown}; the model's are {list(known)}"
        )
    return {
        name: input_from_json(values, known[name], f"{where}[{name!r}]", model.element_limit)
        for name, values in columns.items()
    }


def _columns(inputs: Any, model: Model) -> dict[str, np.ndarray]:
    """The columnar form: `{"<input>": batch, ...}`, or a one-input model's bare batch."""
    named = _named(inputs, model, "inputs")
    if named is None:
        (only,) = (spec.name for spec in model.manifest.inputs)
        named = {only: inputs if isinstance(inputs, list) else [inputs]}
    return _arrays(named, model, "inputs")


@pinned_route(
    router, "POST", "/{name:model}:predict", PINS,
    openapi_extra=request_body({"application/json": schema_ref(PredictRequest)}),
)
async def predict(request: Request, model: ReadyModel) -> PredictionsResponse | OutputsResponse:
    """Run the model on rows (`instances`) or columns (`inputs`), TF Serving style."""
    body = parse_json(PredictRequest, await read_body(request, model))
    signature = model.manifest.signature_name
    if body.signature_name not in (None, "", signature):
        raise BadRequest(
            "unknown_signature",
            f"signature {body.signature_name!r} not found; use {signature!r}",
        )
    if body.instances is not None:
        outputs = outputs_json(model.infer(_rows(body.instances, model)))
        if len(outputs) == 1:
            (only,) = outputs.values()
            return PredictionsResponse(predictions=only)
        rows = [dict(zip(outputs, row, strict=True)) for row in zip(*outputs.values(), strict=True)]
        return PredictionsResponse(predictions=rows)
    outputs = outputs_json(model.infer(_columns(body.inputs, model)))
    if len(outputs) == 1:
        (only,) = outputs.values()
        return OutputsResponse(outputs=only)
    return OutputsResponse(outputs=outputs)


def pin_paths(schema: dict[str, Any], catalog: Catalog) -> None:
    """The served names, versions and labels as this protocol's path parameters' enums."""
    pin_path_parameters(schema, "/v1/models/", numbered_values(catalog))


def openapi(schema: dict[str, Any], model: Model) -> None:
    """This protocol's bodies narrowed to `model`, a function's only one (see
    handler/protocols/openapi.py): its signature, its inputs by name in either form."""
    m = model.manifest
    body = schema["components"]["schemas"][PredictRequest.__name__]["properties"]
    body["signature_name"] = {"enum": [None, *dict.fromkeys(["", m.signature_name])]}
    max_batch = model.limits.max_batch
    one = m.inputs[0] if len(m.inputs) == 1 else None
    instances = []
    for kinds in product(*map(rows, m.inputs)):
        row = named({spec.name: kind for spec, kind in zip(m.inputs, kinds, strict=True)})
        instances.append(batch_of(row if one is None else {"anyOf": [row, kinds[0]]}, max_batch))
    columns = [named({spec.name: batch(spec, max_batch) for spec in m.inputs})]
    if one is not None:  # a bare batch, or a bare row that is not a list (one row)
        columns += [batch(one, max_batch), *(k for k in rows(one) if k.get("type") != "array")]
    for form, schemas in (("instances", instances), ("inputs", columns)):
        body[form] = {"description": body[form]["description"], "anyOf": [*schemas, NULL]}

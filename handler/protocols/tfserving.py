"""TensorFlow Serving's REST API, so its clients work unchanged.

GET /v1/models/{name} (status), GET /v1/models/{name}/metadata (signature_def) and
POST /v1/models/{name}:predict with the row (`instances`) or columnar (`inputs`) form. A value is
either a raw tensor (nested lists shaped like the model input) or an image `{"b64": "..."}`,
preprocessed per the manifest. Answers carry the model's output tensor as TF Serving would:
`{"predictions": [...]}` for rows, `{"outputs": [...]}` for columns. Errors keep TF Serving's
`error` key (plus `code` and `status`). The served version is always "1": TF Serving versions are
integers; the manifest's version is in GET /model and the v2 metadata.

Each path also answers in TF Serving's pinned forms, `/v1/models/{name}/versions/1...` and
`/v1/models/{name}/labels/{label}...`. TF Serving's labels come from its model config; a
function serving one version names it "stable" and "latest". Any other version or label is a
404 `model_version_not_found`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, model_validator

from handler.errors import ApiError
from handler.manifest import TensorSpec
from handler.model import Model
from handler.protocols.common import (
    b64decode,
    check_version,
    json_tensor,
    NamedModel,
    parse_json,
    pinned_route,
    read_body,
    request_body,
    schema_ref,
)

VERSION = "1"
LABELS = ("stable", "latest")
SIGNATURE = "serving_default"
_DTYPES = {"float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "uint8": "DT_UINT8",
           "int32": "DT_INT32", "int64": "DT_INT64"}

router = APIRouter(prefix="/v1/models", tags=["TensorFlow Serving"])


class Status(BaseModel):
    error_code: str = "OK"
    error_message: str = ""


class ModelVersionStatus(BaseModel):
    version: str
    state: Literal["AVAILABLE"] = "AVAILABLE"
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

    signature_name: str | None = None
    instances: list[Any] | None = Field(
        default=None, description='Rows: tensors, {"b64": "..."} images, or {"<input name>": row}.'
    )
    inputs: Any = Field(default=None, description='Columns: a batch, or {"<input name>": batch}.')

    @model_validator(mode="after")
    def _one_form(self) -> PredictRequest:
        if (self.instances is None) == (self.inputs is None):
            raise ValueError("give exactly one of 'instances' (rows) or 'inputs' (columns)")
        return self


class PredictionsResponse(BaseModel):
    predictions: list[Any] = Field(description="The output tensor, one row per instance.")


class OutputsResponse(BaseModel):
    outputs: list[Any] = Field(description="The output tensor, batch first.")


BODY_SCHEMAS = (PredictRequest,)


def _tensor_info(spec: TensorSpec) -> TensorInfo:
    return TensorInfo(
        dtype=_DTYPES.get(spec.dtype, "DT_INVALID"),
        tensor_shape=TensorShape(dim=[Dim(size=str(-1 if d is None else d)) for d in spec.shape]),
        name=spec.tensor,
    )


async def _version(version: int, model: NamedModel) -> None:
    check_version(model, "version", str(version), [VERSION])


async def _label(label: str, model: NamedModel) -> None:
    check_version(model, "label", label, LABELS)


PINS = {"/versions/{version:int}": _version, "/labels/{label:label}": _label}


@pinned_route(router, "GET", "/{name:model}", PINS)
async def model_status(model: NamedModel) -> ModelStatusResponse:
    return ModelStatusResponse(model_version_status=[ModelVersionStatus(version=VERSION)])


@pinned_route(router, "GET", "/{name:model}/metadata", PINS)
async def model_metadata(model: NamedModel) -> MetadataResponse:
    m = model.manifest
    signature = SignatureDef(
        inputs={m.input.name: _tensor_info(m.input)},
        outputs={m.output.name: _tensor_info(m.output)},
    )
    return MetadataResponse(
        model_spec=ModelSpec(name=m.name, version=VERSION),
        metadata=Metadata(signature_def=SignatureDefMap(signature_def={SIGNATURE: signature})),
    )


def _unwrap(value: Any, model: Model, where: str) -> Any:
    """A `{"<input name>": value}` object -> value (the model has one input); else value."""
    if isinstance(value, dict) and "b64" not in value:
        if set(value) != {model.manifest.input.name}:
            raise ApiError(
                400, "unknown_input",
                f"{where} names inputs {sorted(value)}; this model's only input is "
                f"{model.manifest.input.name!r}",
            )
        return value[model.manifest.input.name]
    return value


def _batch(rows: list[Any], model: Model, where: str) -> np.ndarray:
    """Rows that are all images ({"b64": ...}) or all tensors -> one input batch. The batch size
    is checked after the shape (by model.preprocess / model.tensor): a single row sent without
    its batch dimension is a wrong shape, not hundreds of inputs."""
    is_image = [isinstance(row, dict) for row in rows]
    if all(is_image):
        images = []
        for i, row in enumerate(rows):
            if set(row) != {"b64"} or not isinstance(row["b64"], str):
                raise ApiError(
                    400, "invalid_image_object", f'{where}[{i}] must be {{"b64": "<base64>"}}'
                )
            images.append(b64decode(row["b64"], f"{where}[{i}].b64"))
        return model.preprocess(images)
    if any(is_image):
        raise ApiError(400, "mixed_inputs", f"{where} mixes images and tensors")
    return model.tensor(json_tensor(rows, model))


@pinned_route(
    router, "POST", "/{name:model}:predict", PINS,
    openapi_extra=request_body({"application/json": schema_ref(PredictRequest)}),
)
async def predict(request: Request, model: NamedModel) -> PredictionsResponse | OutputsResponse:
    """Run the model on rows (`instances`) or columns (`inputs`), TF Serving style."""
    body = parse_json(PredictRequest, await read_body(request, model))
    if body.signature_name not in (None, "", SIGNATURE):
        raise ApiError(
            400, "unknown_signature",
            f"signature {body.signature_name!r} not found; use {SIGNATURE!r}",
        )
    if body.instances is not None:
        rows = [_unwrap(row, model, f"instances[{i}]") for i, row in enumerate(body.instances)]
        outputs = model.predict(_batch(rows, model, "instances"))
        return PredictionsResponse(predictions=outputs.tolist())
    column = _unwrap(body.inputs, model, "inputs")
    rows = [column] if isinstance(column, dict) else column
    if not isinstance(rows, list):
        raise ApiError(400, "invalid_tensor", "inputs must be a batch (a list) or an image object")
    return OutputsResponse(outputs=model.predict(_batch(rows, model, "inputs")).tolist())

"""The native API: the upload page, health, model metadata and POST /predict (images in, labels
out, for a classifier; named tensors in and out for any model).

Its routes for a model by name (`/models...`) are handler/protocols/named.py's, built on first
use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.datastructures import UploadFile

from handler.catalog import Catalog, ServedVersion, ready
from handler.classification import classify
from handler.errors import BadRequest, Unprocessable, UnsupportedMediaType
from handler.http_errors import ERROR_RESPONSES
from handler.manifest import Classification, InputSpec, TensorSpec
from handler.model import Model
from handler.protocols.common import (
    Served,
    exactly_one,
    media_type,
    parse_json,
    read_body,
    request_body,
    schema_ref,
)
from handler.protocols.openapi import NULL, batch, named
from handler.tensors import b64decode, input_from_json, outputs_json

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


async def _default(catalog: Served) -> ServedVersion:
    """The default model's highest version: what /predict and GET /model serve."""
    return catalog.default_model().latest


DefaultVersion = Annotated[ServedVersion, Depends(_default)]

router = APIRouter(tags=["native"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str | None = Field(description="The default model (None: several, none default).")
    version: str | None = Field(description="Its version's content hash.")
    digest: str = Field(
        description="sha256 of what the function serves (model.json, or models.json): tells "
        "containers apart."
    )


class Limits(BaseModel):
    max_request_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    max_request_pixels: int
    max_batch: int
    max_tensor_elements: int
    max_response_bytes: int


class ModelInfo(BaseModel):
    """What a client needs to know to call the model, from its manifest."""

    name: str
    version: str
    signature_name: str
    inputs: list[InputSpec] = Field(description="Each input; `codec` says it takes images.")
    outputs: list[TensorSpec]
    task: Classification | None = Field(description="What the outputs mean (None: a tensor model).")
    tensorflow_version: str = Field(description="The TensorFlow that froze the model.")
    runtime: Literal["tensorflow", "litert"] = Field(
        description="What runs it here (MODEL_RUNTIME): a TensorFlow session over model.pb, or "
        "a LiteRT interpreter over model.tflite converted from the same graph."
    )
    limits: Limits


class PredictJsonRequest(BaseModel):
    """The JSON form of POST /predict: image files, or the model's inputs by name."""

    model_config = ConfigDict(json_schema_extra=exactly_one("images", "inputs"))
    images: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Image files (any format Pillow reads), base64: standard or URL-safe, "
        "optionally a data: URI (data:image/jpeg;base64,...). For a model whose one input takes "
        "images.",
    )
    inputs: dict[str, Any] | None = Field(
        default=None,
        description='Every input by name, batch first: numbers, booleans, strings or '
        '{"b64": "..."} (binary strings; image files for an input that takes images).',
    )

    @model_validator(mode="after")
    def _one_form(self) -> PredictJsonRequest:
        if (self.images is None) == (self.inputs is None):
            raise ValueError("give exactly one of 'images' or 'inputs'")
        return self


class LabelProbability(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    label: str = Field(description="The most likely label.")
    probability: float = Field(description="Its probability.")
    probabilities: dict[str, float] = Field(description="Every label's probability.")
    top_k: list[LabelProbability] = Field(description="The k most likely labels, in order.")


class PredictResponse(BaseModel):
    model: str
    version: str
    predictions: list[Prediction] | None = Field(
        default=None, description="A classifier's answer: one per input row, in request order."
    )
    outputs: dict[str, Any] | None = Field(
        default=None,
        description="A tensor model's answer (or a classifier's, asked with `inputs`): every "
        "output by name, batch first.",
    )


BODY_SCHEMAS = (PredictJsonRequest,)


@router.get("/", include_in_schema=False)
async def upload_page(
    catalog: Served, model: Annotated[str | None, Query(include_in_schema=False)] = None
) -> FileResponse:
    """The upload page of the default model (or `?model=`) when it takes images; else the page
    showing its signature and a curl example. Both list every served model."""
    served = catalog.model(model) if model is not None else None
    version = served.latest if served else (
        catalog.models[catalog.default].latest if catalog.default else None
    )
    takes_images = version is None or (
        version.manifest is not None and version.manifest.image_input is not None
    )
    return FileResponse(STATIC_DIR / ("index.html" if takes_images else "tensors.html"))


@router.get("/health")
async def health(catalog: Served) -> Health:
    default = catalog.models[catalog.default].latest if catalog.default else None
    return Health(
        model=catalog.default, version=default.digest if default else None,
        digest=catalog.digest,
    )


def info(version: ServedVersion) -> ModelInfo:
    """`version`'s ModelInfo (it must be available)."""
    model = ready(version)
    m = model.manifest
    return ModelInfo(
        name=m.name, version=m.version, signature_name=m.signature_name, inputs=m.inputs,
        outputs=m.outputs, task=m.task, tensorflow_version=m.tensorflow_version,
        runtime=model.runtime.name, limits=Limits(**asdict(model.limits)),
    )


@router.get("/model", responses=ERROR_RESPONSES)
async def model_info(version: DefaultVersion) -> ModelInfo:
    """The default model: what a client needs to know to call it."""
    return info(version)


_IMAGE_FORMS = (
    "an image/* body (any format Pillow reads: JPEG, PNG, GIF, WebP, BMP, TIFF...), "
    "multipart/form-data with parts named 'file', or application/json {\"images\": [base64...]}"
)


async def _request(request: Request, model: Model) -> tuple[dict[str, np.ndarray], bool]:
    """The request's inputs by name, whichever accepted body form it uses, and whether it sent
    them as images."""
    body = await read_body(request, model)
    if not body:
        raise BadRequest("empty_body", "the request body is empty: send one or more images")
    kind = media_type(request)
    image_input = model.manifest.image_input
    if kind == "application/json":
        parsed = parse_json(PredictJsonRequest, body)
        if parsed.inputs is not None:
            return _named_inputs(parsed.inputs, model), False
        assert parsed.images is not None
        images = [b64decode(text, f"images[{i}]") for i, text in enumerate(parsed.images)]
    elif kind == "multipart/form-data" or kind.startswith("image/"):
        images = await _uploads(request, body, kind)
    else:
        forms = _IMAGE_FORMS if image_input is not None else 'application/json {"inputs": ...}'
        raise UnsupportedMediaType(
            "unsupported_media_type",
            f"Content-Type {kind or '(none)'!r} is not accepted: send {forms}",
        )
    if image_input is None:
        raise UnsupportedMediaType(
            "images_not_accepted",
            f"model {model.name!r} takes no images (no input with an image codec): send "
            'application/json {"inputs": {<name>: <batch>, ...}} (GET /model lists them)',
        )
    items = np.empty(len(images), dtype=object)
    items[:] = images
    return {image_input.name: items}, True


def _named_inputs(inputs: dict[str, Any], model: Model) -> dict[str, np.ndarray]:
    known = {spec.name: spec for spec in model.manifest.inputs}
    unknown = sorted(set(inputs) - set(known))
    if unknown:
        raise BadRequest(
            "unknown_input", f"no input named {unknown}; the model's inputs are {list(known)}"
        )
    return {
        name: input_from_json(value, known[name], f"inputs[{name!r}]", model.element_limit)
        for name, value in inputs.items()
    }


async def _uploads(request: Request, body: bytes, kind: str) -> list[bytes]:
    """The images of a multipart form (its 'file' parts) or a raw image/* body."""
    if kind.startswith("image/"):
        return [body]
    form = await request.form()
    parts = form.getlist("file")
    if not parts:
        raise BadRequest("no_images", "the form has no part named 'file'")
    if not all(isinstance(p, UploadFile) for p in parts):
        raise Unprocessable("invalid_request", "every 'file' part must be a file upload")
    return [await p.read() for p in parts]  # type: ignore[union-attr]


def _predictions(task: Classification, scores: np.ndarray, k: int | None) -> list[Prediction]:
    return [
        Prediction(
            label=c.label,
            probability=c.ranked[0][1],
            probabilities=dict(c.ranked),
            top_k=[LabelProbability(label=l, probability=p) for l, p in c.ranked[:k]],
        )
        for c in classify(task, scores)
    ]


PREDICT_BODY = request_body({
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {"file": {
            "type": "array", "minItems": 1,
            "items": {"type": "string", "format": "binary", "minLength": 1},
        }},
    }},
    "image/*": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
    "application/json": schema_ref(PredictJsonRequest),
})
K = Annotated[int | None, Query(ge=1, description="Labels in top_k (default: all).")]


async def predict_with(
    request: Request, version: ServedVersion, k: int | None
) -> PredictResponse:
    """Run the model on one or more images (multipart `file` parts, a raw `image/*` body, or
    base64 JSON `images`), or on its inputs by name (JSON `inputs`).

    A classifier answers `predictions` (label, probabilities, top-k per row); a tensor model,
    or any model asked with `inputs`, answers `outputs` (with a classifier's `predictions`
    beside them). Any image format Pillow reads is accepted, whatever the `image/*` subtype
    says: the format is read from the bytes."""
    model = ready(version)
    inputs, as_images = await _request(request, model)
    task = model.manifest.task
    outputs = model.infer(inputs)
    answer = PredictResponse(model=model.name, version=model.version)
    if task is not None:
        answer.predictions = _predictions(task, outputs[task.output], k)
    if task is None or not as_images:
        answer.outputs = outputs_json(outputs)
    return answer


@router.post("/predict", responses=ERROR_RESPONSES, response_model_exclude_none=True,
             openapi_extra=PREDICT_BODY, description=predict_with.__doc__)
async def predict(request: Request, version: DefaultVersion, k: K = None) -> PredictResponse:
    return await predict_with(request, version, k)


def pin_paths(schema: dict[str, Any], catalog: Catalog) -> None:
    """None to pin: the default model's routes name no model or version (named.py's do)."""


def openapi(schema: dict[str, Any], model: Model) -> None:
    """This API's part of `schema` narrowed to `model` (see handler/protocols/openapi.py): the
    JSON body's inputs by name, and images only for a model whose one input takes them."""
    m, max_batch = model.manifest, model.limits.max_batch
    body = schema["components"]["schemas"][PredictJsonRequest.__name__]["properties"]
    body["inputs"] = {"description": body["inputs"]["description"], "anyOf": [
        named({spec.name: batch(spec, max_batch) for spec in m.inputs}), NULL
    ]}
    if m.image_input is None:
        body["images"] = {**NULL, "description": "This model takes no images."}
    else:
        body["images"] = {"description": body["images"]["description"], "anyOf": [{
            "type": "array", "minItems": 1, "maxItems": max_batch,
            "items": {"type": "string", "contentEncoding": "base64"},
        }, NULL]}
    narrow_predict_forms(schema, model, lambda path: path == "/predict")


def narrow_predict_forms(
    schema: dict[str, Any], model: Model, selected: Callable[[str], bool]
) -> None:
    """The request media types of the predict paths `selected` picks, narrowed to `model`: no
    image forms for a model that takes no images, else at most its batch of files."""
    contents = [operations["post"]["requestBody"]["content"]
                for path, operations in schema["paths"].items() if selected(path)]
    for content in contents:
        if model.manifest.image_input is None:
            del content["multipart/form-data"], content["image/*"]
        else:
            files = content["multipart/form-data"]["schema"]["properties"]["file"]
            files["maxItems"] = model.limits.max_batch

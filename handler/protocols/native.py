"""The native API: upload page, health, model metadata and POST /predict (images in, labels out)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from handler.errors import ERROR_RESPONSES, ApiError
from handler.manifest import Preprocessing, TensorSpec
from handler.model import Model
from handler.protocols.common import (
    b64decode,
    media_type,
    parse_json,
    read_body,
    request_body,
    schema_ref,
    served_model,
)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ServedModel = Annotated[Model, Depends(served_model)]

router = APIRouter(tags=["native"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
    version: str


class Limits(BaseModel):
    max_request_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    max_request_pixels: int
    max_batch: int
    max_tensor_elements: int


class ModelInfo(BaseModel):
    """What a client needs to know to call the model, from its manifest."""

    name: str
    version: str
    labels: list[str]
    decoding: Literal["softmax", "sigmoid"]
    input: TensorSpec
    output: TensorSpec
    preprocessing: Preprocessing
    tensorflow_version: str = Field(description="The TensorFlow that froze the model.")
    runtime: Literal["tensorflow", "litert"] = Field(
        description="What runs it here (MODEL_RUNTIME): a TensorFlow session over model.pb, or "
        "a LiteRT interpreter over model.tflite converted from the same graph."
    )
    limits: Limits


class PredictImagesRequest(BaseModel):
    """The JSON form of POST /predict."""

    images: list[str] = Field(
        min_length=1,
        description="Image files (any format Pillow reads), base64: standard or URL-safe, "
        "optionally a data: URI (data:image/jpeg;base64,...).",
    )


class LabelProbability(BaseModel):
    label: str
    probability: float


class ImagePrediction(BaseModel):
    label: str = Field(description="The most likely label.")
    probability: float = Field(description="Its probability.")
    probabilities: dict[str, float] = Field(description="Every label's probability.")
    top_k: list[LabelProbability] = Field(description="The k most likely labels, in order.")


class PredictResponse(BaseModel):
    model: str
    version: str
    predictions: list[ImagePrediction] = Field(description="One per image, in request order.")


BODY_SCHEMAS = (PredictImagesRequest,)


@router.get("/", include_in_schema=False)
async def upload_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")


@router.get("/health")
async def health(model: ServedModel) -> Health:
    return Health(model=model.name, version=model.version)


@router.get("/model")
async def model_info(model: ServedModel) -> ModelInfo:
    m = model.manifest
    return ModelInfo(
        name=m.name, version=m.version, labels=m.labels, decoding=m.decoding, input=m.input,
        output=m.output, preprocessing=m.preprocessing, tensorflow_version=m.tensorflow_version,
        runtime=model.runtime.name, limits=Limits(**asdict(model.limits.for_input(m.input.shape))),
    )


async def _images(request: Request, model: Model) -> list[bytes]:
    """The request's images, whichever of the three accepted body forms it uses."""
    body = await read_body(request, model)
    if not body:
        raise ApiError(400, "empty_body", "the request body is empty: send one or more images")
    kind = media_type(request)
    if kind == "multipart/form-data":
        form = await request.form()
        parts = form.getlist("file")
        if not parts:
            raise ApiError(400, "no_images", "the form has no part named 'file'")
        if not all(isinstance(p, UploadFile) for p in parts):
            raise ApiError(422, "invalid_request", "every 'file' part must be a file upload")
        return [await p.read() for p in parts]  # type: ignore[union-attr]
    if kind.startswith("image/"):
        return [body]
    if kind == "application/json":
        images = parse_json(PredictImagesRequest, body).images
        return [b64decode(text, f"images[{i}]") for i, text in enumerate(images)]
    raise ApiError(
        415, "unsupported_media_type",
        f"Content-Type {kind or '(none)'!r} is not accepted: send an image/* body (any format "
        "Pillow reads: JPEG, PNG, GIF, WebP, BMP, TIFF...), multipart/form-data with parts named "
        "'file', or application/json {\"images\": [base64...]}",
    )


@router.post(
    "/predict",
    responses=ERROR_RESPONSES,
    openapi_extra=request_body({
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {
            "type": "array", "items": {"type": "string", "format": "binary"}}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/json": schema_ref(PredictImagesRequest),
    }),
)
async def predict(
    request: Request,
    model: ServedModel,
    k: Annotated[int | None, Query(ge=1, description="Labels in top_k (default: all).")] = None,
) -> PredictResponse:
    """Classify one or more images: multipart `file` parts, a raw `image/*` body, or base64 JSON.

    Any image format Pillow reads is accepted (JPEG, PNG, GIF, WebP, BMP, TIFF...), whatever the
    `image/*` subtype says: the format is read from the bytes."""
    images = await _images(request, model)
    outputs = model.predict(model.preprocess(images))
    predictions = [
        ImagePrediction(
            label=c.label,
            probability=c.ranked[0][1],
            probabilities=dict(c.ranked),
            top_k=[LabelProbability(label=l, probability=p) for l, p in c.ranked[:k]],
        )
        for c in model.classify(outputs)
    ]
    return PredictResponse(model=model.name, version=model.version, predictions=predictions)

"""The native API's routes for a model by name, all under `/models`: the served models
(`GET /models`), one model's metadata (`GET /models/{name}`) and predictions
(`POST /models/{name}/predict`), each also pinned to a version or a label.

They answer as the default model's routes do (handler/protocols/native.py, whose JSON body they
take), but a single-model function's first answer rarely needs them: they are built on the first
request under `/models` (handler/api.py's LazyProtocols).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from handler.catalog import Catalog, ServedVersion
from handler.model import Model
from handler.protocols.common import (
    NUMBERED_PINS, NamedServed, Served, numbered, numbered_values, pinned_route,
)
from handler.protocols.native import (
    PREDICT_BODY, K, ModelInfo, PredictResponse, info, narrow_predict_forms, predict_with,
)
from handler.protocols.openapi import pin_path_parameters

router = APIRouter(tags=["native"])
BODY_SCHEMAS = ()  # the body it takes is native.py's PredictJsonRequest


async def _named(request: Request, served: NamedServed) -> ServedVersion:
    return numbered(request, served)


NamedVersion = Annotated[ServedVersion, Depends(_named)]


class VersionState(BaseModel):
    version: int
    digest: str | None = Field(description="The manifest's content hash (None: unavailable).")
    state: Literal["available", "unavailable"]
    error: str | None = None


class ServedInfo(BaseModel):
    name: str
    versions: list[VersionState]
    labels: dict[str, int]
    default: bool


class ModelsResponse(BaseModel):
    models: list[ServedInfo]
    digest: str


@router.get("/models")
async def models(catalog: Served) -> ModelsResponse:
    """Every served model, its versions (with their state) and labels."""
    return ModelsResponse(digest=catalog.digest, models=[
        ServedInfo(
            name=name, labels=served.labels, default=name == catalog.default,
            versions=[
                VersionState(version=v.number, digest=v.digest, error=v.error,
                             state="available" if v.available else "unavailable")
                for v in served.versions.values()
            ],
        )
        for name, served in catalog.models.items()
    ])


@pinned_route(router, "GET", "/models/{name:model}", NUMBERED_PINS)
async def named_model_info(version: NamedVersion) -> ModelInfo:
    """A served model (its highest version, or the one the path names)."""
    return info(version)


@pinned_route(router, "POST", "/models/{name:model}/predict", NUMBERED_PINS,
              response_model_exclude_none=True, openapi_extra=PREDICT_BODY,
              description=predict_with.__doc__)
async def named_predict(request: Request, version: NamedVersion, k: K = None) -> PredictResponse:
    return await predict_with(request, version, k)


def pin_paths(schema: dict[str, Any], catalog: Catalog) -> None:
    """The served names, versions and labels as these routes' path parameters' enums."""
    pin_path_parameters(schema, "/models/", numbered_values(catalog))


def openapi(schema: dict[str, Any], model: Model) -> None:
    """These routes' part of `schema` narrowed to `model`: their predict forms, as /predict's."""
    narrow_predict_forms(
        schema, model, lambda path: path.startswith("/models/") and path.endswith("/predict"))

"""What every protocol module shares: the served catalog, model and version lookup, and body
helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.convertors import Convertor, register_url_convertor

from handler.catalog import Catalog, ServedModel, ServedVersion
from handler.errors import TooLarge
from handler.http_errors import ERROR_RESPONSES, invalid_request
from handler.model import Model

MODEL_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # the manifest's; a ':' ends a name


# `async def` on purpose, here and on every route: FastAPI runs a plain `def` dependency or route
# in a worker thread, and under Mangum (a new event loop task per invocation) that started a
# thread per request; measured (benchmarks/warm_path.py) POST /predict p50 7.9 ms -> 4.8 ms.
async def served_catalog(request: Request) -> Catalog:
    """Everything this app serves (set by `create_app`)."""
    return request.app.state.catalog


Served = Annotated[Catalog, Depends(served_catalog)]


async def named(name: str, catalog: Served) -> ServedModel:
    """The served model the `{name}` path segment names; 404 listing the names otherwise."""
    return catalog.model(name)


#: A route parameter `served: NamedServed` resolves `{name}` to that model (every version).
NamedServed = Annotated[ServedModel, Depends(named)]


def numbered(request: Request, served: ServedModel) -> ServedVersion:
    """The version TF Serving's paths (and the native API's) name: `/versions/{n}`,
    `/labels/{label}`, or neither: the highest served version."""
    params = request.path_params
    if "version" in params:
        return served.version(params["version"])
    if "label" in params:
        return served.labelled(params["label"])
    return served.latest


async def version_number(version: int) -> None:
    """Declares a `{version:int}` path segment (`numbered` reads it)."""


async def version_label(label: str) -> None:
    """Declares a `{label}` path segment (`numbered` reads it)."""


#: the version pins of TF Serving's paths (and the native API's)
NUMBERED_PINS = {"/versions/{version:int}": version_number, "/labels/{label:label}": version_label}


def numbered_values(catalog: Catalog) -> dict[str, list[Any]]:
    """The served names, version numbers and labels: the enums of NUMBERED_PINS' paths."""
    served = catalog.models.values()
    return {
        "name": list(catalog.models),
        "version": sorted({n for s in served for n in s.versions}),
        "label": sorted({label for s in served for label in s.labels}),
    }


def pinned_route[Endpoint: Callable[..., Any]](
    router: APIRouter, method: str, path: str, pins: Mapping[str, Callable[..., Any]],
    **kwargs: Any,
) -> Callable[[Endpoint], Endpoint]:
    """Register an endpoint at `path` and at each pinned form of it: a version (or label) path
    segment after `{name:model}`, declared by that pin's dependency and read by the endpoint's.
    One endpoint serves every form, so they cannot drift apart."""
    def register(endpoint: Endpoint) -> Endpoint:
        forms = {"": [], **{pin: [Depends(declare)] for pin, declare in pins.items()}}
        for pin, dependencies in forms.items():
            router.api_route(
                path.replace("{name:model}", "{name:model}" + pin, 1), methods=[method],
                responses=ERROR_RESPONSES, dependencies=dependencies, **kwargs,
            )(endpoint)
        return endpoint
    return register


async def read_body(request: Request, model: Model) -> bytes:
    """The whole request body, refused with 413 over MAX_REQUEST_BYTES."""
    body = await request.body()
    limit = model.limits.max_request_bytes
    if len(body) > limit:
        raise TooLarge(
            "request_too_large",
            f"request body of {len(body)} bytes exceeds the limit of {limit} bytes",
        )
    return body


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower-cased ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_json[T: BaseModel](schema: type[T], data: bytes | str) -> T:
    """Validate a JSON body against `schema`: 400 if it is not JSON, 422 if it does not fit."""
    try:
        return schema.model_validate_json(data)
    except ValidationError as exc:
        raise invalid_request(exc.errors()) from None


def exactly_one(*fields: str) -> dict[str, Any]:
    """`json_schema_extra` of a body taking exactly one of `fields` (null counts as absent)."""
    return {"oneOf": [
        {"required": [field], "properties": {field: {"not": {"type": "null"}}}} for field in fields
    ]}


def schema_ref(schema: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI media-type entry pointing at a component schema (see `api.BODY_SCHEMAS`)."""
    return {"schema": {"$ref": f"#/components/schemas/{schema.__name__}"}}


def request_body(content: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`openapi_extra` documenting the body of a route that parses it itself."""
    return {"requestBody": {"required": True, "content": content}}


class ModelNameConvertor(Convertor[str]):
    """Path segment holding a model name (or a TF Serving version label); stops at ':' so
    `{name}:predict` routes match."""

    regex = MODEL_NAME_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("model", ModelNameConvertor())
register_url_convertor("label", ModelNameConvertor())  # TF Serving version labels: same rule

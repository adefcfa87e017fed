"""The FastAPI app: protocol routers over the served catalog, one error shape, the upload page.

`create_app(served)` builds an app around an already-loaded model or catalog (handler/catalog.py:
several models and versions), so tests can serve several apps in one process; `handler.app`
makes the Lambda one.

The default model's native routes are built with the app. The native routes for a model by
name, TF Serving's and v2's (their modules, their Pydantic models and FastAPI's per-route work)
are built on the first request under `/models`, `/v1` or `/v2`, or the first `/openapi.json` or
`/docs`: a cold start whose first answer is `/predict`, `/health` or `/model` does not pay for
them. `build_protocols(app)` builds them at once (a SnapStart before-snapshot hook, say); the
routes, answers and OpenAPI schema are the same either way.
"""

from __future__ import annotations

import copy
import importlib
import threading
from types import ModuleType
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES
from pydantic import BaseModel
from starlette._utils import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handler import __version__, http_errors
from handler.http_errors import error_response
from handler.catalog import Catalog
from handler.model import Model
from handler.protocols import native

#: Every protocol (the native one in two: the default model's routes, and by name), in the
#: order its routes are added (and listed in the OpenAPI schema); each module's router,
#: BODY_SCHEMAS, pin_paths and openapi
PROTOCOLS = ("handler.protocols.native", "handler.protocols.named", "handler.protocols.tfserving",
             "handler.protocols.v2")
#: The protocols built on first use, and the path prefixes of all their routes (tested)
LAZY_PROTOCOLS = PROTOCOLS[1:]
LAZY_PREFIXES = ("/models", "/v1/", "/v2")
_BUILD_LOCK = threading.Lock()


def build_protocols(app: FastAPI) -> tuple[ModuleType, ...]:
    """Every protocol module, after adding the lazy ones' routes to `app` (once, in order)."""
    if not app.state.protocols_built:
        with _BUILD_LOCK:
            if not app.state.protocols_built:
                for name in LAZY_PROTOCOLS:
                    _include(app, importlib.import_module(name).router)
                app.state.protocols_built = True
    return tuple(importlib.import_module(name) for name in PROTOCOLS)


def _include(app: FastAPI, router: APIRouter) -> None:
    """Serve `router`'s routes as `app`'s own. `app.include_router` would keep the router as one
    node whose routes FastAPI (since 0.137) builds a second time, for that inclusion, on the first
    request it routes. A route built by its router holds what an inclusion without options would
    add (no prefix, tags, dependencies or responses of the app's own; the app's default response
    class), except the app as its dependency-overrides provider: `app.dependency_overrides` does
    not reach these routes (nothing here overrides a dependency)."""
    if any(not isinstance(route, APIRoute) for route in router.routes):
        raise TypeError("only a router of plain routes is served as the app's own")
    app.router.routes.extend(router.routes)


class LazyProtocols:
    """ASGI middleware: build the lazy protocols' routes before the first request that may be
    theirs (a path under one of their prefixes) is routed, so it is routed as if they had always
    been there (its 404s and 405s included)."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and not self.owner.state.protocols_built
                and get_route_path(scope).startswith(LAZY_PREFIXES)):
            build_protocols(self.owner)
        await self.app(scope, receive, send)


def _openapi_with_body_schemas(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the bodies that routes parse themselves (several media types),
    narrowed by each protocol to the served model: what this function really accepts."""
    if app.openapi_schema is None:
        protocols = build_protocols(app)
        # a copy: FastAPI's schema holds the routes' own `openapi_extra` dicts, shared by apps
        schema = copy.deepcopy(FastAPI.openapi(app))
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        bodies: list[type[BaseModel]] = [s for p in protocols for s in p.BODY_SCHEMAS]
        for body in bodies:
            json_schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(json_schema.pop("$defs", {}))
            components[body.__name__] = json_schema
        catalog: Catalog = app.state.catalog
        for protocol in protocols:
            protocol.pin_paths(schema, catalog)
        only = catalog.only_model()
        if only is not None:  # one model: the bodies say its signature (several: any)
            for protocol in protocols:
                protocol.openapi(schema, only)
        app.openapi_schema = schema
    return app.openapi_schema


class HeadAsGet:
    """ASGI middleware: answer HEAD as GET without the body, on every GET path.

    FastAPI's routes, unlike Starlette's, do not add HEAD to GET, and under Mangum no server
    drops the body, so HEAD-based uptime checks got 405. Other methods are left alone: OPTIONS
    stays 405 (a CORS preflight is answered by API Gateway, template.yaml's CorsConfiguration,
    and never reaches the function)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class ResponseLimit:
    """ASGI middleware: refuse an answer Lambda could not return, with a JSON error that says
    what to ask instead, not Lambda's bare "response payload size exceeded".

    Lambda's synchronous response holds 6 MB, and Mangum base64-encodes a binary body (4/3 of
    its size). A response's body is held until complete (every route here sends one body), its
    size counted as Lambda will carry it, and over `limit` replaced by a 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            assert start is not None
            body = b"".join(chunks)
            size = len(body) if _is_text(start) else -(-len(body) // 3) * 4
            if size > self.limit:
                error = error_response(
                    413, "response_too_large",
                    f"the answer would be {size} bytes, over Lambda's response limit of "
                    f"{self.limit} bytes: ask for fewer outputs (v2 `outputs`), binary data (v2 "
                    "binary tensor extension) or a smaller batch",
                )
                await error(scope, receive, send)
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, held)


def _is_text(start: Message) -> bool:
    """Whether Mangum sends this response's body as text (else base64): its own rule."""
    headers = {key.lower(): value for key, value in start.get("headers", [])}
    kind = headers.get(b"content-type", b"").decode("latin-1")
    return any(text in kind for text in DEFAULT_TEXT_MIME_TYPES)


def _purpose(catalog: Catalog) -> str:
    only = catalog.only_model()
    if only is None:
        return f"Serves the models {', '.join(catalog.models)}."
    manifest = only.manifest
    if manifest.task is not None:
        return f"Classifies into {', '.join(manifest.task.labels)}."
    inputs = ", ".join(spec.name for spec in manifest.inputs)
    outputs = ", ".join(spec.name for spec in manifest.outputs)
    return f"Computes {outputs} from {inputs}."


def create_app(served: Model | Catalog) -> FastAPI:
    """An app serving `served` (one model, or a catalog of models and versions) through every
    protocol."""
    catalog = served if isinstance(served, Catalog) else Catalog.single(served)
    title = catalog.default or "models"
    app = FastAPI(
        title=f"{title} on AWS Lambda",
        version=__version__,
        description=(
            f"{_purpose(catalog)} Native API, TensorFlow Serving REST API and the Open "
            'Inference Protocol (v2). Errors: `{"error": message, "code": slug, "status": '
            "http_status}`."
        ),
    )
    app.state.catalog = catalog
    app.state.protocols_built = False
    http_errors.install(app)
    _include(app, native.router)
    app.mount("/static", StaticFiles(directory=native.STATIC_DIR), name="static")
    app.add_middleware(LazyProtocols, owner=app)
    app.add_middleware(ResponseLimit, limit=catalog.limits.max_response_bytes)
    app.add_middleware(HeadAsGet)
    app.openapi = lambda: _openapi_with_body_schemas(app)  # type: ignore[method-assign]
    return app

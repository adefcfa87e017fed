"""The FastAPI app: protocol routers over one served model, one error shape, the upload page.

`create_app(model)` builds an app around an already-loaded model, so tests (and a future second
runtime) can serve several models in one process; `handler.app` makes the Lambda one.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handler import __version__, errors
from handler.model import Model
from handler.protocols import native, tfserving, v2

PROTOCOLS = (native, tfserving, v2)


def _openapi_with_body_schemas(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the bodies that routes parse themselves (several media types)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)  # builds and caches app.openapi_schema
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        bodies: list[type[BaseModel]] = [s for p in PROTOCOLS for s in p.BODY_SCHEMAS]
        for body in bodies:
            json_schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(json_schema.pop("$defs", {}))
            components[body.__name__] = json_schema
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


def create_app(model: Model) -> FastAPI:
    """An app serving `model` through every protocol."""
    app = FastAPI(
        title=f"{model.name} on AWS Lambda",
        version=__version__,
        description=(
            f"Classifies images into {', '.join(model.manifest.labels)}. Native API, TensorFlow "
            "Serving REST API and the Open Inference Protocol (v2). Errors: "
            '`{"error": message, "code": slug, "status": http_status}`.'
        ),
    )
    app.state.model = model
    errors.install(app)
    for protocol in PROTOCOLS:
        app.include_router(protocol.router)
    app.mount("/static", StaticFiles(directory=native.STATIC_DIR), name="static")
    app.add_middleware(HeadAsGet)
    app.openapi = lambda: _openapi_with_body_schemas(app)  # type: ignore[method-assign]
    return app

"""From Lambda events to the ASGI app: Mangum, plus stage prefixes and non-HTTP events.

- Stage prefixes: an HTTP API named stage puts it in the path (`/Prod/predict`); a REST API
  strips it from `path` but keeps it in `requestContext.path`. `StagePrefix` makes the prefix the
  ASGI `root_path` either way, so routes match and /docs points at `/Prod/openapi.json`.
- Mangum serves API Gateway REST (v1), HTTP API (v2), Function URLs and ALB. Any other event
  (an S3 notification, a test event `{}`) answers a 400 JSON error in the HTTP response shape
  instead of Mangum's unexplained RuntimeError, and is logged as a warning; so does an event that
  looks like one of those but lacks what Mangum reads (a hand-written test event without
  `sourceIp` or `headers`), instead of a KeyError traceback.
- Powertools adds the request id and cold-start flag to every log line; the EMF metrics the
  request recorded are flushed (one JSON line) after each invocation; with tracing on, each
  invocation is one X-Ray subsegment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mangum import Mangum
from mangum.protocols import HTTPCycle
from starlette.types import ASGIApp, Receive, Scope, Send

from handler.http_errors import ErrorBody
from handler.observability import MetricUnit, logger, metrics, model_metrics, traced

LambdaHandler = Callable[[Any, Any], dict[str, Any]]


def stage_prefix(event: dict[str, Any], path: str) -> str:
    """The public path prefix (e.g. '/Prod') in front of the app's routes, or ''."""
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0":
        stage = context.get("stage", "$default")
        prefix = f"/{stage}"
        if stage != "$default" and (path == prefix or path.startswith(prefix + "/")):
            return prefix
        return ""
    # REST API and payload 1.0: `path` is without the stage (or a custom domain's base path),
    # requestContext.path is what the client asked for.
    public = context.get("path") or ""
    route = (event.get("path") or "/").rstrip("/") or "/"
    if public != route and public.endswith(route):
        return public[: -len(route)].rstrip("/")
    return ""


class StagePrefix:
    """ASGI middleware: make the API Gateway stage the root_path (ASGI: path includes it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event")
        if scope["type"] == "http" and isinstance(event, dict):
            prefix = stage_prefix(event, scope["path"])
            if prefix:
                path = scope["path"]
                if not path.startswith(prefix + "/"):
                    path = prefix + (path if path != prefix else "/")
                scope = {**scope, "root_path": prefix, "path": path}
        await self.app(scope, receive, send)


class UnsupportedEvent(ValueError):
    """The invocation event is not an HTTP event Mangum can translate."""

    def __init__(self, message: str, code: str = "unsupported_event") -> None:
        super().__init__(message)
        self.code = code


class LambdaAdapter(Mangum):
    """Mangum that names the problem when an event is not from an HTTP source, or is malformed."""

    def infer(self, event: Any, context: Any) -> Any:
        try:
            return super().infer(event, context)
        except (RuntimeError, TypeError, KeyError):
            keys = sorted(event)[:8] if isinstance(event, dict) else type(event).__name__
            raise UnsupportedEvent(
                "not an HTTP event: this function answers API Gateway (REST or HTTP API), "
                f"Lambda Function URL and ALB events; got {keys}"
            ) from None

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        """Mangum's own __call__ (lifespan off: nothing loads in lifespan hooks), with the scope
        and body built from the event first, so that an event missing what they read is named
        and refused. The app runs in HTTPCycle, which turns its errors into answers itself."""
        handler = self.infer(event, context)
        try:
            scope, body = handler.scope, handler.body
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            problem = f"no key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise UnsupportedEvent(
                f"malformed {type(handler).__name__} event: {problem}", "malformed_event"
            ) from None
        return handler(HTTPCycle(scope, body)(self.app))


def lambda_handler(app: ASGIApp) -> LambdaHandler:
    """The Lambda entry point for `app`: Mangum with logging context and metrics."""
    adapter = LambdaAdapter(StagePrefix(app), lifespan="off")

    @traced
    @logger.inject_lambda_context(clear_state=True)  # no request's keys leak into the next
    def handle(event: Any, context: Any) -> dict[str, Any]:
        try:
            response = adapter(event, context)
            if response["statusCode"] >= 500:
                # Handled 500s never reach Lambda's Errors metric: this one feeds the
                # deployment's rollback alarm (template.yaml ServerErrorsAlarm).
                metrics.add_metric("ServerErrors", MetricUnit.Count, 1)
            return response
        except UnsupportedEvent as exc:
            logger.warning(str(exc))
            body = ErrorBody(error=str(exc), code=exc.code, status=400)
            return {
                "statusCode": 400,
                "headers": {"content-type": "application/json"},
                "body": json.dumps(body.model_dump()),
                "isBase64Encoded": False,
            }
        finally:
            # Not `@metrics.log_metrics`: it warns on every request that records none (GET /health).
            for sink in (metrics, model_metrics):
                if sink.metric_set:
                    sink.flush_metrics()

    return handle

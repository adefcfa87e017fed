"""Lambda events for the handler tests, built by the same factory as the shipped events/
(`events.generate.to_event`: the shapes `sam local generate-event` prints, for REST v1, HTTP API
v2, Function URL and ALB; text bodies as is, anything else base64-encoded). `invoke` calls a
handler the way Lambda does and decodes the answer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from events.generate import Request, to_event
from infra.lambda_runtime import LambdaContext

Handler = Callable[[Any, Any], dict[str, Any]]


def lambda_context() -> LambdaContext:
    """A fresh Lambda context (new request id) for direct handler calls: the project's own,
    the one `python -m infra.invoke` passes."""
    return LambdaContext("tf-lambda-serving", 1769, 30)


def _request(method: str, path: str, body: bytes | str, headers: dict[str, str] | None,
             query: dict[str, str] | None) -> Request:
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = lowered.pop("content-type", None)
    data = body.encode() if isinstance(body, str) else body
    return Request(method, path, content_type, data, dict(query or {}), lowered)


def rest_v1(method: str, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None,
            query: dict[str, str] | None = None, stage: str = "Prod") -> dict[str, Any]:
    """API Gateway REST API proxy event: `path` without the stage, requestContext.path with it."""
    return to_event("rest", _request(method, path, body, headers, query), stage)


def http_v2(method: str, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None,
            query: dict[str, str] | None = None, stage: str = "$default") -> dict[str, Any]:
    """HTTP API payload 2.0 event; a named stage is part of rawPath (`/Prod/predict`)."""
    return to_event("http", _request(method, path, body, headers, query), stage)


def function_url(method: str, path: str, body: bytes | str = b"",
                 headers: dict[str, str] | None = None,
                 query: dict[str, str] | None = None) -> dict[str, Any]:
    """Lambda Function URL event: payload 2.0, `$default` stage, a lambda-url domain."""
    return to_event("url", _request(method, path, body, headers, query))


def alb(method: str, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None) -> dict[str, Any]:
    """Application Load Balancer target event (query values arrive URL-encoded)."""
    return to_event("alb", _request(method, path, body, headers, query))


SOURCES: dict[str, Callable[..., dict[str, Any]]] = {
    "rest": rest_v1, "http": http_v2, "url": function_url, "alb": alb,
}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def invoke(handler: Handler, event: Any) -> Response:
    """Call the handler as Lambda does; decode its HTTP-shaped answer."""
    out = handler(event, lambda_context())
    headers = {k.lower(): v for k, v in (out.get("headers") or {}).items()}
    for k, values in (out.get("multiValueHeaders") or {}).items():
        headers[k.lower()] = ",".join(values)
    body = out.get("body") or ""
    raw = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode()
    return Response(out["statusCode"], headers, raw)


#: What may differ between the two runtimes' answers: what runs the model (GET /model's
#: `runtime`, v2 metadata's `platform`) and float rounding (the freeze step holds it to 1e-5).
RUNTIME_FIELDS = frozenset({"runtime", "platform"})


def assert_alike(tf: Any, lite: Any, where: str, tolerance: float = 1e-5) -> None:
    """Equal JSON, but for RUNTIME_FIELDS and floats within `tolerance`."""
    if isinstance(tf, dict):
        assert isinstance(lite, dict) and tf.keys() == lite.keys(), where
        for key in tf.keys() - RUNTIME_FIELDS:
            assert_alike(tf[key], lite[key], f"{where}.{key}", tolerance)
    elif isinstance(tf, list):
        assert isinstance(lite, list) and len(tf) == len(lite), where
        for i, (a, b) in enumerate(zip(tf, lite, strict=True)):
            assert_alike(a, b, f"{where}[{i}]", tolerance)
    elif isinstance(tf, float):
        assert abs(lite - tf) <= tolerance, f"{where}: {tf} vs {lite}"
    else:
        assert tf == lite, where

"""Lambda events for the handler tests, in the shapes `sam local generate-event` prints.

`apigateway aws-proxy` (REST v1), `apigateway http-api-proxy` (HTTP API v2; a Function URL sends
the same payload format 2.0 with a lambda-url domain), `alb request`. Bodies are sent as API
Gateway sends them: text as is, anything else base64-encoded. `invoke` calls a handler the way
Lambda does and decodes the answer.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from infra.lambda_runtime import LambdaContext

Handler = Callable[[Any, Any], dict[str, Any]]
_TEXT = ("application/json", "text/")
TARGET_GROUP = ("arn:aws:elasticloadbalancing:us-east-2:123456789012:"
                "targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a")


def lambda_context() -> LambdaContext:
    """A fresh Lambda context (new request id) for direct handler calls: the project's own,
    the one `python -m infra.invoke` passes."""
    return LambdaContext("tf-lambda-serving", 1769, 30)


def _body(body: bytes | str, headers: dict[str, str]) -> tuple[str, bool]:
    if isinstance(body, str):
        body = body.encode()
    if any(headers.get("content-type", "").startswith(t) for t in _TEXT):
        return body.decode(), False
    return base64.b64encode(body).decode(), bool(body)


def rest_v1(method: str, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None,
            query: dict[str, str] | None = None, stage: str = "Prod") -> dict[str, Any]:
    """API Gateway REST API proxy event: `path` without the stage, requestContext.path with it."""
    headers = {"Host": "1234567890.execute-api.us-east-1.amazonaws.com",
               "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", **(headers or {})}
    text, b64 = _body(body, {k.lower(): v for k, v in headers.items()})
    return {
        "body": text or None, "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "isBase64Encoded": b64,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": {
            "accountId": "123456789012", "resourceId": "123456", "stage": stage,
            "requestId": str(uuid.uuid4()), "requestTimeEpoch": 1428582896000,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "Custom User Agent String"},
            "path": f"/{stage}{path}", "resourcePath": "/{proxy+}", "httpMethod": method,
            "apiId": "1234567890", "protocol": "HTTP/1.1",
        },
    }


def http_v2(method: str, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None,
            query: dict[str, str] | None = None, stage: str = "$default",
            domain: str = "id.execute-api.us-east-1.amazonaws.com") -> dict[str, Any]:
    """HTTP API payload 2.0 event; a named stage is part of rawPath (`/Prod/predict`)."""
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    headers = {"host": domain, "x-forwarded-proto": "https", "x-forwarded-port": "443",
               **{k.lower(): v for k, v in (headers or {}).items()}}
    text, b64 = _body(body, headers)
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": raw_path,
        "rawQueryString": urlencode(query or {}), "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": domain.split(".")[0], "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.168.0.1", "userAgent": "agent"},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": stage,
            "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390,
        },
        "isBase64Encoded": b64,
    }
    if query:
        event["queryStringParameters"] = query
    if text:
        event["body"] = text
    return event


def function_url(method: str, path: str, body: bytes | str = b"",
                 headers: dict[str, str] | None = None,
                 query: dict[str, str] | None = None) -> dict[str, Any]:
    """Lambda Function URL event: payload 2.0, `$default` stage, a lambda-url domain."""
    return http_v2(method, path, body, headers, query,
                   domain="abcdefghijklmnopqrstuvwxyz0123.lambda-url.us-east-1.on.aws")


def alb(method: str, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None) -> dict[str, Any]:
    """Application Load Balancer target event (query values arrive URL-encoded)."""
    headers = {"host": "lambda-alb-123578498.us-east-2.elb.amazonaws.com",
               "x-forwarded-for": "72.12.164.125", "x-forwarded-port": "80",
               "x-forwarded-proto": "http", **{k.lower(): v for k, v in (headers or {}).items()}}
    text, b64 = _body(body, headers)
    return {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP}},
        "httpMethod": method, "path": path,
        "queryStringParameters": {k: quote(v) for k, v in (query or {}).items()},
        "headers": headers, "body": text, "isBase64Encoded": b64,
    }


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

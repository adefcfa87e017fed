"""Generate the event files in events/: real requests for every event source, with real photos.

    python -m events.generate [--out DIR]      (or: make events)

Each file is one Lambda invocation event, valid input for `sam local invoke -e FILE` and for
`python -m infra.invoke FILE`. The shapes are those of `sam local generate-event` (apigateway
aws-proxy and http-api-proxy, alb request; tests/test_events.py checks they still agree), trimmed
of what this API's gateway would not send (authorizers, client certificates), plus a Lambda
Function URL event in the shape of the Lambda docs. Bodies carry the real photos from
`demo.photos`. events/bulk/ holds the bulk engines' events (events/bulk.py). `expected.json` records the HTTP status (and, for predictions, the label) each
event must get. The output is deterministic: regenerating yields identical files.

`to_event` is the project's one event factory: the tests build their events with it, and
`python -m infra.local_api` turns each live HTTP request into one (`Request.received`).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from urllib3 import encode_multipart_formdata

from demo.catsordogs import CONFIG
from demo.photos import photo_label, photo_path
from events import bulk

EVENTS_DIR = Path(__file__).resolve().parent
EXPECTED = "expected.json"
#: the bulk engines' events (events/bulk.py), in their own folder: not HTTP events
BULK_DIR = "bulk"
MODEL = CONFIG.name
BOUNDARY = "events-generate-boundary-0001"
Source = Literal["rest", "http", "url", "alb"]

#: When the sample requests arrive: fixed, so that regenerating yields identical files.
SAMPLE_TIME = datetime(2025, 11, 27, 7, 0, tzinfo=UTC)
#: Media types an HTTP API passes as text; any other body (form posts too) is base64-encoded.
TEXT_TYPES = ("application/json", "application/xml", "application/javascript")

# `sam local generate-event apigateway aws-proxy` (a REST API, Lambda proxy integration).
REST_BASE: dict[str, Any] = {
    "body": None,
    "resource": "/{proxy+}",
    "path": "/",
    "httpMethod": "GET",
    "isBase64Encoded": False,
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "headers": {},
    "multiValueHeaders": {},
    "requestContext": {
        "accountId": "123456789012",
        "resourceId": "123456",
        "stage": "Prod",
        "requestId": "",
        "requestTime": "",
        "requestTimeEpoch": 0,
        "identity": {
            "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None,
            "caller": None, "accessKey": None, "sourceIp": "127.0.0.1",
            "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None,
            "userArn": None, "userAgent": "events-generate", "user": None,
        },
        "path": "/Prod/",
        "resourcePath": "/{proxy+}",
        "httpMethod": "GET",
        "apiId": "1234567890",
        "protocol": "HTTP/1.1",
    },
}

# `sam local generate-event apigateway http-api-proxy` (an HTTP API, payload format 2.0).
HTTP_BASE: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "ANY /{proxy+}",
    "rawPath": "/",
    "rawQueryString": "",
    "headers": {},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "api-id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "api-id",
        "http": {
            "method": "GET",
            "path": "/",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "events-generate",
        },
        "requestId": "",
        "routeKey": "ANY /{proxy+}",
        "stage": "$default",
        "time": "",
        "timeEpoch": 0,
    },
    "isBase64Encoded": False,
}

# A Lambda Function URL event: payload format 2.0 with the URL's own domain and no routes.
URL_BASE: dict[str, Any] = copy.deepcopy(HTTP_BASE) | {"routeKey": "$default"}
URL_BASE["requestContext"] |= {
    "apiId": "url-id",
    "domainName": "url-id.lambda-url.us-east-1.on.aws",
    "domainPrefix": "url-id",
    "routeKey": "$default",
}

# `sam local generate-event alb request` (an Application Load Balancer target group).
ALB_BASE: dict[str, Any] = {
    "requestContext": {
        "elb": {
            "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-2:123456789012:"
            "targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a"
        }
    },
    "httpMethod": "GET",
    "path": "/",
    "queryStringParameters": {},
    "headers": {},
    "body": "",
    "isBase64Encoded": False,
}

BASES: dict[Source, dict[str, Any]] = {
    "rest": REST_BASE, "http": HTTP_BASE, "url": URL_BASE, "alb": ALB_BASE,
}
#: What each gateway puts in the Host header.
HOSTS: dict[Source, str] = {
    "rest": "1234567890.execute-api.us-east-1.amazonaws.com",
    "http": "api-id.execute-api.us-east-1.amazonaws.com",
    "url": "url-id.lambda-url.us-east-1.on.aws",
    "alb": "lambda-alb-123578498.us-east-2.elb.amazonaws.com",
}


@dataclass(frozen=True)
class Request:
    """An HTTP request, before a gateway turns it into an event."""

    method: str
    path: str
    content_type: str | None = None
    body: bytes = b""
    #: query parameters (a repeated one's values joined with commas, as payload 2.0 sends them)
    query: dict[str, str] = field(default_factory=dict)
    #: any other request headers (names lower-case, repeated ones joined with commas)
    extra_headers: dict[str, str] = field(default_factory=dict)
    #: the query string as sent (None: `query` URL-encoded)
    raw_query: str | None = None
    #: the client's address (None: the sample event's)
    source_ip: str | None = None
    #: when the gateway received it
    received_at: datetime = SAMPLE_TIME
    #: add the sample client's headers (False: extra_headers are all the client sent)
    sample_headers: bool = True

    @classmethod
    def received(
        cls, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes,
        source_ip: str,
    ) -> Request:
        """A request as an HTTP server received it now: its own headers only, the query string
        as sent."""
        url = urlsplit(target)
        sent = _joined((name.lower(), value) for name, value in headers)
        query = _joined(parse_qsl(url.query, keep_blank_values=True))
        return cls(method, url.path, sent.get("content-type"), body, query, sent,
                   raw_query=url.query, source_ip=source_ip, received_at=datetime.now(UTC),
                   sample_headers=False)

    @property
    def binary(self) -> bool:
        """Whether the gateway base64-encodes the body: anything but UTF-8 text (text/*,
        TEXT_TYPES)."""
        media = (self.content_type or "").split(";", 1)[0].strip().lower()
        text = media.startswith("text/") or media in TEXT_TYPES
        return bool(self.body) and not (text and _is_utf8(self.body))

    def headers(self, source: Source) -> dict[str, str]:
        if not self.sample_headers:
            return dict(self.extra_headers)
        headers = {"host": HOSTS[source], "user-agent": "events-generate", "accept": "*/*"}
        if self.content_type:
            headers["content-type"] = self.content_type
        if self.body:
            headers["content-length"] = str(len(self.body))
        return headers | self.extra_headers

    def encoded_body(self) -> str | None:
        if not self.body:
            return None
        return base64.b64encode(self.body).decode("ascii") if self.binary else self.body.decode()

    def time(self) -> tuple[str, int]:
        """When the gateway received it: as a log line's date and as epoch milliseconds."""
        at = self.received_at
        return at.strftime("%d/%b/%Y:%H:%M:%S +0000"), int(at.timestamp() * 1000)


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A dict of `pairs` in which a repeated key's values are joined with commas."""
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _rest(request: Request, stage: str, request_id: str) -> dict[str, Any]:
    event = copy.deepcopy(REST_BASE)
    root = request.path == "/"
    resource = "/" if root else "/{proxy+}"
    headers = {name.title(): value for name, value in request.headers("rest").items()}
    event |= {
        "body": request.encoded_body(),
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "isBase64Encoded": request.binary,
        "queryStringParameters": request.query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in request.query.items()} or None,
        "pathParameters": None if root else {"proxy": request.path.lstrip("/")},
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
    }
    time, epoch = request.time()
    event["requestContext"] |= {
        "stage": stage, "requestId": request_id, "path": f"/{stage}{request.path}",
        "resourcePath": resource, "httpMethod": request.method,
        "requestTime": time, "requestTimeEpoch": epoch,
    }
    if request.source_ip:
        event["requestContext"]["identity"]["sourceIp"] = request.source_ip
    return event


def _payload_v2(
    source: Source, request: Request, stage: str, request_id: str
) -> dict[str, Any]:
    event = copy.deepcopy(BASES[source])
    path = request.path if stage == "$default" else f"/{stage}{request.path}"
    query = urlencode(request.query) if request.raw_query is None else request.raw_query
    headers = request.headers(source)
    # The Cookie header (repeated ones joined with commas, as the gateway does) becomes `cookies`.
    cookie = headers.pop("cookie", "").replace(",", ";")
    cookies = [c.strip() for c in cookie.split(";") if c.strip()]
    event |= {"rawPath": path, "rawQueryString": query, "headers": headers}
    if cookies:
        event["cookies"] = cookies
    if source == "http":  # routes: GET|HEAD / and GET|HEAD|POST /{proxy+} (template.yaml)
        root = request.path == "/"
        event["routeKey"] = f"{request.method} /" if root else f"{request.method} /{{proxy+}}"
        event["requestContext"]["routeKey"] = event["routeKey"]
        if not root:
            event["pathParameters"] = {"proxy": request.path.lstrip("/")}
    if request.query:
        event["queryStringParameters"] = dict(request.query)
    host = headers.get("host", event["requestContext"]["domainName"])
    time, epoch = request.time()
    event["requestContext"] |= {
        "domainName": host, "domainPrefix": host.split(".")[0], "requestId": request_id,
        "stage": stage, "time": time, "timeEpoch": epoch,
    }
    event["requestContext"]["http"] |= {
        "method": request.method, "path": path, "userAgent": headers.get("user-agent", ""),
    }
    if request.source_ip:
        event["requestContext"]["http"]["sourceIp"] = request.source_ip
    if request.body:
        event["body"] = request.encoded_body()
    event["isBase64Encoded"] = request.binary
    return event


def _alb(request: Request) -> dict[str, Any]:
    event = copy.deepcopy(ALB_BASE)
    event |= {
        "httpMethod": request.method,
        "path": request.path,
        "queryStringParameters": {k: quote(v) for k, v in request.query.items()},  # ALB: encoded
        "headers": request.headers("alb"),
        "body": request.encoded_body() or "",
        "isBase64Encoded": request.binary,
    }
    return event


def to_event(
    source: Source, request: Request, stage: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """The event `source` sends Lambda for `request` (the tests build theirs here too). `stage`:
    a REST API's (default Prod) or an HTTP API's (default $default, else part of the path)."""
    request_id = request_id or str(uuid.uuid4())
    if source == "rest":
        return _rest(request, stage or "Prod", request_id)
    if source == "alb":
        return _alb(request)
    return _payload_v2(source, request, stage or "$default", request_id)


@dataclass(frozen=True)
class Case:
    """One event file and what the function must answer to it."""

    name: str
    source: Source
    request: Request
    status: int
    label: str | None = None
    code: str | None = None
    stage: str | None = None

    def event(self) -> dict[str, Any]:
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"events/{self.name}"))
        return to_event(self.source, self.request, self.stage, request_id)

    def expectation(self) -> dict[str, Any]:
        found = {"status": self.status, "label": self.label, "code": self.code}
        return {key: value for key, value in found.items() if value is not None}


def _photo(name: str) -> bytes:
    return photo_path(name).read_bytes()


def _b64(name: str) -> str:
    return base64.b64encode(_photo(name)).decode("ascii")


def _multipart(*names: str) -> Request:
    fields = [("file", (f"{name}.jpeg", _photo(name), "image/jpeg")) for name in names]
    body, content_type = encode_multipart_formdata(fields, boundary=BOUNDARY)
    return Request("POST", "/predict", content_type, body)


def _json(method: str, path: str, payload: Any) -> Request:
    return Request(method, path, "application/json", json.dumps(payload).encode())


def _get(path: str) -> Request:
    return Request("GET", path)


def cases() -> list[Case]:
    """Every event this project ships: each source, each protocol, and a few bad requests."""
    kitten, dog = photo_label("kitten"), photo_label("dog")
    dog_jpeg = Request("POST", "/predict", "image/jpeg", _photo("dog"))
    return [
        # HTTP API (payload 2.0): what template.yaml deploys.
        Case("http-get-root", "http", _get("/"), 200),
        Case("http-health", "http", _get("/health"), 200),
        Case("http-model", "http", _get("/model"), 200),
        Case("http-predict-kitten-multipart", "http", _multipart("kitten"), 200, kitten),
        Case("http-predict-dog-jpeg", "http", dog_jpeg, 200, dog),
        Case("http-predict-dog-json", "http", _json("POST", "/predict", {"images": [_b64("dog")]}),
             200, dog),
        Case("http-stage-predict-dog-jpeg", "http", dog_jpeg, 200, dog, stage="Prod"),
        Case("http-tfserving-status", "http", _get(f"/v1/models/{MODEL}"), 200),
        Case("http-tfserving-metadata", "http", _get(f"/v1/models/{MODEL}/metadata"), 200),
        Case("http-tfserving-predict-kitten", "http",
             _json("POST", f"/v1/models/{MODEL}:predict", {"instances": [{"b64": _b64("kitten")}]}),
             200, kitten),
        Case("http-v2-ready", "http", _get(f"/v2/models/{MODEL}/ready"), 200),
        Case("http-v2-metadata", "http", _get(f"/v2/models/{MODEL}"), 200),
        # v2 with the image itself as a BYTES element (FP32 256x256 data would be ~1 MB of JSON).
        Case("http-v2-infer-dog", "http", _json("POST", f"/v2/models/{MODEL}/infer", {"inputs": [
            {"name": CONFIG.input_node, "shape": [1], "datatype": "BYTES", "data": [_b64("dog")]},
        ]}), 200, dog),
        # Bad requests: each answers the API's JSON error with the right status.
        Case("http-predict-not-an-image", "http",
             Request("POST", "/predict", "image/jpeg", b"this is plain text, not a JPEG"),
             422, code="not_an_image"),
        Case("http-predict-wrong-content-type", "http",
             Request("POST", "/predict", "text/plain", b"a cat, probably"),
             415, code="unsupported_media_type"),
        Case("http-tfserving-unknown-model", "http", _get("/v1/models/no-such-model"),
             404, code="model_not_found"),
        # REST API (payload 1.0) on its Prod stage.
        Case("rest-health", "rest", _get("/health"), 200),
        Case("rest-predict-kitten-multipart", "rest", _multipart("kitten"), 200, kitten),
        # Lambda Function URL.
        Case("url-health", "url", _get("/health"), 200),
        Case("url-predict-dog-jpeg", "url", dog_jpeg, 200, dog),
        # Application Load Balancer.
        Case("alb-health", "alb", _get("/health"), 200),
        Case("alb-predict-kitten-multipart", "alb", _multipart("kitten"), 200, kitten),
    ]


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def generate(out: Path = EVENTS_DIR) -> list[Path]:
    """Write every case's event file and expected.json into `out`, and the bulk engines' events
    with theirs into `out/bulk` (events/bulk.py); return the event files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for case in cases():
        path = out / f"{case.name}.json"
        _write_json(path, case.event())
        written.append(path)
    _write_json(out / EXPECTED, {f"{c.name}.json": c.expectation() for c in cases()})
    (out / BULK_DIR).mkdir(exist_ok=True)
    for name, event in bulk.events().items():
        written.append(out / BULK_DIR / name)
        _write_json(written[-1], event)
    _write_json(out / BULK_DIR / EXPECTED, bulk.expected())
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=EVENTS_DIR, help="folder to write into")
    args = parser.parse_args(argv)
    written = generate(args.out)
    size = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} events ({size / 1024:.0f} KiB) and {EXPECTED} to {args.out}")


if __name__ == "__main__":
    main()

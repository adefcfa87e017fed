"""`sam local start-api` without Docker: HTTP on 127.0.0.1 → HTTP API (v2) event → a Lambda.

    MODEL_DIR=model python -m infra.local_api --host 127.0.0.1 --port 3000 \
        [--function LiteInferenceFunction] [--memory-size MB] [--max-concurrency N]

Each request becomes the event API Gateway's HTTP API would send (payload format 2.0, `$default`
stage, binary bodies base64-encoded; built by `events.generate.to_event`, as the tests' events
are) and is invoked in a local Lambda container (infra/pool.py, infra/container.py: the real
runtime interface client, Lambda's CPU share and memory cap); its response (base64 bodies
decoded, cookies as Set-Cookie) is written back.

Concurrency is Lambda's: each container runs one invocation at a time; a request goes to an
idle warm container or starts a new one (a cold start) up to --max-concurrency (default: the
template's ReservedConcurrency); past it the invocation is throttled and the client gets what
the HTTP API answers a throttled Lambda, a 500. Past the stage's throttling limits (the
template's ThrottlingRateLimit and ThrottlingBurstLimit, a token bucket) the API answers 429
itself, without invoking. Idle containers are retired after --idle-s.

`serve(handler)` runs an already-imported handler in this process instead (one invocation at
a time on one thread that owns an asyncio event loop, as Mangum expects): the fast path for
unit tests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO, Protocol

from infra.invoke import container_arguments, container_setup, stop_on_sigterm
from infra.lambda_runtime import (
    FUNCTIONS,
    Handler,
    LocalFunction,
    claim_stdout,
    function_config,
    load_template,
)
from infra.pool import IDLE_S, Pool, Throttled

#: HTTP API's request payload limit: larger bodies are refused before any invocation.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Lambda's synchronous invocation payload limit (the whole event, base64 body included).
MAX_EVENT_BYTES = 6 * 1024 * 1024
_TOO_LARGE = b'{"message":"Request Entity Too Large"}'
#: what the HTTP API answers a request that no route takes (its own 404, not the function's)
_NOT_FOUND = b'{"message":"Not Found"}'
#: what the HTTP API answers when Lambda refuses the invocation (a throttle, an error of the
#: function): AWS's "Handle Lambda errors in API Gateway" (a 500) in the HTTP API's own words
_INTERNAL_ERROR = b'{"message":"Internal Server Error"}'
#: what a stage answers past its throttling limits (AWS's "Throttle requests to your HTTP APIs")
_TOO_MANY = b'{"message":"Too Many Requests"}'


class Invoker(Protocol):
    """What runs the function: a pool of local Lambda containers, or the handler in-process."""

    def invoke(self, event: Any) -> Any: ...

    def close(self) -> None: ...


class StageThrottle:
    """The stage's default route throttling: a token bucket of `burst` tokens refilled at
    `rate` per second (API Gateway's model; its limits are best-effort targets)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def from_template(cls, rate: float | None = None, burst: int | None = None) -> StageThrottle:
        """The template's ThrottlingRateLimit and ThrottlingBurstLimit defaults, or the values
        given (as a deployment's parameter overrides would set them)."""
        parameters = load_template()["Parameters"]
        return cls(float(parameters["ThrottlingRateLimit"]["Default"]) if rate is None else rate,
                   int(parameters["ThrottlingBurstLimit"]["Default"]) if burst is None else burst)

    def admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def reserved_concurrency() -> int | None:
    """The template's ReservedConcurrency default (None: unreserved)."""
    default = load_template()["Parameters"]["ReservedConcurrency"]["Default"]
    return int(default) if default else None


def api_routes() -> frozenset[tuple[str, str]]:
    """The HTTP API's route keys in template.yaml, as (method, path) pairs: `/` or the greedy
    `/{proxy+}`, which takes any longer path."""
    resources = load_template()["Resources"].values()
    keys = [r["Properties"]["RouteKey"] for r in resources
            if r["Type"] == "AWS::ApiGatewayV2::Route"]
    return frozenset(tuple(key.split(" ", 1)) for key in keys)


def routed(routes: frozenset[tuple[str, str]], method: str, target: str) -> bool:
    """Whether a route takes `method` on `target` (path and query)."""
    path = target.split("?", 1)[0]
    return (method, path) in routes or (path != "/" and (method, "/{proxy+}") in routes)


def http_api_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The HTTP API payload format 2.0 event for one request received now (`$default` stage,
    template.yaml's routes), from the project's one event factory.

    events.generate is imported at the first request, after the cold start: imported before
    it, its pydantic and demo config would cut ~60 ms from the handler's measured INIT (~330 ms
    with LiteRT), which Lambda would have to import.
    """
    from events.generate import Request, to_event

    return to_event("http", Request.received(method, target, headers, body, source_ip))


def response_parts(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, header list and body bytes of a Lambda proxy response (format 1.0 or 2.0)."""
    headers = [(k, str(v)) for k, v in (response.get("headers") or {}).items()]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers += [(name, str(v)) for v in values]
    headers += [("Set-Cookie", cookie) for cookie in response.get("cookies") or []]
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    return int(response.get("statusCode", 200)), headers, raw


def _discard(stream: BinaryIO, length: int) -> None:
    """Read and drop `length` bytes, a MiB at a time."""
    while length > 0 and (chunk := stream.read(min(length, 1 << 20))):
        length -= len(chunk)


class _Gateway(BaseHTTPRequestHandler):
    """Turns each HTTP request into one invocation of the server's function."""

    server: _LocalApiServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waited for the client's
    # delayed ACK (~40 ms per keep-alive request; measured p50 48 ms -> see benchmarks/).
    disable_nagle_algorithm = True

    def _invoke(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not routed(self.server.routes, self.command, self.path):
            _discard(self.rfile, length)
            return self._send(404, [], _NOT_FOUND)
        if length > MAX_BODY_BYTES:
            _discard(self.rfile, length)  # unstored, so that the client gets to read the 413
            return self._send(413, [], _TOO_LARGE)
        body = self.rfile.read(length) if length else b""
        event = http_api_event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        if len(json.dumps(event)) > MAX_EVENT_BYTES:
            return self._send(413, [], _TOO_LARGE)
        if self.server.throttle and not self.server.throttle.admit():
            return self._send(429, [], _TOO_MANY)
        try:
            outcome = self.server.invoker.invoke(event)
        except Throttled:
            return self._send(500, [], _INTERNAL_ERROR)
        except Exception:  # the local Lambda failed (a snapshot that broke): the API's 500
            traceback.print_exc()
            return self._send(500, [], _INTERNAL_ERROR)
        if outcome.error or not isinstance(outcome.response, dict):
            return self._send(500, [], _INTERNAL_ERROR)
        self._send(*response_parts(outcome.response))

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        names = {name.lower() for name, _ in headers}
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def __getattr__(self, name: str) -> Any:
        """`do_<METHOD>` for every method, so that one no route takes (TRACE, PUT...) gets the
        API's JSON 404 rather than http.server's HTML 501."""
        if name.startswith("do_"):
            return self._invoke
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if self.server.verbose:
            super().log_message(format, *args)


def _give_thread_an_event_loop() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())


class InProcess:
    """The handler called in this process, one invocation at a time on one thread."""

    def __init__(self, function: LocalFunction) -> None:
        self.function = function
        self._thread = ThreadPoolExecutor(1, "lambda-container", _give_thread_an_event_loop)

    def invoke(self, event: Any) -> Any:
        return self._thread.submit(self.function.invoke, event).result()

    def close(self) -> None:
        self._thread.shutdown(cancel_futures=True)


class _LocalApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], invoker: Invoker, verbose: bool,
                 throttle: StageThrottle | None = None) -> None:
        super().__init__(address, _Gateway)
        self.invoker = invoker
        self.verbose = verbose
        self.throttle = throttle
        self.routes = api_routes()

    def server_close(self) -> None:
        super().server_close()
        self.invoker.close()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


@contextmanager
def serve(handler: Handler, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve an already-imported handler in this process, in a background thread; yield its
    base URL. Port 0 picks a free port. Meant for tests and embedding."""
    with serve_containers(InProcess(LocalFunction(handler, function_config())), host,
                          port) as url:
        yield url


def _example_photo() -> str:
    """A real photo to put in the printed curl example, when the demo photos are installed."""
    from demo.photos import photo_path

    try:
        return str(photo_path("kitten"))
    except FileNotFoundError:
        return "photo.jpg"


@contextmanager
def serve_containers(invoker: Invoker, host: str = "127.0.0.1", port: int = 0,
                     throttle: StageThrottle | None = None) -> Iterator[str]:
    """Serve `invoker` (a Pool of containers; `serve` passes the in-process handler) in a
    background thread; yield its base URL, then close the invoker."""
    server = _LocalApiServer((host, port), invoker, False, throttle)
    thread = threading.Thread(target=server.serve_forever, name="local-api", daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    container_arguments(parser, FUNCTIONS)
    parser.add_argument("--max-concurrency", type=int, default=reserved_concurrency(),
                        metavar="N", help="most containers at once (default: the template's "
                        "ReservedConcurrency); past it invocations are throttled")
    parser.add_argument("--idle-s", type=float, default=IDLE_S,
                        help="retire a container idle this long (seconds)")
    parser.add_argument("--throttling-rate-limit", type=float, metavar="N",
                        help="the stage's steady requests/s (default: the template's)")
    parser.add_argument("--throttling-burst-limit", type=int, metavar="N",
                        help="the stage's burst (default: the template's)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    config, options = container_setup(args)

    out = claim_stdout()  # the function's own output (logs, metrics) goes to stderr
    stop_on_sigterm()
    pool = Pool(config, options, dict(args.env), args.max_concurrency, args.idle_s,
                snapstart=args.snapstart)
    started = time.perf_counter()
    pool.prewarm()
    server = _LocalApiServer((args.host, args.port), pool, not args.quiet,
                             StageThrottle.from_template(args.throttling_rate_limit,
                                                         args.throttling_burst_limit))
    limit = args.max_concurrency or "unreserved"
    print(f"Started {config.name} ({config.handler}, {options.memory_mb} MB, up to {limit} "
          f"containers) in {time.perf_counter() - started:.1f} s (cold start)", file=out)
    print(f"Serving on {server.url}/  (upload page; API docs at {server.url}/docs)", file=out)
    print(f"Try:  curl -F file=@{_example_photo()} {server.url}/predict", file=out)
    print("Ctrl+C to stop.", file=out, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

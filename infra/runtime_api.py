"""The Lambda Runtime API for one local execution environment, on 127.0.0.1:<free port>.

The runtime in the container (`awslambdaric`) polls `GET /2018-06-01/runtime/invocation/next`
for an event and posts `…/invocation/{id}/response` or `…/invocation/{id}/error`; a failed
import posts `…/init/error`. With SnapStart (`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`) it
calls `GET …/restore/next` once its INIT and before-snapshot hooks are done (the snapshot is
taken then) and reports failed after-restore hooks on `…/restore/error`.

`RuntimeApi` serves those routes and turns each call into a `Message` on one queue that the
container (infra/container.py) reads; `deliver` hands an event to the waiting `next` call and
`release_restore` answers `restore/next`. Paths, headers and status codes are the Runtime API's
(AWS's "Using the Lambda runtime API for custom runtimes").
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
#: Lambda's limit on a synchronous response (6 MB); a larger one fails the invocation.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Event:
    """One invocation as `invocation/next` hands it to the runtime."""

    request_id: str
    body: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str


@dataclass(frozen=True)
class Message:
    """A call the runtime made: kind is next, response, error, init_error, restore_next or
    restore_error."""

    kind: str
    request_id: str = ""
    body: bytes = b""
    error_type: str = ""

    def json(self) -> Any:
        """The body as JSON, or as text when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", "replace")


class RuntimeApi:
    """The Runtime API of one container: start it, give its `address` to the runtime."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self._events: queue.Queue[Event | None] = queue.Queue()
        self._restore = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Routes)
        self._server.api = self  # type: ignore[attr-defined]
        # a short poll: close() waits for it, and a container ends inside an invocation
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="runtime-api", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def deliver(self, event: Event) -> None:
        """Hand `event` to the runtime's (current or next) `invocation/next` call."""
        self._events.put(event)

    def release_restore(self) -> None:
        """Answer the runtime's `restore/next`: the restored copy goes on."""
        self._restore.set()

    def close(self) -> None:
        self._events.put(None)  # unblock a waiting `next`
        self._restore.set()
        self._server.shutdown()
        self._server.server_close()

    # --- called by the routes, on the server's threads ------------------------------------
    def _next(self) -> Event | None:
        self.messages.put(Message("next"))
        return self._events.get()

    def _restore_next(self) -> None:
        self.messages.put(Message("restore_next"))
        self._restore.wait()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime that was killed mid-call is how containers end: not an error here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Routes(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    @property
    def api(self) -> RuntimeApi:
        return self.server.api  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == f"{PREFIX}/invocation/next":
            event = self.api._next()
            if event is None:
                return self._reply(410, {"errorMessage": "the container is shutting down"})
            return self._reply(200, event.body, {
                "Lambda-Runtime-Aws-Request-Id": event.request_id,
                "Lambda-Runtime-Deadline-Ms": str(event.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": event.function_arn,
                "Lambda-Runtime-Trace-Id": event.trace_id,
            })
        if self.path == f"{PREFIX}/restore/next":
            self.api._restore_next()
            return self._reply(200, b"")
        self._reply(404, {"errorMessage": f"unknown path {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        error_type = self.headers.get(ERROR_TYPE_HEADER, "")
        parts = self.path.removeprefix(f"{PREFIX}/").split("/")
        match parts:
            case ["invocation", request_id, "response"]:
                if len(body) > MAX_RESPONSE_BYTES:
                    message = Message("error", request_id, json.dumps({
                        "errorMessage": f"Response payload size ({len(body)} bytes) exceeded "
                                        f"maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }).encode(), "Function.ResponseSizeTooLarge")
                    self.api.messages.put(message)
                    return self._reply(413, {"errorMessage": "payload too large",
                                             "errorType": "RequestEntityTooLarge"})
                self.api.messages.put(Message("response", request_id, body))
            case ["invocation", request_id, "error"]:
                self.api.messages.put(Message("error", request_id, body, error_type))
            case ["init", "error"]:
                self.api.messages.put(Message("init_error", body=body, error_type=error_type))
            case ["restore", "error"]:
                self.api.messages.put(Message("restore_error", body=body, error_type=error_type))
            case _:
                return self._reply(404, {"errorMessage": f"unknown path {self.path}"})
        self._reply(202, {"status": "OK"})

    def _reply(self, status: int, body: bytes | dict[str, Any],
               headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

"""Inside a local SnapStart container: the snapshot point becomes a fork server.

Lambda restores copies of one snapshot, taken after INIT and the before-snapshot hooks. CRIU
cannot checkpoint on this kernel, so where the runtime survives `fork` (LiteRT; TensorFlow's
threads do not) the container's process stands in for the snapshot: `serve_forks`, the last
before-snapshot hook, waits on a socket from the local Lambda (infra/snapshot.py) and forks one
child per "fork <runtime api address>" line. Each child is a restored copy: it points the
runtime interface client at its own Runtime API and returns from the hook, so that awslambdaric
goes on as after a real restore (`restore/next`, the after-restore hooks, invocations). The
children share every page of the pre-snapshot state, which is what the hooks must make safe.

The fork server answers "pid <pid>" per fork and reports "exit <pid> <status>" as children end.
"""

from __future__ import annotations

import gc
import http.client
import json
import os
import select
import socket
import sys
from typing import Any

FD_VARIABLE = "_LOCAL_LAMBDA_FORK_FD"
_PREFIX = "/2018-06-01/runtime/invocation"


def install() -> None:
    """Register `serve_forks` with the socket the local Lambda passed in $_LOCAL_LAMBDA_FORK_FD."""
    from snapshot_restore_py import register_before_snapshot

    register_before_snapshot(serve_forks, int(os.environ.pop(FD_VARIABLE)))


def serve_forks(fd: int) -> None:
    """Fork restored copies on request; return only in a child (a restored copy)."""
    channel = socket.socket(fileno=fd)
    channel.sendall(b"ready\n")
    buffer = b""
    while True:
        _reap(channel)
        readable, _, _ = select.select([channel], [], [], 0.05)
        if not readable:
            continue
        chunk = channel.recv(4096)
        if not chunk:  # the local Lambda let the snapshot go
            os._exit(0)
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            command, address = line.decode().split(" ", 1)
            assert command == "fork", command
            state = _random_state()
            pid = os.fork()
            if pid == 0:
                channel.close()
                os.setsid()
                _as_in_the_snapshot(state)
                _point_runtime_at(address)
                return
            channel.sendall(f"pid {pid}\n".encode())


def _random_state() -> object | None:
    random = sys.modules.get("random")
    return random.getstate() if random else None


def _as_in_the_snapshot(state: object | None) -> None:
    """Undo what `fork` does and a snapshot restore does not: CPython reseeds `random` in a
    forked child; a restored snapshot keeps the state it had (the hooks must reseed it)."""
    if state is not None:
        sys.modules["random"].setstate(state)


def _reap(channel: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        channel.sendall(f"exit {pid} {os.waitstatus_to_exitcode(status)}\n".encode())


def _point_runtime_at(address: str) -> None:
    """Make this copy's runtime interface client talk to `address`.

    awslambdaric's C client keeps the address it read at import, so its three calls are
    replaced by `HttpRuntimeClient`; the Python client's own calls (restore/next, errors) read
    `lambda_runtime_address`, set on every instance."""
    from awslambdaric import lambda_runtime_client

    os.environ["AWS_LAMBDA_RUNTIME_API"] = address
    lambda_runtime_client.runtime_client = HttpRuntimeClient(address)
    # the client was made before INIT, which froze it (handler/heap.py): get_objects() lists
    # no frozen object, so they are unfrozen for the search and frozen again
    frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    for client in gc.get_objects():
        if isinstance(client, lambda_runtime_client.BaseLambdaRuntimeClient):
            client.lambda_runtime_address = address
    if frozen:
        gc.freeze()


class HttpRuntimeClient:
    """The C extension `runtime_client`'s next / post_invocation_result / post_error, over
    http.client, with the same arguments and return values."""

    def __init__(self, address: str) -> None:
        self.address = address

    def _call(self, method: str, path: str, body: bytes | None = None,
              headers: dict[str, str] | None = None) -> tuple[bytes, Any]:
        connection = http.client.HTTPConnection(self.address)
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            if response.status >= 400:  # as the C client does: the runtime's loop ends on it
                raise RuntimeError(f"Runtime API {method} {path}: {response.status}")
            return response.read(), response.headers
        finally:
            connection.close()

    def next(self) -> tuple[bytes, dict[str, Any]]:
        body, headers = self._call("GET", f"{_PREFIX}/next")
        names = ("Lambda-Runtime-Aws-Request-Id", "Lambda-Runtime-Trace-Id",
                 "Lambda-Runtime-Invoked-Function-Arn", "Lambda-Runtime-Client-Context",
                 "Lambda-Runtime-Cognito-Identity", "Lambda-Runtime-Aws-Tenant-Id",
                 "Lambda-Runtime-Invocation-Id")
        result: dict[str, Any] = {name: headers.get(name) for name in names}
        result["Lambda-Runtime-Deadline-Ms"] = int(headers.get("Lambda-Runtime-Deadline-Ms", 0))
        result["Content-Type"] = headers.get("Content-Type")
        return body, result

    def post_invocation_result(self, invoke_id: str, result: bytes, content_type: str,
                               invocation_id: str | None = None) -> None:
        self._call("POST", f"{_PREFIX}/{invoke_id}/response", result,
                   {"Content-Type": content_type})

    def post_error(self, invoke_id: str, error: str, xray_fault: str,
                   invocation_id: str | None = None) -> None:
        error_type = json.loads(error).get("errorType", "Unhandled")
        self._call("POST", f"{_PREFIX}/{invoke_id}/error", error.encode(), {
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": error_type,
            "Lambda-Runtime-Function-XRay-Error-Cause": xray_fault,
        })

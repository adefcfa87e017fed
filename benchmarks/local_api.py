"""Through the local API: `python -m infra.local_api` in its own process, HTTP on 127.0.0.1.

Clients are threads of this (TensorFlow-free) process, each with one keep-alive connection,
sending the raw-JPEG `POST /predict` in a loop. Each concurrency level is bounded both in
requests and in seconds. The server runs each invocation in a local Lambda container (one
invocation at a time each, the template's MemorySize as its CPU share), up to the template's
ReservedConcurrency containers; a warm-up at the highest level starts them all first, so the
levels measure warm containers sharing this machine's cores, not cold starts.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.common import PHOTO_LABEL, ROOT, percentile, photo_bytes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the local API exited {server.returncode} before serving")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the local API did not answer GET /health within {timeout} s")


def _level(port: int, clients: int, requests: int, seconds: float, image: bytes) -> dict[str, Any]:
    """`clients` threads share a budget of `requests`, stopping at `seconds` whatever is left."""
    latencies: list[float] = []
    errors: list[str] = []
    budget = iter(range(requests))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "image/jpeg"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                if next(budget, None) is None:
                    break
            start = time.perf_counter()
            conn.request("POST", "/predict", image, headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - start
            with lock:
                if response.status == 200 and f'"label":"{PHOTO_LABEL}"'.encode() in body:
                    latencies.append(elapsed)
                else:
                    errors.append(f"{response.status} {body[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors or not latencies:
        raise RuntimeError(f"{len(errors)} failed requests with {clients} clients: {errors[:3]}")
    ms = sorted(x * 1e3 for x in latencies)
    return {
        "clients": clients,
        "requests": len(ms),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(ms) / wall, 1),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
    }


def measure(env: dict[str, str], levels: list[int], requests: int, seconds: float) -> dict[str, Any]:
    port = _free_port()
    server = subprocess.Popen(
        # the stage's limits at the template's maxima: this measures the function, not them
        [sys.executable, "-m", "infra.local_api", "--host", "127.0.0.1", "--port", str(port),
         "--quiet", "--throttling-rate-limit", "10000", "--throttling-burst-limit", "5000"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(port, server)
        image = photo_bytes()
        _level(port, max(levels), 10 * max(levels), 60, image)  # warm-up, not counted
        rows = [_level(port, n, requests, seconds, image) for n in levels]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"requests_per_level": requests, "seconds_per_level": seconds, "levels": rows}

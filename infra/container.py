"""One local Lambda execution environment: `python -m awslambdaric <handler>` in its own cgroups.

A `Container` is what Lambda calls an execution environment. `start` runs INIT: the real
runtime interface client imports the handler with the function's environment (template.yaml's,
as `sam local` takes it) against this container's own Runtime API (infra/runtime_api.py), with
Lambda's CPU share and memory cap (infra/cgroups.py). `invoke` thaws it, hands it one event,
waits for the response at most the function's Timeout, freezes it again and returns the outcome
with Lambda's REPORT line. What ends a container ends it as on Lambda:

- passing MemorySize: the kernel's OOM killer ends the runtime; the invocation fails with
  "Runtime exited with error: signal: killed" (Runtime.ExitError);
- passing Timeout: "Task timed out after N seconds"; the runtime is stopped;
- INIT past 10 s: INIT_REPORT … Status: timeout, and the INIT is run again inside the first
  invocation, where it counts against Timeout (a "suppressed init");
- a failed import: INIT_REPORT … Status: error, the invocation answers the runtime's init error.

A container that ended is not used again: the pool (infra/pool.py) starts a fresh one.
With `snapstart`, INIT ends at the runtime's `restore/next` (the snapshot); `restore` then lets
it go on through its after-restore hooks, timed as Restore Duration (infra/snapshot.py forks
restored copies of one snapshot where the runtime survives `fork`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from infra.cgroups import (
    MB_PER_VCPU, Limits, NoLimits, Usage, cpu_cores, create_limits, sweep_stale,
)
from infra.lambda_runtime import (
    ACCOUNT, REGION, ROOT, FunctionConfig, Invocation, Report, lambda_environment, peak_rss_kb,
)
from infra.runtime_api import Event, Message, RuntimeApi

#: Lambda's INIT limit for on-demand functions.
INIT_LIMIT_S = 10.0
#: Python's runtime name, as AWS_EXECUTION_ENV holds it on Lambda.
EXECUTION_ENV = "AWS_Lambda_python3.12"
_POLL_S = 0.02
#: sh -c: write its pid into each cgroup.procs file of $_LOCAL_LAMBDA_GROUPS, then exec "$@"
_JOIN_GROUPS = (
    'IFS=:; for f in $_LOCAL_LAMBDA_GROUPS; do echo $$ > "$f" || exit 70; done; '
    'unset _LOCAL_LAMBDA_GROUPS; exec "$@"'
)


class ContainerEnded(Exception):
    """The container cannot take an invocation any more (it ended, or never started)."""


@dataclass(frozen=True)
class Options:
    """How a local container is run, beyond what template.yaml says of the function."""

    #: Lambda's memory size (template's MemorySize unless overridden)
    memory_mb: int
    #: the function's Timeout, in seconds
    timeout_s: float
    #: INIT's CPU, see `INIT_CPU`
    init_cpu: str = "burst"
    #: cgroup limits at all (False: the machine's CPU and memory, said once)
    limits: bool = True
    snapstart: bool = False
    init_limit_s: float = INIT_LIMIT_S


#: Choices for Options.init_cpu. "burst": an on-demand INIT gets at least one full vCPU
#: (max(MemorySize / 1,769, 1), capped at this machine's cores), as third-party measurements
#: report and AWS does not document (README, "The local Lambda", cites them); an INIT run
#: again inside an invocation (after a timeout, a crash or a kill) gets no boost. "proportional":
#: INIT gets the memory's share, like invocations (the conservative case).
INIT_CPU = ("burst", "proportional")


@dataclass
class _Init:
    duration_ms: float | None = None
    #: the runtime's init error payload, when its import failed
    error: Any = None
    error_type: str = ""
    timed_out: bool = False
    restore_ms: float | None = None
    reported: bool = field(default=False)


#: Containers not yet stopped: stopped at exit (also after Ctrl+C), so that no runtime process
#: or cgroup outlives the run; `sweep_stale` removes those of a run that was killed outright.
_LIVE: weakref.WeakSet[Container] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for container in list(_LIVE):
        container.stop()


@functools.cache
def _sweep_once() -> None:
    """Remove the groups (and processes) left by runs that were killed, once per process."""
    sweep_stale()


class Process(Protocol):
    """The runtime's process: spawned here, or forked from a snapshot (infra/snapshot.py)."""

    pid: int

    def poll(self) -> int | None:
        """Its exit code (negative: the signal that ended it), or None while it runs."""
        ...

    def kill(self) -> None:
        """SIGKILL it and everything it started; return once it has ended."""
        ...


class _Spawned:
    """A process this one started, leading its own session."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait()


class Container:
    """One execution environment of `config`'s function. Not thread-safe: one invocation at a
    time, as Lambda runs them."""

    def __init__(
        self, config: FunctionConfig, options: Options, overrides: Mapping[str, str] = {},
        log: TextIO = sys.stderr, on_limits_unavailable: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.overrides = dict(overrides)
        self.log = log
        self.id = uuid.uuid4().hex
        _sweep_once()
        self.api = RuntimeApi()
        self.cores = cpu_cores(options.memory_mb)
        self.limits: Limits = create_limits(options.memory_mb, self.cores) if options.limits \
            else NoLimits("limits switched off")
        if on_limits_unavailable and self.limits.reason:
            on_limits_unavailable(self.limits.reason)
        self.process: Process | None = None
        self.pid: int | None = None
        self.ended = False
        self.last_used = time.monotonic()
        self._init = _Init()
        self._waiting_next = False
        _LIVE.add(self)

    # --- environment ----------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """Lambda's variables for the function, then the caller's environment (so that
        `MODEL_DIR=... make run` works), then the overrides; the runtime's own last."""
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{self.id}"
        env = {**lambda_environment(self.config), **os.environ,
               **self.overrides}
        env.update({
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_EXECUTION_ENV": EXECUTION_ENV,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.options.memory_mb),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if self.options.snapstart
            else "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "_HANDLER": self.config.handler,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    # --- INIT -----------------------------------------------------------------------------
    def start(self) -> bool:
        """Run INIT (with Lambda's limit); True when the runtime is ready for an event."""
        self._spawn(self.environment(), boosted=self.options.init_cpu == "burst")
        return self._await_init(self.options.init_limit_s)

    def _spawn(self, env: dict[str, str], boosted: bool, pass_fds: tuple[int, ...] = ()) -> None:
        cores = max(self.cores, cpu_cores(MB_PER_VCPU)) if boosted else self.cores
        self.limits.set_cpu(cores)
        self._started = time.perf_counter()
        # A shell joins the groups and execs the runtime, so that all of INIT runs inside them
        # (not preexec_fn: unsafe in a process with threads, as the pool's is).
        popen = subprocess.Popen(
            ["/bin/sh", "-c", _JOIN_GROUPS, "sh", sys.executable, "-m", "awslambdaric",
             self.config.handler],
            cwd=ROOT, env={**env, "_LOCAL_LAMBDA_GROUPS": ":".join(self.limits.procs_files())},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, pass_fds=pass_fds,
        )
        self.process, self.pid = _Spawned(popen), popen.pid
        threading.Thread(target=self._forward_logs, args=(popen.stdout,),
                         name=f"logs-{self.id[:8]}", daemon=True).start()

    def _renew_api(self) -> None:
        self.api.close()
        self.api = RuntimeApi()

    def adopt(self, process: Process) -> None:
        """Take a restored copy's process (forked from a snapshot) as this container's; its
        runtime then waits in `restore/next` for `restore`."""
        self.limits.add(process.pid)
        self.process, self.pid = process, process.pid
        self._started = time.perf_counter()

    def _forward_logs(self, stream: Any) -> None:
        for line in iter(stream.readline, b""):
            self.log.write(line.decode("utf-8", "replace"))
            self.log.flush()

    def _await_init(self, limit_s: float, phase: str = "init", ready: str = "") -> bool:
        """Wait for the runtime's message `ready` (default: its first `next`, or `restore/next`
        with SnapStart); `phase` is "invoke" for an INIT run again inside an invocation."""
        ready = ready or ("restore_next" if self.options.snapstart else "next")
        left = limit_s - (time.perf_counter() - self._started)  # counted from the spawn
        message = self._wait_for({ready, "init_error"}, left)
        elapsed = (time.perf_counter() - self._started) * 1000
        if message is None:
            self._init.timed_out = self.alive()
            self._init.duration_ms = elapsed
            status = "timeout" if self._init.timed_out else "error\tError Type: Runtime.ExitError"
            self.init_report(elapsed, phase, status)
            self._stop_process()
            return False
        self._init.duration_ms = elapsed
        if message.kind == "init_error":
            self._init.error, self._init.error_type = message.json(), message.error_type
            self.init_report(elapsed, phase, f"error\tError Type: {message.error_type}")
            self._stop_process()
            return False
        self.limits.set_cpu(self.cores)
        self._waiting_next = ready == "next"
        if not self.options.snapstart:
            self.limits.freeze()
        return True

    def init_report(self, duration_ms: float, phase: str, status: str) -> None:
        """Lambda's INIT_REPORT line, logged where INIT did not simply end in `next`."""
        self._platform_log(f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\t"
                           f"Status: {status}")

    def restore(self, started: float | None = None) -> bool:
        """SnapStart: answer `restore/next`; the runtime runs its after-restore hooks, timed
        as Restore Duration (from `started`, a perf_counter time: default now). True when it
        is then ready for an event."""
        started = time.perf_counter() if started is None else started
        self.api.release_restore()
        message = self._wait_for({"next", "restore_error"}, self.options.init_limit_s)
        self._init.restore_ms = (time.perf_counter() - started) * 1000
        if message is None or message.kind == "restore_error":
            self._init.error = message.json() if message else {
                "errorMessage": "restore timed out", "errorType": "Runtime.RestoreTimeout"}
            self._init.error_type = message.error_type if message else "Runtime.RestoreTimeout"
            self._platform_log(f"RESTORE_REPORT Restore Duration: {self._init.restore_ms:.2f} "
                               f"ms\tStatus: error\tError Type: {self._init.error_type}")
            self._stop_process()
            return False
        self._waiting_next = True
        self.limits.freeze()
        return True

    # --- invocations ----------------------------------------------------------------------
    def invoke(self, event: Any) -> Invocation:
        """One invocation of `event`; see the module docstring for how it can fail."""
        if self.ended:
            raise ContainerEnded(f"container {self.id[:8]} has ended")
        request_id = str(uuid.uuid4())
        self._platform_log(f"START RequestId: {request_id} Version: $LATEST")
        started = time.perf_counter()
        deadline = started + self.options.timeout_s
        if self._init.error is not None:
            return self._finish(request_id, started, self._init.error, error=True,
                                error_type=self._init.error_type, ended=True)
        if not self._waiting_next:  # a suppressed init: INIT again, within this invocation
            self._init = _Init(reported=True)
            self._renew_api()  # nothing the ended runtime asked for may reach the new one
            self._spawn(self.environment(), boosted=False)
            if not self._await_init(deadline - time.perf_counter(), phase="invoke"):
                if self._init.error is not None:
                    return self._finish(request_id, started, self._init.error, error=True,
                                        error_type=self._init.error_type, ended=True)
                if not self._init.timed_out:  # killed during INIT (its memory, most often)
                    return self._exited(request_id, started)
                return self._timed_out(request_id, started)
        self.limits.thaw()
        self.api.deliver(Event(
            request_id=request_id,
            body=json.dumps(event).encode(),
            deadline_ms=int((time.time() + (deadline - time.perf_counter())) * 1000),
            function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.config.name}",
            trace_id=f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        ))
        message = self._wait_for({"response", "error"}, deadline - time.perf_counter(),
                                 request_id)
        if message is None:
            if self.alive():
                return self._timed_out(request_id, started)
            return self._exited(request_id, started)
        error = message.kind == "error"
        # Lambda freezes the environment once the runtime asks for the next event: wait for
        # that call (it follows the post at once; a loaded machine may delay it, and the
        # runtime then makes it when thawed)
        self._wait_for({"next"}, 1.0)
        alive = self.alive()
        self._waiting_next = alive
        if alive:
            self.limits.freeze()
        return self._finish(request_id, started, message.json(), error=error,
                            error_type="Unhandled" if error else None, ended=not alive)

    def _timed_out(self, request_id: str, started: float) -> Invocation:
        payload = {"errorMessage": f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} "
                                   f"{request_id} Task timed out after "
                                   f"{self.options.timeout_s:.2f} seconds",
                   "errorType": "Sandbox.Timedout"}
        self._stop_process()
        self._platform_log(payload["errorMessage"])
        return self._finish(request_id, started, payload, error=True, status="timeout",
                            ended=True)

    def _exited(self, request_id: str, started: float) -> Invocation:
        code = self.process.poll() if self.process else None
        # Lambda's wording is Go's os.ProcessState: "signal: killed", "exit status 1"
        reason = f"signal: {(signal.strsignal(-code) or str(-code)).lower()}" \
            if code is not None and code < 0 else f"exit status {code}"
        payload = {"errorMessage": f"RequestId: {request_id} Error: Runtime exited with "
                                   f"error: {reason}", "errorType": "Runtime.ExitError"}
        self._platform_log(payload["errorMessage"])
        self._stop_process()
        return self._finish(request_id, started, payload, error=True, status="error",
                            error_type="Runtime.ExitError", ended=True)

    def _finish(self, request_id: str, started: float, response: Any, *, error: bool,
                error_type: str | None = None, status: str | None = None,
                ended: bool = False) -> Invocation:
        duration_ms = (time.perf_counter() - started) * 1000
        first = not self._init.reported
        self._init.reported = True
        report = Report(
            request_id=request_id, duration_ms=duration_ms, memory_mb=self.options.memory_mb,
            max_memory_mb=self.max_memory_mb(),
            init_ms=self._init.duration_ms if first and not self.options.snapstart else None,
            restore_ms=self._init.restore_ms if first else None,
            status=status, error_type=error_type if status else None,
        )
        self._platform_log(f"END RequestId: {request_id}")
        self._platform_log(report.line())
        if ended:
            self.stop()
        self.last_used = time.monotonic()
        return Invocation(response, error, report, ended)

    # --- state ----------------------------------------------------------------------------
    def usage(self) -> Usage | None:
        return self.limits.usage()

    def max_memory_mb(self) -> int:
        """Max Memory Used, in MB: the larger of the memory group's peak (what the cap is
        enforced on; it is not charged for pages that another process of this machine read
        first, such as shared libraries already in the page cache) and the runtime process's
        peak RSS (VmHWM: counts those pages, as a fresh Lambda environment would)."""
        usage = self.limits.usage()
        group = usage.peak_bytes / 2**20 if usage else 0.0
        process = peak_rss_kb(self.pid) / 1024 if self.pid else 0.0
        return math.ceil(max(group, process))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _wait_for(self, kinds: set[str], timeout_s: float,
                  request_id: str | None = None) -> Message | None:
        """The runtime's next message of one of `kinds` (and for `request_id`, when given:
        a post for another invocation is not this one's answer) within `timeout_s`; None when
        the time is up or the runtime process died."""
        deadline = time.perf_counter() + max(0.0, timeout_s)
        while (left := deadline - time.perf_counter()) > 0:
            try:
                message = self.api.messages.get(timeout=min(_POLL_S, left))
            except queue.Empty:
                if not self.alive() and self.api.messages.empty():
                    return None
                continue
            if message.kind in kinds and request_id in (None, message.request_id):
                return message
        return None

    def _stop_process(self) -> None:
        if self.process is None:
            return
        self.limits.thaw()
        self.process.kill()

    def stop(self) -> None:
        """End the container: its runtime, its Runtime API and its groups (idempotent)."""
        if self.ended:
            return
        self.ended = True
        self._stop_process()
        self.limits.remove()
        self.api.close()

    def _platform_log(self, line: str) -> None:
        self.log.write(line + "\n")
        self.log.flush()

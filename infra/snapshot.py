"""SnapStart locally: INIT once, stop at the snapshot point, restore copies from it.

Lambda runs a published version's INIT and before-snapshot hooks once, snapshots the execution
environment, and starts each new environment by restoring that snapshot and running the
after-restore hooks (`restore/next`, then `invocation/next`): the cold start becomes a restore.

`Snapshot.take` runs that INIT in a container whose runtime has
AWS_LAMBDA_INITIALIZATION_TYPE=snap-start. Where the runtime survives `fork` (LiteRT),
infra/snapshot_fork.py turns the snapshot point into a fork server, and `restore` forks one
restored copy per call: copies really share the pre-snapshot state, each in its own cgroups
with its own Runtime API. One gap to Lambda: cgroup v1 charges the shared pre-snapshot pages to
the snapshot's group, so a copy's memory cap counts only what it allocates after the restore
(Max Memory Used, from its peak RSS, still counts them all). TensorFlow's thread pools do not
survive `fork`; for it `Snapshot(fork=False)` runs the same flow in one container per snapshot
(INIT, hooks, `restore/next`, after-restore hooks), which shows the hooks' behaviour and cost
but not the saving.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from infra.container import Container, Options
from infra.lambda_runtime import FunctionConfig
from infra.runtime_api import Message
from infra.snapshot_fork import FD_VARIABLE

SITE = Path(__file__).resolve().parent / "snapshot_site"
#: MODEL_RUNTIME values whose process survives `fork` (TensorFlow's thread pools do not).
FORKABLE_RUNTIMES = frozenset({"litert"})
_FORK_TIMEOUT_S = 10.0


def forks(config: FunctionConfig, overrides: Mapping[str, str] = {}) -> bool:
    """Whether restored copies of `config`'s function can be forked from one snapshot: its
    MODEL_RUNTIME (the caller's environment over the template's, overrides over both)."""
    runtime = {**config.environment, **os.environ, **overrides}.get("MODEL_RUNTIME", "")
    return runtime in FORKABLE_RUNTIMES


class RestoreFailed(Exception):
    """The snapshot could not give a restored copy (its INIT failed, or it has ended)."""


class _Forked:
    """A restored copy: a child of the snapshot's process, in its own session."""

    def __init__(self, pid: int, snapshot: Snapshot) -> None:
        self.pid = pid
        self._snapshot = snapshot

    def poll(self) -> int | None:
        """Its exit code as the snapshot's process reaped it; -9 once it is gone or a zombie
        that nothing reaps (the snapshot's process ended first)."""
        code = self._snapshot._exits.get(self.pid)
        if code is not None:
            return code
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = "X"
        if state in ("Z", "X"):
            time.sleep(0.05)  # the reaper's report, if it comes, has the true code
            return self._snapshot._exits.get(self.pid, -9)
        return None

    def kill(self) -> None:
        try:
            os.killpg(self.pid, 9)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)


class Snapshot:
    """One function's SnapStart snapshot; `restore` gives ready containers."""

    def __init__(self, config: FunctionConfig, options: Options,
                 overrides: Mapping[str, str] = {}, log: TextIO = sys.stderr,
                 fork: bool = True) -> None:
        self.config = config
        self.options = dataclasses.replace(options, snapstart=True)
        self.overrides = dict(overrides)
        self.log = log
        self.fork = fork
        self.container = Container(config, self.options, overrides, log)
        self._pids: queue.Queue[int] = queue.Queue()
        self._exits: dict[int, int] = {}
        self._channel: socket.socket | None = None
        self._fork_lock = threading.Lock()  # one fork request and its pid reply at a time
        self.init_ms: float | None = None

    def take(self) -> bool:
        """Run INIT and the before-snapshot hooks; True when the snapshot point is reached."""
        if not self.fork:
            ok = self.container.start()
        else:
            self._channel, theirs = socket.socketpair()
            env = self.container.environment()
            env["PYTHONPATH"] = os.pathsep.join((str(SITE), env["PYTHONPATH"]))
            env[FD_VARIABLE] = str(theirs.fileno())
            self.container._spawn(env, boosted=self.options.init_cpu == "burst",
                                  pass_fds=(theirs.fileno(),))
            theirs.close()
            threading.Thread(target=self._read_channel, name="snapshot", daemon=True).start()
            ok = self.container._await_init(self.options.init_limit_s, ready="snapshot")
        self.init_ms = self.container._init.duration_ms
        if not ok and self.container._init.error is None:  # timed out or killed
            self.container._init.error_type = "Runtime.InitError"
            self.container._init.error = {
                "errorMessage": "SnapStart: INIT did not reach the snapshot (timed out or was "
                                "killed; see INIT_REPORT)", "errorType": "Runtime.InitError"}
        if ok:
            self.container.init_report(self.init_ms, "init", "snapshot taken")
        return ok

    def _read_channel(self) -> None:
        assert self._channel is not None
        for line in self._channel.makefile("r"):
            kind, *values = line.split()
            if kind == "ready":
                self.container.api.messages.put(Message("snapshot"))
            elif kind == "pid":
                self._pids.put(int(values[0]))
            elif kind == "exit":
                self._exits[int(values[0])] = int(values[1])

    def restore(self, log: TextIO | None = None) -> Container:
        """A new execution environment from the snapshot, its after-restore hooks run and its
        runtime waiting for an event (`restore` failures are its first invocation's error)."""
        if not self.fork:  # the one container of this snapshot is its only restored copy
            copy, self.container = self.container, None  # type: ignore[assignment]
            if copy is None:
                raise RestoreFailed("without fork, a snapshot restores once")
            copy.restore()
            return copy
        if self._channel is None or self.container is None or not self.container.alive():
            raise RestoreFailed("the snapshot's process has ended (did its INIT fail?)")
        copy = Container(self.config, self.options, self.overrides, log or self.log)
        started = time.perf_counter()
        try:
            with self._fork_lock:
                self._channel.sendall(f"fork {copy.api.address}\n".encode())
                pid = self._pids.get(timeout=_FORK_TIMEOUT_S)
            copy.adopt(_Forked(pid, self))
        except (OSError, queue.Empty) as exc:
            copy.stop()
            self.close()  # a late pid would belong to the next request: this snapshot is done
            raise RestoreFailed(f"the snapshot did not fork ({exc!r})") from None
        if copy._await_init(_FORK_TIMEOUT_S, ready="restore_next"):
            copy.restore(started)
        return copy

    def close(self) -> None:
        """Let the snapshot go (restored copies live on until they are stopped)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.container is not None:
            self.container.stop()

"""Lambda's scaling for one function: warm containers reused, new ones started up to a limit.

An invocation goes to an idle warm container if there is one (the most recently used, as
Lambda tends to), else a new container is started for it (a cold start, whose REPORT line
carries its Init Duration), up to `max_concurrency` containers at once. Past that the
invocation is throttled (`Throttled`; Lambda's TooManyRequestsException, which the API in
front turns into its own answer). Containers idle for `idle_s` are retired. A container that
ended (killed, timed out) is replaced as Lambda resets an environment: the replacement runs
its INIT inside the next invocation it gets, counted against the Timeout, at the memory's CPU
share (Lambda's behaviour since October 2024, README "The local Lambda"). With
SnapStart, a new container is restored from a snapshot instead of running INIT
(infra/snapshot.py).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from infra.container import Container, Options
from infra.lambda_runtime import FunctionConfig, Invocation
from infra.snapshot import RestoreFailed, Snapshot, forks

#: How long an idle container is kept. AWS promises nothing; measured lifetimes were exactly
#: 10 minutes after July 2019 (mikhail.io, "Cold Starts in AWS Lambda", cited in the README).
IDLE_S = 600.0


class Throttled(Exception):
    """Every allowed container is busy: Lambda's 429 TooManyRequestsException."""


class Pool:
    """The execution environments of one function."""

    def __init__(
        self, config: FunctionConfig, options: Options, overrides: Mapping[str, str] = {},
        max_concurrency: int | None = None, idle_s: float = IDLE_S, log: TextIO = sys.stderr,
        snapstart: bool = False,
    ) -> None:
        self.config = config
        self.options = options
        self.overrides = dict(overrides)
        self.max_concurrency = max_concurrency
        self.idle_s = idle_s
        self.log = log
        self._lock = threading.Lock()
        self._idle: list[Container] = []
        self._count = 0  # containers busy, idle or starting
        #: when containers ended whose environment re-runs INIT when next used (within idle_s)
        self._reinits: list[float] = []
        self.cold_starts = 0
        self.throttles = 0
        self._said_no_limits = False
        #: SnapStart: new containers are restored from a snapshot (one, shared, where the
        #: runtime can fork; else one per container)
        self.snapstart = snapstart
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._retire_idle, name="pool-reaper", daemon=True)
        self._reaper.start()

    def invoke(self, event: Any) -> Invocation:
        """Run `event` in a warm or new container; raises `Throttled` past the limit."""
        container = self._acquire()
        try:
            if container is None:
                container = self._new()
            outcome = container.invoke(event)
        except BaseException:
            if container is not None:
                container.stop()
            self._release(None)
            raise
        self._release(None if outcome.ended else container, ended=outcome.ended)
        return outcome

    def prewarm(self) -> None:
        """Start one container now (its cold start) and keep it idle for the first request."""
        with self._lock:
            self._count += 1
            self.cold_starts += 1
        container = self._new()
        self._release(None if container.ended else container)

    def _acquire(self) -> Container | None:
        """An idle container, or None with a slot reserved for a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self.max_concurrency is not None and self._count >= self.max_concurrency:
                self.throttles += 1
                raise Throttled(f"Rate Exceeded: {self._count} of {self.max_concurrency} "
                                f"concurrent executions in use")
            self._count += 1
            self.cold_starts += 1
            return None

    def _new(self) -> Container:
        if self.snapstart:  # a SnapStart version's environments are all restored
            return self._restore()
        with self._lock:
            now = time.monotonic()
            self._reinits = [t for t in self._reinits if now - t < self.idle_s]
            reinit = bool(self._reinits)
            if reinit:
                self._reinits.pop()
        container = Container(self.config, self.options, self.overrides, self.log,
                              on_limits_unavailable=self._say_no_limits)
        if not reinit:
            container.start()  # a failed or timed-out INIT is answered by its first invocation
        # else the environment of a container that ended re-runs INIT inside the next
        # invocation, against its Timeout and without INIT's CPU boost (see INIT_CPU)
        return container

    def _restore(self) -> Container:
        """A restored container: from the pool's one snapshot where the runtime forks (taken
        on first need, taken again if it broke), else from a snapshot of its own."""
        if not forks(self.config, self.overrides):
            return self._from(Snapshot(self.config, self.options, self.overrides, self.log,
                                       fork=False))
        with self._snapshot_lock:
            if self._snapshot is None:
                snapshot = Snapshot(self.config, self.options, self.overrides, self.log)
                if not snapshot.take():
                    return snapshot.container  # its first invocation answers the INIT error
                self._snapshot = snapshot
            snapshot = self._snapshot
        try:
            return snapshot.restore()
        except RestoreFailed:
            with self._snapshot_lock:
                if self._snapshot is snapshot:
                    self._snapshot = None
            raise

    @staticmethod
    def _from(snapshot: Snapshot) -> Container:
        return snapshot.restore() if snapshot.take() else snapshot.container

    def _say_no_limits(self, reason: str) -> None:
        if not self._said_no_limits:
            self._said_no_limits = True
            self.log.write(f"local Lambda: containers run WITHOUT Lambda's CPU and memory "
                           f"limits ({reason})\n")

    def _release(self, container: Container | None, ended: bool = False) -> None:
        with self._lock:
            if ended:
                self._reinits.append(time.monotonic())
            if container is None or self._closed.is_set():
                self._count -= 1
            else:
                self._idle.append(container)
                return
        if container is not None:
            container.stop()

    def _retire_idle(self) -> None:
        while not self._closed.wait(min(5.0, self.idle_s / 2)):
            now = time.monotonic()
            with self._lock:
                old = [c for c in self._idle if now - c.last_used > self.idle_s]
                self._idle = [c for c in self._idle if c not in old]
                self._count -= len(old)
            for container in old:
                container.stop()

    @property
    def size(self) -> int:
        """Containers busy, idle or starting."""
        return self._count

    def close(self) -> None:
        """Stop every idle container; busy ones stop when their invocation returns."""
        self._closed.set()
        with self._lock:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for container in idle:
            container.stop()
        if self._snapshot is not None:
            self._snapshot.close()

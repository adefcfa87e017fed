"""Lambda's CPU share, memory cap and freeze for one local container: cgroup v1 groups.

Lambda gives a function CPU in proportion to its memory (1,769 MB is one vCPU), ends it when it
passes its MemorySize, and freezes its execution environment between invocations. Here each
container gets a `cpu` group (CFS quota), a `memory` group (limit = MemorySize, swap included
where the kernel accounts it) and a `freezer` group, all named `tf-lambda-local/<owner pid>-<n>`.

`create_limits` returns `CgroupLimits` as root on a cgroup v1 machine, and `NoLimits` where
groups cannot be made (no root, cgroup v2 only): the container then runs with the machine's
CPU and memory, and `NoLimits.reason` says why (the caller says it once). Groups are removed
when their container ends (`remove`), and `sweep_stale` removes those whose owner process has
died (an interrupted local API or test run), so that none outlives its run.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "memory", "freezer")
PARENT = "tf-lambda-local"
#: The memory at which Lambda gives a function one full vCPU (AWS's Lambda documentation,
#: "Memory and computing power").
MB_PER_VCPU = 1769
CFS_PERIOD_US = 100_000
_counter = itertools.count(1)


def cpu_cores(memory_mb: int, machine_cores: int | None = None) -> float:
    """Lambda's CPU share for `memory_mb`, in cores, capped at this machine's cores."""
    cores = machine_cores or os.cpu_count() or 1
    return min(memory_mb / MB_PER_VCPU, float(cores))


@dataclass(frozen=True)
class Usage:
    """What a container's memory group measured."""

    #: the group's peak charge (memory.max_usage_in_bytes: resident memory and page cache)
    peak_bytes: int
    #: whether the kernel's OOM killer ended a process of the group (memory.oom_control)
    oom_killed: bool


class Limits(Protocol):
    """The limits of one container; `reason` says why there are none (None when there are)."""

    reason: str | None

    def add(self, pid: int) -> None: ...

    def procs_files(self) -> list[str]: ...

    def set_cpu(self, cores: float | None) -> None: ...

    def freeze(self) -> None: ...

    def thaw(self) -> None: ...

    def usage(self) -> Usage | None: ...

    def remove(self) -> None: ...


def create_limits(memory_mb: int, cores: float | None) -> Limits:
    """Groups for a container of `memory_mb` with `cores` of CPU (None: unlimited), or
    `NoLimits` where they cannot be made."""
    reason = unavailable_reason()
    if reason:
        return NoLimits(reason)
    return CgroupLimits(memory_mb, cores)


def unavailable_reason() -> str | None:
    """Why cgroup v1 groups cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "not root"
    missing = [c for c in CONTROLLERS if not (ROOT / c / "cgroup.procs").exists()]
    if missing:
        return f"no cgroup v1 {', '.join(missing)} controller under {ROOT}"
    return None


class NoLimits:
    """A container without limits: the machine's CPU and memory, never frozen."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def add(self, pid: int) -> None:
        pass

    def procs_files(self) -> list[str]:
        return []

    def set_cpu(self, cores: float | None) -> None:
        pass

    def freeze(self) -> None:
        pass

    def thaw(self) -> None:
        pass

    def usage(self) -> Usage | None:
        return None

    def remove(self) -> None:
        pass


class CgroupLimits:
    """A container's cpu, memory and freezer groups (cgroup v1)."""

    reason = None

    def __init__(self, memory_mb: int, cores: float | None) -> None:
        self.name = f"{PARENT}/{os.getpid()}-{next(_counter)}"
        self._removed = False
        self._lock = threading.Lock()
        for controller in CONTROLLERS:
            (ROOT / controller / self.name).mkdir(parents=True, exist_ok=True)
        limit = memory_mb * 1024 * 1024
        self._write("memory", "memory.limit_in_bytes", limit)
        memsw = self._path("memory", "memory.memsw.limit_in_bytes")
        if memsw.exists():  # count swap in the cap, or a container could swap past it
            self._write("memory", "memory.memsw.limit_in_bytes", limit)
        self._write("memory", "memory.swappiness", 0)
        self.set_cpu(cores)

    def _path(self, controller: str, file: str) -> Path:
        return ROOT / controller / self.name / file

    def _write(self, controller: str, file: str, value: object) -> None:
        self._path(controller, file).write_text(str(value))

    def add(self, pid: int) -> None:
        """Put process `pid` (and the threads it starts from now on) into every group."""
        for controller in CONTROLLERS:
            self._write(controller, "cgroup.procs", pid)

    def procs_files(self) -> list[str]:
        """The groups' cgroup.procs files: writing a pid there moves that process in."""
        return [str(self._path(c, "cgroup.procs")) for c in CONTROLLERS]

    def set_cpu(self, cores: float | None) -> None:
        """CFS quota of `cores` per period; None lifts it."""
        quota = -1 if cores is None else max(1000, math.ceil(cores * CFS_PERIOD_US))
        self._write("cpu", "cpu.cfs_period_us", CFS_PERIOD_US)
        self._write("cpu", "cpu.cfs_quota_us", quota)

    def _set_state(self, state: str) -> None:
        with self._lock:
            if self._removed:
                return
            self._write("freezer", "freezer.state", state)
            for _ in range(200):  # FREEZING until every task has stopped
                if self._path("freezer", "freezer.state").read_text().strip() == state:
                    return
                time.sleep(0.005)

    def freeze(self) -> None:
        """Stop every process of the container (Lambda freezes it between invocations)."""
        self._set_state("FROZEN")

    def thaw(self) -> None:
        self._set_state("THAWED")

    def usage(self) -> Usage | None:
        peak = int(self._path("memory", "memory.max_usage_in_bytes").read_text())
        oom = self._path("memory", "memory.oom_control").read_text().split()
        kills = dict(zip(oom[::2], oom[1::2], strict=True)).get("oom_kill", "0")
        return Usage(peak_bytes=peak, oom_killed=int(kills) > 0)

    def remove(self) -> None:
        """Kill what is left in the groups and remove them (idempotent)."""
        with self._lock:
            if self._removed:
                return
            self._removed = True
            _remove_group(self.name)


def _remove_group(name: str) -> None:
    freezer = ROOT / "freezer" / name
    if freezer.exists():  # a frozen task cannot die: thaw before killing
        with contextlib.suppress(OSError):
            (freezer / "freezer.state").write_text("THAWED")
    for controller in CONTROLLERS:
        group = ROOT / controller / name
        if not group.exists():
            continue
        for _ in range(100):
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            time.sleep(0.01)
        with contextlib.suppress(OSError):
            group.rmdir()


def sweep_stale() -> list[str]:
    """Remove the groups of owners that are no longer running; return their names."""
    if unavailable_reason():
        return []
    removed = []
    for group in sorted((ROOT / "memory" / PARENT).glob("*-*")):
        owner = int(group.name.split("-", 1)[0])
        if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
            _remove_group(f"{PARENT}/{group.name}")
            removed.append(group.name)
    return removed

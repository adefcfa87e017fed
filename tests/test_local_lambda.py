"""The local Lambda (infra/container.py, infra/pool.py, infra/cgroups.py): the real runtime
interface client in containers with Lambda's CPU share, memory cap, freezing, timeout, INIT
limit and concurrency, shown with small functions (tests/lambda_functions.py)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import cgroups
from infra.container import Container, Options
from infra.lambda_runtime import ROOT, FunctionConfig, function_config
from infra.local_api import StageThrottle, serve_containers
from infra.pool import Pool, Throttled
from infra.runtime_api import Message

LIMITED = cgroups.unavailable_reason() is None
needs_cgroups = pytest.mark.skipif(not LIMITED, reason=f"no cgroups: {cgroups.unavailable_reason()}")


def config(function: str, timeout_s: int = 5) -> FunctionConfig:
    """template.yaml's LiteRT function with one of tests/lambda_functions.py as its handler."""
    base = function_config("LiteInferenceFunction")
    return dataclasses.replace(base, handler=f"tests.lambda_functions.{function}",
                               timeout_s=timeout_s)


@pytest.fixture
def start() -> Iterator[Any]:
    """start(function, memory_mb=256, **options) -> a started Container, stopped afterwards."""
    made: list[Container] = []

    def _start(function: str, memory_mb: int = 256, env: dict[str, str] | None = None,
               timeout_s: int = 5, **options: Any) -> Container:
        container = Container(config(function, timeout_s),
                              Options(memory_mb=memory_mb, timeout_s=timeout_s, **options),
                              env or {}, log=io.StringIO())
        made.append(container)
        container.start()
        return container

    yield _start
    for container in made:
        container.stop()


def log_of(container: Container) -> str:
    return container.log.getvalue()  # type: ignore[attr-defined]


def group_names() -> set[str]:
    parent = cgroups.ROOT / "memory" / cgroups.PARENT
    return {p.name for p in parent.iterdir() if p.is_dir()} if parent.exists() else set()


def test_a_warm_container_keeps_its_state_and_reports_init_once(start: Any) -> None:
    container = start("echo", memory_mb=512)
    first, second = container.invoke({"n": 1}), container.invoke({"n": 2})
    assert not first.error and not second.error
    assert first.response["event"] == {"n": 1} and second.response["count"] == 2
    assert first.response["pid"] == second.response["pid"]
    assert first.response["memory_limit_in_mb"] == "512"
    assert 4000 < first.response["remaining_ms"] <= 5000  # the deadline the Runtime API sent
    assert first.response["request_id"] == first.report.request_id
    assert first.report.init_ms and second.report.init_ms is None
    assert first.report.billed_ms == pytest.approx(first.report.duration_ms
                                                   + first.report.init_ms, abs=1)
    line = first.report.line()
    assert line.startswith(f"REPORT RequestId: {first.report.request_id}\tDuration: ")
    assert "\tMemory Size: 512 MB\tMax Memory Used: " in line and "Init Duration: " in line
    log = log_of(container)
    assert f"START RequestId: {first.report.request_id} Version: $LATEST" in log
    assert f"END RequestId: {first.report.request_id}" in log and line in log


def test_the_function_gets_lambdas_environment(start: Any) -> None:
    container = start("echo")
    env = container.environment()
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["_HANDLER"] == "tests.lambda_functions.echo"
    assert env["AWS_LAMBDA_RUNTIME_API"] == container.api.address
    assert env["POWERTOOLS_SERVICE_NAME"] == "tf-lambda-serving"  # template.yaml's


def test_a_handler_error_is_lambdas_error_payload_and_the_container_lives_on(start: Any) -> None:
    container = start("fail")
    outcome = container.invoke({})
    assert outcome.error and not outcome.ended
    assert outcome.response["errorType"] == "ValueError"
    assert outcome.response["errorMessage"] == "failing, as asked"
    assert not container.invoke({}).ended


def test_a_failed_import_is_an_init_error(start: Any) -> None:
    container = start("echo", env={"FAIL_AT_IMPORT": "1"})
    outcome = container.invoke({})
    assert outcome.error and outcome.ended
    assert outcome.response["errorType"] == "RuntimeError"  # awslambdaric's: the raised type
    assert outcome.response["errorMessage"] == "failing at import, as asked"
    assert "INIT_REPORT Init Duration: " in log_of(container)
    assert "\tPhase: init\tStatus: error\tError Type: " in log_of(container)


@needs_cgroups
def test_passing_the_memory_size_kills_the_container_as_lambda_does(start: Any) -> None:
    container = start("allocate", memory_mb=256)
    assert not container.invoke({"mb": 64}).error
    outcome = container.invoke({"mb": 400})
    assert outcome.error and outcome.ended
    assert outcome.response["errorType"] == "Runtime.ExitError"
    assert outcome.response["errorMessage"].endswith(
        "Error: Runtime exited with error: signal: killed")
    assert outcome.report.status == "error" and outcome.report.max_memory_mb >= 250
    assert "Status: error\tError Type: Runtime.ExitError" in outcome.report.line()


@needs_cgroups
def test_a_function_that_does_not_fit_its_memory_is_killed_at_init(start: Any) -> None:
    """INIT killed, run again inside the invocation, killed again: the invocation's error."""
    container = start("echo", memory_mb=128, env={"ALLOCATE_AT_IMPORT_MB": "200"})
    assert "Phase: init\tStatus: error\tError Type: Runtime.ExitError" in log_of(container)
    outcome = container.invoke({})
    assert outcome.error and outcome.ended
    assert outcome.response["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert "Phase: invoke\tStatus: error\tError Type: Runtime.ExitError" in log_of(container)


def test_an_answer_for_another_request_id_is_not_this_invocations(start: Any) -> None:
    """A post for an invocation that is not the current one (a runtime that answered twice,
    an earlier invocation's) is never taken as the current one's answer."""
    container = start("echo")
    container.api.messages.put(Message("response", "some-earlier-id", b'{"stale": true}'))
    outcome = container.invoke({"n": 1})
    assert outcome.response["event"] == {"n": 1}


def test_passing_the_timeout_ends_the_invocation_and_the_container(start: Any) -> None:
    container = start("sleep", timeout_s=1)
    assert container.invoke({"seconds": 0.1}).response == {"slept": 0.1}
    started = time.perf_counter()
    outcome = container.invoke({"seconds": 30})
    assert time.perf_counter() - started < 3
    assert outcome.error and outcome.ended and outcome.report.status == "timeout"
    assert outcome.response["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert not container.alive()


def test_init_past_its_limit_is_run_again_inside_the_first_invocation(start: Any) -> None:
    """INIT_REPORT … Status: timeout, then a suppressed init that counts against Timeout."""
    container = start("echo", env={"SLEEP_AT_IMPORT_S": "1.5"}, init_limit_s=0.5, timeout_s=5)
    assert "Phase: init\tStatus: timeout" in log_of(container)
    outcome = container.invoke({"n": 1})
    assert not outcome.error and outcome.response["event"] == {"n": 1}
    assert outcome.report.duration_ms > 1500  # the INIT ran inside it


def test_an_init_that_outlasts_the_timeout_too_fails_the_invocation(start: Any) -> None:
    container = start("echo", env={"SLEEP_AT_IMPORT_S": "5"}, init_limit_s=0.3, timeout_s=1)
    outcome = container.invoke({})
    assert outcome.error and outcome.ended and outcome.report.status == "timeout"
    assert "Phase: invoke\tStatus: timeout" in log_of(container)


@needs_cgroups
def test_cpu_follows_memory_one_vcpu_at_1769_mb(start: Any) -> None:
    """885 MB gets half a core: the CFS quota caps it there (the kernel throttles it); a
    loaded machine may give it less, never more."""
    container = start("spin", memory_mb=885)
    assert container.cores == pytest.approx(0.5, abs=0.01)
    spun = container.invoke({"seconds": 1.5}).response
    assert spun["cpu_s"] / spun["wall_s"] < 0.6
    group = container.limits.name  # type: ignore[attr-defined]
    assert f"cpu:/{group}\n" in Path(f"/proc/{spun['pid']}/cgroup").read_text()
    quota = int((cgroups.ROOT / "cpu" / group / "cpu.cfs_quota_us").read_text())
    assert quota == pytest.approx(885 / 1769 * cgroups.CFS_PERIOD_US, abs=1)
    assert cgroups.cpu_cores(3008, machine_cores=2) == pytest.approx(3008 / 1769)
    assert cgroups.cpu_cores(10240, machine_cores=2) == 2.0  # capped at this machine's cores


@needs_cgroups
def test_a_container_is_frozen_between_invocations(start: Any) -> None:
    container = start("echo")
    container.invoke({})
    state = cgroups.ROOT / "freezer" / container.limits.name / "freezer.state"  # type: ignore
    assert state.read_text().strip() == "FROZEN"
    assert not container.invoke({}).error  # thawed for the invocation


@needs_cgroups
def test_groups_are_removed_when_the_container_ends(start: Any) -> None:
    container = start("echo")
    name = container.limits.name.split("/")[-1]  # type: ignore[attr-defined]
    assert name in group_names()
    container.stop()
    assert name not in group_names()


@needs_cgroups
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_groups_do_not_outlive_an_interrupted_run(tmp_path: Path, how: int) -> None:
    """Ctrl+C stops the containers at exit; a run killed outright is swept by the next one."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"seconds": 60}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.invoke", "--handler", "tests.lambda_functions.sleep",
         "--function", "LiteInferenceFunction", str(event)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    mine = lambda: {g for g in group_names() if g.startswith(f"{proc.pid}-")}  # noqa: E731
    while not mine() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mine(), "the run made no group"
    time.sleep(0.5)
    proc.send_signal(how)
    proc.wait(timeout=30)
    if how == signal.SIGKILL:
        assert mine()  # nothing could clean up: the next run's sweep does
        assert cgroups.sweep_stale()
    assert not mine()


def test_without_cgroups_it_says_so_once_and_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 1000)
    log = io.StringIO()
    pool = Pool(config("sleep"), Options(memory_mb=256, timeout_s=5), log=log)
    try:
        results = []
        threads = [threading.Thread(target=lambda: results.append(pool.invoke({"seconds": 0.3})))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        pool.close()
    assert [r.response for r in results] == [{"slept": 0.3}] * 2
    assert log.getvalue().count("WITHOUT Lambda's CPU and memory limits (not root)") == 1


def test_the_pool_reuses_warm_containers_and_throttles_past_its_limit() -> None:
    pool = Pool(config("sleep"), Options(memory_mb=256, timeout_s=5), max_concurrency=1,
                log=io.StringIO())
    try:
        busy = threading.Thread(target=pool.invoke, args=({"seconds": 1.0},))
        busy.start()
        time.sleep(0.6)  # its container is starting or running
        with pytest.raises(Throttled):
            pool.invoke({"seconds": 0})
        busy.join()
        assert not pool.invoke({"seconds": 0}).error  # the same, now warm, container
        assert (pool.cold_starts, pool.throttles, pool.size) == (1, 1, 1)
    finally:
        pool.close()
    assert pool.size == 0


def test_a_killed_container_is_replaced_by_one_that_inits_inside_the_next_invocation() -> None:
    pool = Pool(config("echo"), Options(memory_mb=256, timeout_s=5), log=io.StringIO())
    try:
        first = pool.invoke({})
        pid = first.response["pid"]
        os.kill(pid, signal.SIGKILL)
        died = pool.invoke({})
        assert died.error and died.response["errorType"] == "Runtime.ExitError"
        again = pool.invoke({})  # the environment re-runs INIT inside this invocation
        assert not again.error and again.response["pid"] != pid
        assert again.report.init_ms is None
        warm = pool.invoke({})
        assert warm.response["pid"] == again.response["pid"]
        assert again.report.duration_ms > warm.report.duration_ms + 50  # INIT's import
        assert pool.cold_starts == 2
    finally:
        pool.close()


def test_idle_containers_are_retired() -> None:
    pool = Pool(config("echo"), Options(memory_mb=256, timeout_s=5), idle_s=0.2,
                log=io.StringIO())
    try:
        pool.invoke({})
        assert pool.size == 1
        deadline = time.monotonic() + 5
        while pool.size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool.size == 0
    finally:
        pool.close()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_local_api_answers_as_the_http_api_when_the_function_is_throttled() -> None:
    """Past the function's concurrency, the HTTP API's 500 for a throttled Lambda."""
    pool = Pool(config("slow_http", timeout_s=10), Options(memory_mb=256, timeout_s=10),
                max_concurrency=1, log=io.StringIO())
    pool.prewarm()
    with serve_containers(pool) as url:
        assert _get(f"{url}/health") == (200, b"{}")  # the server's own first-request imports
        first: list[tuple[int, bytes]] = []
        busy = threading.Thread(target=lambda: first.append(_get(f"{url}/health")))
        busy.start()
        deadline = time.monotonic() + 10
        while pool._idle and time.monotonic() < deadline:
            time.sleep(0.01)  # until the first request holds the only container
        throttled = _get(f"{url}/health")
        busy.join()
    assert first == [(200, b"{}")]
    assert throttled == (500, b'{"message":"Internal Server Error"}')
    assert pool.throttles == 1


def test_the_stage_answers_429_past_its_throttling_limits() -> None:
    pool = Pool(config("echo"), Options(memory_mb=256, timeout_s=5), log=io.StringIO())
    pool.prewarm()
    with serve_containers(pool, throttle=StageThrottle(rate=0.001, burst=2)) as url:
        answers = [_get(f"{url}/health") for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 429]
    assert answers[2][1] == b'{"message":"Too Many Requests"}'
    assert pool.cold_starts == 1  # the refused request invoked nothing


def test_stage_limits_come_from_the_template() -> None:
    throttle = StageThrottle.from_template()
    assert (throttle.rate, throttle.burst) == (10.0, 20)

"""SnapStart in the local Lambda (infra/snapshot.py): INIT once, before-snapshot hooks, the
snapshot point, then restored copies that run the after-restore hooks, as awslambdaric does it;
copies forked from one snapshot really share its state, and the hooks make them differ."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from events.generate import EVENTS_DIR
from infra.container import Options
from infra.lambda_runtime import function_config
from infra.pool import Pool
from infra.snapshot import RestoreFailed, Snapshot
from tests.test_local_lambda import LIMITED

OPTIONS = Options(memory_mb=256, timeout_s=5)


@pytest.fixture
def snapshot() -> Iterator[Any]:
    """snapshot(handler, env={}, fork=True) -> a taken Snapshot, closed afterwards."""
    made: list[Snapshot] = []

    def _take(handler: str, env: dict[str, str] | None = None, fork: bool = True) -> Snapshot:
        function = dataclasses.replace(function_config("LiteInferenceFunction"), handler=handler)
        snap = Snapshot(function, OPTIONS, env or {}, io.StringIO(), fork=fork)
        made.append(snap)
        snap.take()
        return snap

    yield _take
    for snap in made:
        snap.close()


HOOKED = "tests.lambda_snapstart_function.handler"


def test_restored_copies_share_the_snapshot_and_the_hooks_make_them_differ(snapshot: Any) -> None:
    snap = snapshot(HOOKED)
    assert snap.init_ms and "Status: snapshot taken" in snap.log.getvalue()
    copies = [snap.restore() for _ in range(2)]
    try:
        answers = [copy.invoke({}) for copy in copies]
    finally:
        for copy in copies:
            copy.stop()
    first, second = (a.response for a in answers)
    assert first["pid"] != second["pid"]
    assert first["initialization_type"] == "snap-start"
    assert first["hooks"] == second["hooks"] == ["before_snapshot", "after_restore"]
    assert first["connection"] == f"made after restore by {first['pid']}"  # not INIT's
    assert first["random"] != second["random"]  # reseeded after restore
    for answer in answers:
        assert answer.report.restore_ms and answer.report.init_ms is None
        assert "\tRestore Duration: " in answer.report.line()


def test_without_hooks_copies_of_one_snapshot_repeat_its_random_numbers(snapshot: Any) -> None:
    """What the hooks are for: a copy restored from a snapshot keeps the state INIT left."""
    snap = snapshot("tests.lambda_functions.echo")
    copies = [snap.restore() for _ in range(2)]
    try:
        first, second = (copy.invoke({}).response for copy in copies)
    finally:
        for copy in copies:
            copy.stop()
    assert first["pid"] != second["pid"] and first["init_at"] == second["init_at"]
    assert first["random"] == second["random"]


def test_a_failing_after_restore_hook_is_reported_on_restore_error(snapshot: Any) -> None:
    snap = snapshot(HOOKED, {"FAIL_AFTER_RESTORE": "1"})
    copy = snap.restore()
    outcome = copy.invoke({})
    assert outcome.error and outcome.ended
    assert "after-restore hook failing" in outcome.response["errorMessage"]
    assert "RESTORE_REPORT" in snap.log.getvalue()
    assert "Error Type: Runtime.AfterRestoreError" in snap.log.getvalue()


def test_a_failing_before_snapshot_hook_fails_the_init(snapshot: Any) -> None:
    snap = snapshot(HOOKED, {"FAIL_BEFORE_SNAPSHOT": "1"})
    assert "Phase: init\tStatus: error\tError Type: Runtime.BeforeSnapshotError" in \
        snap.log.getvalue()
    with pytest.raises(RestoreFailed):
        snap.restore()


def test_without_fork_the_same_flow_runs_in_one_container(snapshot: Any) -> None:
    """TensorFlow's case: INIT, before-snapshot hooks, restore/next, after-restore hooks."""
    snap = snapshot(HOOKED, fork=False)
    copy = snap.restore()
    try:
        outcome = copy.invoke({})
    finally:
        copy.stop()
    assert outcome.response["hooks"] == ["before_snapshot", "after_restore"]
    assert outcome.report.restore_ms is not None
    with pytest.raises(RestoreFailed):
        snap.restore()


def test_restored_copies_get_their_own_limits(snapshot: Any) -> None:
    snap = snapshot(HOOKED)
    copy = snap.restore()
    try:
        assert copy.invoke({}).response["pid"] == copy.pid
        if LIMITED:
            groups = Path(f"/proc/{copy.pid}/cgroup").read_text()
            assert f"memory:/{copy.limits.name}\n" in groups  # type: ignore[attr-defined]
    finally:
        copy.stop()
    assert not copy.alive()


@pytest.mark.slow
def test_the_real_handler_restored_twice_answers_alike_and_draws_apart(
    snapshot: Any, demo_model_dir: Path,
) -> None:
    """LiteRT's snapshot, two forked copies: the model and the lazy routes come from the
    snapshot, the same photo gets the same answer, and the hooks reseeded both generators."""
    event = json.loads((EVENTS_DIR / "http-predict-dog-jpeg.json").read_text())
    snap = snapshot("tests.lambda_snapstart_probe.handler",
                    {"MODEL_DIR": str(demo_model_dir), "MODEL_RUNTIME": "litert"})
    assert "Status: snapshot taken" in snap.log.getvalue(), snap.log.getvalue()[-2000:]
    copies = [snap.restore() for _ in range(2)]
    try:
        probes = [copy.invoke({"probe": True}) for copy in copies]
        answers = [copy.invoke(event) for copy in copies]
    finally:
        for copy in copies:
            copy.stop()
    first, second = (p.response for p in probes)
    assert first["pid"] != second["pid"]
    assert first["random"] != second["random"] and first["numpy"] != second["numpy"]
    assert first["protocols_built"] and first["openapi_built"]  # in the snapshot
    assert all(p.report.restore_ms for p in probes)
    bodies = [json.loads(a.response["body"]) for a in answers]
    assert bodies[0] == bodies[1] and bodies[0]["predictions"][0]["label"] == "dog"
    assert '"message":"before snapshot"' in snap.log.getvalue()
    assert snap.log.getvalue().count('"message":"restored from snapshot"') == 2


def test_concurrent_restores_each_get_their_own_copy(snapshot: Any) -> None:
    snap = snapshot(HOOKED)
    copies: list[Any] = []
    threads = [threading.Thread(target=lambda: copies.append(snap.restore())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        pids = [copy.invoke({}).response["pid"] for copy in copies]
        assert pids == [copy.pid for copy in copies] and len(set(pids)) == 4
    finally:
        for copy in copies:
            copy.stop()


@pytest.mark.skipif(not LIMITED, reason="needs the memory cgroup to kill")
def test_a_snapstart_pool_restores_again_after_a_kill() -> None:
    """A SnapStart version's environments are all restored, also the one after a kill."""
    pool = Pool(dataclasses.replace(function_config("LiteInferenceFunction"),
                                    handler="tests.lambda_functions.allocate"),
                dataclasses.replace(OPTIONS, snapstart=True), log=io.StringIO(), snapstart=True)
    try:
        killed = pool.invoke({"mb": 400})
        assert killed.error and killed.response["errorType"] == "Runtime.ExitError"
        again = pool.invoke({"mb": 1})
        assert again.response == {"allocated_mb": 1} and again.report.restore_ms
    finally:
        pool.close()


def test_a_snapshot_whose_init_times_out_answers_an_init_error(snapshot: Any) -> None:
    function = dataclasses.replace(function_config("LiteInferenceFunction"),
                                   handler="tests.lambda_functions.echo")
    snap = Snapshot(function, dataclasses.replace(OPTIONS, init_limit_s=0.3),
                    {"SLEEP_AT_IMPORT_S": "3"}, io.StringIO())
    try:
        assert not snap.take()
        outcome = snap.container.invoke({})
        assert outcome.error and outcome.response["errorType"] == "Runtime.InitError"
    finally:
        snap.close()

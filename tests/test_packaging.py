"""The Lambda image: what the Dockerfile puts in it, and whether that is enough and resolvable.

No Docker engine here, so the image is checked by reading infra/Dockerfile, resolving the runtime
requirements for the image's platform with pip, and running the real handler from a folder laid
out the way the final stage lays out /var/task.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from handler.manifest import load_manifest
from infra import image_deps
from infra.lambda_runtime import ROOT

DOCKERFILE = ROOT / "infra" / "Dockerfile"
LAMBDA_BASE = "public.ecr.aws/lambda/python:3.12"
#: Folders of the build step: they may be in build stages, never in the function's image.
BUILD_ONLY = ("freeze", "demo", "tests", "checkpoint", "build", "events", "benchmarks", "infra")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def copies(self) -> list[tuple[str | None, list[str], str]]:
        """(--from stage or None, sources, destination) of each COPY."""
        found = []
        for keyword, args in self.instructions:
            if keyword == "COPY":
                words = shlex.split(args)
                flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
                paths = [w for w in words if not w.startswith("--")]
                found.append((flags.get("from"), paths[:-1], paths[-1]))
        return found

    def runs(self) -> str:
        return "\n".join(args for keyword, args in self.instructions if keyword == "RUN")


def parse_dockerfile(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a Dockerfile; line continuations joined, comments out."""
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    ))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in filter(None, map(str.strip, text.splitlines())):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), words[0])
            stages.append(Stage(base, words[2] if len(words) == 3 else None))
        elif keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile()[1]


def test_final_stage_is_the_lambda_python_312_base(stages: list[Stage]) -> None:
    final = stages[-1]
    assert final.base == LAMBDA_BASE
    assert ("CMD", '["handler.app.handler"]') in final.instructions


def test_final_stage_copies_only_what_the_function_needs(stages: list[Stage]) -> None:
    copies = stages[-1].copies()
    from_context = {s.rstrip("/") for stage, sources, _ in copies if stage is None for s in sources}
    assert from_context == {"requirements.txt", "handler"}
    (model_copy,) = [(sources, dest) for stage, sources, dest in copies if stage == "model"]
    assert sorted(model_copy[0]) == ["/model/model.json", "/model/model.pb"]
    assert model_copy[1] == "${LAMBDA_TASK_ROOT}/model/"
    for _, sources, _ in copies:
        for source in sources:
            assert source.strip("/").split("/")[0] not in BUILD_ONLY, f"{source} is build-only"
    run = stages[-1].runs()
    assert "-r ${LAMBDA_TASK_ROOT}/requirements.txt --target ${LAMBDA_TASK_ROOT}" in run
    assert "requirements-build" not in run and "catsordogs" not in run


def test_build_stages_freeze_the_model_the_final_stage_copies(stages: list[Stage]) -> None:
    by_name = {stage.name: stage for stage in stages if stage.name}
    assert parse_dockerfile()[0]["MODEL_SOURCE"] == "demo"
    assert by_name["model"].base == "model-demo"  # FROM model-${MODEL_SOURCE}, the default
    demo = by_name["model-demo"].runs()
    assert "python -m demo.catsordogs --out build/demo" in demo
    assert "python -m freeze --checkpoint_dir build/demo/checkpoint --output_dir /model" in demo
    assert "--output_dir /model" in by_name["model-checkpoint"].runs()
    build = by_name["build"].runs()
    assert "-r requirements-build.txt" in build and "--no-deps catsordogs" in build


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".venv-tools", "build", "model", "tests"} <= ignored
    needed = {"handler", "freeze", "demo", "requirements.txt", "requirements-build.txt"}
    assert not needed & ignored


def test_frozen_model_is_exactly_the_files_the_image_copies(demo_model_dir: Path) -> None:
    manifest = load_manifest(demo_model_dir)
    assert manifest.graph.path == "model.pb"
    assert sorted(p.name for p in demo_model_dir.iterdir()) == ["model.json", "model.pb"]


@pytest.mark.slow
def test_runtime_requirements_resolve_for_the_image_platform() -> None:
    resolved = {canonicalize_name(item["metadata"]["name"]): item for item in image_deps.resolve()}
    assert resolved["tensorflow-cpu"]["metadata"]["version"] == "2.21.0"
    assert "tensorflow" not in resolved, "the full TensorFlow wheel must not come in"
    # pip adds the legacy aliases of manylinux2014 itself (libclang ships manylinux2010 only).
    allowed = set(image_deps.platforms()) | {"manylinux2010_x86_64", "manylinux1_x86_64", "any"}
    for name, item in resolved.items():
        wheel = item["download_info"]["url"].rsplit("/", 1)[-1]
        assert any(
            tag.platform in allowed and (tag.interpreter in ("cp312", "py3") or tag.abi == "abi3")
            for tag in parse_wheel_filename(wheel)[3]
        ), f"{name}: {wheel} does not run on the image"


@pytest.mark.slow
def test_requirements_would_not_resolve_on_amazon_linux_2() -> None:
    """The check can fail: TensorFlow's manylinux_2_27 wheel needs more than AL2's glibc 2.26."""
    with pytest.raises(RuntimeError, match="tensorflow"):
        image_deps.resolve(glibc_minor=26)


@pytest.mark.slow
def test_handler_runs_from_the_image_layout_alone(
    demo_model_dir: Path, tmp_path: Path, stages: list[Stage]
) -> None:
    """Lay out /var/task as the final stage does, then import and invoke the handler from there
    alone (site-packages aside): nothing from the build step or the repository may be needed."""
    task = tmp_path / "task"
    for stage, sources, dest in stages[-1].copies():
        target = task / dest.replace("${LAMBDA_TASK_ROOT}", "").strip("/")
        for source in sources:
            origin = demo_model_dir / Path(source).name if stage == "model" else ROOT / source
            if origin.is_dir():  # COPY dir/ dest/ copies the folder's contents into dest
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
    event = (ROOT / "events" / "http-predict-dog-jpeg.json").read_text()
    script = f"""
import json, sys, types
sys.path.insert(0, {str(task)!r})
from handler.app import handler
context = types.SimpleNamespace(
    function_name="InferenceFunction", memory_limit_in_mb=2048, aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:InferenceFunction",
    get_remaining_time_in_millis=lambda: 15000)
response = handler(json.loads({event!r}), context)
repo = [m.__name__ for m in list(sys.modules.values())
        if (getattr(m, "__file__", None) or "").startswith({str(ROOT) + "/"!r})
        and not m.__file__.startswith({sys.prefix + "/"!r})]
print(json.dumps({{"response": response, "repo_modules": repo}}))
"""
    env = {
        **os.environ, "MODEL_DIR": str(task / "model"), "LAMBDA_TASK_ROOT": str(task),
        "POWERTOOLS_SERVICE_NAME": "tf-lambda-serving", "MODEL_S3_URI": "",
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=task, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["repo_modules"] == [], "the function imported code from outside the image"
    response = result["response"]
    assert response["statusCode"] == 200, response
    prediction = json.loads(response["body"])["predictions"][0]
    assert prediction["label"] == "dog" and prediction["probability"] > 0.8

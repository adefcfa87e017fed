"""The Lambda image: what the Dockerfile puts in it, and whether that is enough and resolvable.

No Docker engine here, so the image is checked by reading infra/Dockerfile, resolving the runtime
locks for each image platform with pip as the image installs them (hashes required), and running
the real handler from a folder laid out the way the final stage lays out /var/task.
"""

from __future__ import annotations

import fnmatch
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
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename

from handler.manifest import load_manifest
from infra import image_deps, zip_package
from infra.lambda_runtime import ROOT

DOCKERFILE = ROOT / "infra" / "Dockerfile"
LAMBDA_BASE = "public.ecr.aws/lambda/python:3.12"
#: Folders of the build step: they may be in build stages, never in the function's image.
BUILD_ONLY = ("freeze", "demo", "tests", "checkpoint", "build", "events", "benchmarks", "infra")
#: The TensorFlow wheel each architecture's image installs (tensorflow-cpu has no aarch64 wheel).
TENSORFLOW = {"x86_64": "tensorflow-cpu", "arm64": "tensorflow"}


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
            words = [w for w in rest.split() if not w.startswith("--")]  # --platform=...
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), words[0])
            stages.append(Stage(base, words[2] if len(words) == 3 else None))
        elif keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def locked(lock: Path) -> dict[NormalizedName, tuple[str, set[str]]]:
    """{name: (version, sha256 hashes)} of a `uv pip compile --generate-hashes` lock."""
    found: dict[NormalizedName, tuple[str, set[str]]] = {}
    text = re.sub(r"\\\n", " ", lock.read_text())
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()  # `# via ...` lines: nothing left
        if words:
            name, version = words[0].split("==")
            found[canonicalize_name(name)] = (version, {w.split(":", 1)[1] for w in words[1:]})
    return found


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
    assert from_context == {"requirements-${TARGETARCH}.lock", "handler"}
    (model_copy,) = [(sources, dest) for stage, sources, dest in copies if stage == "model"]
    # the model stages' /model holds the freeze step's output only (a bundle, or a repository)
    assert model_copy == (["/model/"], "${LAMBDA_TASK_ROOT}/model/")
    for stage in stages:
        if stage.name and stage.name.startswith("model-"):
            assert "/model" in stage.runs() + " ".join(d for _, _, d in stage.copies())
    for _, sources, _ in copies:
        for source in sources:
            assert source.strip("/").split("/")[0] not in BUILD_ONLY, f"{source} is build-only"
    run = " ".join(stages[-1].runs().split())
    assert "-r ${LAMBDA_TASK_ROOT}/requirements.lock --target ${LAMBDA_TASK_ROOT}" in run
    assert "--require-hashes --no-deps --only-binary=:all:" in run
    assert "requirements-build" not in run and "catsordogs" not in run


def test_image_installs_the_lock_of_its_architecture(stages: list[Stage]) -> None:
    """Docker's TARGETARCH names the lock; every Lambda architecture has one, from `make lock`."""
    assert ("ARG", "TARGETARCH") in stages[-1].instructions
    (source,) = [s for stage, sources, _ in stages[-1].copies() if stage is None for s in sources
                 if s.endswith(".lock")]
    for arch in image_deps.ARCHES.values():
        lock = ROOT / source.replace("${TARGETARCH}", arch.docker)
        assert lock == arch.lock and lock.is_file(), f"{lock.name} is missing: run `make lock`"
    # The freeze step runs on the build machine's platform (a frozen graph is portable).
    assert stages[0].name == "build"
    assert "--platform=${BUILDPLATFORM}" in DOCKERFILE.read_text()


def requirements_of(path: Path) -> list[Requirement]:
    """The requirements a requirements file names, those of the files it includes (`-r`) too."""
    found = []
    lines = (raw.split("#", 1)[0].strip() for raw in path.read_text().splitlines())
    for line in filter(None, lines):
        if line.startswith("-r "):
            found += requirements_of(path.parent / line.removeprefix("-r ").strip())
        else:
            found.append(Requirement(line))
    return found


#: Each lock `make lock` writes: (requirements file, Lambda architecture).
LOCKS = [(requirements.name, arch) for requirements in image_deps.LOCKED
         for arch in sorted(image_deps.ARCHES)]


@pytest.mark.parametrize(("requirements", "arch"), LOCKS)
def test_lock_is_up_to_date_with_its_requirements(requirements: str, arch: str) -> None:
    """Every pin of the requirements file that applies to `arch` (markers evaluated for its
    machine) is in the arch's lock at the same version, with hashes; nothing the arch excludes
    is."""
    machine = image_deps.ARCHES[arch].machine
    lock = locked(image_deps.ARCHES[arch].lock_of(ROOT / requirements))
    for requirement in requirements_of(ROOT / requirements):
        name = canonicalize_name(requirement.name)
        if requirement.marker and not requirement.marker.evaluate({"platform_machine": machine}):
            assert name not in lock, f"{name} is excluded on {machine} but locked: run `make lock`"
            continue
        (pinned,) = {spec.version for spec in requirement.specifier if spec.operator == "=="}
        assert name in lock, f"{name} is not in {arch}'s lock: run `make lock`"
        version, hashes = lock[name]
        assert version == pinned, f"{name}: lock has {version}, {requirements} {pinned}"
    assert all(hashes for _, hashes in lock.values()), "every locked package needs its hashes"


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


def test_own_checkpoint_stage_takes_an_exporters_output_folder(stages: list[Stage]) -> None:
    """MODEL_BUILD_DIR is the folder both exporters write (demo/export.py): checkpoint/ with
    model_config.json beside it, copied whole and frozen from there."""
    stage = {s.name: s for s in stages}["model-checkpoint"]
    assert ("ARG", "MODEL_BUILD_DIR") in stage.instructions  # no default: refused when unset
    assert stage.copies() == [(None, ["${MODEL_BUILD_DIR}/"], "src/")]
    run = " ".join(stage.runs().split())
    assert 'test -n "${MODEL_BUILD_DIR}"' in run  # before the COPY: never the whole context
    assert ("python -m freeze --checkpoint_dir src/checkpoint --output_dir /model "
            "--model_config src/model_config.json") in run


@pytest.mark.slow
def test_own_checkpoint_stage_freezes_the_seed_trainers_output(
    stages: list[Stage], seed_build: Path, tmp_path: Path
) -> None:
    """Run the stage's freeze command as the image build would, on a folder laid out by its COPY
    from what `python -m demo.train_seed --out models/<name>` writes."""
    stage = {s.name: s for s in stages}["model-checkpoint"]
    (_, _, dest), = stage.copies()
    shutil.copytree(seed_build, tmp_path / dest)
    (freeze,) = [cmd for cmd in stage.runs().splitlines() if "-m freeze" in cmd]
    args = [str(tmp_path / "out") if a == "/model" else a for a in shlex.split(freeze)]
    assert args[:3] == ["python", "-m", "freeze"]
    proc = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_manifest(tmp_path / "out").name == "seed"


def dockerignored(path: str, patterns: set[str]) -> bool:
    """Whether .dockerignore `patterns` leave `path` (or a folder it is in) out of the context;
    enough of Docker's matching for the patterns this project uses (no `!` exceptions)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern)
        or (pattern.startswith("**/") and fnmatch.fnmatch(prefix.rsplit("/", 1)[-1], pattern[3:]))
        for pattern in patterns for prefix in prefixes
    )


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".venv-tools", ".venv-checkov", "build", "model", "tests"} <= ignored
    assert not any(p.startswith("!") for p in ignored)  # `dockerignored` does not handle them
    needed = {"handler", "freeze", "demo", "requirements.txt", "requirements-build.txt"}
    needed |= {arch.lock.name for arch in image_deps.ARCHES.values()}
    # Where README and infra/Dockerfile tell you to put your own exporter output.
    needed |= {"models/seed/checkpoint/checkpoint", "models/seed/model_config.json"}
    assert [path for path in sorted(needed) if dockerignored(path, ignored)] == []
    assert dockerignored("build/seed/model_config.json", ignored)  # the check can fail
    assert dockerignored("handler/__pycache__/app.cpython-312.pyc", ignored)


def test_frozen_model_is_exactly_the_files_the_image_copies(demo_model_dir: Path) -> None:
    manifest = load_manifest(demo_model_dir)
    tflite = manifest.artifacts.tflite
    assert manifest.artifacts.graph.path == "model.pb"
    assert tflite is not None and tflite.path == "model.tflite"
    assert sorted(p.name for p in demo_model_dir.iterdir()) == [
        "model.json", "model.pb", "model.tflite"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("requirements", "arch"), LOCKS)
def test_lock_installs_on_the_lambda_platform_with_hashes(requirements: str, arch: str) -> None:
    """pip installs the lock as the image and the LiteRT zip do (--require-hashes --no-deps,
    wheels only) for the arch's Lambda platform (python3.12, manylinux up to glibc 2.34), and
    each wheel it picks is one whose sha256 the lock holds. The image gets the arch's TensorFlow
    wheel; the zip gets neither TensorFlow nor Keras."""
    target = image_deps.ARCHES[arch]
    lock_path = target.lock_of(ROOT / requirements)
    lock = locked(lock_path)
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item
        for item in image_deps.resolve(lock_path, arch=arch)
    }
    assert resolved.keys() == lock.keys()
    if lock_path == target.lock:
        tensorflow, other = TENSORFLOW[arch], set(TENSORFLOW.values()) - {TENSORFLOW[arch]}
        assert resolved[tensorflow]["metadata"]["version"] == "2.21.0"
        assert not other & resolved.keys(), f"{other} must not come into the {arch} image"
    else:
        assert "ai-edge-litert" in resolved
        assert not zip_package.FORBIDDEN & resolved.keys(), "TensorFlow in the LiteRT zip"
    # pip adds the legacy aliases of manylinux2014 itself (libclang ships manylinux2010 only).
    allowed = set(target.platforms()) | {
        f"manylinux2010_{target.machine}", f"manylinux1_{target.machine}", "any"
    }
    for name, item in resolved.items():
        wheel = item["download_info"]["url"].rsplit("/", 1)[-1]
        assert any(
            tag.platform in allowed and (tag.interpreter in ("cp312", "py3") or tag.abi == "abi3")
            for tag in parse_wheel_filename(wheel)[3]
        ), f"{name}: {wheel} does not run on the {arch} image"
        assert item["download_info"]["archive_info"]["hashes"]["sha256"] in lock[name][1]


@pytest.mark.slow
def test_lock_would_not_install_on_amazon_linux_2() -> None:
    """The check can fail: the lock's manylinux_2_27 wheels (ml-dtypes, numpy, TensorFlow) need
    more than Amazon Linux 2's glibc 2.26."""
    with pytest.raises(RuntimeError, match="No matching distribution found for"):
        image_deps.resolve(image_deps.ARCHES["x86_64"].lock, glibc_minor=26)


#: Each entry point of the image, with an event it answers without AWS: the HTTP one a photo,
#: the batch one an SQS batch holding S3's test event only (skipped: nothing to read).
ENTRY_POINTS = {
    "handler.app": "http-predict-dog-jpeg.json",
    "handler.batch": "bulk/sqs-s3-notifications.json",
}


@pytest.mark.slow
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_handler_runs_from_the_image_layout_alone(
    demo_model_dir: Path, tmp_path: Path, stages: list[Stage], entry: str
) -> None:
    """Lay out /var/task as the final stage does, then import and invoke each entry point from
    there alone (site-packages aside): nothing from the build step or the repository may be
    needed."""
    task = tmp_path / "task"
    for stage, sources, dest in stages[-1].copies():
        target = task / dest.replace("${LAMBDA_TASK_ROOT}", "").strip("/")
        for source in (s.replace("${TARGETARCH}", "amd64") for s in sources):
            # the model stage's /model/: the frozen bundle (or a repository), as the demo's
            origin = demo_model_dir if stage == "model" else ROOT / source
            if origin.is_dir():  # COPY dir/ dest/ copies the folder's contents into dest
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:  # into the folder `dest/`, or as the file `dest`
                file = target / origin.name if dest.endswith("/") else target
                file.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, file)
    event = json.loads((ROOT / "events" / ENTRY_POINTS[entry]).read_text())
    if entry == "handler.batch":
        event["Records"] = event["Records"][:1]  # S3's test event
        assert json.loads(event["Records"][0]["body"])["Event"] == "s3:TestEvent"
    event = json.dumps(event)
    script = f"""
import json, sys, types
sys.path.insert(0, {str(task)!r})
from {entry} import handler
context = types.SimpleNamespace(
    function_name="InferenceFunction", memory_limit_in_mb=1769, aws_request_id="req-1",
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
        "OUTPUT_S3_URI": "s3://tf-lambda-serving-output/records/", "AWS_DEFAULT_REGION": "us-east-1",
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=task, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["repo_modules"] == [], "the function imported code from outside the image"
    response = result["response"]
    if entry == "handler.batch":
        assert response == {"batchItemFailures": []}
        return
    assert response["statusCode"] == 200, response
    prediction = json.loads(response["body"])["predictions"][0]
    assert prediction["label"] == "dog" and prediction["probability"] > 0.8

"""The LiteRT zip function (template.yaml's LiteInferenceFunction): what `sam build` stages, what
`sam deploy` uploads, and that the function runs from that alone, without TensorFlow.

No AWS and no Docker: the real `sam build --config-env litert` runs once per session (a makefile
build), then SAM CLI's own package step (tests/sam_package.py, recording uploaders) zips it; that
zip is extracted as Lambda would (SAM dates every entry 1980-01-01) and the handler is imported
from it alone, in a fresh interpreter without site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import zip_package
from infra.lambda_runtime import ROOT, function_config, lambda_environment
from infra.zip_package import UNZIPPED_LIMIT_BYTES, PackageError

TOOLS = ROOT / ".venv-tools" / "bin"
FUNCTION = "LiteInferenceFunction"
#: the batch function of ModelRuntime=LiteRT: the same zip, another entry point
BATCH_FUNCTION = "LiteBatchFunction"
STATE_MACHINE = ROOT / "infra" / "statemachine" / "classify_bucket.asl.json"
#: ELF e_machine of each Lambda architecture's shared libraries.
ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}


def _tools_env(home: Path) -> dict[str, str]:
    """SAM's environment: a scratch HOME (no telemetry, no user config), the user's pip cache
    (the wheels are downloaded once), ARCHITECTURE unset (x86_64, as samconfig.toml builds)."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "HOME": str(home),
           "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))}
    env.pop("ARCHITECTURE", None)
    return env


@pytest.fixture(scope="session")
def sam_build(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build --config-env litert` of the demo model (build and cache dirs in a temporary
    folder, not the repository's .aws-sam): the built template's folder."""
    work = tmp_path_factory.mktemp("sam-litert")
    command = [
        TOOLS / "sam", "build", "--config-env", "litert",
        "--config-file", ROOT / "samconfig.toml", "--template-file", ROOT / "template.yaml",
        "--build-dir", work / "build", "--cache-dir", work / "cache",
    ]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True,
                          env={**_tools_env(work), "MODEL_DIR": str(demo_model_dir)})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    print(f"sam build --config-env litert: {time.perf_counter() - started:.1f} s")
    return work / "build"


def sam_package(template: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """SAM CLI's package step (as `sam deploy` runs it) over a built template, uploads recorded."""
    out.mkdir(exist_ok=True)
    return subprocess.run(
        [TOOLS / "python", ROOT / "tests" / "sam_package.py", template, out],
        cwd=template.parent, capture_output=True, text=True, env=_tools_env(out),
    )


@pytest.fixture(scope="session")
def packaged(sam_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """{"template": the packaged template, "uploads": {"s3": [[kept zip, url]], "ecr": [...]}}."""
    proc = sam_package(sam_build / "template.yaml", tmp_path_factory.mktemp("uploads"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def _elf_machine(library: Path) -> int:
    return struct.unpack("<H", library.read_bytes()[18:20])[0]


def _pyc_flags(pyc: Path) -> int:
    """PEP 552 flags of a .pyc: 0 timestamp-based, 1 unchecked hash, 3 checked hash."""
    return struct.unpack("<I", pyc.read_bytes()[4:8])[0]


def check_staged(tree: Path, arch: str, model_dir: Path) -> None:
    """What any staged LiteRT function must be: the model's json + tflite and nothing else of the
    bundle, the handler's sources, no TensorFlow, wheels for `arch`, hash-based .pyc files only,
    under Lambda's unzipped limit."""
    model = {p.name: p.read_bytes() for p in (tree / "model").iterdir()}
    bundle = ("model.json", "model.tflite")
    assert model == {name: (model_dir / name).read_bytes() for name in bundle}
    sources = {p.relative_to(ROOT) for p in (ROOT / "handler").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    staged = {p.relative_to(tree) for p in (tree / "handler").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert staged == sources
    assert zip_package.forbidden_in(tree) == []
    assert not list(tree.glob("tensorflow*")), "TensorFlow in the zip"
    assert not [path for path in zip_package.UNUSED_ON_LAMBDA[arch] if (tree / path).exists()]
    libraries = list((tree / "ai_edge_litert").glob("*.so"))
    assert libraries and {_elf_machine(lib) for lib in libraries} == {ELF_MACHINE[arch]}
    pycs = list(tree.rglob("*.pyc"))
    assert len(pycs) > 1000 and {_pyc_flags(p) for p in pycs} == {1}
    assert zip_package.tree_size(tree) < UNZIPPED_LIMIT_BYTES


# --- the build ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_sam_build_stages_the_zip_and_leaves_the_image_unbuilt(
    sam_build: Path, demo_model_dir: Path
) -> None:
    check_staged(sam_build / FUNCTION, "x86_64", demo_model_dir)
    assert sorted(p.name for p in sam_build.iterdir()) == [BATCH_FUNCTION, FUNCTION,
                                                            "template.yaml"]
    # The batch function ships the same package (one make rule; SAM builds it once).
    listing = {folder: sorted(str(p.relative_to(sam_build / folder))
                              for p in (sam_build / folder).rglob("*"))
               for folder in (FUNCTION, BATCH_FUNCTION)}
    assert listing[FUNCTION] == listing[BATCH_FUNCTION]
    built = yaml.safe_load((sam_build / "template.yaml").read_text())["Resources"]
    assert built[FUNCTION]["Properties"]["CodeUri"] == FUNCTION
    assert built[BATCH_FUNCTION]["Properties"]["CodeUri"] == BATCH_FUNCTION
    # Excluded from the build: the image functions keep the intrinsic in place of an image.
    for image in ("InferenceFunction", "BatchFunction"):
        assert built[image]["Properties"]["ImageUri"] == {"Ref": "AWS::NoValue"}


@pytest.mark.slow
def test_zip_installs_for_arm64_under_the_limit_too(
    demo_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same package for Lambda arm64 (ARCHITECTURE=arm64): aarch64 wheels, still no
    TensorFlow, still under the limit; the build says how close."""
    size = zip_package.package(tmp_path / "arm64", "arm64", demo_model_dir)
    check_staged(tmp_path / "arm64", "arm64", demo_model_dir)
    assert f"unzipped size: {size:,} bytes" in capsys.readouterr().out


# --- the package step (what `sam deploy` uploads) ----------------------------------------------


@pytest.mark.slow
def test_sam_package_uploads_the_zip_and_skips_the_unbuilt_image(
    packaged: dict[str, Any],
) -> None:
    assert packaged["uploads"]["ecr"] == []
    resources = packaged["template"]["Resources"]
    uploaded = dict((url, Path(kept)) for kept, url in packaged["uploads"]["s3"])
    for function in (FUNCTION, BATCH_FUNCTION):
        assert zipfile.is_zipfile(uploaded[resources[function]["Properties"]["CodeUri"]])
    for image in ("InferenceFunction", "BatchFunction"):
        assert resources[image]["Properties"]["ImageUri"] == {"Ref": "AWS::NoValue"}
    # The state machine's definition file goes up too, as CloudFormation reads it from S3.
    location = resources["ClassifyBucketStateMachine"]["Properties"]["DefinitionUri"]
    definition = uploaded[f"s3://{location['Bucket']}/{location['Key']}"]
    assert definition.read_bytes() == STATE_MACHINE.read_bytes()


@pytest.mark.slow
def test_package_step_fails_on_an_image_function_without_an_image(
    sam_build: Path, tmp_path: Path
) -> None:
    """Why InferenceFunction has `ImageUri: !Ref AWS::NoValue`: without it, the package step of
    `sam deploy --config-env litert` refuses the image function the build excluded."""
    built = yaml.safe_load((sam_build / "template.yaml").read_text())
    del built["Resources"]["InferenceFunction"]["Properties"]["ImageUri"]
    variant = sam_build / "no-image-uri.yaml"  # beside the built one: same relative CodeUri
    variant.write_text(yaml.safe_dump(built))
    try:
        proc = sam_package(variant, tmp_path / "uploads")
    finally:
        variant.unlink()
    assert proc.returncode != 0
    assert "Image not found for ImageUri parameter of InferenceFunction" in proc.stderr


# --- the uploaded zip, run as Lambda runs it ---------------------------------------------------

_PROBE = r"""
import json, sys, types
sys.path.insert(0, sys.argv[1])
from handler.app import handler
events = [json.load(open(path)) for path in sys.argv[2:]]
context = types.SimpleNamespace(
    function_name="LiteInferenceFunction", memory_limit_in_mb=1769, aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:LiteInferenceFunction",
    get_remaining_time_in_millis=lambda: 15000)
responses = [handler(event, context) for event in events]
print(json.dumps({
    "responses": responses,
    "tensorflow": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")),
    "outside": sorted(m.__name__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)
                      and not m.__file__.startswith((sys.argv[1] + "/", sys.base_prefix + "/"))),
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's peak (this test's process)
    "peak_rss_mb": int(next(line.split()[1] for line in open("/proc/self/status")
                            if line.startswith("VmHWM:"))) // 1024,
}))
"""


def uploaded_zip(packaged: dict[str, Any], function: str) -> Path:
    """The zip `sam deploy` would upload for `function`."""
    url = packaged["template"]["Resources"][function]["Properties"]["CodeUri"]
    (kept,) = [Path(kept) for kept, uploaded in packaged["uploads"]["s3"] if uploaded == url]
    return kept


def extract_as_lambda(zip_file: Path, task: Path) -> None:
    """Unzip into /var/task's stand-in with each entry's own date (SAM's: 1980-01-01), which
    zipfile does not restore by itself: a .pyc checked against its source's mtime would be stale."""
    with zipfile.ZipFile(zip_file) as archive:
        archive.extractall(task)
        for info in archive.infolist():
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(task / info.filename, (stamp, stamp))


@pytest.mark.slow
def test_uploaded_zip_serves_from_itself_without_tensorflow(
    packaged: dict[str, Any], tmp_path: Path
) -> None:
    """The zip `sam deploy` would upload, extracted, in a fresh `python -I -S` (no site-packages:
    only the zip and the standard library, as on Lambda's python3.12 runtime) with the function's
    environment from template.yaml: GET /health, GET /model and a prediction answer, no module
    of TensorFlow or Keras is loaded, and no module is compiled from source (the .pyc files are
    used, though every source is dated 1980)."""
    task = tmp_path / "task"
    extract_as_lambda(uploaded_zip(packaged, FUNCTION), task)
    config = function_config(FUNCTION)
    env = {**lambda_environment(config), "MODEL_DIR": str(task / "model"),
           "LAMBDA_TASK_ROOT": str(task), "PATH": os.environ.get("PATH", "")}
    assert env["MODEL_RUNTIME"] == "litert"
    events = [ROOT / "events" / f"http-{name}.json"
              for name in ("health", "model", "predict-dog-jpeg")]
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-v", "-c", _PROBE, str(task), *map(str, events)],
        cwd=task, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tensorflow"] == []
    assert result["outside"] == [], "imported from outside the zip and the standard library"
    health, model, prediction = result["responses"]
    assert [r["statusCode"] for r in result["responses"]] == [200, 200, 200], result["responses"]
    assert json.loads(model["body"])["runtime"] == "litert"
    (dog,) = json.loads(prediction["body"])["predictions"]
    assert dog["label"] == "dog" and dog["probability"] > 0.8
    compiled = [line for line in proc.stderr.splitlines()
                if line.startswith(f"# code object from {task}/") and line.endswith(".py")]
    assert compiled == [], f"{len(compiled)} modules compiled at import, e.g. {compiled[:3]}"
    # MemorySize is make tune's pick (benchmarks/TUNE_RESULTS.md: 256 MB, peak ~118 MB); it
    # was 1769 MB, against which this asserted a quarter: the peak must leave room under it.
    assert result["peak_rss_mb"] < config.memory_mb * 0.6
    print(f"zip function: peak RSS {result['peak_rss_mb']} MB after INIT and 3 requests")


@pytest.mark.slow
def test_uploaded_zip_runs_the_batch_entry_from_itself(
    packaged: dict[str, Any], tmp_path: Path
) -> None:
    """The batch function's zip, extracted and run as Lambda runs it (no site-packages), imports
    handler.batch (the model on LiteRT, boto3 from the zip) and answers an SQS batch holding S3's
    test event, with no TensorFlow and nothing from outside the zip."""
    task = tmp_path / "task"
    extract_as_lambda(uploaded_zip(packaged, BATCH_FUNCTION), task)
    event = json.loads((ROOT / "events" / "bulk" / "sqs-s3-notifications.json").read_text())
    event["Records"] = event["Records"][:1]  # S3's test event: skipped, nothing to read
    probe = r"""
import json, sys, types
sys.path.insert(0, sys.argv[1])
from handler.batch import handler
answer = handler(json.loads(sys.argv[2]), types.SimpleNamespace(
    function_name="LiteBatchFunction", memory_limit_in_mb=1769, aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:LiteBatchFunction",
    get_remaining_time_in_millis=lambda: 180000))
print(json.dumps({"answer": answer,
    "tensorflow": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")),
    "outside": sorted(m.__name__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)
                      and not m.__file__.startswith((sys.argv[1] + "/", sys.base_prefix + "/")))}))
"""
    env = {**lambda_environment(function_config(BATCH_FUNCTION)), "MODEL_DIR": str(task / "model"),
           "LAMBDA_TASK_ROOT": str(task), "PATH": os.environ.get("PATH", ""),
           "OUTPUT_S3_URI": "s3://tf-lambda-serving-output/records/"}
    assert env["MODEL_RUNTIME"] == "litert"
    proc = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", probe, str(task),
                           json.dumps(event)], cwd=task, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"answer": {"batchItemFailures": []}, "tensorflow": [], "outside": []}


@pytest.mark.slow
def test_local_invoke_takes_the_lite_functions_config(demo_model_dir: Path) -> None:
    """`python -m infra.invoke --function LiteInferenceFunction` (the `sam local invoke` stand-in)
    runs the handler with that function's memory and environment: MODEL_RUNTIME=litert."""
    # The caller's environment wins over the template's: leave MODEL_RUNTIME to the template.
    env = {key: value for key, value in os.environ.items() if key != "MODEL_RUNTIME"}
    proc = subprocess.run(
        [sys.executable, "-m", "infra.invoke", "events/http-model.json", "--function", FUNCTION],
        cwd=ROOT, capture_output=True, text=True, env={**env, "MODEL_DIR": str(demo_model_dir)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    response = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(response["body"])["runtime"] == "litert"
    assert f"Memory Size: {function_config(FUNCTION).memory_mb} MB" in proc.stderr


# --- the staging rules, on small trees ---------------------------------------------------------


def test_refuses_a_bundle_without_its_tflite(demo_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"no manifest at .*model\.json: run the freeze step"):
        zip_package.stage_model(tmp_path / "nothing", tmp_path / "out")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    manifest = json.loads((demo_model_dir / "model.json").read_text())
    del manifest["artifacts"]["tflite"]
    (bundle / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match=r"needs model\.tflite, and the manifest of catsordogs \w+ names none: "
                                           r"freeze with --tflite"):
        zip_package.stage_model(bundle, tmp_path / "out")


def test_refuses_a_tflite_other_than_the_manifests(demo_model_dir: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(demo_model_dir, bundle)
    (bundle / "model.tflite").write_bytes(b"TFL3" + bytes(100))
    with pytest.raises(PackageError, match="does not match its manifest"):
        zip_package.stage_model(bundle, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_tensorflow_or_keras_in_the_tree(tmp_path: Path) -> None:
    (tmp_path / "numpy-2.5.5.dist-info").mkdir()
    assert zip_package.forbidden_in(tmp_path) == []
    (tmp_path / "tensorflow_cpu-2.21.0.dist-info").mkdir()
    (tmp_path / "keras").mkdir()
    assert zip_package.forbidden_in(tmp_path) == ["keras/", "tensorflow-cpu"]
    with pytest.raises(PackageError, match="keras/, tensorflow-cpu in .*must not hold them"):
        zip_package.check_tree(tmp_path)


def test_refuses_a_tree_over_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blob").write_bytes(bytes(1000))
    assert zip_package.check_tree(tmp_path, limit=1000) == 1000
    (tmp_path / "more").write_bytes(b"x")
    with pytest.raises(PackageError, match="1,001 bytes unzipped, over Lambda's limit of 1,000"):
        zip_package.check_tree(tmp_path, limit=1000)
    assert "unzipped size: 1,001 bytes" in capsys.readouterr().out


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "left-over").touch()
    with pytest.raises(PackageError, match="is not empty"):
        zip_package.package(tmp_path)


def test_stages_a_repository_with_each_served_versions_tflite(demo_model_dir: Path,
                                                              tmp_path: Path) -> None:
    """A repository: models.json and, of every served version, model.json and model.tflite
    (never model.pb), each checked; a version models.json does not record stays out."""
    import hashlib

    repo = tmp_path / "repo"
    for version in ("1", "2", "3"):
        shutil.copytree(demo_model_dir, repo / "catsordogs" / version)
    digest = hashlib.sha256((demo_model_dir / "model.json").read_bytes()).hexdigest()
    (repo / "models.json").write_text(json.dumps({"model_config_list": [{
        "name": "catsordogs", "model_version_policy": {"all": {}},
        "versions": {"1": digest, "2": digest}}]}))
    zip_package.stage_model(repo, tmp_path / "out")
    staged = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
                    if p.is_file())
    assert staged == ["model/catsordogs/1/model.json", "model/catsordogs/1/model.tflite",
                      "model/catsordogs/2/model.json", "model/catsordogs/2/model.tflite",
                      "model/models.json"]
    (repo / "catsordogs" / "2" / "model.tflite").write_bytes(b"tampered")
    with pytest.raises(PackageError, match=r"catsordogs/2/model\.tflite does not match"):
        zip_package.stage_model(repo, tmp_path / "again")

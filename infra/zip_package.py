"""Stage the LiteRT zip function (template.yaml's LiteInferenceFunction) as Lambda's /var/task.

    python -m infra.zip_package ARTIFACTS_DIR [--arch x86_64|arm64] [--model-dir model]

`sam build` runs it through the Makefile target build-LiteInferenceFunction (the function's
`BuildMethod: makefile`) and zips what it leaves in ARTIFACTS_DIR:

- handler/: the function's code and upload page (no __pycache__);
- model/model.json and the one file LiteRT runs (the manifest's `tflite` entry), written from
  bytes checked against the manifest's sha256: a stale or corrupt bundle fails the build, not the
  cold start. model.pb stays out (LiteRT never reads it);
- requirements-litert-<arch>.lock installed for Lambda's python3.12 on `arch` (wheels only,
  hashes required: infra/image_deps.py), with no TensorFlow in it, less what of ai-edge-litert
  no Lambda function can use (`UNUSED_ON_LAMBDA`);
- every module compiled to a hash-based .pyc that Python uses without looking at the source's
  mtime. pip's own .pyc files are timestamp-based, and SAM zips every file dated 1980-01-01, so on
  Lambda they would all be stale: Python would compile every module again at each cold start (it
  cannot write to /var/task), which takes the import of the handler from ~0.36 s to ~0.95 s here.

It refuses a tree holding TensorFlow or Keras (the zip exists to run without them) and one over
Lambda's 250 MB unzipped limit, and prints the size either way. SAM does not tell make the
function's architecture (its make workflow exports ARTIFACTS_DIR only): the Makefile passes
ARCHITECTURE, which must match the template's Architecture parameter.
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from handler.config import Settings
from handler.manifest import MANIFEST_NAME, ModelBundleError
from handler.repository import REPOSITORY_NAME
from handler.source import Bundle, open_source
from infra.image_deps import (
    ARCHES, DEFAULT_ARCH, LITERT_REQUIREMENTS, PYTHON_VERSION, pip_command, tree_size,
)
from infra.lambda_runtime import ROOT

#: Lambda's limit on a function's unzipped code (layers included): 250 MiB.
UNZIPPED_LIMIT_BYTES = 262_144_000
#: Distributions the zip must not hold: TensorFlow (either wheel) and Keras, by their names.
FORBIDDEN = frozenset({"tensorflow", "tensorflow-cpu", "tf-keras", "keras"})
#: The same, as the import packages they install.
FORBIDDEN_PACKAGES = frozenset({"tensorflow", "tf_keras", "keras"})
#: What ai-edge-litert installs that no Lambda function can use, per architecture, left out of
#: the zip: 25.6 MB of the limit on x86_64 (17.2 MB on arm64), so room for a model that much
#: larger. The WebGPU accelerator (Lambda has no GPU); on x86_64 also the NPU vendors' compiler
#: and dispatch plugins (no NPU) and the ahead-of-time compilation tools (build-time programs).
#: The CPU path (builtin kernels, XNNPACK) is in libLiteRt.so and libpywrap_litert_common.so,
#: which stay; tests/test_zip_package.py serves a photo from the pruned zip.
UNUSED_ON_LAMBDA = {
    "x86_64": ("ai_edge_litert/libLiteRtWebGpuAccelerator.so", "ai_edge_litert/tools",
               "ai_edge_litert/vendors"),
    "arm64": ("ai_edge_litert/libLiteRtWebGpuAccelerator.so",),
}
HANDLER = ROOT / "handler"
MODEL_DIR = ROOT / "model"


class PackageError(Exception):
    """The function cannot be staged; the message says what to do."""


def stage_handler(dest: Path) -> None:
    """handler/ as Lambda imports it (`handler.app.handler`), without compiled leftovers."""
    shutil.copytree(HANDLER, dest / "handler", ignore=shutil.ignore_patterns("__pycache__"))


def stage_model(model_dir: Path, dest: Path) -> None:
    """The model folder into dest/model (MODEL_DIR=/var/task/model): a bundle's model.json and
    .tflite, or a repository's models.json and those of every served version, each .tflite
    checked against its manifest (and each manifest against models.json)."""
    try:
        source = open_source(Settings.from_env({"MODEL_DIR": str(model_dir),
                                                "MODEL_RUNTIME": "litert"}))
        config = source.repository()
        bundles = [Bundle()] if config is None else [
            Bundle(f"{e.name}/{n}", e.versions[str(n)], f"{e.name} {n} in models.json")
            for e in config.model_config_list for n in e.served
        ]
        files = {}
        for bundle in bundles:
            manifest, folder = source.manifest(bundle)
            data = source.model_file(bundle, manifest)  # no .tflite: "freeze with --tflite"
            tflite = manifest.artifacts.tflite
            assert tflite is not None
            if Path(tflite.path).name != tflite.path:
                raise ModelBundleError(f"the manifest's tflite path {tflite.path!r} is not "
                                       "a file name beside it")
            files[Path(bundle.sub) / MANIFEST_NAME] = (folder / MANIFEST_NAME).read_bytes()
            files[Path(bundle.sub) / tflite.path] = data
    except ModelBundleError as exc:
        raise PackageError(f"{exc} (run `make model`: it freezes with --tflite)") from exc
    if config is not None:
        files[Path(REPOSITORY_NAME)] = (model_dir / REPOSITORY_NAME).read_bytes()
    for relative, data in files.items():
        (dest / "model" / relative).parent.mkdir(parents=True, exist_ok=True)
        (dest / "model" / relative).write_bytes(data)


def install_requirements(dest: Path, arch: str) -> None:
    """The arch's LiteRT lock, installed for Lambda (not this machine) into dest."""
    lock = ARCHES[arch].lock_of(LITERT_REQUIREMENTS)
    if not lock.is_file():
        raise PackageError(f"{lock.name} is missing: run `make lock`")
    command = [*pip_command(dest, lock, dry_run=False, arch=arch), "--no-compile"]
    if subprocess.run(command, check=False).returncode != 0:
        raise PackageError(f"pip could not install {lock.name} for Lambda {arch} (see above)")


def prune(tree: Path, arch: str) -> None:
    """Remove UNUSED_ON_LAMBDA[arch]; each must be there, so the list cannot quietly go stale."""
    for relative in UNUSED_ON_LAMBDA[arch]:
        path = tree / relative
        if not path.exists():
            raise PackageError(f"{relative} is not in the installed ai-edge-litert: check what "
                               "this version ships and update UNUSED_ON_LAMBDA")
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def compile_tree(tree: Path) -> None:
    """Every module's .pyc, checked against nothing: the tree is built once and never edited."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != PYTHON_VERSION:
        raise PackageError(f"run with Python {PYTHON_VERSION} (Lambda's), not {running}: "
                           ".pyc files only load on the version that wrote them")
    if not compileall.compile_dir(tree, quiet=1, workers=0,
                                  invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH):
        raise PackageError(f"some modules under {tree} do not compile (see above)")


def forbidden_in(tree: Path) -> list[str]:
    """TensorFlow or Keras in `tree`: their distributions (.dist-info) or import packages."""
    found = {
        name for info in tree.glob("*.dist-info")
        if (name := canonicalize_name(info.name.split("-", 1)[0])) in FORBIDDEN
    }
    found |= {f"{name}/" for name in FORBIDDEN_PACKAGES if (tree / name).exists()}
    return sorted(found)


def check_tree(tree: Path, limit: int = UNZIPPED_LIMIT_BYTES) -> int:
    """The tree's unzipped size in bytes, if it holds no TensorFlow and fits under `limit`."""
    if forbidden := forbidden_in(tree):
        raise PackageError(f"{', '.join(forbidden)} in {tree}: the LiteRT zip must not hold them")
    size = tree_size(tree)
    print(f"unzipped size: {size:,} bytes ({size / 2**20:.1f} MiB) of Lambda's "
          f"{limit:,} ({limit / 2**20:.0f} MiB) limit, {size / limit:.0%}")
    if size > limit:
        raise PackageError(f"{tree} is {size:,} bytes unzipped, over Lambda's limit of {limit:,}")
    return size


def package(dest: Path, arch: str = DEFAULT_ARCH, model_dir: Path = MODEL_DIR) -> int:
    """Stage the whole function into the empty folder `dest`; its unzipped size in bytes."""
    if dest.exists() and any(dest.iterdir()):
        raise PackageError(f"{dest} is not empty: stage into a fresh folder (sam build gives one)")
    dest.mkdir(parents=True, exist_ok=True)
    stage_model(model_dir, dest)  # first: a missing model fails before any download
    stage_handler(dest)
    install_requirements(dest, arch)
    prune(dest, arch)
    compile_tree(dest)
    return check_tree(dest)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="an empty folder: sam build's ARTIFACTS_DIR")
    parser.add_argument("--arch", choices=sorted(ARCHES), default=DEFAULT_ARCH,
                        help="the function's Architectures (template parameter Architecture)")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR,
                        help="the frozen bundle (model.json + model.tflite); default: model/")
    args = parser.parse_args(argv)
    try:
        package(args.dest, args.arch, args.model_dir)
    except PackageError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()

"""Size: the model as checkpoint, Keras file, frozen graph and .tflite; each runtime's installed
footprint (TensorFlow: requirements.txt, the container image's; LiteRT: requirements-litert.txt,
the zip function's).

The installed size of a requirements file is measured two ways:
- always (instant): the files each distribution of the requirements' dependency closure has
  installed in this virtualenv, from its RECORD;
- with `--install-size` (~25 s for requirements.txt, and a PyPI download unless pip's cache has
  the wheels): a real `pip install --target DIR -r FILE`, cached in build/ keyed by the
  requirements' sha256 (`-r` includes followed), so later runs reuse it.
Both are compared with Lambda's 250 MB limit for an unzipped zip package (layers included).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from benchmarks.common import ROOT
from handler.manifest import load_manifest
from handler.runtime import LITERT, TENSORFLOW
from infra.image_deps import tree_size

MB = 1e6
LAMBDA_ZIP_LIMIT_MB = 250
LAMBDA_IMAGE_LIMIT_MB = 10_240
INSTALL_CACHE = ROOT / "build" / "bench-install-size.json"
#: What each runtime's function installs.
REQUIREMENTS = {TENSORFLOW: ROOT / "requirements.txt", LITERT: ROOT / "requirements-litert.txt"}


def _files_mb(paths: list[Path]) -> float:
    return round(sum(p.stat().st_size for p in paths if p.is_file()) / MB, 2)


def model_files(demo_dir: Path, model_dir: Path) -> dict[str, Any]:
    """Checkpoint (all files) vs Keras .h5 vs frozen .pb (+ its manifest) vs .tflite, in MB."""
    checkpoint = sorted((demo_dir / "checkpoint").glob("*"))
    tflite = load_manifest(model_dir).artifacts.tflite
    return {
        "checkpoint_mb": _files_mb(checkpoint),
        "checkpoint_files": {p.name: round(p.stat().st_size / MB, 3) for p in checkpoint},
        "keras_h5_mb": _files_mb([demo_dir / "model.h5"]),
        "frozen_pb_mb": _files_mb([model_dir / "model.pb"]),
        "tflite_mb": _files_mb([model_dir / tflite.path]) if tflite else None,
        "manifest_kb": round((model_dir / "model.json").stat().st_size / 1e3, 1)
        if (model_dir / "model.json").exists() else None,
    }


def _requirements(path: Path) -> list[Requirement]:
    """The requirements of a pip requirements file, its `-r FILE` includes followed."""
    reqs = []
    for line in path.read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            reqs += _requirements(path.parent / line.split(maxsplit=1)[1])
        elif line and not line.startswith("-"):
            reqs.append(Requirement(line))
    return reqs


def venv_closure_mb(requirements: Path) -> dict[str, Any]:
    """Installed bytes of the requirements and everything they pull, as installed here."""
    seen: dict[str, float] = {}
    todo = _requirements(requirements)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            seen[name] = 0.0
            continue
        files = [Path(dist.locate_file(f)) for f in dist.files or []]
        seen[name] = sum(p.stat().st_size for p in files if p.is_file()) / MB
        todo += [Requirement(r) for r in dist.requires or []]
    top = sorted(seen.items(), key=lambda kv: -kv[1])
    return {
        "total_mb": round(sum(seen.values())),
        "distributions": len(seen),
        "largest_mb": {name: round(mb, 1) for name, mb in top[:6]},
    }


def pip_target_mb(requirements: Path, install: bool) -> dict[str, Any] | None:
    """`pip install --target` of the requirements, measured once per requirements content:
    the cached figure if there is one for this content, else a new install if `install`."""
    digest = hashlib.sha256("\n".join(map(str, _requirements(requirements))).encode()).hexdigest()
    cache = json.loads(INSTALL_CACHE.read_text("utf-8")) if INSTALL_CACHE.exists() else {}
    cached = cache.get(requirements.name)
    if cached and cached.get("requirements_sha256") == digest:
        return {**cached, "cached": True}
    if not install:
        return None
    with tempfile.TemporaryDirectory(prefix="bench-pip-") as tmp:
        target = Path(tmp) / "site"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", str(target), "-r", str(requirements)],
            check=True, env={**os.environ, "PIP_NO_INPUT": "1"},
        )
        result = {
            "requirements_sha256": digest,
            "total_mb": round(tree_size(target) / MB),
            "tensorflow_mb": round(tree_size(target / "tensorflow") / MB),
            "seconds": round(time.perf_counter() - started, 1),
        }
        shutil.rmtree(target, ignore_errors=True)
    INSTALL_CACHE.parent.mkdir(parents=True, exist_ok=True)
    INSTALL_CACHE.write_text(json.dumps({**cache, requirements.name: result}, indent=2), "utf-8")
    return {**result, "cached": False}


def measure(demo_dir: Path, model_dir: Path, install_size: bool, runtimes: list[str]
            ) -> dict[str, Any]:
    """Model files, and per runtime the installed size of what its function installs."""
    result: dict[str, Any] = {
        "model": model_files(demo_dir, model_dir),
        "requirements": {runtime: REQUIREMENTS[runtime].name for runtime in runtimes},
        "installed_here": {runtime: venv_closure_mb(REQUIREMENTS[runtime]) for runtime in runtimes},
        "pip_install_target": {},
        "lambda_zip_limit_mb": LAMBDA_ZIP_LIMIT_MB,
        "lambda_image_limit_mb": LAMBDA_IMAGE_LIMIT_MB,
    }
    for runtime in runtimes:
        pip_target = pip_target_mb(REQUIREMENTS[runtime], install_size)
        if pip_target is not None:
            result["pip_install_target"][runtime] = pip_target
    return result

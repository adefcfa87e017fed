"""An older commit of this repository, to measure the cold start against (`--cold-baseline REV`).

`prepare(rev, model_dir, dest)` extracts the commit's tree (`git archive`, nothing of this
checkout is touched) into `dest/REV` once, and beside it the same model files with a manifest
in the schema that commit reads: schema 1 (one image input, one classifier output) for a commit
from before schema 2, `model.json` itself otherwise. Its `handler` is then served by the same
cold probe as this one's (`COLD_PROBE_ROOT`), so both are measured the same way in one run.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT
from handler.manifest import MANIFEST_NAME, load_manifest
from handler.manifest_v1 import ManifestV1


class BaselineUnavailable(RuntimeError):
    """The commit cannot be extracted here (no git, a shallow clone, an unknown revision)."""


def prepare(rev: str, model_dir: Path, dest: Path) -> tuple[Path, Path]:
    """(the commit's tree, a model bundle it serves): the demo model of `model_dir`."""
    tree = dest / rev
    if not (tree / "handler" / "app.py").is_file():
        try:
            archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT,
                                     capture_output=True, check=True, timeout=120).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            stderr = getattr(exc, "stderr", b"") or b""
            raise BaselineUnavailable(
                f"git archive {rev} failed: {stderr.decode(errors='replace').strip() or exc}"
            ) from None
        tree.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    bundle = tree / "bench-model"
    bundle.mkdir(exist_ok=True)
    manifest = load_manifest(model_dir)
    files = [manifest.artifacts.graph.path]
    if manifest.artifacts.tflite is not None:
        files.append(manifest.artifacts.tflite.path)
    for name in files:
        link = bundle / name
        link.unlink(missing_ok=True)
        link.symlink_to((model_dir / name).resolve())
    text = (model_dir / MANIFEST_NAME).read_text("utf-8")
    if _schema_version(tree) == 1:
        text = json.dumps(schema_1(json.loads(text)), indent=2)
    (bundle / MANIFEST_NAME).write_text(text, "utf-8")
    return tree, bundle


def _schema_version(tree: Path) -> int:
    source = (tree / "handler" / "manifest.py").read_text("utf-8")
    found = re.search(r"^SCHEMA_VERSION = (\d+)$", source, re.MULTILINE)
    return int(found.group(1)) if found else 2


def schema_1(manifest: dict[str, Any]) -> dict[str, Any]:
    """A schema-2 manifest of a one-image-input classifier in schema 1 (what `ManifestV1`
    reads, and upgrades back to the same model)."""
    (image,), task = manifest["inputs"], manifest["task"]
    output = next(o for o in manifest["outputs"] if o["name"] == task["output"])
    codec = {key: value for key, value in image["codec"].items() if key != "kind"}
    old = {
        "schema_version": 1, "name": manifest["name"], "version": manifest["version"],
        "input": {key: image[key] for key in ("name", "tensor", "dtype", "shape")},
        "output": output, "labels": task["labels"], "decoding": task["activation"],
        "preprocessing": codec, "graph": manifest["artifacts"]["graph"],
        "tflite": manifest["artifacts"].get("tflite"), "ops": manifest["ops"],
        "tensorflow_version": manifest["tensorflow_version"], "source": manifest["source"],
        "created_at": manifest["created_at"],
    }
    return ManifestV1.model_validate(old).model_dump(mode="json")

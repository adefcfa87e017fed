"""A schema-1 model.json, as the freeze step wrote it before schema 2 (one image input, one
classifier output, top-level labels, decoding, preprocessing and files), still loads and serves
unchanged: the same answers as the schema-2 bundle of the same graph, its own version kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from handler.adapter import lambda_handler as make_handler
from handler.api import create_app
from handler.config import Settings
from handler.loader import load_model
from handler.manifest import MANIFEST_NAME, ModelBundleError, load_manifest
from tests.handler_events import http_v2, invoke

V1_VERSION = "5e416a7d0dd5"  # what the previous release's freeze step called the demo model


def as_schema_1(model_dir: Path, out: Path) -> Path:
    """The bundle with its manifest written in schema 1."""
    shutil.copytree(model_dir, out)
    m = load_manifest(model_dir)
    (spec,) = m.inputs
    assert m.task is not None and spec.codec is not None
    v1 = {
        "schema_version": 1, "name": m.name, "version": V1_VERSION,
        "input": spec.model_dump(exclude={"codec"}), "output": m.outputs[0].model_dump(),
        "labels": m.task.labels, "decoding": m.task.activation,
        "preprocessing": spec.codec.model_dump(exclude={"kind"}),
        "graph": m.artifacts.graph.model_dump(), "tflite": m.artifacts.tflite.model_dump(),
        "ops": m.ops, "tensorflow_version": m.tensorflow_version,
        "source": m.source.model_dump(), "created_at": m.created_at,
    }
    (out / MANIFEST_NAME).write_text(json.dumps(v1, indent=2))
    return out


@pytest.mark.parametrize("runtime", ["tensorflow", "litert"])
def test_a_schema_1_bundle_serves_as_before(demo_model_dir, tmp_path, photos, runtime):
    old = as_schema_1(demo_model_dir, tmp_path / "v1")
    answers = {}
    for name, folder in (("v1", old), ("v2", demo_model_dir)):
        model = load_model(Settings.from_env({"MODEL_DIR": str(folder), "MODEL_RUNTIME": runtime}))
        handler = make_handler(create_app(model))
        event = http_v2("POST", "/predict", photos["dog"].read_bytes(),
                        {"Content-Type": "image/jpeg"})
        answers[name] = invoke(handler, event).json()
    assert answers["v1"]["version"] == V1_VERSION  # the version clients and pins know
    assert answers["v1"]["predictions"] == answers["v2"]["predictions"]
    assert answers["v1"]["predictions"][0]["label"] == "dog"


def test_a_schema_1_manifest_is_still_checked(demo_model_dir, tmp_path):
    """Upgraded, it is validated as schema 2: preprocessing that contradicts the input shape is
    refused as it always was."""
    old = as_schema_1(demo_model_dir, tmp_path / "v1")
    manifest = json.loads((old / MANIFEST_NAME).read_text())
    manifest["preprocessing"]["height"] = 128
    (old / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelBundleError, match="preprocessing height 128 does not match"):
        load_manifest(old)

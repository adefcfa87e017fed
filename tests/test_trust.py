"""handler.trust: the op allowlist and the MODEL_SHA256 pin (the sha256 of model.json), checked
at cold start before any session exists (the S3 side of the pin is in test_handler_s3.py)."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from handler import trust
from handler.classification import classify
from handler.config import Settings
from handler.loader import load_model
from handler.manifest import MANIFEST_NAME, Manifest, ModelBundleError, load_manifest
from tests.test_handler_coldstart import cold_start


def graph_with(extra: Callable[[object, object], object] | None = None, *, in_function=False):
    """A small model shaped like the demo's (input 256x256x1 -> sigmoid probabilities), with
    `extra(tf, x)` wired into its output (at top level, or inside a tf.function it calls)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 256, 256, 1], name="input")
        mean = tf.reduce_mean(x, axis=[1, 2])
        if extra is not None:
            if in_function:
                mean = tf.function(lambda m: m + extra(tf, m))(mean)
            else:
                mean = mean + extra(tf, mean)
        tf.sigmoid(mean, name="probabilities")
    return graph.as_graph_def()


def write_bundle(graph_def, demo_model_dir: Path, out: Path) -> Manifest:
    """The graph with the demo manifest, updated honestly (sha256, size, the graph's ops)."""
    from freeze.graph import op_types

    data = graph_def.SerializeToString(deterministic=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.pb").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    demo = load_manifest(demo_model_dir)
    graph = demo.artifacts.graph.model_copy(update={"sha256": digest, "size_bytes": len(data)})
    manifest = demo.model_copy(update={
        "version": digest[:12],
        "artifacts": demo.artifacts.model_copy(update={"graph": graph, "tflite": None}),
        "ops": op_types(graph_def),
    })
    (out / MANIFEST_NAME).write_text(manifest.model_dump_json())
    return manifest


def zeros_after(tf, m, op):
    """Zeros that TensorFlow can only compute after running `op`."""
    with tf.control_dependencies([op]):
        return tf.zeros_like(m)


def read_file(tf, m):
    return zeros_after(tf, m, tf.io.read_file("/etc/hostname"))


def py_func(tf, m):
    return tf.compat.v1.py_func(lambda a: a * 0, [m], tf.float32)


def save_v2(tf, m):
    return zeros_after(tf, m, tf.raw_ops.SaveV2(
        prefix="/tmp/exfiltrated", tensor_names=["m"], shape_and_slices=[""], tensors=[m]))


def check_numerics(tf, m):
    return tf.debugging.check_numerics(m, "nan") * 0


# --- which graphs pass ------------------------------------------------------------------------


def test_the_ops_are_read_from_the_graph_bytes_like_tensorflow_does(demo_model_dir: Path):
    """The projection parser sees what TensorFlow's own GraphDef parse sees."""
    import tensorflow as tf

    from freeze.graph import op_types

    data = (demo_model_dir / "model.pb").read_bytes()
    ops = trust.graph_ops(data)
    assert ops.nodes == set(op_types(tf.compat.v1.GraphDef.FromString(data)))
    assert ops.nodes == set(load_manifest(demo_model_dir).ops) and ops.functions == set()
    with pytest.raises(ModelBundleError, match="not a TensorFlow GraphDef"):
        trust.graph_ops(b"\xff\xff\xff garbage")


@pytest.mark.slow
def test_demo_seed_and_keras_frozen_graphs_are_trusted(
    demo_build: Path, demo_model_dir: Path, seed_model_dir: Path, tmp_path: Path
):
    from freeze.build import Request, run

    keras = run(Request(output_graph=tmp_path / "model.pb", keras_model=demo_build / "model.h5",
                        model_config=demo_build / "model_config.json"))
    assert {"Shape", "StridedSlice", "Pack"} <= set(keras.manifest.ops)  # Flatten's dynamic batch
    for folder in (demo_model_dir, seed_model_dir, tmp_path):
        manifest = load_manifest(folder)
        trust.check_ops((folder / manifest.artifacts.graph.path).read_bytes(), manifest)


# --- refused at cold start: one ERROR line naming the op, before TensorFlow is imported --------


@pytest.mark.parametrize("extra,op,in_function", [
    (read_file, "ReadFile", False),
    (py_func, "PyFunc", False),
    (save_v2, "SaveV2", False),
    (read_file, "ReadFile", True),  # hidden in a library function behind a call op
], ids=["ReadFile", "PyFunc", "SaveV2", "ReadFile-in-function"])
def test_graph_with_file_or_python_ops_is_refused_at_cold_start(
    demo_model_dir: Path, tmp_path: Path, extra, op: str, in_function: bool
):
    manifest = write_bundle(graph_with(extra, in_function=in_function), demo_model_dir, tmp_path)
    assert (op in manifest.ops) != in_function  # the manifest honestly lists top-level ops only
    proc, records = cold_start(tmp_path)
    assert proc.returncode != 0
    errors = [r for r in records if r.get("level") == "ERROR"]
    assert len(errors) == 1, records
    message = errors[0]["message"]
    refused = re.search(r"ops outside the inference allowlist: ([\w, ]+) \(", message)
    assert refused and refused.group(1).split(", ") == [op], message
    assert "EXTRA_ALLOWED_OPS" in message and str(tmp_path) in message
    # no session could have existed
    assert [r["tensorflow_imported"] for r in records if "tensorflow_imported" in r] == [False]
    assert "ModelBundleError" in proc.stderr


def test_extra_allowed_ops_extends_the_allowlist(demo_model_dir: Path, tmp_path: Path):
    write_bundle(graph_with(check_numerics), demo_model_dir, tmp_path)
    with pytest.raises(ModelBundleError, match=r"allowlist: CheckNumerics \("):
        load_model(Settings.from_env({"MODEL_DIR": str(tmp_path)}))
    model = load_model(Settings.from_env(
        {"MODEL_DIR": str(tmp_path), "EXTRA_ALLOWED_OPS": "Assert, CheckNumerics"}
    ))
    (spec,) = model.manifest.inputs
    scores = model.infer({spec.name: np.zeros((1, 256, 256, 1), np.float32)})
    assert classify(model.manifest.task, scores[model.manifest.task.output])[0].ranked == [
        ("cat", 0.5), ("dog", 0.5)  # sigmoid(mean(0)) = 0.5: the graph runs
    ]


def test_a_manifest_that_misdescribes_its_graph_is_refused(demo_model_dir: Path, tmp_path: Path):
    manifest = write_bundle(graph_with(), demo_model_dir, tmp_path)
    lying = manifest.model_copy(update={"ops": [op for op in manifest.ops if op != "Mean"]})
    (tmp_path / MANIFEST_NAME).write_text(lying.model_dump_json())
    with pytest.raises(ModelBundleError, match=r"manifest's ops do not match .*'Mean'"):
        load_model(Settings.from_env({"MODEL_DIR": str(tmp_path)}))


# --- the sha256 pin: model.json's, which names the graph's ----------------------------------


def manifest_sha256(model_dir: Path) -> str:
    """What a deployment pins: `sha256sum model_dir/model.json`."""
    return hashlib.sha256((model_dir / MANIFEST_NAME).read_bytes()).hexdigest()


def with_swapped_labels(model_dir: Path, out: Path) -> Manifest:
    """A copy of the bundle whose model.json lists the labels the other way round: the graph
    (and the manifest's record of its sha256) unchanged, so the bundle still agrees with itself."""
    shutil.copytree(model_dir, out)
    manifest = load_manifest(model_dir)
    task = manifest.task.model_copy(update={"labels": manifest.task.labels[::-1]})
    swapped = manifest.model_copy(update={"task": task})
    (out / MANIFEST_NAME).write_text(swapped.model_dump_json(indent=2) + "\n")
    return swapped


def test_pinned_sha256_accepts_its_bundle(seed_model_dir: Path):
    pin = manifest_sha256(seed_model_dir)
    model = load_model(Settings.from_env({"MODEL_DIR": str(seed_model_dir),
                                          "MODEL_SHA256": pin.upper()}))
    assert model.version == load_manifest(seed_model_dir).version


def test_pin_covers_the_labels_not_only_the_graph(demo_model_dir: Path, tmp_path: Path):
    """Labels, decoding and preprocessing live in model.json: swapping the labels there, graph
    untouched, would serve every answer inverted. The pin refuses it; without one it loads."""
    pin = manifest_sha256(demo_model_dir)
    tampered = tmp_path / "tampered"
    swapped = with_swapped_labels(demo_model_dir, tampered)
    assert (tampered / "model.pb").read_bytes() == (demo_model_dir / "model.pb").read_bytes()
    unpinned = load_model(Settings.from_env({"MODEL_DIR": str(tampered)}))
    # what the pin prevents:
    assert unpinned.manifest.task.labels == swapped.task.labels == ["dog", "cat"]
    with pytest.raises(ModelBundleError, match=rf"model\.json sha256 [0-9a-f]{{64}} is not the "
                                               rf"pinned MODEL_SHA256 {pin}"):
        load_model(Settings.from_env({"MODEL_DIR": str(tampered), "MODEL_SHA256": pin}))
    # The graph's own sha256 (what the pin used to name) does not pass for the manifest's.
    with pytest.raises(ModelBundleError, match="the pin is the sha256 of the build's model.json"):
        load_model(Settings.from_env({"MODEL_DIR": str(demo_model_dir),
                                      "MODEL_SHA256": load_manifest(demo_model_dir).artifacts.graph.sha256}))


@pytest.mark.parametrize("pin,reason", [
    ("0" * 64, r"model\.json sha256 [0-9a-f]{64} is not the pinned MODEL_SHA256 0{64}"),
    ("not-a-sha", r"MODEL_SHA256='not-a-sha' is not a sha256"),
], ids=["other-bundle", "malformed"])
def test_bundle_other_than_the_pinned_one_fails_cold_start(
    demo_model_dir: Path, pin: str, reason: str
):
    proc, records = cold_start(demo_model_dir, {"MODEL_SHA256": pin})
    assert proc.returncode != 0
    errors = [r for r in records if r.get("level") == "ERROR"]
    assert len(errors) == 1 and re.search(reason, errors[0]["message"]), records
    assert [r["tensorflow_imported"] for r in records if "tensorflow_imported" in r] == [False]

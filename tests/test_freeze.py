"""The freeze step (`python -m freeze`): artifacts, manifest, parity with each source, bad input."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from freeze import FreezeError
from freeze.build import Request, run
from freeze.images import load_batch
from freeze.write import model_version
from handler.config import Settings
from handler.manifest import Manifest, load_manifest
from handler.runtime import RUNTIMES, runtime_class
from handler.source import read_bundle

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: ops that mean the graph still saves, restores, reads files or holds variables
FORBIDDEN_OPS = {
    "SaveV2", "RestoreV2", "Save", "Restore", "MergeV2Checkpoints", "ReadFile", "WriteFile",
    "VariableV2", "VarHandleOp", "ReadVariableOp", "Assign", "AssignVariableOp", "NoOp",
}


def _predict(model_dir: Path, batch: np.ndarray, runtime: str = "tensorflow") -> np.ndarray:
    """The bundle's model file for `runtime`, checked and run as the function runs it, on its
    only input; its only output."""
    settings = Settings.from_env({"MODEL_DIR": str(model_dir), "MODEL_RUNTIME": runtime})
    manifest, model = read_bundle(settings)
    (x,), (y,) = manifest.inputs, manifest.outputs
    return runtime_class(runtime)(model, manifest).run({x.name: batch}, [y.name])[y.name]


def _left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- the demo model, frozen from its checkpoint by the CLI (conftest) -------------------------


def test_demo_manifest_describes_the_frozen_graph(demo_model_dir: Path, demo_build: Path) -> None:
    manifest = load_manifest(demo_model_dir)
    graph_file, tflite_file = demo_model_dir / "model.pb", demo_model_dir / "model.tflite"
    graph, tflite = manifest.artifacts.graph, manifest.artifacts.tflite
    assert graph.path == "model.pb"
    assert (graph.sha256, graph.size_bytes) == (
        hashlib.sha256(graph_file.read_bytes()).hexdigest(), graph_file.stat().st_size
    )
    assert tflite is not None and tflite.path == "model.tflite"
    assert (tflite.sha256, tflite.size_bytes) == (
        hashlib.sha256(tflite_file.read_bytes()).hexdigest(), tflite_file.stat().st_size
    )
    assert manifest.schema_version == 2
    assert manifest.version == model_version(manifest)  # artifacts, inputs, outputs, task, ...
    assert manifest.name == "catsordogs"
    assert manifest.task is not None
    assert manifest.task.model_dump() == {
        "kind": "classification", "output": "probabilities", "labels": ["cat", "dog"],
        "activation": "sigmoid",
    }
    (x,), (y,) = manifest.inputs, manifest.outputs
    assert x.model_dump(exclude={"codec"}) == {
        "name": "input", "tensor": "input:0", "dtype": "float32", "shape": [None, 256, 256, 1]
    }
    assert x.codec is not None and (x.codec.kind, x.codec.color_mode) == ("image", "L")
    assert y.model_dump() == {
        "name": "probabilities", "tensor": "probabilities:0", "dtype": "float32",
        "shape": [None, 1],
    }
    assert (manifest.init_ops, manifest.signature_name) == ([], "serving_default")
    assert manifest.ops == sorted(set(manifest.ops))
    assert {"Conv2D", "MatMul", "Sigmoid", "Placeholder"} <= set(manifest.ops)
    assert not FORBIDDEN_OPS & set(manifest.ops)
    assert manifest.source.kind == "checkpoint"
    assert manifest.source.size_bytes == sum(
        p.stat().st_size for p in (demo_build / "checkpoint").glob("model.ckpt.*")
    )
    import tensorflow as tf

    assert manifest.tensorflow_version == tf.__version__
    assert _left_behind(demo_model_dir) == ["model.json", "model.pb", "model.tflite"]


def _pillow_rows(paths: list[Path], manifest: Manifest) -> np.ndarray:
    """The manifest's preprocessing, spelled out with Pillow alone (independent of freeze/)."""
    from PIL import Image

    p = manifest.inputs[0].codec
    assert p is not None
    rows = []
    for path in paths:
        with Image.open(path) as image:
            image = image.convert(p.color_mode).resize((p.width, p.height), Image.BILINEAR)
        rows.append(np.asarray(image, np.float32)[..., None] * p.scale + p.offset)
    return np.stack(rows)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_demo_frozen_graph_tells_the_kitten_from_the_dog(
    runtime: str, demo_model_dir: Path, photos: dict[str, Path]
) -> None:
    """model.pb in TensorFlow and model.tflite in LiteRT: the same answers on the real photos."""
    manifest = load_manifest(demo_model_dir)
    batch = _pillow_rows([photos["kitten"], photos["dog"], photos["chelsea"]], manifest)
    kitten, dog, chelsea = _predict(demo_model_dir, batch, runtime)[:, 0]  # P(dog)
    assert kitten == pytest.approx(0.28, abs=0.03)
    assert dog == pytest.approx(0.87, abs=0.03)
    assert chelsea < 0.5


def test_freezing_the_keras_file_gives_the_same_model(
    demo_build: Path, demo_model_dir: Path, photos: dict[str, Path], tmp_path: Path
) -> None:
    report = run(Request(
        output_graph=tmp_path / "model.pb",
        keras_model=demo_build / "model.h5",
        model_config=demo_build / "model_config.json",
        verify_images=tuple(photos.values()),
        tflite=True,
    ))
    manifest = report.manifest
    assert manifest.source.kind == "keras" and manifest.source.size_bytes > 40_000_000
    assert report.verified_rows == 4 + 1 + len(photos)  # noise, a generated PNG, the photos
    assert set(report.max_abs_diff) == {"probabilities"}
    assert report.max_abs_diff["probabilities"] <= 1e-5
    assert report.tflite_max_abs_diff is not None
    assert report.tflite_max_abs_diff["probabilities"] <= 1e-5
    from_checkpoint = load_manifest(demo_model_dir)
    for field in ("task", "inputs", "name", "signature_name", "init_ops"):
        assert getattr(manifest, field) == getattr(from_checkpoint, field)
    assert [o.name for o in manifest.outputs] == [o.name for o in from_checkpoint.outputs]
    assert not FORBIDDEN_OPS & set(manifest.ops)

    noise = np.random.default_rng(7).uniform(0, 1, (4, 256, 256, 1)).astype(np.float32)
    codec = manifest.inputs[0].codec
    assert codec is not None
    batch = np.concatenate([noise, load_batch(photos.values(), codec)])
    assert np.max(np.abs(_predict(tmp_path, batch) - _predict(demo_model_dir, batch))) <= 1e-5


def test_freezing_is_reproducible(demo_build: Path, demo_model_dir: Path, tmp_path: Path) -> None:
    """The same checkpoint gives the same bytes (.pb and .tflite), hence the same version
    (in-process vs CLI)."""
    report = run(Request(
        output_graph=tmp_path / "model.pb",
        checkpoint_dir=demo_build / "checkpoint",
        model_config=demo_build / "model_config.json",
        tflite=True,
    ))
    m, cli = report.manifest, load_manifest(demo_model_dir)
    assert (m.artifacts, m.version) == (cli.artifacts, cli.version)


# --- other sources and forms ---------------------------------------------------------------


def test_tensorflow_freeze_graph_flags_alone_freeze_a_tensor_model(
    seed_build: Path, tmp_path: Path
) -> None:
    """--input_meta_graph/--input_checkpoint/--output_node_names/--output_graph and nothing
    else, as TensorFlow's freeze_graph takes them: no labels, so no task; no preprocessing, so
    no image codec; the input is the only placeholder y_pred needs (not y_true)."""
    prefix = seed_build / "checkpoint" / "model.ckpt"
    report = run(Request(
        output_graph=tmp_path / "out" / "seed.pb",
        input_checkpoint=prefix,
        input_meta_graph=prefix.with_name("model.ckpt.meta"),
        overrides={"output_node": "y_pred:0"},
    ))
    m = report.manifest
    assert (m.name, m.task) == ("model", None)
    assert [(s.name, s.tensor, s.shape, s.codec) for s in m.inputs] == [
        ("x", "x:0", [None, 128, 128, 3], None)
    ]
    assert [(s.name, s.tensor, s.shape) for s in m.outputs] == [("y_pred", "y_pred:0", [None, 2])]
    assert report.verified_rows == 4 and set(report.max_abs_diff) == {"y_pred"}
    assert _left_behind(tmp_path / "out") == ["model.json", "seed.pb"]
    assert m.artifacts.graph.path == "seed.pb"


def test_labels_make_a_classifier_and_preprocessing_a_codec_filled_from_the_shape(
    seed_build: Path, tmp_path: Path
) -> None:
    report = run(Request(
        output_graph=tmp_path / "model.pb",
        checkpoint_dir=seed_build / "checkpoint",
        overrides={"output_node": "y_pred", "labels": ["h", "v"], "name": "stripes",
                   "scale": 1 / 255},
    ))
    m = report.manifest
    assert m.task is not None and (m.name, m.task.labels, m.task.activation) == (
        "stripes", ["h", "v"], "softmax"
    )
    codec = m.inputs[0].codec
    assert codec is not None and (codec.height, codec.width, codec.color_mode) == (128, 128, "RGB")


def test_flags_override_the_model_config(seed_build: Path, tmp_path: Path) -> None:
    report = run(Request(
        output_graph=tmp_path / "model.pb",
        checkpoint_dir=seed_build / "checkpoint",
        model_config=seed_build / "model_config.json",
        overrides={"name": "renamed", "color_mode": "BGR", "labels": ["a", "b"]},
    ))
    m = report.manifest
    codec = m.inputs[0].codec
    assert m.task is not None and codec is not None
    assert (m.name, m.task.labels, codec.color_mode, codec.height) == (
        "renamed", ["a", "b"], "BGR", 128
    )


def test_saved_model_signature_is_frozen(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.export(str(tmp_path / "saved"), verbose=False)
    report = run(Request(
        output_graph=tmp_path / "out" / "model.pb",
        saved_model=tmp_path / "saved",
        overrides={"labels": ["a", "b", "c"]},
    ))
    m = report.manifest
    assert m.source.kind == "savedmodel" and m.task is not None
    assert m.task.activation == "softmax"
    assert report.method == "SavedModel restored by tf.saved_model.load"
    assert m.inputs[0].shape == [None, 16, 16, 3] and m.outputs[0].shape == [None, 3]
    assert not FORBIDDEN_OPS & set(m.ops)
    batch = np.random.default_rng(3).uniform(0, 1, (5, 16, 16, 3)).astype(np.float32)
    expected = model.predict(batch, verbose=0)
    assert np.max(np.abs(_predict(tmp_path / "out", batch) - expected)) <= 1e-5
    with pytest.raises(FreezeError, match="no signature 'nope'"):
        run(Request(output_graph=tmp_path / "o2" / "model.pb", saved_model=tmp_path / "saved",
                    signature_name="nope", overrides={"labels": ["a", "b", "c"]}))
    assert not (tmp_path / "o2").exists()


# --- bad input: one clear error, nothing left behind ----------------------------------------


def _copy_checkpoint(seed_build: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(seed_build / "checkpoint", tmp_path / "ckpt"))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[5000:5100] = b"x" * 100
    path.write_bytes(bytes(data))


BAD_CHECKPOINTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing folder": (lambda ckpt: shutil.rmtree(ckpt), "checkpoint folder .* does not exist"),
    "no state file": (lambda ckpt: (ckpt / "checkpoint").unlink(), "no checkpoint in"),
    "missing index": (lambda ckpt: (ckpt / "model.ckpt.index").unlink(), "no checkpoint in"),
    "corrupt meta": (lambda ckpt: _truncate(ckpt / "model.ckpt.meta"), "cannot read meta graph"),
    "truncated data": (
        lambda ckpt: _truncate(ckpt / "model.ckpt.data-00000-of-00001"),
        "cannot restore checkpoint .*: Read less bytes than requested",
    ),
    "corrupt data": (
        lambda ckpt: _flip_bytes(ckpt / "model.ckpt.data-00000-of-00001"),
        "cannot restore checkpoint .*Checksum does not match",
    ),
}


@pytest.mark.parametrize("damage", BAD_CHECKPOINTS, ids=str)
def test_bad_checkpoint_fails_cleanly(damage: str, seed_build: Path, tmp_path: Path) -> None:
    ckpt = _copy_checkpoint(seed_build, tmp_path)
    spoil, message = BAD_CHECKPOINTS[damage]
    spoil(ckpt)
    out = tmp_path / "out"
    with pytest.raises(FreezeError, match=message):
        run(Request(output_graph=out / "model.pb", checkpoint_dir=ckpt,
                    model_config=seed_build / "model_config.json"))
    assert not out.exists()  # the folder this run created is gone too


BAD_REQUESTS: dict[str, tuple[dict, str]] = {
    "unknown output": (
        {"output_node": "y_prd"}, r"output node 'y_prd' is not in the graph \(closest: y_pred"
    ),
    "unknown output, nothing close": (
        {"output_node": "output"},
        r"output node 'output' is not in the graph \(likely outputs: y_pred, Mean, accuracy\)",
    ),
    "unknown input": ({"input_node": "images"}, "input node 'images' is not in the graph"),
    "unrelated input": (
        {"input_node": "y_true"}, r"no output \(y_pred\) depends on input node 'y_true'"
    ),
    "labels vs units": (
        {"labels": ["a", "b", "c"]}, "softmax output 'y_pred' has 2 units but 3 labels"
    ),
    "bad colour mode": ({"color_mode": "CMYK"}, "model config: preprocessing.color_mode"),
    "failed verification": ({}, "frozen graph output 'y_pred' differs from the original"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=str)
def test_bad_request_fails_cleanly(case: str, seed_build: Path, tmp_path: Path) -> None:
    overrides, message = BAD_REQUESTS[case]
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    with pytest.raises(FreezeError, match=message):
        run(Request(
            output_graph=out / "model.pb",
            checkpoint_dir=seed_build / "checkpoint",
            model_config=seed_build / "model_config.json",
            overrides=overrides,
            tolerance=-1.0 if case == "failed verification" else 1e-5,
        ))
    assert _left_behind(out) == ["keep.txt"]  # no model.pb, model.json or temporary file


def test_unwritable_output_fails_before_any_work(seed_build: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(FreezeError, match="cannot write to .*a-file/out: Not a directory"):
        run(Request(output_graph=blocker / "out" / "model.pb", checkpoint_dir=tmp_path / "nowhere"))


def test_bad_keras_file_and_config(seed_build: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(FreezeError, match="cannot load Keras model"):
        run(Request(output_graph=tmp_path / "o" / "model.pb", keras_model=tmp_path / "bad.h5"))
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(FreezeError, match="is not valid JSON"):
        run(Request(output_graph=tmp_path / "o" / "model.pb",
                    checkpoint_dir=seed_build / "checkpoint",
                    model_config=tmp_path / "config.json"))
    with pytest.raises(FreezeError, match="^--decoding is for a classifier: give --labels too$"):
        run(Request(output_graph=tmp_path / "o" / "model.pb",
                    checkpoint_dir=seed_build / "checkpoint",
                    overrides={"output_node": "y_pred", "decoding": "softmax"}))
    assert not (tmp_path / "o").exists()


def test_cli_error_is_one_line_without_traceback(seed_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "freeze", "--checkpoint_dir", str(seed_build / "checkpoint"),
         "--output_dir", str(out), "--model_config", str(seed_build / "model_config.json"),
         "--output_node_names", "y_prd"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("freeze: error:")]
    assert errors == [
        "freeze: error: output node 'y_prd' is not in the graph (closest: y_pred, y_true)"
    ]
    assert "Traceback" not in proc.stderr and "WARNING:tensorflow" not in proc.stderr
    assert proc.stdout == "" and not out.exists()


def test_make_rebuilds_the_model_when_the_schema_or_preprocessing_changes() -> None:
    """`make model` must rerun the freeze step when what it imports from handler/ changes."""
    makefile = (ROOT / "Makefile").read_text()
    (rule,) = [line for line in makefile.splitlines() if line.startswith("$(MODEL_DIR)/model.json:")]
    prerequisites = rule.split(":", 1)[1].split()
    assert {
        "freeze/*.py", "handler/manifest.py", "handler/images.py", "handler/runtime/*.py"
    } <= set(prerequisites)
    recipe = makefile.split(rule, 1)[1].split("\n\n", 1)[0]
    assert "--tflite" in recipe.split()  # the demo bundle holds model.tflite too


def test_cli_reports_sizes_parity_and_the_pin(
    seed_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The success output says what the issue asks for: checkpoint vs .pb size, the max
    difference, the .tflite's size and parity, and the value to pin (ModelSha256) for this
    exact bundle."""
    from freeze.__main__ import main
    from handler.manifest import sha256_file

    config = seed_build / "model_config.json"
    args = ["--checkpoint_dir", str(seed_build / "checkpoint"), "--model_config", str(config)]
    assert main([*args, "--output_dir", str(tmp_path), "--tflite"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"size +[\d.]+ MB checkpoint -> [\d.]+ MB ", out), out
    assert re.search(r"^loaded +TF1 checkpoint restored in a session", out, re.MULTILINE), out
    assert re.search(r"^verified y_pred: max \|original - frozen\| = [\d.e-]+ over 5 inputs", out,
                     re.MULTILINE), out
    size = re.search(r"^tflite +model\.tflite ([\d.]+) MB$", out, re.MULTILINE)
    tflite = re.search(r"^tflite +y_pred: max \|frozen - tflite\| = ([\d.e-]+) over (\d+) inputs "
                       r"\(tolerance 1e-05\)$", out, re.MULTILINE)
    assert size and tflite, out
    assert float(size.group(1)) == round((tmp_path / "model.tflite").stat().st_size / 1e6, 1)
    diff, rows = tflite.groups()
    assert 0 <= float(diff) <= 1e-5 and rows == "5"  # 4 noise rows and a generated PNG
    assert re.search(r"classifier of y_pred: horizontal, vertical \(softmax\)$", out, re.M), out
    assert f"sha256 of model.json = {sha256_file(tmp_path / 'model.json')}" in out

"""The freeze step refuses what the function could not serve, in one line, leaving no half output:
preprocessing that contradicts the graph, logits declared as probabilities, non-image inputs,
output paths that are folders, a failed rename, bad verification flags, a graph LiteRT cannot
run or a .tflite that does not compute what the graph does. Tiny in-process TF1 checkpoints
(milliseconds to build) stand in for real models."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freeze import FreezeError
from freeze.__main__ import main
from freeze.build import Report, Request, run
from freeze.graph import Frozen
from freeze.verify import verify
from freeze.write import model_version
from handler.manifest import (
    Artifact, Manifest, ModelBundleError, Source, TensorSpec, load_manifest,
)
from handler.runtime.litert import LiteRtRuntime

pytestmark = pytest.mark.slow

Tiny = Callable[..., Path]


def tiny_checkpoint(
    folder: Path, shape: tuple[int, ...] = (8, 8, 1), units: int = 2, activation: str = "softmax"
) -> Path:
    """A TF1 checkpoint of x [None, *shape] -> dense -> `activation` (softmax, sigmoid, none:
    logits, or cumprod: softmax over a Cumprod, an op LiteRT lacks) named 'scores', with the
    loss, Adam and Saver machinery a trained checkpoint has."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(0)
        x = v1.placeholder(tf.float32, [None, *shape], name="x")
        flat = tf.reshape(x, [-1, int(np.prod(shape))])
        w = v1.get_variable("w", [flat.shape[1], units], initializer=v1.random_normal_initializer())
        b = v1.get_variable("b", [units], initializer=v1.zeros_initializer())
        logits = tf.matmul(flat, w) + b
        {
            "softmax": tf.nn.softmax,
            "sigmoid": tf.nn.sigmoid,
            "logits": tf.identity,
            "cumprod": lambda t, name: tf.nn.softmax(tf.math.cumprod(t, axis=1), name=name),
        }[activation](logits, name="scores")
        y_true = v1.placeholder(tf.float32, [None, units], name="y_true")
        loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits)
        v1.train.AdamOptimizer().minimize(tf.reduce_mean(loss))
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            saver.save(session, str(folder / "model.ckpt"))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    """tiny(**kwargs of tiny_checkpoint) -> its checkpoint folder, built once per module."""
    built: dict[tuple, Path] = {}

    def make(**kwargs: Any) -> Path:
        key = tuple(sorted(kwargs.items()))
        if key not in built:
            built[key] = tiny_checkpoint(tmp_path_factory.mktemp("tiny"), **kwargs)
        return built[key]

    return make


def freeze(
    checkpoint_dir: Path, out: Path, verify_rows: int = 4, tflite: bool = False, **overrides: Any
) -> Report:
    return run(Request(
        output_graph=out / "model.pb",
        checkpoint_dir=checkpoint_dir,
        overrides={"output_node": "scores", "labels": ["a", "b"], **overrides},
        verify_rows=verify_rows,
        tflite=tflite,
    ))


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output folder that already holds a file of someone else's."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("not ours")
    return folder


# --- 1. preprocessing that contradicts the graph -----------------------------------------------


CONTRADICTIONS: dict[str, tuple[tuple[int, ...], dict[str, Any], str]] = {
    "height": ((8, 8, 1), {"height": 16}, r"preprocessing height 16 does not match the input "
               r"shape \[None, 8, 8, 1\] \(height 8\); the graph fixes this"),
    "width": ((8, 8, 1), {"width": 4}, r"preprocessing width 4 .* \(width 8\)"),
    "RGB on grey": ((8, 8, 1), {"color_mode": "RGB"}, r"preprocessing color_mode RGB does not "
                    r"match the input shape \[None, 8, 8, 1\] \(channels 1: color_mode L\)"),
    "L on colour": ((8, 8, 3), {"color_mode": "L"}, r"\(channels 3: color_mode RGB or BGR\)"),
}


@pytest.mark.parametrize("case", CONTRADICTIONS, ids=str)
def test_preprocessing_that_contradicts_the_graph_is_refused(case: str, tiny: Tiny, out: Path):
    shape, overrides, message = CONTRADICTIONS[case]
    with pytest.raises(FreezeError, match=message):
        freeze(tiny(shape=shape), out, **overrides)
    assert listing(out) == ["keep.txt"]


def test_cli_refuses_a_height_the_graph_does_not_take(tiny: Tiny, tmp_path: Path, capsys):
    code = main(["--checkpoint_dir", str(tiny()), "--output_dir", str(tmp_path / "o"),
                 "--output_node_names", "scores", "--labels", "a,b", "--height", "128"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and not (tmp_path / "o").exists()
    assert err.startswith("freeze: error: preprocessing height 128 does not match the input shape")


def test_bgr_fills_a_three_channel_input(tiny: Tiny, out: Path):
    report = freeze(tiny(shape=(8, 8, 3)), out, color_mode="BGR")
    codec = report.manifest.inputs[0].codec
    assert codec is not None and codec.color_mode == "BGR"


def _manifest(**preprocessing: Any) -> dict[str, Any]:
    """A schema-2 manifest like the demo's: input [None, 256, 256, 1] with a 256x256 L image
    codec, a sigmoid classifier."""
    codec = {"kind": "image", "height": 256, "width": 256, "color_mode": "L", **preprocessing}
    return {
        "schema_version": 2, "name": "m", "version": "0" * 12,
        "inputs": [{"name": "x", "tensor": "x:0", "dtype": "float32",
                    "shape": [None, 256, 256, 1], "codec": codec}],
        "outputs": [{"name": "p", "tensor": "p:0", "dtype": "float32", "shape": [None, 1]}],
        "task": {"output": "p", "labels": ["cat", "dog"], "activation": "sigmoid"},
        "artifacts": {"graph": {"path": "model.pb", "sha256": "0" * 64, "size_bytes": 1}},
        "ops": [], "tensorflow_version": "2.21.0",
        "source": {"kind": "checkpoint", "path": "ckpt", "size_bytes": 1},
        "created_at": "2026-01-01T00:00:00+00:00",
    }


@pytest.mark.parametrize("preprocessing,message", [
    ({"height": 128}, r"preprocessing height 128 does not match the input shape "
                      r"\[None, 256, 256, 1\] \(height 256\)"),
    ({"width": 255}, r"preprocessing width 255 .* \(width 256\)"),
    ({"color_mode": "RGB"}, r"preprocessing color_mode RGB .* \(channels 1: color_mode L\)"),
], ids=["height", "width", "color_mode"])
def test_function_refuses_a_manifest_whose_preprocessing_contradicts_its_input(
    preprocessing: dict[str, Any], message: str, tmp_path: Path
):
    Manifest.model_validate(_manifest())  # the consistent one is valid
    (tmp_path / "model.json").write_text(json.dumps(_manifest(**preprocessing)))
    with pytest.raises(ModelBundleError, match=message):
        load_manifest(tmp_path)  # cold start, before the graph is read


def test_verification_runs_a_generated_image_through_the_preprocessing(tiny: Tiny, out: Path):
    """Noise rows, then one encoded PNG decoded and preprocessed as the function does."""
    assert freeze(tiny(shape=(8, 8, 3)), out, verify_rows=1, scale=1 / 255).verified_rows == 2


# --- 2. one line, never half-written ---------------------------------------------------------


def test_output_graph_that_is_a_directory_is_one_line(tiny: Tiny, out: Path, capsys):
    code = main(["--checkpoint_dir", str(tiny()), "--output_graph", str(out),
                 "--output_node_names", "scores", "--labels", "a,b"])
    assert code == 1
    assert capsys.readouterr().err == (
        f"freeze: error: cannot write {out}: it is a directory "
        "(--output_graph names the .pb file, --output_dir a folder)\n"
    )
    assert listing(out) == ["keep.txt"]


def _previous_pair(out: Path) -> dict[str, bytes]:
    (out / "model.pb").write_bytes(b"previous graph")
    (out / "model.json").write_bytes(b"previous manifest")
    return {name: (out / name).read_bytes() for name in ("model.pb", "model.json")}


def test_manifest_path_that_is_a_directory_leaves_the_graph_alone(tiny: Tiny, out: Path):
    (out / "model.pb").write_bytes(b"previous graph")
    (out / "model.json").mkdir()
    with pytest.raises(FreezeError, match=r"cannot write .*/model\.json: it is a directory"):
        freeze(tiny(), out)
    assert (out / "model.pb").read_bytes() == b"previous graph"
    assert listing(out) == ["keep.txt", "model.json", "model.pb"]


@pytest.mark.parametrize("previous", [True, False], ids=["previous pair", "no previous pair"])
def test_failed_manifest_rename_keeps_the_previous_pair(
    previous: bool, tiny: Tiny, out: Path, monkeypatch: pytest.MonkeyPatch
):
    """The graph is moved in first; when the manifest cannot follow, the previous graph (or no
    graph) is put back: the old pair stays intact, the new graph never sits beside it."""
    before = _previous_pair(out) if previous else {}
    replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if Path(dst).name == "model.json":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        replace(src, dst)

    monkeypatch.setattr("freeze.write.os.replace", failing_replace)
    with pytest.raises(FreezeError, match=r"cannot move model\.pb and model\.json into .*: "
                                          r"Input/output error \(previous files left"):
        freeze(tiny(), out)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert listing(out) == sorted(["keep.txt", *before])  # no new graph, no temporary file


def test_new_pair_replaces_the_previous_one_without_leftovers(tiny: Tiny, out: Path):
    _previous_pair(out)
    report = freeze(tiny(), out)
    assert (out / "model.pb").read_bytes() != b"previous graph"
    assert load_manifest(out) == report.manifest
    assert listing(out) == ["keep.txt", "model.json", "model.pb"]  # the backup is gone


@pytest.mark.parametrize("rows", ["0", "-1", "two"])
def test_verify_rows_must_be_at_least_one(rows: str, tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--checkpoint_dir", str(tmp_path), "--output_dir", str(tmp_path / "o"),
              "--verify_rows", rows])
    assert exit.value.code == 2
    assert f"argument --verify_rows: must be a whole number >= 1, not '{rows}'" in (
        capsys.readouterr().err
    )


def test_verify_rows_below_one_through_the_python_api(tiny: Tiny, out: Path):
    with pytest.raises(FreezeError, match="verify_rows must be at least 1, not 0"):
        freeze(tiny(), out, verify_rows=0)
    assert listing(out) == ["keep.txt"]


def _identity_graph(shape: list[int]) -> tuple[bytes, TensorSpec, TensorSpec]:
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, *shape], name="x")
        tf.identity(x, name="y")
    x_spec = TensorSpec(name="x", tensor="x:0", dtype="float32", shape=[None, *shape])
    y_spec = TensorSpec(name="y", tensor="y:0", dtype="float32", shape=[None, *shape])
    return graph.as_graph_def().SerializeToString(), x_spec, y_spec


def test_a_failing_run_is_one_line(tmp_path: Path):
    """TensorFlow's OpError (many lines) and ValueError from either run become one FreezeError."""
    import tensorflow as tf

    graph, x, y = _identity_graph([2])
    source = Source(kind="checkpoint", path="ckpt", size_bytes=0)
    manifest = Manifest.model_validate({
        **_manifest(), "inputs": [x.model_dump()], "outputs": [y.model_dump()], "task": None,
    })

    def broken(feeds: Any) -> dict[str, np.ndarray]:
        raise tf.errors.InvalidArgumentError(
            None, None, "Graph execution error:\n\nDetected at node 'y'\nMatrix size-incompatible"
        )

    frozen = Frozen(tf.compat.v1.GraphDef(), [x], [y], broken, source, "test", [])
    feeds = {"x": np.full((1, 2), 0.5, np.float32)}
    with pytest.raises(FreezeError, match="^the original model fails on the verification batch: "
                                          "Matrix size-incompatible$"):
        verify(frozen, manifest, graph, feeds)
    frozen = Frozen(tf.compat.v1.GraphDef(), [x], [y], lambda f: {"y": f["x"]}, source, "test", [])
    with pytest.raises(FreezeError, match=r"^the frozen graph fails on the verification batch: "
                                          r"Cannot feed value of shape \(1, 3\)"):
        verify(frozen, manifest, graph, {"x": np.zeros((1, 3), np.float32)})


# --- 3. an unknown output lists the likely ones ------------------------------------------------


def test_unknown_output_lists_likely_outputs(tiny: Tiny, out: Path):
    with pytest.raises(FreezeError, match=r"^output node 'prediction' is not in the graph "
                                          r"\(likely outputs: scores, Mean\)$"):
        freeze(tiny(), out, output_node="prediction")


# --- 4. the version covers what the answers depend on ------------------------------------------


def test_version_covers_labels_and_preprocessing(tiny: Tiny, tmp_path: Path):
    ckpt = tiny(shape=(8, 8, 3))
    rgb = freeze(ckpt, tmp_path / "rgb", color_mode="RGB").manifest
    again = freeze(ckpt, tmp_path / "again", color_mode="RGB").manifest
    bgr = freeze(ckpt, tmp_path / "bgr", color_mode="BGR").manifest
    swapped = freeze(ckpt, tmp_path / "swapped", labels=["b", "a"], color_mode="RGB").manifest
    graph = rgb.artifacts.graph
    assert graph == bgr.artifacts.graph == swapped.artifacts.graph  # one graph
    assert again.version == rgb.version == model_version(rgb) != graph.sha256[:12]
    assert len({rgb.version, bgr.version, swapped.version}) == 3


# --- 5. logits declared as probabilities -------------------------------------------------------


@pytest.mark.parametrize("units,decoding,message", [
    (2, "softmax", r"output 'scores' looks like logits, not probabilities: softmax decoding needs "
                   r"rows in \[0, 1\] summing to 1, but values span .*; choose a node after the "
                   r"Softmax \(--output_node_names\) or pass the right --decoding"),
    (1, "sigmoid", r"output 'scores' looks like logits, not probabilities: sigmoid decoding needs "
                   r"values in \[0, 1\], but they span .*; choose a node after the Sigmoid"),
])
def test_logits_declared_as_probabilities_are_refused(
    units: int, decoding: str, message: str, tiny: Tiny, out: Path
):
    with pytest.raises(FreezeError, match=message):
        freeze(tiny(units=units, activation="logits"), out, decoding=decoding)
    assert listing(out) == ["keep.txt"]


def test_sigmoid_probabilities_pass(tiny: Tiny, out: Path):
    task = freeze(tiny(units=1, activation="sigmoid"), out).manifest.task
    assert task is not None and task.activation == "sigmoid"


# --- 7. preprocessing only where the graph takes images ----------------------------------------


def test_a_vector_input_without_preprocessing_is_a_classifier_without_codec(tiny: Tiny, out: Path):
    manifest = freeze(tiny(shape=(4,)), out).manifest
    assert manifest.inputs[0].codec is None and manifest.task is not None


@pytest.mark.parametrize("shape", [(4,), (8, 8, 4)], ids=["vector", "4 channels"])
def test_preprocessing_for_a_non_image_input_says_so(
    shape: tuple[int, ...], tiny: Tiny, out: Path
):
    with pytest.raises(FreezeError, match=(
        r"^preprocessing is given for input 'x', but it is float32 "
        rf"\[None, {', '.join(map(str, shape))}\]: an image codec feeds float \[batch, height, "
        r"width, channels\] with 1 or 3 channels$"
    )):
        freeze(tiny(shape=shape), out, scale=1 / 255)
    assert listing(out) == ["keep.txt"]


# --- 8. model.tflite: converted, checked against the graph, written with the rest or not at all -

#: what every refusal of the .tflite suggests
WITHOUT = r"freeze without --tflite to serve the \.pb with TensorFlow only"


def _previous_bundle(out: Path) -> dict[str, bytes]:
    for name in ("model.pb", "model.tflite", "model.json"):
        (out / name).write_bytes(f"previous {name}".encode())
    return {name: (out / name).read_bytes() for name in ("model.pb", "model.tflite", "model.json")}


def _bundle(out: Path, names: dict[str, bytes]) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in names}


def test_tflite_is_written_with_its_entry_and_its_parity(tiny: Tiny, out: Path):
    _previous_bundle(out)
    report = freeze(tiny(), out, tflite=True)
    data = (out / "model.tflite").read_bytes()
    assert report.manifest.artifacts.tflite == Artifact(
        path="model.tflite", sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data)
    )
    assert load_manifest(out) == report.manifest
    assert report.tflite_path == out / "model.tflite"
    assert report.tflite_max_abs_diff is not None
    assert 0 <= report.tflite_max_abs_diff["scores"] <= 1e-5
    assert listing(out) == ["keep.txt", "model.json", "model.pb", "model.tflite"]  # no backups
    for name in ("model.json", "model.pb", "model.tflite"):  # the function must read them
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644


def test_without_tflite_no_entry_and_a_previous_tflite_goes(tiny: Tiny, out: Path):
    """A bundle folder holds what its manifest describes: a previous model.tflite would be
    another model's."""
    _previous_bundle(out)
    report = freeze(tiny(), out)
    assert (report.manifest.artifacts.tflite, report.tflite_path, report.tflite_max_abs_diff) == (
        None, None, None
    )
    assert json.loads((out / "model.json").read_text())["artifacts"]["tflite"] is None
    assert listing(out) == ["keep.txt", "model.json", "model.pb"]


def test_version_covers_the_tflite_when_there_is_one(tiny: Tiny, tmp_path: Path):
    """The version names what the function serves, so it covers the .tflite's sha256 too; the
    formula is spelled out here: a sha256 over the artifacts' sha256s, inputs (codecs
    included), outputs, task, signature name and init ops, as canonical JSON."""
    ckpt = tiny()
    with_tflite = freeze(ckpt, tmp_path / "with", tflite=True).manifest
    without = freeze(ckpt, tmp_path / "without").manifest
    assert with_tflite.artifacts.graph == without.artifacts.graph
    assert with_tflite.version == model_version(with_tflite) != without.version
    no_tflite = with_tflite.artifacts.model_copy(update={"tflite": None})
    assert model_version(with_tflite.model_copy(update={"artifacts": no_tflite})) == (
        without.version
    )
    answers = without.model_dump(
        mode="json", include={"inputs", "outputs", "task", "signature_name", "init_ops"}
    )
    canonical = json.dumps(
        {"artifacts": {"graph": without.artifacts.graph.sha256}, **answers},
        sort_keys=True, separators=(",", ":"),
    )
    assert without.version == hashlib.sha256(canonical.encode()).hexdigest()[:12]


def test_a_graph_litert_cannot_run_is_one_line_and_the_advice_works(tiny: Tiny, out: Path, capsys):
    before = _previous_bundle(out)
    ckpt = tiny(activation="cumprod")
    code = main(["--checkpoint_dir", str(ckpt), "--output_dir", str(out),
                 "--output_node_names", "scores", "--labels", "a,b", "--tflite"])
    assert code == 1
    assert capsys.readouterr().err == (
        "freeze: error: cannot convert the graph for LiteRT: no LiteRT builtin op for Cumprod; "
        "freeze without --tflite to serve the .pb with TensorFlow only\n"
    )
    assert _bundle(out, before) == before
    assert listing(out) == ["keep.txt", *sorted(before)]
    assert "Cumprod" in freeze(ckpt, out).manifest.ops  # without --tflite it freezes


def test_a_tflite_that_differs_from_the_graph_is_refused(
    tiny: Tiny, out: Path, monkeypatch: pytest.MonkeyPatch
):
    before = _previous_bundle(out)
    run_model = LiteRtRuntime.run

    def off(self: LiteRtRuntime, feeds: Any, fetches: Any) -> dict[str, np.ndarray]:
        return {name: value + 1e-3 for name, value in run_model(self, feeds, fetches).items()}

    monkeypatch.setattr(LiteRtRuntime, "run", off)
    with pytest.raises(FreezeError, match=(
        rf"^model\.tflite output 'scores' differs from the frozen graph by 0\.001 \(> 1e-05\); "
        rf"{WITHOUT}, or "
        r"raise --tolerance if that difference is acceptable$"
    )):
        freeze(tiny(), out, tflite=True)
    assert _bundle(out, before) == before
    assert listing(out) == ["keep.txt", *sorted(before)]


@pytest.mark.parametrize("conversion", ["not a tflite", "another model's"])
def test_a_conversion_the_runtime_refuses_is_one_line(
    conversion: str, tiny: Tiny, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What LiteRtRuntime refuses at the function's cold start, the freeze step refuses first."""
    if conversion == "not a tflite":
        model, message = b"not a flatbuffer", r"does not load in LiteRT: "
    else:  # a colour model's .tflite for a greyscale graph
        freeze(tiny(shape=(8, 8, 3)), tmp_path / "rgb", tflite=True)
        model = (tmp_path / "rgb" / "model.tflite").read_bytes()
        message = (
            r"does not fit its manifest: input .x. has shape .*the manifest says \[None, 8, 8, 1\]"
        )
    monkeypatch.setattr("freeze.tflite.convert", lambda frozen: model)
    before = _previous_bundle(out)
    with pytest.raises(FreezeError, match=rf"^model\.tflite {message}.*; {WITHOUT}$"):
        freeze(tiny(), out, tflite=True)
    assert _bundle(out, before) == before
    assert listing(out) == ["keep.txt", *sorted(before)]


@pytest.mark.parametrize("tflite,failing", [
    (True, "model.tflite"), (True, "model.json"), (False, "model.json"),
], ids=["tflite", "manifest", "manifest, stale tflite"])
def test_a_failed_rename_restores_the_previous_bundle(
    tflite: bool, failing: str, tiny: Tiny, out: Path, monkeypatch: pytest.MonkeyPatch
):
    """Every file moved in before the failure goes back: the previous graph, .tflite (also the
    one a bundle without --tflite was removing) and manifest, nothing new beside them."""
    before = _previous_bundle(out)
    replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if Path(dst).name == failing and str(src).endswith(".tmp"):  # a new file moving in
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        replace(src, dst)

    monkeypatch.setattr("freeze.write.os.replace", failing_replace)
    moved = "model.pb, model.tflite and model.json" if tflite else "model.pb and model.json"
    with pytest.raises(FreezeError, match=rf"^cannot move {moved} into .*: Input/output error"):
        freeze(tiny(), out, tflite=tflite)
    assert _bundle(out, before) == before
    assert listing(out) == ["keep.txt", *sorted(before)]


def test_the_graph_cannot_take_the_tflite_name(tiny: Tiny, out: Path):
    with pytest.raises(FreezeError, match="^the graph cannot be named model.tflite: that name"):
        run(Request(output_graph=out / "model.tflite", checkpoint_dir=tiny()))
    assert listing(out) == ["keep.txt"]

"""The freeze step on any graph, not only an image classifier: TensorFlow's freeze_graph flags
alone (no labels: a tensor model), several outputs, a GraphDef plus checkpoint, integer and
string inputs with lookup tables (from constants and from a vocabulary file), SavedModels through
tf.saved_model.load and through the TF1 session fallback, multi-input/multi-output Keras models,
multi-output --tflite, and the one-line refusals. Tiny in-process graphs (milliseconds to build)
stand in for real models; the real ones are in test_zoo.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freeze import FreezeError
from freeze.__main__ import main
from freeze.build import Report, Request, run
from handler import trust
from handler.manifest import Manifest, load_manifest, read_verified
from handler.runtime.tf_graph import TensorFlowRuntime

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: ops that read files or hold state a frozen graph must not have
FILE_AND_STATE_OPS = {
    "InitializeTableFromTextFileV2", "ReadFile", "RestoreV2", "SaveV2", "VarHandleOp",
    "VariableV2", "ReadVariableOp", "MutableHashTableV2",
}
#: the vocabulary-file table's lines
COLOURS = ["red", "green", "blue"]


def _session_save(graph: Any, folder: Path) -> Path:
    """Initialize the graph's variables and tables, save a checkpoint (with its .meta) into
    folder/ckpt; return the checkpoint folder."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with graph.as_default():
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run([v1.global_variables_initializer(), v1.tables_initializer()])
            saver.save(session, str(folder / "ckpt" / "model.ckpt"))
    return folder / "ckpt"


def two_heads(folder: Path) -> Path:
    """A TF1 checkpoint of a 2-head network: x [None, 4] -> relu layer -> `box` [None, 2]
    (linear) and `prob` [None, 3] (softmax), trained by Adam; also its GraphDef as
    folder/graph.pb (binary) and folder/graph.pbtxt (text), shapes included."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    def dense(x: Any, units: int, name: str) -> Any:
        w = v1.get_variable(f"{name}/w", [x.shape[1], units],
                            initializer=v1.random_normal_initializer())
        return tf.matmul(x, w) + v1.get_variable(f"{name}/b", [units])

    with graph.as_default():
        v1.set_random_seed(0)
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        hidden = tf.nn.relu(dense(x, 8, "hidden"))
        box = tf.identity(dense(hidden, 2, "box_layer"), name="box")
        prob = tf.nn.softmax(dense(hidden, 3, "prob_layer"), name="prob")
        y_true = v1.placeholder(tf.float32, [None, 3], name="y_true")
        loss = tf.reduce_mean(tf.square(box)) - tf.reduce_mean(y_true * tf.math.log(prob))
        v1.train.AdamOptimizer().minimize(loss)
    for name, as_text in (("graph.pb", False), ("graph.pbtxt", True)):
        tf.io.write_graph(graph.as_graph_def(add_shapes=True), str(folder), name, as_text=as_text)
    return _session_save(graph, folder)


def text_graph(folder: Path, table: str = "static") -> Path:
    """A TF1 checkpoint of a graph with a string and an int input: `words` [None] looked up in a
    table from constants and in one from folder/vocab.txt (COLOURS) -> `word_ids` int64 [None];
    `ids` int32 [None, 3] gathered from a 5-row embedding -> `features` float32 [None, 2].
    `table="mutable"` looks words up in a MutableHashTable instead."""
    import tensorflow as tf

    v1 = tf.compat.v1
    (folder / "vocab.txt").write_text("\n".join(COLOURS) + "\n")
    graph = tf.Graph()
    with graph.as_default():
        words = v1.placeholder(tf.string, [None], name="words")
        ids = v1.placeholder(tf.int32, [None, 3], name="ids")
        if table == "mutable":
            looked = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1).lookup(words)
        else:
            constants = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(["cat", "dog"], [10, 20], tf.string, tf.int64),
                -1,
            )
            from_file = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    str(folder / "vocab.txt"), tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                ),
                -1,
            )
            looked = constants.lookup(words) + from_file.lookup(words)
        word_ids = tf.identity(looked, name="word_ids")
        embedding = v1.get_variable("embedding", [5, 2], initializer=v1.random_normal_initializer())
        features = tf.reduce_sum(tf.gather(embedding, ids), axis=1)
        tf.identity(features + tf.cast(word_ids, tf.float32)[:, None], name="features")
    return _session_save(graph, folder)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """built(maker, **kwargs) -> maker(a fresh folder, **kwargs), built once per module."""
    cache: dict[tuple, Path] = {}

    def make(maker: Callable[..., Path], **kwargs: Any) -> Path:
        key = (maker.__name__, *sorted(kwargs.items()))
        if key not in cache:
            cache[key] = maker(tmp_path_factory.mktemp(maker.__name__), **kwargs)
        return cache[key]

    return make


def _frozen_run(model_dir: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of the bundle's graph, loaded, checked and run as the function does."""
    manifest = load_manifest(model_dir)
    graph = read_verified(model_dir, manifest.artifacts.graph)
    trust.check_ops(graph, manifest)
    runtime = TensorFlowRuntime(graph, manifest)
    try:
        return runtime.run(feeds, [spec.name for spec in manifest.outputs])
    finally:
        runtime.close()


def _specs(manifest: Manifest, kind: str) -> list[tuple[str, str, list[int | None]]]:
    return [(spec.name, spec.dtype, spec.shape) for spec in getattr(manifest, kind)]


# --- TensorFlow's freeze_graph flags: no labels, several outputs, GraphDef + checkpoint ---------


def test_freeze_graph_flags_alone_freeze_every_named_output(built, tmp_path: Path, capsys):
    """--input_meta_graph --input_checkpoint --output_node_names a,b --output_graph and nothing
    else: a tensor model (no task, no codec) with both outputs, inputs inferred (x, not y_true),
    each output verified."""
    prefix = built(two_heads) / "model.ckpt"
    code = main(["--input_meta_graph", f"{prefix}.meta", "--input_checkpoint", str(prefix),
                 "--output_node_names", "box,prob", "--output_graph", str(tmp_path / "model.pb")])
    out = capsys.readouterr().out
    assert code == 0, out
    manifest = load_manifest(tmp_path)
    assert (manifest.task, manifest.init_ops) == (None, [])
    assert [(s.name, s.tensor, s.codec) for s in manifest.inputs] == [("x", "x:0", None)]
    assert _specs(manifest, "outputs") == [
        ("box", "float32", [None, 2]), ("prob", "float32", [None, 3])
    ]
    for name in ("box", "prob"):
        assert f"verified {name}: max |original - frozen| = " in out
    assert "tensor model (no task)" in out
    assert not {"Adam", "ApplyAdam", "VariableV2", "VarHandleOp"} & set(manifest.ops)
    x = np.random.default_rng(1).uniform(-1, 1, (3, 4)).astype(np.float32)
    got = _frozen_run(tmp_path, {"x": x})
    assert got["box"].shape == (3, 2) and np.allclose(got["prob"].sum(axis=1), 1, atol=1e-6)


def test_a_graph_def_with_a_checkpoint_freezes_like_the_meta_graph(built, tmp_path: Path):
    """--input_graph (binary with --input_binary, or text) + --input_checkpoint, no .meta: the
    same outputs as from the meta graph."""
    folder = built(two_heads).parent
    prefix = folder / "ckpt" / "model.ckpt"
    common = {"input_checkpoint": prefix, "overrides": {"output_node": "box,prob"}}
    meta = run(Request(output_graph=tmp_path / "meta" / "model.pb", **common))
    binary = run(Request(output_graph=tmp_path / "binary" / "model.pb",
                         input_graph=folder / "graph.pb", input_binary=True, **common))
    text = run(Request(output_graph=tmp_path / "text" / "model.pb",
                       input_graph=folder / "graph.pbtxt", **common))
    x = {"x": np.random.default_rng(2).uniform(-1, 1, (5, 4)).astype(np.float32)}
    expected = _frozen_run(tmp_path / "meta", x)
    for report in (binary, text):
        assert report.manifest.outputs == meta.manifest.outputs
        assert report.manifest.inputs == meta.manifest.inputs
        assert "(graph." in report.method  # which graph file was read
        got = _frozen_run(report.graph_path.parent, x)
        for name in ("box", "prob"):
            assert np.max(np.abs(got[name] - expected[name])) <= 1e-6


def test_a_classifier_among_several_outputs_names_its_output(built, tmp_path: Path):
    report = run(Request(
        output_graph=tmp_path / "model.pb", checkpoint_dir=built(two_heads),
        overrides={"output_node": "box,prob", "labels": ["a", "b", "c"], "task_output": "prob"},
    ))
    task = report.manifest.task
    assert task is not None and (task.output, task.activation) == ("prob", "softmax")
    assert set(report.max_abs_diff) == {"box", "prob"}  # the box head is verified too


def test_several_outputs_convert_to_tflite_each_checked(built, tmp_path: Path):
    report = run(Request(output_graph=tmp_path / "model.pb", checkpoint_dir=built(two_heads),
                         overrides={"output_node": "box,prob"}, tflite=True))
    assert report.tflite_max_abs_diff is not None
    assert set(report.tflite_max_abs_diff) == {"box", "prob"}
    assert max(report.tflite_max_abs_diff.values()) <= 1e-5


# --- integer and string inputs, lookup tables ----------------------------------------------------


def test_lookup_tables_freeze_as_constants_with_init_ops(built, tmp_path: Path):
    """Both tables (from constants, from a vocabulary file) become constants filled by
    LookupTableImportV2 init ops; the frozen graph reads no file (it serves after the
    vocabulary is gone), passes the function's allowlist and gives the session's answers."""
    folder = tmp_path / "model"
    folder.mkdir()
    common = {"checkpoint_dir": text_graph(folder), "verify_int_range": (0, 4),
              "overrides": {"output_node": "word_ids,features"}}
    report = run(Request(output_graph=tmp_path / "out" / "model.pb", **common))
    manifest = report.manifest
    assert _specs(manifest, "inputs") == [("ids", "int32", [None, 3]), ("words", "string", [None])]
    assert _specs(manifest, "outputs") == [
        ("word_ids", "int64", [None]), ("features", "float32", [None, 2])
    ]
    assert manifest.init_ops == ["hash_table/init", "hash_table_1/init"]
    assert {"HashTableV2", "LookupTableFindV2", "LookupTableImportV2"} <= set(manifest.ops)
    assert not FILE_AND_STATE_OPS & set(manifest.ops)
    assert report.max_abs_diff == {"word_ids": 0.0, "features": 0.0}
    again = run(Request(output_graph=tmp_path / "again" / "model.pb", **common))
    assert again.manifest.version == manifest.version  # the tables' contents are sorted

    (folder / "vocab.txt").unlink()
    words = np.array([b"cat", b"blue", b"dog", b"nope"], dtype=object)
    ids = np.array([[0, 1, 2], [4, 4, 4], [0, 0, 0], [3, 2, 1]], np.int32)
    got = _frozen_run(tmp_path / "out", {"words": words, "ids": ids})
    # cat: 10 + (-1); blue: -1 + 2 (its line); dog: 20 - 1; an unknown word: -1 - 1
    assert got["word_ids"].tolist() == [9, 1, 19, -2]


def test_strings_and_int_range_for_verification_come_from_the_flags(built, tmp_path: Path, capsys):
    ckpt = built(text_graph)
    strings = tmp_path / "words.txt"
    strings.write_text("cat\nred\nsomething else\n")
    args = ["--checkpoint_dir", str(ckpt), "--output_node_names", "word_ids,features"]
    assert main([*args, "--output_dir", str(tmp_path / "default")]) == 1
    assert re.fullmatch(
        r"freeze: error: the original model fails on the verification batch: indices\[0,0\] = "
        r"\d is not in \[0, 5\) \(integer inputs are drawn from --verify_int_range, "
        r"default 0,9\)\n",
        capsys.readouterr().err,
    )
    code = main([*args, "--output_dir", str(tmp_path / "given"), "--verify_int_range", "0,4",
                 "--verify_strings", str(strings), "--verify_rows", "6"])
    assert code == 0 and "over 6 inputs" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--verify_int_range", "4"], "argument --verify_int_range: must be LOW,HIGH"),
    (["--verify_int_range", "5,1"], "argument --verify_int_range: LOW must not exceed HIGH"),
])
def test_bad_verification_flags_fail_before_tensorflow(argv: list[str], message: str, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--checkpoint_dir", "nowhere", "--output_dir", "o", *argv])
    assert exit.value.code == 2 and message in capsys.readouterr().err


# --- SavedModels: tf.saved_model.load, and the TF1 session when it cannot restore -------------


@pytest.fixture(scope="module")
def text_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Keras 3 model exported as a SavedModel: TextVectorization (a StaticHashTable adapted to
    a few sentences) -> Embedding -> mean -> softmax over 2, input `text` (string [None])."""
    import keras

    keras.utils.set_random_seed(0)
    vectorize = keras.layers.TextVectorization(output_sequence_length=5)
    vectorize.adapt(["the cat sat on the mat", "the dog sat", "a bird flew"])
    text = keras.Input(shape=(), dtype="string", name="text")
    hidden = keras.layers.Embedding(vectorize.vocabulary_size(), 4)(vectorize(text))
    probabilities = keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling1D()(hidden)
    )
    path = tmp_path_factory.mktemp("text") / "saved_model"
    keras.Model(text, probabilities).export(str(path), verbose=False)
    return path


def test_a_saved_model_with_a_vocabulary_freezes_both_ways(
    text_saved_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Through tf.saved_model.load (the table a captured resource) and, with that load failing,
    through a TF1 session (the table a HashTableV2 node the loader filled): the same signature
    names, each with its init op, the same answers."""
    def freeze(out: str) -> Report:
        return run(Request(output_graph=tmp_path / out / "model.pb", saved_model=text_saved_model,
                           overrides={"labels": ["neg", "pos"]}))

    tf2 = freeze("tf2")

    def cannot_restore(*args: Any, **kwargs: Any) -> None:
        raise AttributeError("'_UserObject' object has no attribute 'add_slot'")

    monkeypatch.setattr("tensorflow.saved_model.load", cannot_restore)
    tf1 = freeze("tf1")
    assert tf2.method == "SavedModel restored by tf.saved_model.load"
    assert tf1.method == (
        "SavedModel loaded in a TF1 session (tf.saved_model.load failed: '_UserObject' object "
        "has no attribute 'add_slot')"
    )
    text = np.array([b"the cat sat", b"", b"unknown words only", b"The DOG!"], dtype=object)
    answers = []
    for report in (tf2, tf1):
        m = report.manifest
        assert ([s.name for s in m.inputs], [s.name for s in m.outputs]) == (["text"], ["output_0"])
        assert m.outputs[0].tensor == "output_0:0"  # a stable name, not StatefulPartitionedCall:0
        assert len(m.init_ops) == 1 and m.signature_name == "serving_default"
        assert not FILE_AND_STATE_OPS & set(m.ops) and "StatefulPartitionedCall" not in m.ops
        answers.append(_frozen_run(report.graph_path.parent, {"text": text})["output_0"])
    assert np.max(np.abs(answers[0] - answers[1])) <= 1e-6


@pytest.mark.skipif(importlib.util.find_spec("tf_keras") is None, reason="needs tf-keras")
def test_a_keras2_saved_model_tf2_cannot_restore_freezes_in_a_tf1_session(tmp_path: Path):
    """The zoo's tf-keras SavedModel (Keras 2 optimizer slots): in a process without tf-keras,
    tf.saved_model.load really fails on it; the freeze step says so and freezes both inputs and
    outputs from a TF1 session."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-m", "demo.zoo", "tfkeras_savedmodel", "--out",
                    str(tmp_path / "zoo")], cwd=ROOT, env=env, check=True, capture_output=True)
    info = json.loads((tmp_path / "zoo" / "zoo.json").read_text())
    without_tf_keras = (
        "import sys; sys.modules['tf_keras'] = None; from freeze.__main__ import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", without_tf_keras, "--saved_model", str(tmp_path / "zoo" /
         "saved_model"), "--output_dir", str(tmp_path / "out"), "--tflite"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert ("loaded   SavedModel loaded in a TF1 session (tf.saved_model.load failed: "
            "'_UserObject' object has no attribute 'add_slot')") in proc.stdout
    manifest = load_manifest(tmp_path / "out")
    assert [s.name for s in manifest.inputs] == [s["name"] for s in info["inputs"]]
    assert [s.name for s in manifest.outputs] == [s["name"] for s in info["outputs"]]
    reference = np.load(tmp_path / "zoo" / "reference.npz")
    feeds = {s.name: reference[f"input:{s.name}"] for s in manifest.inputs}
    got = _frozen_run(tmp_path / "out", feeds)
    for spec in manifest.outputs:
        assert np.max(np.abs(got[spec.name] - reference[f"output:{spec.name}"])) <= 1e-5


# --- Keras: every input and output, under its layer names --------------------------------------


@pytest.fixture(scope="module")
def two_in_two_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Keras file: `image` [8, 8, 3] and `meta` [2] in; `cls` softmax over 3 and `reg` [1]
    out."""
    import keras

    keras.utils.set_random_seed(0)
    image, meta = keras.Input((8, 8, 3), name="image"), keras.Input((2,), name="meta")
    hidden = keras.layers.Concatenate()([
        keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(image)), meta
    ])
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(hidden)
    reg = keras.layers.Dense(1, name="reg")(hidden)
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    keras.Model([image, meta], [cls, reg]).save(path)
    return path


def test_a_multi_output_keras_model_freezes_every_output(two_in_two_out: Path, tmp_path: Path):
    """Layer names for inputs and outputs, the image codec on the named input only, the
    classifier on the named output, every output verified, and --tflite checked per output."""
    import keras

    report = run(Request(
        output_graph=tmp_path / "model.pb", keras_model=two_in_two_out, tflite=True,
        overrides={"labels": ["a", "b", "c"], "task_output": "cls", "image_input": "image",
                   "scale": 1 / 255},
    ))
    m = report.manifest
    assert _specs(m, "inputs") == [("image", "float32", [None, 8, 8, 3]),
                                   ("meta", "float32", [None, 2])]
    assert [spec.codec is not None for spec in m.inputs] == [True, False]
    assert [(s.name, s.tensor) for s in m.outputs] == [("cls", "cls:0"), ("reg", "reg:0")]
    assert m.task is not None and m.task.output == "cls"
    assert report.verified_rows == 4 + 1  # noise rows, then the generated PNG (meta: noise)
    assert report.tflite_max_abs_diff is not None
    assert set(report.max_abs_diff) == set(report.tflite_max_abs_diff) == {"cls", "reg"}
    rng = np.random.default_rng(3)
    feeds = {"image": rng.uniform(0, 1, (3, 8, 8, 3)).astype(np.float32),
             "meta": rng.uniform(0, 1, (3, 2)).astype(np.float32)}
    expected = keras.models.load_model(two_in_two_out).predict(
        [feeds["image"], feeds["meta"]], verbose=0
    )
    got = _frozen_run(tmp_path, feeds)
    for name, want in zip(("cls", "reg"), expected, strict=True):
        assert np.max(np.abs(got[name] - want)) <= 1e-5


# --- one line for what cannot be frozen or served ----------------------------------------------


REFUSALS: dict[str, tuple[str, dict[str, Any], str]] = {
    "labels, several outputs": (
        "two_heads", {"output_node": "box,prob", "labels": ["a", "b", "c"]},
        r"^labels are given but the model has 2 outputs \(box, prob\): name the classifier's with "
        r"--task_output$",
    ),
    "unknown task output": (
        "two_heads", {"output_node": "box,prob", "labels": ["a", "b"], "task_output": "boxes"},
        r"^--task_output boxes is not an output \(outputs: box, prob\)$",
    ),
    "task output of the wrong width": (
        "two_heads", {"output_node": "box,prob", "labels": ["a", "b", "c"], "task_output": "box"},
        r"^softmax output 'box' has 2 units but 3 labels$",
    ),
    "preprocessing, several inputs": (
        "keras", {"scale": 1 / 255},
        r"^preprocessing is given but the model has 2 inputs \(image, meta\): name the image "
        r"input with --image_input$",
    ),
    "unknown image input": (
        "keras", {"scale": 1 / 255, "image_input": "photo"},
        r"^--image_input photo is not an input \(inputs: image, meta\)$",
    ),
    "image input, no preprocessing": (
        "keras", {"image_input": "image"}, r"^--image_input image needs its preprocessing",
    ),
    "keras names, wrong count": (
        "keras", {"output_node": "only"},
        r"^--output_node_names names 1 outputs \(only\), but the Keras model has 2 \(cls, reg\)$",
    ),
    "vocabulary file gone": (
        "text_graph", {"output_node": "word_ids"},
        r"^cannot initialize lookup table hash_table_1 \(InitializeTableFromTextFileV2 "
        r"text_file_init/InitializeTableFromTextFileV2\): .*vocab\.txt; No such file",
    ),
    "mutable table": (
        "mutable", {"output_node": "word_ids"},
        r"^lookup table MutableHashTable is a MutableHashTableV2: a table that changes while the "
        r"graph runs cannot be frozen",
    ),
    "lookup tables for LiteRT": (
        "text_graph", {"output_node": "word_ids", "tflite": True},
        r"^cannot convert the graph for LiteRT: its lookup tables are filled at cold start by 2 "
        r"init op\(s\), which the LiteRT runtime does not run.*; freeze without --tflite",
    ),
    "int range for uint8": (
        "uint8", {"output_node": "y", "verify_int_range": (0, 300)},
        r"^--verify_int_range 0,300 does not fit input 'x' \(uint8: 0\.\.255\)$",
    ),
}


def _uint8_graph(folder: Path) -> Path:
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.uint8, [None, 3], name="x")
        tf.compat.v1.get_variable("w", [3], initializer=tf.compat.v1.ones_initializer())
        tf.identity(tf.cast(x, tf.float32) * 2, name="y")
    return _session_save(graph, folder)


@pytest.mark.parametrize("case", REFUSALS, ids=str)
def test_what_cannot_be_frozen_is_one_line(
    case: str, built, two_in_two_out: Path, tmp_path: Path
):
    source, overrides, message = REFUSALS[case]
    overrides = dict(overrides)
    options = {key: overrides.pop(key) for key in ("tflite", "verify_int_range")
               if key in overrides}
    if source == "keras":
        options["keras_model"] = two_in_two_out
    elif source == "text_graph":  # its own: one case removes its vocabulary file
        ckpt = text_graph(tmp_path)
        if case == "vocabulary file gone":
            (tmp_path / "vocab.txt").unlink()
        options = {"checkpoint_dir": ckpt, "verify_int_range": (0, 4), **options}
    elif source == "mutable":
        options["checkpoint_dir"] = built(text_graph, table="mutable")
    else:
        options["checkpoint_dir"] = built({"two_heads": two_heads, "uint8": _uint8_graph}[source])
    out = tmp_path / "out"
    with pytest.raises(FreezeError, match=message):
        run(Request(output_graph=out / "model.pb", overrides=overrides, **options))
    assert not out.exists()

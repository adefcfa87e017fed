"""The two runtimes behind `ModelRuntime`, in process: LiteRT over model.tflite computes what
TensorFlow computes over model.pb, on real photos, from any number of threads; a .tflite that
does not fit its manifest is refused like a graph that does not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from handler.images import open_checked, to_input
from handler.config import Limits
from handler.manifest import Manifest, ModelBundleError, load_manifest
from handler.runtime import LITERT, RUNTIMES, TENSORFLOW, ModelRuntime, read_model, runtime_class


def load(name: str, model_dir: Path) -> ModelRuntime:
    manifest = load_manifest(model_dir)
    runtime = runtime_class(name)(read_model(name, model_dir, manifest, frozenset()), manifest)
    runtime.warm_up()
    return runtime


@pytest.fixture(scope="module")
def demo_runtimes(demo_model_dir: Path) -> dict[str, ModelRuntime]:
    return {name: load(name, demo_model_dir) for name in RUNTIMES}


def photo_batch(manifest: Manifest, photos: dict[str, Path]) -> np.ndarray:
    rows = [to_input(open_checked(path.read_bytes(), Limits()), manifest.preprocessing)
            for path in photos.values()]
    return np.stack(rows).astype(manifest.input.dtype)


def test_litert_matches_tensorflow_on_the_photos(demo_runtimes, photos) -> None:
    tf, lite = demo_runtimes[TENSORFLOW], demo_runtimes[LITERT]
    batch = photo_batch(tf.manifest, photos)
    expected, got = tf.predict(batch), lite.predict(batch)
    assert got.shape == expected.shape == (len(photos), 1)
    assert np.max(np.abs(got - expected)) <= 1e-5
    # kitten, dog, chelsea: P(dog) 0.28 / 0.87 / 0.26 (README)
    assert [bool(p >= 0.5) for p in got[:, 0]] == [False, True, False]


def test_litert_is_safe_from_many_threads(demo_runtimes) -> None:
    """One interpreter, eight threads, distinct inputs: each gets its own answer."""
    lite = demo_runtimes[LITERT]
    rng = np.random.default_rng(0)
    batches = [rng.uniform(0, 1, (1 + i % 3, 256, 256, 1)).astype(np.float32) for i in range(16)]
    expected = [lite.predict(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lite.predict, batches))
    for want, answer in zip(expected, got, strict=True):
        np.testing.assert_array_equal(answer, want)


def test_metadata_names_the_runtime(demo_runtimes) -> None:
    assert {name: r.platform for name, r in demo_runtimes.items()} == {
        TENSORFLOW: "tensorflow_graphdef", LITERT: "tflite",
    }


def test_a_tflite_of_another_model_is_refused(demo_model_dir, seed_model_dir) -> None:
    """The seed's .tflite (RGB 128x128) under the demo's manifest (L 256x256): refused at load,
    not at the first request."""
    seed_tflite = (seed_model_dir / "model.tflite").read_bytes()
    with pytest.raises(ModelBundleError, match=r"model\.tflite does not fit its manifest"):
        runtime_class(LITERT)(seed_tflite, load_manifest(demo_model_dir))

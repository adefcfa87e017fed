"""The seed trainer (`python -m demo.train_seed`), trained briefly on generated stripes.

The model learns stripe direction (["horizontal", "vertical"]); it is a stand-in for the seed's
architecture, not a cat/dog model.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from demo import stripes
from demo.train_seed import find_examples, split
from freeze.config import ModelConfig
from handler.manifest import load_manifest

LABELS = ["horizontal", "vertical"]


@pytest.mark.slow
def test_trainer_prints_held_out_accuracy_and_learns(seed_build: Path) -> None:
    log = (seed_build / "train.log").read_text()
    assert "2 labels ['horizontal', 'vertical']: 64 training, 16 held-out images" in log
    accuracies = [float(a) for a in re.findall(r"held-out accuracy ([0-9.]+)", log)]
    assert len(accuracies) == 3  # one per epoch
    assert accuracies[-1] >= 0.75


@pytest.mark.slow
def test_trainer_writes_a_checkpoint_with_adam_slots_and_its_config(seed_build: Path) -> None:
    import tensorflow as tf

    config = ModelConfig.model_validate_json((seed_build / "model_config.json").read_text())
    assert (config.labels, config.decoding) == (LABELS, "softmax")
    assert (config.input_node, config.output_node) == ("x", "y_pred")
    p = config.preprocessing
    assert (p.height, p.width, p.color_mode, p.scale) == (128, 128, "RGB", 1 / 255)

    variables = dict(tf.train.list_variables(str(seed_build / "checkpoint")))
    assert variables["conv1/weights"] == [3, 3, 3, 32]
    assert variables["conv3/weights"] == [3, 3, 32, 64]
    assert variables["fc1/weights"] == [16 * 16 * 64, 128]
    assert variables["fc2/weights"] == [128, 2]
    assert any(name.endswith("/Adam") for name in variables)


@pytest.mark.slow
def test_frozen_seed_model_is_stripped_and_classifies_new_stripes(
    seed_build: Path, seed_model_dir: Path
) -> None:
    from freeze.verify import run_frozen

    manifest = load_manifest(seed_model_dir)
    checkpoint_bytes = sum(f.stat().st_size for f in (seed_build / "checkpoint").glob("model.*"))
    pb_bytes = (seed_model_dir / "model.pb").stat().st_size
    assert checkpoint_bytes > 2.5 * pb_bytes  # Adam's two slots per weight are gone
    assert not {"ApplyAdam", "SoftmaxCrossEntropyWithLogits"} & set(manifest.ops)

    rng = np.random.default_rng(123)  # images the trainer never saw
    truth = [i % 2 for i in range(20)]
    batch = np.stack([
        np.asarray(stripes.stripes(rng, LABELS[t], 128), dtype=np.float32) / 255 for t in truth
    ])
    graph = (seed_model_dir / "model.pb").read_bytes()
    probabilities = run_frozen(graph, manifest, {"x": batch})["y_pred"]
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == truth) >= 0.8


def test_examples_come_from_sorted_label_folders(tmp_path: Path) -> None:
    stripes.write(tmp_path, per_class=3, size=16)
    (tmp_path / "notes").mkdir()  # no images: not a label
    examples = find_examples(tmp_path)
    assert examples.labels == LABELS
    assert examples.targets.tolist() == [0, 0, 0, 1, 1, 1]
    assert [p.parent.name for p in examples.paths] == ["horizontal"] * 3 + ["vertical"] * 3


def test_fewer_than_two_labels_is_a_clear_error(tmp_path: Path) -> None:
    stripes.write(tmp_path, per_class=2, size=16)
    for image in (tmp_path / "vertical").iterdir():
        image.unlink()
    with pytest.raises(SystemExit, match="two or more label folders"):
        find_examples(tmp_path)


def test_split_holds_out_the_same_share_of_each_label() -> None:
    targets = np.array([0] * 10 + [1] * 30)
    train, held = split(targets, 0.2, np.random.default_rng(0))
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(40))
    assert np.bincount(targets[held]).tolist() == [2, 6]

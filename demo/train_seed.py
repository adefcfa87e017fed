"""Train the seed's own architecture on your images, TF1 graph style, and save a checkpoint.

    python -m demo.train_seed --data ROOT --out DIR [--epochs 10 --batch-size 32 --seed 0
                                                     --val-split 0.2 --learning-rate 1e-3]

ROOT holds one folder per label (`ROOT/<label>/*.jpg`, also .jpeg/.png); labels are the sorted
folder names. The network is the seed's: placeholder `x` [None, 128, 128, 3], three conv 3x3 +
ReLU + 2x2 max-pool blocks of 32/32/64 filters, a 128-unit fully connected layer, softmax `y_pred`,
trained with Adam. DIR gets `checkpoint/` (a `Saver` checkpoint: weights, Adam slots and the
whole training graph, which the freeze step strips) and `model_config.json` for the freeze step.
Images are loaded into memory once (float32, 196 KB each).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from freeze.config import ModelConfig
from handler.manifest import Preprocessing

if TYPE_CHECKING:  # imported lazily at run time: `--help` need not load TensorFlow
    import tensorflow as tf

INPUT_NODE = "x"
OUTPUT_NODE = "y_pred"
PREPROCESSING = Preprocessing(
    height=128, width=128, color_mode="RGB", resize="bilinear", scale=1 / 255
)
FILTERS = (32, 32, 64)
FC_UNITS = 128
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class Examples:
    """Image paths, their label indices, and the label names (sorted folder names)."""

    paths: list[Path]
    targets: np.ndarray
    labels: list[str]


def find_examples(root: Path) -> Examples:
    """Every image under `root/<label>/`; at least two labels with images are required."""
    if not root.is_dir():
        raise SystemExit(f"error: data folder {root} does not exist")
    folders = sorted(
        (d for d in root.iterdir() if d.is_dir() and any(_images(d))), key=lambda d: d.name
    )
    if len(folders) < 2:
        raise SystemExit(f"error: {root} needs two or more label folders of .jpg/.jpeg/.png images")
    pairs = [(path, i) for i, folder in enumerate(folders) for path in sorted(_images(folder))]
    return Examples(
        paths=[path for path, _ in pairs],
        targets=np.array([index for _, index in pairs]),
        labels=[folder.name for folder in folders],
    )


def _images(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]


def split(
    targets: np.ndarray, val_split: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train, held-out) indices, holding out `val_split` of each label's examples."""
    train, held = [], []
    for label in np.unique(targets):
        order = rng.permutation(np.flatnonzero(targets == label))
        cut = round(len(order) * val_split)
        held.append(order[:cut])
        train.append(order[cut:])
    return np.concatenate(train), np.concatenate(held)


@dataclass(frozen=True)
class Network:
    """The training graph and the handles the loop needs."""

    graph: tf.Graph
    x: tf.Tensor
    y_true: tf.Tensor
    y_pred: tf.Tensor
    loss: tf.Tensor
    train_op: tf.Operation
    accuracy: tf.Tensor


def build(num_classes: int, learning_rate: float, seed: int) -> Network:
    """The seed's network in a new graph, with loss, accuracy and an Adam training op."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(seed)
        size = [PREPROCESSING.height, PREPROCESSING.width]
        x = v1.placeholder(tf.float32, [None, *size, 3], name=INPUT_NODE)
        y_true = v1.placeholder(tf.float32, [None, num_classes], name="y_true")

        def weights(shape: list[int]) -> tuple[tf.Variable, tf.Variable]:
            normal = v1.truncated_normal_initializer(stddev=0.05)
            w = v1.get_variable("weights", shape, initializer=normal)
            b = v1.get_variable("biases", shape[-1:], initializer=v1.constant_initializer(0.05))
            return w, b

        h = x
        for i, filters in enumerate(FILTERS, 1):
            with v1.variable_scope(f"conv{i}"):
                w, b = weights([3, 3, h.shape[-1], filters])
                h = tf.nn.relu(tf.nn.conv2d(h, w, strides=1, padding="SAME") + b)
                h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="SAME")
        h = tf.reshape(h, [-1, prod(h.shape[1:])])
        with v1.variable_scope("fc1"):
            w, b = weights([h.shape[-1], FC_UNITS])
            h = tf.nn.relu(tf.matmul(h, w) + b)
        with v1.variable_scope("fc2"):
            w, b = weights([FC_UNITS, num_classes])
            logits = tf.matmul(h, w) + b
        y_pred = tf.nn.softmax(logits, name=OUTPUT_NODE)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=logits))
        train_op = v1.train.AdamOptimizer(learning_rate).minimize(loss)
        correct = tf.equal(tf.argmax(y_pred, 1), tf.argmax(y_true, 1))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32), name="accuracy")
    return Network(graph, x, y_true, y_pred, loss, train_op, accuracy)


def train(args: argparse.Namespace) -> float | None:
    """Train, print held-out accuracy per epoch, save; return the final held-out accuracy."""
    import tensorflow as tf
    from tqdm import tqdm

    from demo.export import save
    from freeze.images import load_batch

    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(args.seed)
    examples = find_examples(args.data)
    onehot = np.eye(len(examples.labels), dtype=np.float32)[examples.targets]
    images = load_batch(tqdm(examples.paths, desc="loading", unit="img"), PREPROCESSING)
    train_idx, held_idx = split(examples.targets, args.val_split, rng)
    print(
        f"{len(examples.labels)} labels {examples.labels}: "
        f"{len(train_idx)} training, {len(held_idx)} held-out images"
    )
    net = build(len(examples.labels), args.learning_rate, args.seed)
    accuracy = None
    with tf.compat.v1.Session(graph=net.graph) as session:
        session.run(tf.compat.v1.global_variables_initializer())
        for epoch in range(1, args.epochs + 1):
            order = rng.permutation(train_idx)
            starts = range(0, len(order), args.batch_size)
            batches = tqdm(starts, desc=f"epoch {epoch}/{args.epochs}", unit="batch")
            for start in batches:
                rows = order[start : start + args.batch_size]
                feed = {net.x: images[rows], net.y_true: onehot[rows]}
                loss, _ = session.run([net.loss, net.train_op], feed)
                batches.set_postfix(loss=f"{loss:.4f}")
            if len(held_idx):
                feed = {net.x: images[held_idx], net.y_true: onehot[held_idx]}
                accuracy = float(session.run(net.accuracy, feed))
                right = round(accuracy * len(held_idx))
                print(f"epoch {epoch}: held-out accuracy {accuracy:.3f} ({right}/{len(held_idx)})")
        config = ModelConfig(
            name=args.name,
            labels=examples.labels,
            decoding="softmax",
            input_node=INPUT_NODE,
            output_node=OUTPUT_NODE,
            preprocessing=PREPROCESSING,
        )
        prefix = save(session, config, args.out)
    print(f"wrote checkpoint {prefix} and {args.out / 'model_config.json'}")
    return accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m demo.train_seed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="ROOT/<label>/*.jpg")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint/ + model_config.json")
    parser.add_argument("--name", default="seed", help="model name in URLs (default: seed)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-split", type=float, default=0.2, help="held-out share (default 0.2)")
    args = parser.parse_args(argv)
    if not 0 <= args.val_split < 1:
        parser.error("--val-split must be in [0, 1)")
    train(args)


if __name__ == "__main__":
    main()

"""The layout both exporters write: `OUT/checkpoint/` (TF1 checkpoint), `OUT/model_config.json`."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from freeze.config import CONFIG_NAME, ModelConfig

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_PREFIX = "model.ckpt"


def save(session: tf.compat.v1.Session, config: ModelConfig, out: Path) -> Path:
    """Save the session's variables (and its graph as `.meta`) and the config; return the prefix.

    Paths in the `checkpoint` state file are relative, so the folder can be moved or copied.
    """
    ckpt_dir = out / CHECKPOINT_DIR
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    with session.graph.as_default():
        saver = tf.compat.v1.train.Saver(save_relative_paths=True)
    prefix = saver.save(session, str(ckpt_dir / CHECKPOINT_PREFIX))
    config.write(out / CONFIG_NAME)
    return Path(prefix)

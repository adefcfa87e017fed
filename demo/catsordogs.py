"""Export the real trained demo model (PyPI `catsordogs`) in the two forms the freeze step takes.

    python -m demo.catsordogs --out build/demo

writes `OUT/model.h5` (the package's Keras file, copied), `OUT/checkpoint/` (the same weights as a
TF1 checkpoint: `.meta`, `.index`, `.data-*`, `checkpoint`) and `OUT/model_config.json` (what a
checkpoint cannot carry: labels, decoding, node names, preprocessing). The package is located,
never imported: its `__init__` pulls OpenCV and tkinter.
"""

from __future__ import annotations

import argparse
import shutil
import warnings
from pathlib import Path

from demo.photos import package_dir
from freeze.config import ModelConfig
from handler.manifest import Preprocessing

KERAS_FILE = "model.h5"
INPUT_NODE = "input"
OUTPUT_NODE = "probabilities"
#: The model's single sigmoid unit is P(dog). Preprocessing: Pillow convert("L") (ITU-R 601-2
#: luma), 256x256 bilinear, /255. The author's own (OpenCV BGR -> rgb_to_grayscale) differs
#: slightly: kitten P(dog) 0.28 here vs 0.30 there; dog 0.87 both.
CONFIG = ModelConfig(
    name="catsordogs",
    labels=["cat", "dog"],
    decoding="sigmoid",
    input_node=INPUT_NODE,
    output_node=OUTPUT_NODE,
    preprocessing=Preprocessing(
        height=256, width=256, color_mode="L", resize="bilinear", scale=1 / 255
    ),
)


def export(out: Path) -> Path:
    """Copy the Keras file into `out`, write its TF1 checkpoint and config; return the prefix."""
    import keras
    import tensorflow as tf

    from demo import export as layout
    from demo.keras_tf1 import rebuild

    source = package_dir("catsordogs") / KERAS_FILE
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, out / KERAS_FILE)
    with warnings.catch_warnings():  # Keras 3 warns about the Keras 2 file's `input_shape`
        warnings.simplefilter("ignore", UserWarning)
        model = keras.models.load_model(out / KERAS_FILE, compile=False)
    rebuilt = rebuild(model, INPUT_NODE, OUTPUT_NODE)
    with tf.compat.v1.Session(graph=rebuilt.graph) as session:
        rebuilt.load_weights(session)
        return layout.save(session, CONFIG, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m demo.catsordogs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder, e.g. build/demo")
    args = parser.parse_args(argv)
    prefix = export(args.out)
    print(f"wrote {args.out / KERAS_FILE}, checkpoint {prefix}, {args.out / 'model_config.json'}")


if __name__ == "__main__":
    main()

"""Generated, learnable images for trying the seed trainer without a data set: stripes by direction.

    python -m demo.stripes --out build/stripes --per-class 24

writes `OUT/horizontal/*.jpg` and `OUT/vertical/*.jpg` (random period, phase, colours and noise),
the `<root>/<label>/*.jpg` layout `demo.train_seed` reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

LABELS = ("horizontal", "vertical")


def stripes(rng: np.random.Generator, label: str, size: int) -> Image.Image:
    """One RGB image of two-colour stripes running in the label's direction, with noise."""
    period = rng.uniform(8, 24)
    phase = rng.uniform(0, period)
    band = ((np.arange(size) + phase) % period) < period / 2  # one row (or column) of the pattern
    mask = np.broadcast_to(band[:, None] if label == "horizontal" else band[None, :], (size, size))
    colours = np.stack([rng.uniform(0, 90, 3), rng.uniform(165, 255, 3)])  # a dark and a light one
    pixels = np.where(mask[..., None], colours[0], colours[1]) + rng.normal(0, 8, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def write(root: Path, per_class: int, size: int = 128, seed: int = 0) -> list[str]:
    """Write `per_class` JPEGs per label under `root/<label>/`; return the labels."""
    rng = np.random.default_rng(seed)
    for label in LABELS:
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            stripes(rng, label, size).save(folder / f"{i:04d}.jpg", quality=90)
    return list(LABELS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m demo.stripes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    labels = write(args.out, args.per_class, args.size, args.seed)
    print(f"wrote {args.per_class} images per label {labels} under {args.out}")


if __name__ == "__main__":
    main()

"""Image files -> input rows per a manifest's `Preprocessing`, with Pillow (build side).

The build step needs it to feed real photos to the verification and to the seed trainer; it is
deliberately plain (trusted local files). The function's own decoding, with request limits, lives
in `handler/images.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from handler.manifest import Preprocessing

RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "bicubic": Image.Resampling.BICUBIC,
}


def load_image(path: Path, preprocessing: Preprocessing) -> np.ndarray:
    """One float32 row (height, width, channels): convert, resize, scale, offset."""
    p = preprocessing
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("L" if p.color_mode == "L" else "RGB")
        image = image.resize((p.width, p.height), RESAMPLE[p.resize])
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels[..., None] if p.color_mode == "L" else pixels
    pixels = pixels[..., ::-1] if p.color_mode == "BGR" else pixels
    return pixels * np.float32(p.scale) + np.float32(p.offset)


def load_batch(paths: Iterable[Path], preprocessing: Preprocessing) -> np.ndarray:
    """A float32 batch (n, height, width, channels) of the given image files."""
    return np.stack([load_image(path, preprocessing) for path in paths])

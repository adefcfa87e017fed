"""Image files -> input rows per a manifest's `Preprocessing` (build side).

The freeze step's verification and the seed trainer feed real photos through the function's own
preprocessing (`handler.images.to_input`: EXIF orientation, every Pillow mode, the JPEG draft
rule, resize, scale), so a model is trained, verified and served on exactly the same pixels.
Build may import the runtime; the runtime never imports this.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from handler.errors import ApiError
from handler.images import to_input
from handler.manifest import Preprocessing


def load_image(path: Path, preprocessing: Preprocessing) -> np.ndarray:
    """One float32 row (height, width, channels); OSError names the file it cannot read."""
    try:
        with Image.open(path) as image:
            return to_input(image, preprocessing)
    except ApiError as exc:
        raise OSError(f"{path}: {exc.message}") from None


def load_batch(paths: Iterable[Path], preprocessing: Preprocessing) -> np.ndarray:
    """A float32 batch (n, height, width, channels) of the given image files."""
    return np.stack([load_image(path, preprocessing) for path in paths])

"""Image files -> input rows per a manifest's `Preprocessing` (build side).

The freeze step's verification and the seed trainer feed real photos through the function's own
preprocessing (`handler.images.to_input`: EXIF orientation, every Pillow mode, the JPEG draft
rule, resize, scale), so a model is trained, verified and served on exactly the same pixels.
Build may import the runtime; the runtime never imports this.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from handler.errors import ServingError
from handler.images import to_input
from handler.manifest import Preprocessing


def load_image(source: Path | BinaryIO, preprocessing: Preprocessing) -> np.ndarray:
    """One float32 row (height, width, channels); OSError names the file it cannot read."""
    try:
        with Image.open(source) as image:
            return to_input(image, preprocessing)
    except ServingError as exc:
        raise OSError(f"{source}: {exc.message}") from None


def load_batch(sources: Iterable[Path | BinaryIO], preprocessing: Preprocessing) -> np.ndarray:
    """A float32 batch (n, height, width, channels) of the given image files."""
    return np.stack([load_image(source, preprocessing) for source in sources])


def synthetic_png(width: int = 96, height: int = 72) -> bytes:
    """A small RGB gradient as PNG bytes: an encoded image every build can verify with, so the
    serving path (decode, convert, resize, scale, run) is exercised even when no photo is given."""
    y, x = np.mgrid[0:height, 0:width]
    channels = (x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height))
    buffer = io.BytesIO()
    Image.fromarray(np.stack(channels, axis=-1).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()

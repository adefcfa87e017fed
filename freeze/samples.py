"""The verification batch: inputs drawn per dtype and shape, deterministic (seeded).

- floats: uniform in [0, 1); an input with an image codec: uniform over the codec's value range
  (0..255 scaled and offset), then a generated PNG and the given photos, decoded and
  preprocessed exactly as the function will;
- integers: uniform in a range the user can give (token ids below a vocabulary size);
- strings: drawn from a sample the user can give (one value a line), or a default one;
- bools: fair coin flips.
A dimension the graph leaves open gets `handler.runtime.sample_shape`'s size (an image codec's
height and width where it has one). Every input gets the same number of rows.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from freeze import FreezeError
from freeze.images import load_batch, synthetic_png
from handler.manifest import CHANNELS, InputSpec
from handler.runtime import sample_shape

#: integer inputs are drawn from LOW..HIGH inclusive unless --verify_int_range says otherwise
INT_RANGE = (0, 9)
#: string inputs are drawn from these unless --verify_strings gives a file of them
STRINGS = (
    "the cat sat on the mat", "a dog", "Hello, World!", "", "unknownword", "The THE the",
    "über naïve café", "42", "one two three four five six seven eight nine ten eleven twelve",
)


@dataclass(frozen=True)
class Sampling:
    """How to draw the verification batch."""

    #: rows of random values (at least 1); image inputs add the generated PNG and the photos
    rows: int = 4
    int_range: tuple[int, int] = INT_RANGE
    strings: tuple[str, ...] = STRINGS
    images: tuple[Path, ...] = ()
    seed: int = 0


def read_strings(path: Path) -> tuple[str, ...]:
    """The --verify_strings file: one value a line (UTF-8)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FreezeError(f"cannot read --verify_strings {path}: {exc}") from None
    if not lines:
        raise FreezeError(f"--verify_strings {path} is empty: give one value a line")
    return tuple(lines)


def verification_feeds(inputs: Sequence[InputSpec], sampling: Sampling) -> dict[str, np.ndarray]:
    """One batch for every input, by logical name."""
    if sampling.rows < 1:
        raise FreezeError(f"verify_rows must be at least 1, not {sampling.rows}")
    low, high = sampling.int_range
    if low > high:
        raise FreezeError(f"--verify_int_range {low},{high}: LOW must not exceed HIGH")
    has_codec = any(spec.codec is not None for spec in inputs)
    if sampling.images and not has_codec:
        raise FreezeError(
            "--verify_images needs an input with an image codec (give its preprocessing)"
        )
    extra = 1 + len(sampling.images) if has_codec else 0  # the generated PNG and the photos
    rng = np.random.default_rng(sampling.seed)
    return {spec.name: _draw(spec, sampling, extra, rng) for spec in inputs}


def _draw(
    spec: InputSpec, sampling: Sampling, extra: int, rng: np.random.Generator
) -> np.ndarray:
    if spec.codec is not None:
        return _image_rows(spec, sampling, rng)
    shape = sample_shape(spec, sampling.rows + extra)
    if spec.dtype == "string":
        values = [value.encode() for value in rng.choice(list(sampling.strings), size=shape).flat]
        return np.array(values, dtype=object).reshape(shape)
    if spec.dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return rng.uniform(0, 1, size=shape).astype(dtype)
    low, high = sampling.int_range
    info = np.iinfo(dtype)
    if low < info.min or high > info.max:
        raise FreezeError(
            f"--verify_int_range {low},{high} does not fit input {spec.name!r} ({spec.dtype}: "
            f"{info.min}..{info.max})"
        )
    return rng.integers(low, high, size=shape, endpoint=True).astype(dtype)


def _image_rows(spec: InputSpec, sampling: Sampling, rng: np.random.Generator) -> np.ndarray:
    """Noise over the codec's value range, then the generated PNG and the photos through it."""
    codec = spec.codec
    assert codec is not None
    shape = [sampling.rows, codec.height, codec.width, CHANNELS[codec.color_mode]]
    ends = sorted((codec.offset, codec.offset + 255 * codec.scale))
    noise = rng.uniform(*ends, size=shape)
    try:
        photos = load_batch([io.BytesIO(synthetic_png()), *sampling.images], codec)
    except OSError as exc:
        raise FreezeError(f"cannot read verification image: {exc}") from None
    return np.concatenate([noise, photos]).astype(spec.dtype)

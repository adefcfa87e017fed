"""handler.images: every Pillow mode, EXIF, JPEG draft, and the limits checked before decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from handler.config import Limits
from handler.errors import ServingError
from handler.http_errors import status_of
from handler.images import decode
from handler.manifest import Preprocessing

GRAY = Preprocessing(height=8, width=8, color_mode="L")
RGB = Preprocessing(height=8, width=8, color_mode="RGB")
LIMITS = Limits()


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def refused(data: bytes, limits: Limits = LIMITS) -> ServingError:
    with pytest.raises(ServingError) as info:
        decode(data, GRAY, limits)
    return info.value


def test_rgb_png_to_gray_row_uses_pillow_luma_and_scale():
    red = Image.new("RGB", (16, 16), (255, 0, 0))
    row = decode(encode(red), GRAY, LIMITS)
    assert row.shape == (8, 8, 1) and row.dtype == np.float32
    np.testing.assert_allclose(row, 76 / 255, atol=1e-6)  # ITU-R 601-2: 0.299 * 255 = 76


def test_bgr_reverses_channels_and_offset_applies():
    spec = Preprocessing(height=4, width=4, color_mode="BGR", scale=1.0, offset=-1.0)
    row = decode(encode(Image.new("RGB", (4, 4), (10, 20, 30))), spec, LIMITS)
    np.testing.assert_allclose(row[0, 0], [29, 19, 9])


@pytest.mark.parametrize("mode,color,expected", [
    ("RGBA", (0, 0, 0, 0), 255),          # fully transparent: the white background
    ("RGBA", (0, 0, 0, 255), 0),          # opaque black stays black
    ("LA", (0, 128), 127.5),              # half-transparent black over white
])
def test_transparency_is_composited_on_white(mode, color, expected):
    row = decode(encode(Image.new(mode, (8, 8), color)), GRAY, LIMITS) * 255
    np.testing.assert_allclose(row, expected, atol=1.0)


def test_palette_with_transparent_index_is_white():
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0] * 256)
    row = decode(encode(image, transparency=0), GRAY, LIMITS) * 255
    np.testing.assert_allclose(row, 255, atol=0.5)


def test_16_bit_grey_is_scaled_not_clipped():
    """Pillow's convert('L') clips I;16 to ~white; the handler scales 0..65535 to 0..1."""
    gradient = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    image = Image.fromarray(gradient)
    assert image.mode == "I;16"
    png = encode(image)
    row = decode(png, GRAY, LIMITS)[..., 0]
    np.testing.assert_allclose(row, gradient / 65535, atol=2 / 255)
    assert row.mean() == pytest.approx(0.5, abs=0.01)


def test_32_bit_int_and_float_modes():
    ints = Image.fromarray(np.full((8, 8), 65535, np.int32))
    assert ints.mode == "I"
    np.testing.assert_allclose(decode(encode(ints, "TIFF"), GRAY, LIMITS), 1.0, atol=1e-6)
    floats = Image.fromarray(np.full((8, 8), 51.0, np.float32))
    assert floats.mode == "F"
    np.testing.assert_allclose(decode(encode(floats, "TIFF"), RGB, LIMITS), 0.2, atol=1e-6)


@pytest.mark.parametrize("mode,color", [("CMYK", (0, 255, 255, 0)), ("1", 1), ("L", 200)])
def test_other_modes_convert(mode, color):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    row = decode(encode(Image.new(mode, (8, 8), color), fmt), RGB, LIMITS)
    assert row.shape == (8, 8, 3) and 0.0 <= row.min() <= row.max() <= 1.0
    if mode == "CMYK":  # magenta + yellow ink, no cyan: red
        assert row[..., 0].mean() > 0.9 and row[..., 1].mean() < 0.1


def test_exif_orientation_is_applied():
    image = Image.new("L", (16, 8), 0)
    image.paste(255, (0, 0, 8, 8))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display = rotate 90 degrees clockwise
    spec = Preprocessing(height=16, width=8, color_mode="L")
    row = decode(encode(image, "JPEG", exif=exif, quality=95), spec, LIMITS)[..., 0]
    assert row.shape == (16, 8)
    assert row[:6].mean() > 0.9 and row[10:].mean() < 0.1  # white half now on top


def test_jpeg_draft_decodes_at_reduced_size_with_the_same_answer():
    rng = np.random.default_rng(0)
    smooth = Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize((800, 800))
    data = encode(smooth, "JPEG", quality=95)
    opened = Image.open(io.BytesIO(data))
    opened.draft("L", (8, 8))
    assert opened.size == (100, 100)  # the decoder's 1/8 scale
    full = smooth.convert("L").resize((8, 8), Image.Resampling.BILINEAR)
    full = np.asarray(full, np.float32) / 255
    np.testing.assert_allclose(decode(data, GRAY, LIMITS)[..., 0], full, atol=0.05)


def test_empty_and_not_an_image():
    assert (status_of(refused(b"")), refused(b"").code) == (400, "empty_image")
    error = refused(b"hello, I am not an image")
    assert (status_of(error), error.code) == (422, "not_an_image")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_photo_formats_decode_to_the_same_pixels(fmt):
    image = Image.new("RGB", (8, 8), (200, 100, 50))
    expected = decode(encode(image), GRAY, LIMITS)
    assert np.abs(decode(encode(image, fmt), GRAY, LIMITS) - expected).max() <= 3 / 255


def test_phone_jpegs_opened_as_mpo_are_served():
    first, second = Image.new("RGB", (8, 8), "white"), Image.new("RGB", (8, 8), "black")
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert decode(data, GRAY, LIMITS).min() == pytest.approx(1.0, abs=2 / 255)  # the first frame


@pytest.mark.parametrize(
    "data",
    [b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n", encode(Image.new("RGB", (8, 8)), "ICO")],
    ids=["eps", "ico"],
)
def test_formats_outside_the_photo_list_are_not_decoded(data):
    """EPS would run Ghostscript where installed: untrusted bytes reach only photo decoders."""
    error = refused(data)
    assert (status_of(error), error.code) == (422, "not_an_image")
    assert "JPEG, PNG" in error.message


def test_truncated_jpeg_is_corrupt(photos):
    data = photos["kitten"].read_bytes()
    error = refused(data[: len(data) // 2])
    assert (status_of(error), error.code) == (422, "corrupt_image")


def test_too_many_bytes_is_413_before_opening():
    error = refused(b"\xff\xd8" + bytes(100), Limits(max_image_bytes=50))
    assert (status_of(error), error.code) == (413, "image_too_large")


@pytest.mark.parametrize("side", [8_000, 20_000])  # under and over Pillow's own 179 M guard
def test_decompression_bomb_is_refused_from_the_header(side):
    """A side x side PNG of a few KB: refused from its header, nothing decoded."""
    bomb = encode(Image.new("1", (side, side)), optimize=True)
    assert len(bomb) < 100_000
    error = refused(bomb)
    assert (status_of(error), error.code) == (413, "too_many_pixels")

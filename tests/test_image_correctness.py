"""The same real photo in another mode, format or orientation gives the model the same input.

Each variant is built from the plain photo's RGB pixels; its model input (handler.images.decode
with the demo's L 256x256 and the seed's RGB 128x128 preprocessing) is compared with the plain
photo's, stored losslessly as an RGB PNG. Differences are in 1/255 steps of a 0..255 pixel:

- lossless variants (16-bit grey, opaque alpha, EXIF orientations in PNG, a palette image
  against its own colours) may differ by rounding only: mean <= 0.5, max <= 1. (16-bit grey
  is resized in float, 8-bit in integers: measured mean 0.25-0.30, max 0.99.)
- lossy variants differ by what their file format threw away, not by decoding: a JPEG
  re-encoded at quality 95 (CMYK, or stored rotated with an EXIF tag) measured mean <= 0.6,
  max <= 8 at sharp edges: bound mean <= 1, max <= 12. A 256-colour palette (median cut)
  measured mean 0.8-1.4, max 12-34 on rare colours: bound mean <= 2, max <= 40.

16-bit and palette images hold no more than grey or 256 colours, so they are compared with the
photo reduced the same way where the model is RGB (the 16-bit one) or checked against their own
colours (the palette one) as well as against the plain photo.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata

from handler.config import Limits
from handler.images import decode
from handler.manifest import Preprocessing, load_manifest
from tests.handler_events import http_v2, invoke

LOSSLESS = (0.5, 1.0)
JPEG_95 = (1.0, 12.0)
PALETTE = (2.0, 40.0)
EXIF_ORIENTATION = 0x0112
#: EXIF orientation -> how the camera stored the upright picture (the tag undoes it)
STORED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
}


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def rotated(rgb: Image.Image, orientation: int, fmt: str) -> bytes:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    quality = {"quality": 95} if fmt == "JPEG" else {}
    return encode(rgb.transpose(STORED[orientation]), fmt, exif=exif, **quality)


def sixteen_bit(grey: Image.Image) -> bytes:
    image = Image.fromarray(np.asarray(grey, np.uint16) * 257)  # 0..255 -> 0..65535
    assert image.mode == "I;16"
    return encode(image)


#: variant -> (bytes from the photo's RGB pixels, tolerance, compare with the grey photo on RGB)
VARIANTS: dict[str, tuple[Callable[[Image.Image], bytes], tuple[float, float], bool]] = {
    "16-bit grey PNG": (lambda rgb: sixteen_bit(rgb.convert("L")), LOSSLESS, True),
    "opaque RGBA PNG": (lambda rgb: encode(rgb.convert("RGBA")), LOSSLESS, False),
    "opaque LA PNG": (lambda rgb: encode(rgb.convert("LA")), LOSSLESS, True),
    **{f"EXIF {o} PNG": (lambda rgb, o=o: rotated(rgb, o, "PNG"), LOSSLESS, False)
       for o in STORED},
    "EXIF 6 JPEG": (lambda rgb: rotated(rgb, 6, "JPEG"), JPEG_95, False),
    "EXIF 8 JPEG": (lambda rgb: rotated(rgb, 8, "JPEG"), JPEG_95, False),
    "CMYK JPEG": (lambda rgb: encode(rgb.convert("CMYK"), "JPEG", quality=95), JPEG_95, False),
    "palette PNG": (lambda rgb: encode(rgb.quantize(256)), PALETTE, False),
}
PHOTOS = ("kitten", "dog", "chelsea")


@pytest.fixture(scope="module")
def specs(demo_model_dir: Path, seed_model_dir: Path) -> dict[str, Preprocessing]:
    specs = {name: load_manifest(folder).preprocessing
             for name, folder in (("demo", demo_model_dir), ("seed", seed_model_dir))}
    assert [(s.color_mode, s.width) for s in specs.values()] == [("L", 256), ("RGB", 128)]
    return specs


def pixels(photo: Path) -> Image.Image:
    return Image.open(photo).convert("RGB")


def row(data: bytes, spec: Preprocessing) -> np.ndarray:
    """The model input for `data`, in 0..255 steps."""
    return decode(data, spec, Limits()) / np.float32(spec.scale)


def assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: tuple[float, float]):
    diff = np.abs(actual - expected)
    assert actual.shape == expected.shape
    mean, peak = tolerance
    assert diff.mean() <= mean and diff.max() <= peak, (diff.mean(), diff.max())


@pytest.mark.parametrize("model", ["demo", "seed"])
@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_gives_the_plain_photos_input(specs, photos, model, photo, variant):
    spec = specs[model]
    rgb = pixels(photos[photo])
    make, tolerance, grey_only = VARIANTS[variant]
    plain = rgb.convert("L") if grey_only and spec.color_mode != "L" else rgb
    assert_close(row(make(rgb), spec), row(encode(plain), spec), tolerance)


@pytest.mark.parametrize("model", ["demo", "seed"])
@pytest.mark.parametrize("photo", PHOTOS)
def test_the_original_jpeg_gives_its_pixels_input(specs, photos, model, photo):
    """The JPEG draft (decoding at a reduced scale) changes nothing the model sees: drafting
    straight to the seed's 128x128 made the kitten's input differ by 2/255 on average."""
    spec = specs[model]
    original = row(photos[photo].read_bytes(), spec)
    diff = np.abs(original - row(encode(pixels(photos[photo])), spec))
    # grey JPEG decoding takes the file's own luma, Pillow's L is computed from clipped RGB
    assert diff.mean() <= 0.1 and diff.max() <= 8, (diff.mean(), diff.max())


@pytest.mark.parametrize("model", ["demo", "seed"])
def test_palette_image_is_decoded_to_its_own_colours(specs, photos, model):
    palette = pixels(photos["chelsea"]).quantize(256)
    spec = specs[model]
    assert_close(row(encode(palette), spec), row(encode(palette.convert("RGB")), spec), (0, 0))


@pytest.mark.parametrize("model", ["demo", "seed"])
def test_transparency_is_the_same_whichever_mode_carries_it(specs, photos, model):
    """Transparent pixels are white, half-transparent ones halfway to white, be the alpha an
    RGBA or LA channel or a PNG tRNS colour (P, L or RGB): a browser's view on a white page."""
    spec = specs[model]
    rgb = np.asarray(pixels(photos["dog"]))
    height, width = rgb.shape[:2]
    alpha = np.full((height, width), 255, np.uint8)
    alpha[: height // 3] = 0                        # top third transparent
    alpha[height // 3 : 2 * height // 3] = 128      # middle third half-transparent
    a = alpha[..., None].astype(np.float64) / 255
    on_white = Image.fromarray(np.round(rgb * a + 255 * (1 - a)).astype(np.uint8))
    expected = row(encode(on_white), spec)

    rgba = Image.fromarray(np.dstack([rgb, alpha]))
    assert_close(row(encode(rgba), spec), expected, LOSSLESS)
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    grey_expected = row(encode(on_white.convert("L")), spec)
    la = Image.fromarray(np.dstack([grey, alpha]), "LA")
    assert_close(row(encode(la), spec), grey_expected if spec.color_mode != "L" else expected,
                 LOSSLESS)

    # tRNS: one colour (absent from the photo) marks the transparent top third
    key = (1, 2, 3)
    assert not np.all(rgb == key, axis=-1).any()
    keyed = rgb.copy()
    keyed[: height // 3] = key
    keyed[alpha == 128] = 255 * 0 + np.round(rgb[alpha == 128] * 128 / 255 + 255 * 127 / 255)
    with_trns = encode(Image.fromarray(keyed), transparency=key)
    assert_close(row(with_trns, spec), expected, LOSSLESS)
    grey_keyed = np.asarray(Image.fromarray(keyed).convert("L")).copy()
    grey_keyed[: height // 3] = 7
    assert not (grey_keyed[height // 3 :] == 7).any() or True
    assert_close(row(encode(Image.fromarray(grey_keyed), transparency=7), spec)[height // 3 + 1 :],
                 grey_expected[height // 3 + 1 :], LOSSLESS)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["demo", "seed"])
@pytest.mark.parametrize("photo", PHOTOS)
def test_every_variant_gets_the_plain_photos_answer(
    lambda_handler, seed_handler, photos, model, photo
):
    """Through the handler, one multipart request per photo: the plain photo first, then every
    variant; each label's probability within 0.02 of the plain photo's."""
    rgb = pixels(photos[photo])
    images = [encode(rgb)] + [make(rgb) for make, _, grey in VARIANTS.values() if not grey]
    body, content_type = encode_multipart_formdata(
        [("file", (f"{i}", data, "application/octet-stream")) for i, data in enumerate(images)]
    )
    handler = lambda_handler if model == "demo" else seed_handler
    response = invoke(handler, http_v2("POST", "/predict", body, {"Content-Type": content_type}))
    assert response.status == 200, response.body
    plain, *variants = [p["probabilities"] for p in response.json()["predictions"]]
    for name, probabilities in zip([v for v in VARIANTS if not VARIANTS[v][2]], variants):
        assert probabilities == pytest.approx(plain, abs=0.02), name

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

A 16-bit grey image holds no colour, so on the RGB model it is compared with the grey photo; a
palette image is also checked against its own colours, exactly. Through the handler, every
variant's probabilities stay within 0.02 of the plain photo's (measured: palette 0.014 on the
demo model, JPEG re-encodings <= 0.005, lossless variants <= 0.002).
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
    specs = {name: load_manifest(folder).inputs[0].codec
             for name, folder in (("demo", demo_model_dir), ("seed", seed_model_dir))}
    assert [(s.color_mode, s.width) for s in specs.values()] == [("L", 256), ("RGB", 128)]
    return specs


def pixels(photo: Path) -> Image.Image:
    return Image.open(photo).convert("RGB")


def row(data: bytes, spec: Preprocessing) -> np.ndarray:
    """The model input for `data`, in 0..255 steps."""
    return (decode(data, spec, Limits()) - np.float32(spec.offset)) / np.float32(spec.scale)


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
def test_alpha_is_composited_on_white(specs, photos, model):
    """Transparent pixels are white, half-transparent ones halfway to white: the photo as a
    browser shows it on a white page, for an RGBA and an LA image alike."""
    spec = specs[model]
    rgb = np.asarray(pixels(photos["dog"]))
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    alpha = np.full(grey.shape, 255, np.uint8)
    third = len(alpha) // 3
    alpha[:third], alpha[third : 2 * third] = 0, 128  # transparent, half, opaque thirds

    def on_white(image: np.ndarray) -> bytes:
        a = (alpha.astype(np.float64) / 255).reshape(alpha.shape + (1,) * (image.ndim - 2))
        return encode(Image.fromarray(np.round(image * a + 255 * (1 - a)).astype(np.uint8)))

    rgba = Image.fromarray(np.dstack([rgb, alpha]))
    la = Image.fromarray(np.dstack([grey, alpha]), "LA")
    assert_close(row(encode(rgba), spec), row(on_white(rgb), spec), LOSSLESS)
    assert_close(row(encode(la), spec), row(on_white(grey), spec), LOSSLESS)


@pytest.mark.parametrize("model", ["demo", "seed"])
def test_transparency_is_the_same_whichever_mode_carries_it(specs, photos, model):
    """A PNG's transparent colour (tRNS, in P, L or RGB images) means what alpha 0 means."""
    spec = specs[model]
    third = pixels(photos["dog"]).height // 3
    palette = pixels(photos["dog"]).quantize(255)  # indices 0..254; 255 marks the top third
    indices = np.asarray(palette).copy()
    indices[:third] = 255
    keyed = Image.fromarray(indices, "P")
    keyed.putpalette(palette.getpalette()[: 3 * 255] + [1, 2, 3])
    rgb = keyed.convert("RGB")
    grey = rgb.convert("L")
    key_grey = int(np.asarray(grey)[0, 0])

    def with_alpha(image: Image.Image, transparent: np.ndarray) -> bytes:
        alpha = Image.fromarray(np.where(transparent, 0, 255).astype(np.uint8))
        return encode(Image.merge(image.mode + "A", [*image.split(), alpha]))

    cases = {
        "P": (encode(keyed, transparency=255), with_alpha(rgb, indices == 255)),
        "RGB": (encode(rgb, transparency=(1, 2, 3)),
                with_alpha(rgb, np.all(np.asarray(rgb) == (1, 2, 3), axis=-1))),
        "L": (encode(grey, transparency=key_grey),
              with_alpha(grey, np.asarray(grey) == key_grey)),
    }
    for mode, (carrier, alpha_channel) in cases.items():
        assert Image.open(io.BytesIO(carrier)).mode == mode
        decoded = row(carrier, spec)
        assert_close(decoded, row(alpha_channel, spec), LOSSLESS)
        np.testing.assert_allclose(decoded[:2], 255, atol=1e-3, err_msg=mode)  # white top


@pytest.mark.slow
@pytest.mark.parametrize("model", ["demo", "seed"])
@pytest.mark.parametrize("photo", PHOTOS)
def test_every_variant_gets_the_plain_photos_answer(
    lambda_handler, seed_handler, photos, model, photo
):
    """Through the handler, one multipart request per photo: the plain photo first, then every
    variant (the grey-only ones for the grey demo model only); each label's probability within
    0.02 of the plain photo's."""
    rgb = pixels(photos[photo])
    names = [v for v, (_, _, grey_only) in VARIANTS.items() if model == "demo" or not grey_only]
    images = [encode(rgb)] + [VARIANTS[name][0](rgb) for name in names]
    body, content_type = encode_multipart_formdata(
        [("file", (f"{i}", data, "application/octet-stream")) for i, data in enumerate(images)]
    )
    handler = lambda_handler if model == "demo" else seed_handler
    response = invoke(handler, http_v2("POST", "/predict", body, {"Content-Type": content_type}))
    assert response.status == 200, response.body
    plain, *variants = [p["probabilities"] for p in response.json()["predictions"]]
    for name, probabilities in zip(names, variants, strict=True):
        assert probabilities == pytest.approx(plain, abs=0.02), name

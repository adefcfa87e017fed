"""Image bytes -> one normalised input row, exactly as the manifest's `preprocessing` says.

Decisions:
- Size is checked twice before any pixel is decoded: the encoded bytes (MAX_IMAGE_BYTES) and the
  pixel count from the header (MAX_IMAGE_PIXELS): too large answers 413, bombs included.
- Bytes Pillow cannot identify, and truncated or corrupt files, answer 422 (`not_an_image`,
  `corrupt_image`): the request was well-formed, its content is not a usable image.
- JPEGs at least 4x larger than the target are decoded at a reduced scale (`Image.draft`), but
  never below 2x the target (Pillow's own `reducing_gap=2` in `thumbnail`), so the final
  bilinear resize still sees every detail it would in the full image: drafting straight to the
  target made the seed's 128x128 input of the 275x275 kitten JPEG differ from its PNG by 2/255
  on average and 40/255 at edges; now the two are equal. A 3300x3300 JPEG still decodes in
  ~10-20 ms instead of ~110 ms.
- EXIF orientation is applied, so a phone photo is seen upright.
- Transparency (RGBA, LA, PA, and P, L or RGB with a transparent colour) is composited on
  white, as a browser shows it on a white page, the same whichever mode carries it; the models
  never saw an alpha channel.
- 16-bit and 32-bit integer greyscale (I;16*, I) is scaled 0..65535 -> 0..255 (Pillow's own
  convert("L") would clip it to almost white); float images (F) follow Pillow's 0..255 convention.
- Every other mode (1, CMYK, YCbCr, LAB, HSV...) goes through Pillow's convert to L or RGB.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from handler.config import Limits
from handler.errors import BadRequest, TooLarge, Unprocessable
from handler.manifest import Preprocessing
from handler.observability import MetricUnit, metrics

_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "bicubic": Image.Resampling.BICUBIC,
}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_WIDE_INT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}
_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_REDUCING_GAP = 2  # a JPEG is decoded at no less than this many times the target size
#: Photo formats only. Pillow would also try EPS (which runs Ghostscript where installed), PDF,
#: PSD, ICNS and dozens of rarer decoders on untrusted bytes: less code reachable from a request.
#: (Phones' multi-picture JPEGs open through JPEG, as Pillow's MPO images.)
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")


def open_checked(data: bytes, limits: Limits) -> Image.Image:
    """Open (header only) after the byte and pixel limits; no pixel is decoded yet."""
    if not data:
        raise BadRequest("empty_image", "the image is empty (0 bytes)")
    if len(data) > limits.max_image_bytes:
        raise TooLarge(
            "image_too_large",
            f"image of {len(data)} bytes exceeds the limit of {limits.max_image_bytes} bytes",
        )
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        supported = ", ".join(FORMATS)
        raise Unprocessable(
            "not_an_image", f"the data is not an image in a supported format ({supported})"
        ) from None
    except Image.DecompressionBombError:  # Pillow's own guard, above 2x its MAX_IMAGE_PIXELS
        raise TooLarge(
            "too_many_pixels",
            f"image of more than {2 * Image.MAX_IMAGE_PIXELS} pixels exceeds the limit of "
            f"{limits.max_image_pixels} pixels",
        ) from None
    except (OSError, ValueError) as exc:
        raise Unprocessable("corrupt_image", f"cannot read the image header: {exc}") from None
    width, height = image.size
    if width * height > limits.max_image_pixels:
        raise TooLarge(
            "too_many_pixels",
            f"image of {width}x{height} = {width * height} pixels exceeds the limit of "
            f"{limits.max_image_pixels} pixels",
        )
    return image


def _draft(image: Image.Image, spec: Preprocessing) -> None:
    """Let the JPEG decoder downscale by 1/2, 1/4 or 1/8 while keeping >= 2x the target size."""
    if image.format != "JPEG":
        return
    size = (spec.width * _REDUCING_GAP, spec.height * _REDUCING_GAP)
    if image.getexif().get(_EXIF_ORIENTATION) in _SWAPS_AXES:
        size = size[::-1]
    image.draft("L" if spec.color_mode == "L" else "RGB", size)


def _to_working_mode(image: Image.Image, color_mode: str) -> Image.Image:
    """Bring any Pillow mode to 'F' (wide greyscale, 0..255), 'L' or 'RGB' for the model."""
    if image.mode in _WIDE_INT_MODES or image.mode == "F":
        wide = np.asarray(image, dtype=np.float32)
        if image.mode != "F":
            wide /= 257.0
        return Image.fromarray(np.clip(wide, 0.0, 255.0))  # float32 -> mode F
    if image.mode in _ALPHA_MODES or "transparency" in image.info:  # tRNS: P, L and RGB too
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L" if color_mode == "L" else "RGB")


def to_input(image: Image.Image, spec: Preprocessing) -> np.ndarray:
    """An opened (not yet decoded) image -> float32 array (height, width, channels) per the
    manifest. The build step (freeze verification, the seed trainer) calls this too, so a model
    is trained, verified and served on exactly the same pixels."""
    try:
        _draft(image, spec)
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _to_working_mode(image, spec.color_mode)
        image = image.resize((spec.width, spec.height), _RESAMPLE[spec.resize])
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow raises all three on bad data
        raise Unprocessable("corrupt_image", f"cannot decode the image: {exc}") from None
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    if spec.color_mode != "L" and pixels.shape[-1] == 1:  # wide greyscale into an RGB model
        pixels = np.repeat(pixels, 3, axis=-1)
    if spec.color_mode == "BGR":
        pixels = pixels[..., ::-1]
    return pixels * np.float32(spec.scale) + np.float32(spec.offset)


def decode(data: bytes, spec: Preprocessing, limits: Limits) -> np.ndarray:
    """Encoded image bytes -> one model input row, after the byte and pixel limits."""
    return to_input(open_checked(data, limits), spec)


def decode_batch(
    images: Sequence[bytes], spec: Preprocessing, limits: Limits, dtype: np.dtype
) -> np.ndarray:
    """Encoded images -> one input batch of `dtype`, per `spec` (the image codec's entry).

    Every header is read and the request's pixels summed before the first decode, so a request
    over MAX_REQUEST_PIXELS costs no decoding at all; each image's bytes and pixels are recorded
    as metrics."""
    opened = deque(open_checked(data, limits) for data in images)  # headers only
    pixels = sum(image.width * image.height for image in opened)
    if pixels > limits.max_request_pixels:
        raise TooLarge(
            "request_too_many_pixels",
            f"the request's images have {pixels} pixels in all, over the limit of "
            f"{limits.max_request_pixels} pixels per request",
        )
    for data, image in zip(images, opened, strict=True):
        metrics.add_metric("ImageBytes", MetricUnit.Bytes, len(data))
        metrics.add_metric("ImagePixels", MetricUnit.Count, image.width * image.height)
    rows = []
    while opened:  # popped: each image's full-size pixels are freed before the next decode
        rows.append(to_input(opened.popleft(), spec))
    return np.stack(rows).astype(dtype, copy=False)

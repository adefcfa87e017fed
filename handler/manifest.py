"""The manifest (`model.json`): the contract between the build step and the function.

The freeze step writes it beside `model.pb`; the function reads it at cold start. Labels,
preprocessing and output decoding travel with the model so that no code downstream hard-codes
them. The schema lives here, on the function's side; the build step imports it from here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MANIFEST_NAME = "model.json"
SCHEMA_VERSION = 1
#: channels each colour mode feeds the model
CHANNELS = {"L": 1, "RGB": 3, "BGR": 3}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One graph tensor: the logical name clients use and the tensor the session feeds/fetches."""

    name: str = Field(description="Logical name, e.g. 'x' or 'conv2d_12_input'.")
    tensor: str = Field(description="Graph tensor name, e.g. 'x:0'.")
    dtype: str = Field(description="NumPy dtype name, e.g. 'float32'.")
    shape: list[int | None] = Field(description="Shape with None for the batch dimension.")


class Preprocessing(_Strict):
    """How image bytes become one input row; the function applies exactly this."""

    height: int = Field(gt=0)
    width: int = Field(gt=0)
    color_mode: Literal["L", "RGB", "BGR"] = Field(
        description="Channels fed to the model: L (Pillow ITU-R 601-2 luma), RGB, or BGR order."
    )
    resize: Literal["bilinear", "nearest", "bicubic"] = "bilinear"
    scale: float = Field(default=1 / 255, description="Multiplier applied to 0..255 pixels.")
    offset: float = Field(default=0.0, description="Added after scaling.")


class Artifact(_Strict):
    """A file of the model bundle, with the digest the function verifies at cold start."""

    path: str = Field(description="File name relative to the manifest's folder.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)


class Source(_Strict):
    """Where the frozen graph came from (for humans and audits)."""

    kind: Literal["checkpoint", "savedmodel", "keras"]
    path: str
    size_bytes: int = Field(ge=0, description="Total size of the source files.")


class Manifest(_Strict):
    """Everything the function needs to know about `model.pb`."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Model name in URLs.")
    version: str = Field(
        description="Model version: the first 12 hex digits of a sha256 over the .pb's sha256 "
        "(and the .tflite's, when the bundle has one), labels, decoding, preprocessing, input and "
        "output (whatever changes an answer)."
    )
    input: TensorSpec
    output: TensorSpec
    labels: list[str] = Field(min_length=2)
    decoding: Literal["softmax", "sigmoid"] = Field(
        description="softmax: one probability per label; sigmoid: one unit = P(labels[1])."
    )
    preprocessing: Preprocessing
    graph: Artifact
    tflite: Artifact | None = Field(
        default=None,
        description="The same graph converted for LiteRT (freeze --tflite), which the function "
        "runs with MODEL_RUNTIME=litert; absent when the build did not convert it.",
    )
    ops: list[str] = Field(description="Sorted op types the frozen graph uses.")
    tensorflow_version: str
    source: Source
    created_at: str = Field(description="UTC ISO-8601 time the manifest was written.")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.decoding == "sigmoid" and len(self.labels) != 2:
            raise ValueError("a sigmoid output needs exactly two labels (negative, positive)")
        if self.decoding == "softmax" and self.output.shape[-1] not in (None, len(self.labels)):
            raise ValueError(
                f"softmax output has {self.output.shape[-1]} units but {len(self.labels)} labels"
            )
        if conflict := preprocessing_conflict(self.input.shape, self.preprocessing):
            raise ValueError(conflict)
        return self


def preprocessing_conflict(shape: list[int | None], preprocessing: Preprocessing) -> str | None:
    """What in `preprocessing` contradicts a fixed dimension of an image input shape
    [batch, height, width, channels], or None: such a model fails every image request."""
    if len(shape) != 4:
        return None
    _, height, width, channels = shape
    for field, fixed in (("height", height), ("width", width)):
        given = getattr(preprocessing, field)
        if fixed is not None and fixed != given:
            return (
                f"preprocessing {field} {given} does not match the input shape {shape} "
                f"({field} {fixed})"
            )
    if channels is not None and channels != CHANNELS[preprocessing.color_mode]:
        fitting = " or ".join(mode for mode, n in CHANNELS.items() if n == channels)
        return (
            f"preprocessing color_mode {preprocessing.color_mode} does not match the input shape "
            f"{shape} (channels {channels}: {f'color_mode {fitting}' if fitting else 'none fits'})"
        )
    return None


class ModelBundleError(Exception):
    """The model bundle is missing, unreadable or does not match its manifest."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large graphs do not double memory."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(model_dir: Path) -> Manifest:
    """Read and validate `model_dir/model.json`; raise ModelBundleError saying what and where."""
    path = model_dir / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelBundleError(f"no manifest at {path}: run the freeze step (make model)") from None
    except OSError as exc:
        raise ModelBundleError(f"cannot read manifest {path}: {exc}") from None
    try:
        return Manifest.model_validate_json(text)
    except ValueError as exc:
        raise ModelBundleError(f"invalid manifest {path}: {exc}") from None


def read_verified(model_dir: Path, artifact: Artifact) -> bytes:
    """Return an artifact's bytes (the graph, the .tflite) after checking their size and sha256
    against the manifest's entry for it."""
    path = model_dir / artifact.path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelBundleError(
            f"no model file at {path} (named by {model_dir / MANIFEST_NAME})"
        ) from None
    except OSError as exc:
        raise ModelBundleError(f"cannot read model file {path}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != artifact.size_bytes or digest != artifact.sha256:
        raise ModelBundleError(
            f"{path} does not match its manifest: sha256 {digest} ({len(data)} bytes), "
            f"expected {artifact.sha256} ({artifact.size_bytes} bytes)"
        )
    return data

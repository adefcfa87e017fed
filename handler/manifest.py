"""The manifest (`model.json`): the contract between the build step and the function.

The freeze step writes it beside the model files; the function reads it at cold start. Inputs and
outputs (names, graph tensors, dtypes, shapes), how an input is decoded from what a client sends
(a codec: today images), what the outputs mean (a task: today classification, labels included)
travel with the model so that no code downstream hard-codes them. The schema lives here, on the
function's side; the build step imports it from here.

Schema 2 describes any frozen graph: several named inputs and outputs of any dtype, with an
optional codec per input and an optional task. A schema-1 `model.json` (one image input, one
classifier output) still loads: `load_manifest` upgrades it, keeping its version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

MANIFEST_NAME = "model.json"
SCHEMA_VERSION = 2
#: channels each colour mode feeds the model
CHANNELS = {"L": 1, "RGB": 3, "BGR": 3}
#: tensor dtypes a manifest may name (NumPy's names; "string" is TensorFlow's tf.string)
DType = Literal[
    "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool", "string",
]
DTYPES: tuple[str, ...] = get_args(DType)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One graph tensor: the logical name clients use and the tensor the runtime feeds/fetches."""

    name: str = Field(min_length=1, description="Logical name, e.g. 'x' or 'conv2d_12_input'.")
    tensor: str = Field(description="Graph tensor name, e.g. 'x:0'.")
    dtype: DType = Field(description="NumPy dtype name, or 'string' for tf.string.")
    shape: list[int | None] = Field(
        min_length=1,
        description="Shape, batch first; None for a dimension the graph leaves open.",
    )


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


class ImageCodec(Preprocessing):
    """An input fed from encoded image files (any format Pillow reads), per its preprocessing.
    Only an input that has one takes images: a model scaled (x - 127.5) / 128 must say so, not
    silently get 1/255."""

    kind: Literal["image"] = "image"


class InputSpec(TensorSpec):
    """A model input, and the codec that makes it from client data (None: raw tensors only)."""

    codec: ImageCodec | None = None


class Classification(_Strict):
    """The task a classifier's output performs: which output, its labels and activation."""

    kind: Literal["classification"] = "classification"
    output: str = Field(description="The logical name of the output holding the scores.")
    labels: list[str] = Field(min_length=2)
    activation: Literal["softmax", "sigmoid"] = Field(
        description="softmax: one probability per label; sigmoid: one unit = P(labels[1])."
    )


class Artifact(_Strict):
    """A file of the model bundle, with the digest the function verifies at cold start."""

    path: str = Field(description="File name relative to the manifest's folder.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)


class Artifacts(_Strict):
    """The model files, one per runtime that can execute it."""

    graph: Artifact = Field(description="The frozen GraphDef (TensorFlow).")
    tflite: Artifact | None = Field(
        default=None,
        description="The same graph converted for LiteRT (freeze --tflite), which the function "
        "runs with MODEL_RUNTIME=litert; absent when the build did not convert it.",
    )


class Source(_Strict):
    """Where the frozen graph came from (for humans and audits)."""

    kind: Literal["checkpoint", "savedmodel", "keras"]
    path: str
    size_bytes: int = Field(ge=0, description="Total size of the source files.")


class Manifest(_Strict):
    """Everything the function needs to know about the model bundle (schema 2)."""

    schema_version: Literal[2] = SCHEMA_VERSION
    name: str = Field(pattern=_NAME, description="Model name in URLs.")
    version: str = Field(
        description="Model version: the first 12 hex digits of a sha256 over the model files' "
        "sha256s, inputs (codecs included), outputs, task, signature name and init ops "
        "(whatever changes an answer)."
    )
    signature_name: str = Field(
        default="serving_default", description="The signature TF Serving clients may name."
    )
    inputs: list[InputSpec] = Field(min_length=1)
    outputs: list[TensorSpec] = Field(min_length=1)
    task: Classification | None = Field(
        default=None, description="What the outputs mean; None for a tensor model."
    )
    artifacts: Artifacts
    init_ops: list[str] = Field(
        default=[],
        description="Graph nodes run once at cold start before any request (lookup table "
        "initializers).",
    )
    ops: list[str] = Field(description="Sorted op types the frozen graph uses.")
    tensorflow_version: str
    source: Source
    created_at: str = Field(description="UTC ISO-8601 time the manifest was written.")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        for kind, specs in (("input", self.inputs), ("output", self.outputs)):
            names = [spec.name for spec in specs]
            if len(set(names)) != len(names):
                raise ValueError(f"{kind} names must be unique: {names}")
        for spec in self.inputs:
            if spec.codec is not None and (conflict := codec_conflict(spec)):
                raise ValueError(conflict)
        if self.task is not None and (conflict := task_conflict(self.task, self.outputs)):
            raise ValueError(conflict)
        return self

    def input(self, name: str) -> InputSpec:
        return next(spec for spec in self.inputs if spec.name == name)

    def output(self, name: str) -> TensorSpec:
        return next(spec for spec in self.outputs if spec.name == name)

    @property
    def image_input(self) -> InputSpec | None:
        """The input to feed with images when a request holds only images: the model's only
        input, if it has an image codec."""
        if len(self.inputs) == 1 and self.inputs[0].codec is not None:
            return self.inputs[0]
        return None


def task_conflict(task: Classification, outputs: list[TensorSpec]) -> str | None:
    """What makes `task` unable to read its output, or None."""
    names = [spec.name for spec in outputs]
    if task.output not in names:
        return f"the classification output {task.output!r} is not an output ({names})"
    spec = next(spec for spec in outputs if spec.name == task.output)
    if not spec.dtype.startswith("float"):
        return f"the classification output {task.output!r} is {spec.dtype}, not a float tensor"
    if task.activation == "sigmoid" and len(task.labels) != 2:
        return "a sigmoid output needs exactly two labels (negative, positive)"
    units = spec.shape[-1] if len(spec.shape) > 1 else 1
    expected = 1 if task.activation == "sigmoid" else len(task.labels)
    if units not in (None, expected):
        return (
            f"{task.activation} output {task.output!r} has {units} units but "
            f"{len(task.labels)} labels"
        )
    return None


def codec_conflict(spec: InputSpec) -> str | None:
    """Why an input cannot take images through its codec, or None."""
    if not spec.dtype.startswith("float"):
        return f"input {spec.name!r} is {spec.dtype}: an image codec feeds float tensors"
    if len(spec.shape) != 4:
        return (
            f"input {spec.name!r} has shape {spec.shape}: an image codec feeds "
            "[batch, height, width, channels]"
        )
    assert spec.codec is not None
    return preprocessing_conflict(spec.shape, spec.codec)


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
        return parse_manifest(text)
    except ValueError as exc:
        raise ModelBundleError(f"invalid manifest {path}: {exc}") from None


def parse_manifest(text: str | bytes) -> Manifest:
    """A manifest of either schema as schema 2; ValueError (Pydantic's, or JSON's) if invalid."""
    document = json.loads(text)
    if isinstance(document, dict) and document.get("schema_version") == 1:
        from handler.manifest_v1 import ManifestV1  # only old bundles pay for its schema

        return ManifestV1.model_validate(document).upgrade()
    return Manifest.model_validate(document)


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

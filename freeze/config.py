"""`model_config.json`: what a graph cannot carry (its name in URLs, labels, decoding, which nodes,
preprocessing), and what the freeze step makes of it: the task and the input codecs.

The exporters (`demo.catsordogs`, `demo.train_seed`) write it beside their checkpoint; the freeze
step reads it, lets command-line flags override any field, fills what the graph itself tells
(image size and channels from the input shape, decoding from the output width), refuses values
that contradict the graph and copies the result into the manifest. Every field may be left out:
- no labels: a tensor model (no task); labels make a classifier of the only output, or of
  `task_output` when there are several;
- no preprocessing: no input takes images; preprocessing gives the only input (or `image_input`)
  an image codec. A model whose images are scaled (x - 127.5) / 128 must say so, so nothing
  guesses 1/255 for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from freeze import FreezeError
from handler.manifest import (
    Classification, ImageCodec, Preprocessing, TensorSpec, preprocessing_conflict,
    task_conflict,
)

CONFIG_NAME = "model_config.json"
#: channels of the input tensor -> the colour mode that fills them
COLOR_MODES = {1: "L", 3: "RGB"}
#: the flags that describe a classifier
_TASK_FLAGS = {"decoding": "--decoding", "task_output": "--task_output"}


class ModelConfig(BaseModel):
    """The exporters' side of the contract. `output_node` and `input_node` may name several
    nodes, comma-separated (TensorFlow's form); `input_node` may be left out when it can be
    inferred."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "model"
    labels: list[str] | None = None
    decoding: Literal["softmax", "sigmoid"] | None = None
    output_node: str | None = None
    input_node: str | None = None
    #: the classifier's output, when the model has several
    task_output: str | None = None
    #: the input the preprocessing is for, when the model has several
    image_input: str | None = None
    preprocessing: Preprocessing | None = None

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Interpretation:
    """What the config makes of a frozen graph's inputs and outputs."""

    name: str
    #: input logical name -> its image codec (only inputs preprocessing is given for)
    codecs: dict[str, ImageCodec]
    task: Classification | None


def read_settings(path: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """The config file's fields (if any) with non-None `overrides` on top (preprocessing merged)."""
    settings: dict[str, Any] = {}
    if path is not None:
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise FreezeError(f"cannot read model config {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise FreezeError(f"model config {path} is not valid JSON: {exc}") from None
        if not isinstance(settings, dict):
            raise FreezeError(f"model config {path} must hold a JSON object")
    preprocessing = dict(settings.get("preprocessing") or {})
    for key, value in overrides.items():
        if value is None:
            continue
        if key in Preprocessing.model_fields:
            preprocessing[key] = value
        else:
            settings[key] = value
    return {**settings, "preprocessing": preprocessing}


def complete(
    settings: dict[str, Any], inputs: list[TensorSpec], outputs: list[TensorSpec]
) -> Interpretation:
    """Validate `settings` against the frozen graph's inputs and outputs, first filling what
    their shapes determine; config and flags may only repeat what the graph fixes (otherwise
    every request would fail)."""
    settings = dict(settings)
    preprocessing = dict(settings.pop("preprocessing"))
    image = _image_input(settings, preprocessing, inputs)
    if image is not None:
        _, height, width, channels = image.shape
        fill = {"height": height, "width": width, "color_mode": COLOR_MODES.get(channels or 0)}
        for key, value in fill.items():
            if value is not None:
                preprocessing.setdefault(key, value)
        settings["preprocessing"] = preprocessing
    try:
        config = ModelConfig.model_validate(settings)
    except ValidationError as exc:
        raise FreezeError(f"model config: {one_line(exc)}") from None
    codecs = {}
    if image is not None:
        assert config.preprocessing is not None
        if conflict := preprocessing_conflict(image.shape, config.preprocessing):
            raise FreezeError(
                f"{conflict}; the graph fixes this: drop or correct that flag/config value"
            )
        codecs[image.name] = ImageCodec(**config.preprocessing.model_dump())
    return Interpretation(config.name, codecs, _task(config, outputs))


def _image_input(
    settings: dict[str, Any], preprocessing: dict[str, Any], inputs: list[TensorSpec]
) -> TensorSpec | None:
    """The input that preprocessing is given for (None: none given), which must be able to take
    images: a float [batch, height, width, 1 or 3 channels] tensor."""
    named = settings.get("image_input")
    if not preprocessing:
        if named is not None:
            raise FreezeError(
                f"--image_input {named} needs its preprocessing (--height, --width, --color_mode, "
                "--scale, --offset, --resize or the config's preprocessing)"
            )
        return None
    names = [spec.name for spec in inputs]
    if named is None and len(inputs) > 1:
        raise FreezeError(
            f"preprocessing is given but the model has {len(inputs)} inputs ({', '.join(names)}): "
            "name the image input with --image_input"
        )
    if named is not None and named not in names:
        raise FreezeError(f"--image_input {named} is not an input (inputs: {', '.join(names)})")
    spec = inputs[names.index(named)] if named is not None else inputs[0]
    image_like = len(spec.shape) == 4 and spec.shape[3] in (None, *COLOR_MODES)
    if not spec.dtype.startswith("float") or not image_like:
        raise FreezeError(
            f"preprocessing is given for input {spec.name!r}, but it is {spec.dtype} "
            f"{spec.shape}: an image codec feeds float [batch, height, width, channels] with 1 or "
            "3 channels"
        )
    return spec


def _task(config: ModelConfig, outputs: list[TensorSpec]) -> Classification | None:
    """A classifier where labels are given (of the only output, or `task_output`), else None."""
    if config.labels is None:
        given = [flag for key, flag in _TASK_FLAGS.items() if getattr(config, key) is not None]
        if given:
            verb = "are" if len(given) > 1 else "is"
            raise FreezeError(f"{' and '.join(given)} {verb} for a classifier: give --labels too")
        return None
    names = [spec.name for spec in outputs]
    output = config.task_output
    if output is None:
        if len(outputs) > 1:
            raise FreezeError(
                f"labels are given but the model has {len(outputs)} outputs ({', '.join(names)}): "
                "name the classifier's with --task_output"
            )
        output = names[0]
    if output not in names:
        raise FreezeError(f"--task_output {output} is not an output (outputs: {', '.join(names)})")
    shape = outputs[names.index(output)].shape
    units = shape[-1] if len(shape) > 1 else 1
    decoding = config.decoding or ("sigmoid" if units == 1 else "softmax")
    try:
        task = Classification(output=output, labels=config.labels, activation=decoding)
    except ValidationError as exc:
        raise FreezeError(f"model config: {one_line(exc)}") from None
    if conflict := task_conflict(task, outputs):
        raise FreezeError(conflict)
    return task


def one_line(exc: ValidationError) -> str:
    """Pydantic's errors as one line: `field: message; field: message`."""
    parts = ((".".join(map(str, err["loc"])), err["msg"]) for err in exc.errors())
    return "; ".join(": ".join(filter(None, part)) for part in parts)

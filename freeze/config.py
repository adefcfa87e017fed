"""`model_config.json`: what a checkpoint cannot carry (labels, decoding, nodes, preprocessing).

The exporters (`demo.catsordogs`, `demo.train_seed`) write it beside their checkpoint; the freeze
step reads it, lets command-line flags override any field, fills what the graph itself tells
(image size and channels from the input shape, decoding from the output width), refuses values
that contradict the graph and copies the result into the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from freeze import FreezeError
from handler.manifest import Preprocessing, preprocessing_conflict

CONFIG_NAME = "model_config.json"
#: channels of the input tensor -> the colour mode that fills them
COLOR_MODES = {1: "L", 3: "RGB"}


class ModelConfig(BaseModel):
    """The exporters' side of the contract; `input_node` may be left out when it can be inferred."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    labels: list[str]
    decoding: Literal["softmax", "sigmoid"]
    output_node: str | None = None
    input_node: str | None = None
    preprocessing: Preprocessing

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


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
    settings: dict[str, Any], input_shape: list[int | None], output_shape: list[int | None]
) -> ModelConfig:
    """Validate `settings`, first filling the fields the graph's tensor shapes determine; config
    and flags may only repeat what the graph fixes (otherwise every image request would fail)."""
    if len(input_shape) != 4 or input_shape[3] not in (None, *COLOR_MODES):
        raise FreezeError(
            "this freeze step serves image classifiers (input [batch, height, width, channels], "
            f"1 or 3 channels); the graph's input has shape {input_shape}"
        )
    settings = {**settings, "preprocessing": dict(settings["preprocessing"])}
    if "labels" not in settings:
        raise FreezeError("labels unknown: pass --labels (e.g. cat,dog) or --model_config FILE")
    settings.setdefault("name", "model")
    _, height, width, channels = input_shape
    fill = {"height": height, "width": width, "color_mode": COLOR_MODES.get(channels or 0)}
    for key, value in fill.items():
        if value is not None:
            settings["preprocessing"].setdefault(key, value)
    if output_shape:
        settings.setdefault("decoding", "sigmoid" if output_shape[-1] == 1 else "softmax")
    try:
        config = ModelConfig.model_validate(settings)
    except ValidationError as exc:
        raise FreezeError(f"model config: {one_line(exc)}") from None
    if conflict := preprocessing_conflict(input_shape, config.preprocessing):
        raise FreezeError(f"{conflict}; the graph fixes this: drop or correct that flag/config value")
    return config


def one_line(exc: ValidationError) -> str:
    """Pydantic's errors as one line: `field: message; field: message`."""
    parts = ((".".join(map(str, err["loc"])), err["msg"]) for err in exc.errors())
    return "; ".join(": ".join(filter(None, part)) for part in parts)

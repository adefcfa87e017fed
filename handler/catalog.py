"""What this function serves: every model and version, by name, version number and label, as
each protocol names them.

A single bundle is one model with one version, named as it always was: TF Serving's version 1
(labels `stable` and `latest`), the Open Inference Protocol's version the manifest's content
hash. In a repository (handler/repository.py) the folder number is the version in every
protocol, labels come from models.json, and the manifest's content hash is the version's
`digest`. A version that could not be loaded (models.json's `on_load_error: serve_others`) stays
listed with the reason, and answers 503 `model_unavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from handler.config import Limits
from handler.errors import NotFound, Unavailable
from handler.manifest import Manifest
from handler.model import Model
from handler.observability import logger


class Slot(Protocol):
    """Where a version's model lives: loaded at INIT (`Loaded`), or on first use
    (handler/lazy.py)."""

    def get(self) -> Model: ...


@dataclass(frozen=True)
class Loaded:
    model: Model

    def get(self) -> Model:
        return self.model


@dataclass(frozen=True)
class ServedVersion:
    name: str  #: the model's
    number: int  #: TF Serving's version; in a repository, the folder's number
    v2: str  #: the Open Inference Protocol's version string
    manifest: Manifest | None  #: None when it could not be read
    slot: Slot | None  #: None when it could not be loaded
    error: str | None = None  #: why not

    @property
    def available(self) -> bool:
        return self.slot is not None

    @property
    def digest(self) -> str | None:
        """The manifest's content hash."""
        return self.manifest.version if self.manifest is not None else None


@dataclass(frozen=True)
class ServedModel:
    name: str
    versions: dict[int, ServedVersion]
    labels: dict[str, int] = field(default_factory=dict)

    @property
    def latest(self) -> ServedVersion:
        """The highest available version (TF Serving's rule), else the highest: what a request
        naming none gets."""
        available = [n for n, v in self.versions.items() if v.available]
        return self.versions[max(available or self.versions)]

    def version(self, number: int) -> ServedVersion:
        if number not in self.versions:
            raise NotFound(
                "model_version_not_found",
                f"model {self.name!r} has no version {number}; it serves versions "
                f"{sorted(self.versions)}",
            )
        return self.versions[number]

    def labelled(self, label: str) -> ServedVersion:
        if label not in self.labels:
            raise NotFound(
                "model_version_not_found",
                f"model {self.name!r} has no label {label!r}; it serves labels "
                f"{' or '.join(map(repr, self.labels)) or 'none'}",
            )
        return self.versions[self.labels[label]]

    def by_v2(self, version: str) -> ServedVersion:
        found = next((v for v in self.versions.values() if v.v2 == version), None)
        if found is None:
            raise NotFound(
                "model_version_not_found",
                f"model {self.name!r} has no version {version!r}; it serves version "
                f"{' or '.join(repr(v.v2) for v in self.versions.values())}",
            )
        return found


@dataclass(frozen=True)
class Catalog:
    """Every served model; `default` is what /predict and GET /model serve; `digest` tells
    containers apart (the sha256 of the source's model.json or models.json)."""

    models: dict[str, ServedModel]
    default: str | None
    digest: str
    limits: Limits  #: the request limits (MAX_RESPONSE_BYTES and such: one for the function)
    repository: bool = False

    @classmethod
    def single(cls, model: Model, digest: str = "") -> Catalog:
        """One bundle, named as it always was."""
        version = ServedVersion(model.name, 1, model.version, model.manifest, Loaded(model))
        served = ServedModel(model.name, {1: version}, {"stable": 1, "latest": 1})
        return cls({model.name: served}, model.name, digest or model.version, model.limits)

    def only_model(self) -> Model | None:
        """The model, when this catalog serves exactly one (and it is available)."""
        versions = [v for served in self.models.values() for v in served.versions.values()]
        if len(versions) != 1 or versions[0].slot is None:
            return None
        return versions[0].slot.get()

    def model(self, name: str) -> ServedModel:
        if name not in self.models:
            raise NotFound(
                "model_not_found",
                f"no model named {name!r}; this function serves {self._names()}",
            )
        return self.models[name]

    def default_model(self) -> ServedModel:
        if self.default is None:
            raise NotFound(
                "no_default_model",
                f"this function serves several models and none is the default: name one "
                f"(/models/{{name}}/predict) of {self._names()}",
            )
        return self.models[self.default]

    def _names(self) -> str:
        return " or ".join(map(repr, self.models))


def ready(version: ServedVersion) -> Model:
    """The version's model, or 503 saying why it is not served. Every log line of the request
    from here on names the model and version it went to."""
    logger.append_keys(model=version.name, model_version=version.v2)
    if version.slot is None:
        raise Unavailable(
            "model_unavailable",
            f"{version.name} version {version.number} is unavailable: {version.error}",
        )
    return version.slot.get()

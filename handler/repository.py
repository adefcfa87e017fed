"""A model repository: several models, and several versions of each, in one function.

`MODEL_DIR` (or `MODEL_S3_URI`) holding `model.json` is a single bundle, served exactly as
before. Otherwise it is a repository in TF Serving's layout, `<name>/<version>/` (versions are
folders named by positive integers, each a bundle), described by `models.json` beside them;
both at once is refused. `models.json` is strict JSON in TF Serving's vocabulary
(`model_config_list`, `model_version_policy`, `version_labels`) and records the sha256 of every
version's `model.json`, so the cold start reads no directory listing (an S3 source needs
`s3:GetObject` only) and checks each bundle against it: `MODEL_SHA256` pins `models.json`, so one
value still says exactly what the deployment may serve.

This module is the file's schema and the choice of what to serve; `handler/loader.py` loads it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handler.manifest import MANIFEST_NAME, ModelBundleError

REPOSITORY_NAME = "models.json"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_SHA256 = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latest(_Strict):
    num_versions: int = Field(default=1, ge=1)


class Specific(_Strict):
    versions: list[int] = Field(min_length=1)


class VersionPolicy(_Strict):
    """TF Serving's `model_version_policy`: exactly one of `latest` (the highest
    `num_versions`), `all`, or `specific` versions."""

    latest: Latest | None = None
    all: dict[str, object] | None = None
    specific: Specific | None = None

    @model_validator(mode="after")
    def _one(self) -> VersionPolicy:
        given = [k for k in ("latest", "all", "specific") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of latest, all, specific (got {given or 'none'})")
        if self.all:
            raise ValueError("`all` takes no fields: {}")
        return self

    def choose(self, versions: list[int]) -> list[int]:
        """The versions served, ascending, from those present."""
        present = sorted(versions)
        if self.latest is not None:
            return present[-self.latest.num_versions :]
        if self.specific is not None:
            return sorted(set(self.specific.versions))
        return present


class ModelEntry(_Strict):
    name: str = Field(pattern=_NAME)
    model_version_policy: VersionPolicy = VersionPolicy(latest=Latest())
    version_labels: dict[str, int] = Field(
        default={}, description="Label (stable, canary, ...) -> a served version."
    )
    versions: dict[str, str] = Field(
        min_length=1,
        description="Every version folder in the repository (a positive integer) -> the sha256 "
        "of its model.json.",
    )
    extra_allowed_ops: list[str] = Field(
        default=[], description="Op types this model's graphs may use beyond the allowlist, on "
        "top of EXTRA_ALLOWED_OPS (handler/trust.py)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        for version, digest in self.versions.items():
            if not version.isdigit() or version != str(int(version)) or int(version) < 1:
                raise ValueError(f"version {version!r} of {self.name} is not a positive integer")
            if not re.fullmatch(_SHA256, digest):
                raise ValueError(f"{self.name} {version}: {digest!r} is not a sha256")
        served = self.served
        missing = sorted(set(self.model_version_policy.choose(self.numbers)) - set(self.numbers))
        if missing:
            raise ValueError(f"{self.name}: the policy names versions {missing}, not in `versions`")
        for label, version in self.version_labels.items():
            if not re.fullmatch(_NAME, label) or label.isdigit():
                raise ValueError(f"{self.name}: label {label!r} is not a name")
            if version not in served:
                raise ValueError(
                    f"{self.name}: label {label!r} names version {version}, which is not served "
                    f"({served})"
                )
        return self

    @property
    def numbers(self) -> list[int]:
        return sorted(int(v) for v in self.versions)

    @property
    def served(self) -> list[int]:
        """The versions the policy serves, ascending."""
        return self.model_version_policy.choose(self.numbers)


class RepositoryConfig(_Strict):
    """`models.json`: the served models, their version policies and labels, and the sha256 of
    every version's model.json."""

    schema_version: Literal[1] = 1
    model_config_list: list[ModelEntry] = Field(min_length=1)
    default_model: str | None = Field(
        default=None, description="What /predict and GET /model serve (default: the only model)."
    )
    on_load_error: Literal["fail", "serve_others"] = Field(
        default="fail",
        description="fail: a bad or missing bundle fails the cold start; serve_others: that "
        "version answers 503 model_unavailable and the others serve (a pin mismatch always "
        "fails).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RepositoryConfig:
        names = [entry.name for entry in self.model_config_list]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique: {names}")
        if self.default_model is not None and self.default_model not in names:
            raise ValueError(f"default_model {self.default_model!r} is not a model ({names})")
        return self

    def entry(self, name: str) -> ModelEntry:
        return next(entry for entry in self.model_config_list if entry.name == name)


def layout(model_dir: Path) -> Literal["bundle", "repository"]:
    """Which kind of source `model_dir` is: a single bundle (model.json) or a repository
    (models.json); neither or both is refused."""
    bundle = (model_dir / MANIFEST_NAME).is_file()
    repository = (model_dir / REPOSITORY_NAME).is_file()
    if bundle and repository:
        raise ModelBundleError(
            f"{model_dir} holds both {MANIFEST_NAME} (a single bundle) and {REPOSITORY_NAME} (a "
            "repository): keep one"
        )
    return "repository" if repository else "bundle"


def parse_repository(text: str | bytes, where: str) -> RepositoryConfig:
    try:
        return RepositoryConfig.model_validate_json(text)
    except ValueError as exc:
        raise ModelBundleError(f"invalid {REPOSITORY_NAME} {where}: {exc}") from None

"""`python -m freeze --repository DIR --name NAME`: a frozen bundle published as a new version of
a model in a repository (handler/repository.py: `<name>/<version>/` folders and models.json).

The bundle is frozen into a staging folder inside `DIR/<name>/` (same filesystem), then renamed
to its version's folder in one step: a version appears complete or not at all, never a folder
without its files. models.json is then rewritten atomically (a temporary file renamed over it)
with that version's model.json sha256; until then the new folder is unrecorded, and the function
(which reads no directory listing) ignores it. An existing version is refused unless
`--overwrite` (then the old folder is moved aside first and removed once the new one is in
place). Build-time only, no TensorFlow here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from freeze import FreezeError
from handler.manifest import MANIFEST_NAME, ModelBundleError, sha256_file
from handler.repository import REPOSITORY_NAME, RepositoryConfig, parse_repository


def read_config(repository: Path) -> RepositoryConfig | None:
    """The repository's models.json, or None when there is none yet."""
    path = repository / REPOSITORY_NAME
    if not path.is_file():
        return None
    try:
        return parse_repository(path.read_bytes(), str(path))
    except ModelBundleError as exc:
        raise FreezeError(str(exc)) from None


def next_version(repository: Path, name: str) -> int:
    """One above every version the model has, recorded or on disk."""
    config = read_config(repository)
    recorded = []
    if config is not None and name in {e.name for e in config.model_config_list}:
        recorded = config.entry(name).numbers
    folders = [int(p.name) for p in (repository / name).glob("*") if p.name.isdigit()]
    return max([0, *recorded, *folders]) + 1


def staging(repository: Path, name: str) -> Path:
    """A fresh folder to freeze into, beside the model's versions (removed by `publish` or
    `discard`)."""
    parent = repository / name
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=".staging-"))


def discard(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def publish(repository: Path, name: str, staged: Path, version: int, overwrite: bool) -> str:
    """Move `staged` into place as `name` version `version` and record it in models.json;
    return the repository's new pin (models.json's sha256)."""
    final = repository / name / str(version)
    aside = None
    if final.exists():
        if not overwrite:
            raise FreezeError(
                f"{final} exists: version {version} of {name} is already built (pass "
                "--overwrite to replace it, or leave out --version for the next one)"
            )
        aside = Path(tempfile.mkdtemp(dir=final.parent, prefix=".replaced-"))
        os.replace(final, aside / "old")
    try:
        os.replace(staged, final)
    except OSError as exc:
        if aside is not None:
            try:
                os.replace(aside / "old", final)
            except OSError:
                raise FreezeError(
                    f"cannot move the bundle to {final}: {exc.strerror or exc}; the previous "
                    f"version could not be put back either: it is in {aside / 'old'}"
                ) from None
            discard(aside)
        raise FreezeError(f"cannot move the bundle to {final}: {exc.strerror or exc}") from None
    if aside is not None:
        discard(aside)
    return record(repository, name, version, sha256_file(final / MANIFEST_NAME))


def record(repository: Path, name: str, version: int, digest: str) -> str:
    """models.json with `name` `version` -> `digest` (a new model gets TF Serving's default
    policy: its latest version), written atomically; return its sha256."""
    path = repository / REPOSITORY_NAME
    document = json.loads(path.read_text()) if path.is_file() else {
        "schema_version": 1, "model_config_list": []
    }
    models = document["model_config_list"]
    entry = next((m for m in models if m["name"] == name), None)
    if entry is None:
        entry = {"name": name, "versions": {}}
        models.append(entry)
    entry["versions"][str(version)] = digest
    entry["versions"] = dict(sorted(entry["versions"].items(), key=lambda kv: int(kv[0])))
    try:
        RepositoryConfig.model_validate(document)
    except ValueError as exc:
        raise FreezeError(f"{path} would not be valid: {exc}") from None
    fd, temp = tempfile.mkstemp(dir=repository, prefix=f".{REPOSITORY_NAME}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(document, indent=2) + "\n")
    os.chmod(temp, 0o644)
    os.replace(temp, path)
    return sha256_file(path)


def pin(source: Path) -> str:
    """What MODEL_SHA256 pins for a source folder: its models.json's sha256 (each recorded
    version's model.json checked against it first), or a single bundle's model.json's."""
    config = read_config(source)
    if config is None:
        if not (source / MANIFEST_NAME).is_file():
            raise FreezeError(f"{source} holds neither {REPOSITORY_NAME} nor {MANIFEST_NAME}")
        return sha256_file(source / MANIFEST_NAME)
    for entry in config.model_config_list:
        for version, digest in entry.versions.items():
            manifest = source / entry.name / version / MANIFEST_NAME
            if not manifest.is_file():
                raise FreezeError(f"{manifest} is missing (recorded in {REPOSITORY_NAME})")
            if sha256_file(manifest) != digest:
                raise FreezeError(f"{manifest} is not the one {REPOSITORY_NAME} records")
    return sha256_file(source / REPOSITORY_NAME)

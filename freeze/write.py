"""All or nothing: the bundle's files (`model.pb`, optionally `model.tflite`) and `model.json`
appear together, after verification, or not at all.

Each is written to a temporary file in the output folder (same filesystem, so `os.replace` is an
atomic rename) and moved into place by `commit()`, the manifest last, so a manifest never names a
missing file. The previous version of each file waits in a backup file until the new manifest is
in place and goes back if it cannot be. On any failure the temporary files, and any folder this
run created, are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from freeze import FreezeError
from freeze.config import Interpretation, one_line
from freeze.graph import Frozen, op_types
from handler.manifest import MANIFEST_NAME, Artifact, Artifacts, InputSpec, Manifest


class AtomicOutput:
    """Temporary files beside the final paths of `files` (the graph first, the others in its
    folder) and of `model.json` (beside the graph) until `commit()`. `stale` names files of a
    previous bundle this one does not have (a `model.tflite` when freezing without --tflite):
    `commit()` removes them with the same guarantee, so the folder never holds a file its
    manifest does not describe."""

    def __init__(self, files: Sequence[Path], stale: Sequence[Path] = ()) -> None:
        self.files = list(files)
        self.stale = list(stale)
        self.manifest_path = self.files[0].with_name(MANIFEST_NAME)
        for other in (self.manifest_path, *self.files[1:], *self.stale):
            if self.files[0].name == other.name:
                raise FreezeError(
                    f"the graph cannot be named {other.name}: that name belongs to another file "
                    "of the bundle"
                )
        self._created: list[Path] = []
        #: final path -> temporary file holding its new content
        self._temps: dict[Path, Path] = {}
        #: final path -> where its previous version waits during `commit()`
        self._backups: dict[Path, Path] = {}

    def __enter__(self) -> AtomicOutput:
        self._refuse_folders()
        folder = self.manifest_path.parent
        missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
        try:
            for path in missing:
                path.mkdir()
                self._created.append(path)
            for final in (*self.files, self.manifest_path):
                self._temps[final] = self._reserve(final, ".tmp")
            for final in (*self.files, *self.stale):
                self._backups[final] = self._reserve(final, ".old")
        except OSError as exc:
            self._clean()
            raise FreezeError(f"cannot write to {folder}: {exc.strerror or exc}") from None
        return self

    def commit(self, contents: Mapping[Path, bytes], manifest: Manifest) -> None:
        """Write each of `files` (its bytes in `contents`) and the manifest, then move them into
        place in order, moving each previous file aside first. If any move fails, every file
        moved goes back: either the new bundle or the old one is in place, never a mix."""
        self._refuse_folders()
        for final in self.files:
            self._write(self._temps[final], contents[final])
        self._write(self._temps[self.manifest_path], manifest_json(manifest))
        moved: list[tuple[Path, bool]] = []  # (final path, its previous version is in the backup)
        try:
            for temp in self._temps.values():  # mkstemp makes 0600; the function must read them
                os.chmod(temp, 0o644)
            for final in (*self.files, *self.stale):
                aside = final.exists()
                if aside:
                    os.replace(final, self._backups[final])
                moved.append((final, aside))
                if final in self._temps:
                    os.replace(self._temps[final], final)
            os.replace(self._temps[self.manifest_path], self.manifest_path)
        except OSError as exc:
            for final, aside in reversed(moved):
                if aside:
                    os.replace(self._backups[final], final)
                else:
                    final.unlink(missing_ok=True)
            *names, last = [path.name for path in (*self.files, self.manifest_path)]
            raise FreezeError(
                f"cannot move {', '.join(names)} and {last} into {self.manifest_path.parent}: "
                f"{exc.strerror or exc} (previous files left as they were)"
            ) from None
        self._created = []  # __exit__ removes the backups (the previous files), keeps the folder

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._clean()

    def _reserve(self, final: Path, suffix: str) -> Path:
        fd, temp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=suffix)
        os.close(fd)
        return Path(temp)

    def _refuse_folders(self) -> None:
        """A rename cannot replace a folder: refuse before any work and before any rename."""
        hint = " (--output_graph names the .pb file, --output_dir a folder)"
        for final in (*self.files, *self.stale, self.manifest_path):
            if final.is_dir():
                why = hint if final == self.files[0] else ""
                raise FreezeError(f"cannot write {final}: it is a directory{why}")

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise FreezeError(f"cannot write {path}: {exc.strerror or exc}") from None

    def _clean(self) -> None:
        for temp in (*self._temps.values(), *self._backups.values()):
            temp.unlink(missing_ok=True)
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                break


def artifact(path: Path, data: bytes) -> Artifact:
    """The manifest's entry for `data`, to be written as `path` (beside the manifest)."""
    return Artifact(path=path.name, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def build_manifest(
    frozen: Frozen, meaning: Interpretation, graph: Artifact, tflite: Artifact | None = None
) -> Manifest:
    """The schema-2 manifest for the verified graph (and its LiteRT conversion, when built): its
    inputs with their codecs, outputs, task, init ops and signature name."""
    import tensorflow as tf

    try:
        manifest = Manifest(
            name=meaning.name,
            version="",  # set below, from the fields it covers
            signature_name=frozen.signature_name,
            inputs=[
                InputSpec(**spec.model_dump(), codec=meaning.codecs.get(spec.name))
                for spec in frozen.inputs
            ],
            outputs=frozen.outputs,
            task=meaning.task,
            artifacts=Artifacts(graph=graph, tflite=tflite),
            init_ops=frozen.init_ops,
            ops=op_types(frozen.graph_def),
            tensorflow_version=tf.__version__,
            source=frozen.source,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    except ValidationError as exc:
        raise FreezeError(f"invalid manifest: {one_line(exc)}") from None
    return manifest.model_copy(update={"version": model_version(manifest)})


#: what a schema-2 version covers besides the model files: whatever changes an answer
VERSIONED = {"inputs", "outputs", "task", "signature_name", "init_ops"}


def model_version(manifest: Manifest) -> str:
    """12 hex digits over everything the function's answers depend on: the model files' sha256s
    (the graph's, and the .tflite's when the bundle has one: the function may serve it instead),
    the inputs (codecs included: the same graph served as RGB and as BGR answers differently),
    outputs, task (labels and activation), signature name and init ops. The same inputs always
    give the same version (canonical JSON: sorted keys, compact)."""
    files = {name: entry["sha256"] for name, entry in manifest.artifacts.model_dump().items()
             if entry is not None}
    answers = manifest.model_dump(mode="json", include=VERSIONED)
    canonical = json.dumps({"artifacts": files, **answers}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def manifest_json(manifest: Manifest) -> bytes:
    """model.json's bytes (schema 2)."""
    return (manifest.model_dump_json(indent=2) + "\n").encode()

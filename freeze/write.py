"""All or nothing: `model.pb` and `model.json` appear together, after verification, or not at all.

Both are written to temporary files in the output folder (same filesystem, so `os.replace` is an
atomic rename) and moved into place by `commit()`; an existing `model.pb` is kept aside until the
new manifest is in place, and put back if it cannot be. On any failure the temporary files, and
any folder this run created, are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from freeze import FreezeError
from freeze.config import ModelConfig, one_line
from freeze.graph import Frozen, op_types
from handler.manifest import MANIFEST_NAME, Artifact, Manifest


class AtomicOutput:
    """Temporary `model.pb` and `model.json` beside their final paths until `commit()`."""

    def __init__(self, graph_path: Path) -> None:
        self.graph_path = graph_path
        self.manifest_path = graph_path.with_name(MANIFEST_NAME)
        if self.graph_path.name == MANIFEST_NAME:
            raise FreezeError(f"the graph cannot be named {MANIFEST_NAME}: the manifest is")
        self._created: list[Path] = []
        self._temps: list[Path] = []

    def __enter__(self) -> AtomicOutput:
        self._refuse_folders()
        folder = self.graph_path.parent
        missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
        try:
            for path in missing:
                path.mkdir()
                self._created.append(path)
            for final, suffix in ((self.graph_path, ".tmp"), (self.manifest_path, ".tmp"),
                                  (self.graph_path, ".old")):  # the last: the previous graph
                fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{final.name}.", suffix=suffix)
                os.close(fd)
                self._temps.append(Path(temp))
        except OSError as exc:
            self._clean()
            raise FreezeError(f"cannot write to {folder}: {exc.strerror or exc}") from None
        return self

    def write_graph(self, data: bytes) -> None:
        self._write(self._temps[0], data)

    def write_manifest(self, manifest: Manifest) -> None:
        self._write(self._temps[1], (manifest.model_dump_json(indent=2) + "\n").encode())

    def commit(self) -> None:
        """Move both files into place, the graph first: a manifest never names a missing graph.
        The previous graph waits in the backup file until the manifest is in place and goes back
        if it cannot be: either the new pair or the old pair is in place, never a mix."""
        self._refuse_folders()
        graph_temp, manifest_temp, backup = self._temps
        aside = placed = False
        try:
            for temp in (graph_temp, manifest_temp):  # mkstemp makes 0600; the function must read
                os.chmod(temp, 0o644)
            if self.graph_path.exists():
                os.replace(self.graph_path, backup)
                aside = True
            os.replace(graph_temp, self.graph_path)
            placed = True
            os.replace(manifest_temp, self.manifest_path)
        except OSError as exc:
            if aside:
                os.replace(backup, self.graph_path)
            elif placed:
                self.graph_path.unlink()
            raise FreezeError(
                f"cannot move {self.graph_path.name} and {self.manifest_path.name} into "
                f"{self.graph_path.parent}: {exc.strerror or exc} (previous files left as they were)"
            ) from None
        self._created = []  # __exit__ removes the backup (the previous graph) and keeps the folder

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._clean()

    def _refuse_folders(self) -> None:
        """A rename cannot replace a folder: refuse before any work and before any rename."""
        hint = " (--output_graph names the .pb file, --output_dir a folder)"
        for final, why in ((self.graph_path, hint), (self.manifest_path, "")):
            if final.is_dir():
                raise FreezeError(f"cannot write {final}: it is a directory{why}")

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise FreezeError(f"cannot write {path}: {exc.strerror or exc}") from None

    def _clean(self) -> None:
        for temp in self._temps:
            temp.unlink(missing_ok=True)
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                break


def build_manifest(frozen: Frozen, config: ModelConfig, graph: bytes, graph_name: str) -> Manifest:
    """The manifest for verified graph bytes that will be written as `graph_name`."""
    import tensorflow as tf

    digest = hashlib.sha256(graph).hexdigest()
    try:
        manifest = Manifest(
            name=config.name,
            version="",  # set below, from the fields it covers
            input=frozen.input,
            output=frozen.output,
            labels=config.labels,
            decoding=config.decoding,
            preprocessing=config.preprocessing,
            graph=Artifact(path=graph_name, sha256=digest, size_bytes=len(graph)),
            ops=op_types(frozen.graph_def),
            tensorflow_version=tf.__version__,
            source=frozen.source,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    except ValidationError as exc:
        raise FreezeError(f"invalid manifest: {one_line(exc)}") from None
    return manifest.model_copy(update={"version": model_version(manifest)})


def model_version(manifest: Manifest) -> str:
    """12 hex digits over everything the function's answers depend on: the graph (its sha256),
    labels, decoding, preprocessing, input and output. The same graph served as RGB and as BGR,
    or with other labels, answers differently, so it is another version; the same inputs always
    give the same version (canonical JSON: sorted keys, compact)."""
    answers = manifest.model_dump(
        mode="json", include={"labels", "decoding", "preprocessing", "input", "output"}
    )
    canonical = json.dumps(
        {"graph_sha256": manifest.graph.sha256, **answers}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]

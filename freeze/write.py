"""All or nothing: `model.pb` and `model.json` appear together, after verification, or not at all.

Both are written to temporary files in the output folder (same filesystem, so `os.replace` is an
atomic rename) and moved into place by `commit()`. On any failure the temporary files, and any
folder this run created, are removed.
"""

from __future__ import annotations

import hashlib
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
        folder = self.graph_path.parent
        missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
        try:
            for path in missing:
                path.mkdir()
                self._created.append(path)
            for final in (self.graph_path, self.manifest_path):
                fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{final.name}.", suffix=".tmp")
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
        """Move both files into place, the graph first: a manifest never names a missing graph."""
        for temp, final in zip(self._temps, (self.graph_path, self.manifest_path), strict=True):
            os.chmod(temp, 0o644)  # mkstemp makes 0600 files; the function's image must read them
            os.replace(temp, final)
        self._temps, self._created = [], []

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._clean()

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
        return Manifest(
            name=config.name,
            version=digest[:12],
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

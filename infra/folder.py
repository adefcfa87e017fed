"""A local folder as the bulk job's source or sink (handler/storage.py), for `python -m
infra.batch`: the same job as the batch function's, with no AWS at all.

As a source, an object's key is its path relative to the folder (with '/'), its ETag the file's
MD5 (what S3 gives a single-part upload), its bucket None. As a sink, each record is a file at
its key under the folder, written to a temporary file first and renamed into place, so it is
whole or absent, like an S3 object.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from handler.errors import NotFound
from handler.storage import Location, ObjectHead, ObjectRef, TransientError


class FolderSource:
    """Reads input files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def list(self) -> Iterator[ObjectRef]:
        """Every file under the folder, in key order."""
        files = (path for path in self.root.rglob("*") if path.is_file())
        for key in sorted(path.relative_to(self.root).as_posix() for path in files):
            yield ObjectRef(None, key)

    def _read(self, ref: ObjectRef) -> bytes:
        try:
            return (self.root / ref.key).read_bytes()
        except FileNotFoundError:
            raise NotFound("object_not_found", f"{self.root / ref.key} does not exist") from None

    def head(self, ref: ObjectRef) -> ObjectHead:
        data = self._read(ref)
        return ObjectHead(len(data), hashlib.md5(data).hexdigest(), None)  # noqa: S324 (an ETag)

    def get(self, ref: ObjectRef, head: ObjectHead) -> bytes:
        data = self._read(ref)
        if hashlib.md5(data).hexdigest() != head.etag:  # noqa: S324
            raise TransientError("changed", f"{self.root / ref.key} changed while it was read")
        return data


class FolderSink:
    """Writes record files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = Location(None, f"{root.resolve()}/")

    def put(self, key: str, body: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(body)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def keys(self, prefix: str) -> set[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return set()
        return {path.relative_to(self.root).as_posix() for path in folder.rglob("*")
                if path.is_file() and not path.name.startswith(".")}

"""Where bulk inputs come from and where their records go: the interfaces the bulk job
(handler/bulk.py) runs on, whatever holds the objects (S3: handler/s3.py; a local folder:
infra/folder.py).

A `Source` answers HEAD and GET for an object an engine names (`ObjectRef`); a `Sink` stores
record objects under its `Location` and lists the ones it holds. Their errors say who can fix
them:

- `TransientError`: a retry can (throttling, a timeout, a 5xx, an object replaced between its
  HEAD and its GET). The job writes no record for it; the engine retries.
- a `ServingError` (handler/errors.py): nothing will (no such object or version, access denied,
  an archived object). The job writes an error record for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse


@dataclass(frozen=True)
class ObjectRef:
    """An input object as an engine names it: bucket (None for a local folder), key (decoded,
    never URL-encoded), and the version and ETag the engine knew of, if any."""

    bucket: str | None
    key: str
    version_id: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class ObjectHead:
    """What HEAD says of an object: its size, its ETag (without quotes) and its version id (None
    in a bucket without versioning)."""

    size: int
    etag: str
    version_id: str | None


@dataclass(frozen=True)
class Location:
    """A bucket (None: a local folder) and a key prefix ('' or ending in '/')."""

    bucket: str | None
    prefix: str

    def holds(self, bucket: str | None, key: str) -> bool:
        """Whether the object `bucket`/`key` lies under this location."""
        return bucket == self.bucket and key.startswith(self.prefix)

    def overlaps(self, other: Location) -> bool:
        """Whether some key could lie under both locations (one prefix starts the other)."""
        return self.bucket == other.bucket and (
            self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)
        )


def as_prefix(prefix: str) -> str:
    """A user's prefix ('photos', '/photos/', '') as a key prefix: no leading '/', one trailing
    '/' unless empty."""
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""


def s3_location(uri: str) -> Location:
    """`s3://bucket/prefix` -> its Location; ValueError for anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{uri!r} is not of the form s3://bucket/prefix")
    return Location(parsed.netloc, as_prefix(parsed.path))


class TransientError(Exception):
    """A storage failure that a retry can fix; `code` names it (e.g. SlowDown, timeout)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def clean_etag(etag: str) -> str:
    """An ETag without the quotes S3 puts around it in HEAD and listings (notifications have
    none)."""
    return etag.strip('"')


class Source(Protocol):
    """Reads input objects."""

    def head(self, ref: ObjectRef) -> ObjectHead:
        """The object's size, ETag and version (of `ref.version_id` when given)."""
        ...

    def get(self, ref: ObjectRef, head: ObjectHead) -> bytes:
        """The object's bytes, exactly those `head` described (TransientError if it was replaced
        since)."""
        ...


class Sink(Protocol):
    """Stores record objects."""

    location: Location

    def put(self, key: str, body: bytes) -> None:
        """Store `body` at `key` (relative to `location.prefix`), replacing any object there, as
        a whole or not at all."""
        ...

    def keys(self, prefix: str) -> set[str]:
        """The keys (relative to `location.prefix`) of the objects under `prefix`."""
        ...

"""Domain errors: what the data plane, codecs and tasks raise when a request cannot be served.

Each class is one kind of refusal with a stable machine-readable `code` and a message for people;
none knows HTTP. The edge (`handler/http_errors.py`) maps each class to its status once, so the
build step, which decodes images with the same code, never imports a web framework.
"""

from __future__ import annotations


class ServingError(Exception):
    """A request the function refuses; subclasses say which kind of refusal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BadRequest(ServingError):
    """Malformed: not JSON, bad base64, a tensor of the wrong shape or dtype, nothing to run."""


class NotFound(ServingError):
    """No such model, version, input or output."""


class TooLarge(ServingError):
    """Over a limit: bytes, pixels, elements, batch, or an answer over Lambda's response size."""


class UnsupportedMediaType(ServingError):
    """A content type the endpoint does not take."""


class Unprocessable(ServingError):
    """Well-formed, but its content is unusable: bytes that are not an image, a corrupt image,
    JSON of the wrong structure."""


class Unavailable(ServingError):
    """A model version this function lists but could not load."""

"""The build step: a trained model in, one frozen GraphDef (`model.pb`), with `--tflite` its
LiteRT conversion (`model.tflite`), and their manifest out.

Run it as `python -m freeze` (see `freeze/__main__.py`). Build-time only: the function (`handler/`)
never imports this package; this package imports the manifest schema from `handler.manifest`.
Importing `freeze` itself does not import TensorFlow, so the CLI answers `--help` at once.
"""

import re


class FreezeError(Exception):
    """A problem with the user's input (model, flags, output path), reported as one line."""


#: lines of TensorFlow's error messages that say where, not what
_NOISE = re.compile(r"^(Graph execution error:|Detected at node|Node: |\[\[)")


def first_line(exc: BaseException) -> str:
    """The line of an exception's message that says what went wrong (TensorFlow's run long)."""
    text = getattr(exc, "message", None) or str(exc)
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in lines if line and not _NOISE.match(line)), type(exc).__name__)

"""One freeze, end to end: open the source, complete the config, convert (--tflite), verify, then
write the bundle.

The Python API behind `python -m freeze`: `run(Request(...))` returns a `Report` or raises
`FreezeError`, leaving no partial output either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freeze import FreezeError, checkpoint, tf2, tflite
from freeze.config import complete, read_settings
from freeze.graph import Frozen
from freeze.verify import TOLERANCE, verification_batch, verify
from freeze.write import AtomicOutput, artifact, build_manifest
from handler.manifest import Manifest

GRAPH_NAME = "model.pb"
#: the LiteRT model, always beside the graph (the manifest's `tflite` entry names it)
TFLITE_NAME = "model.tflite"


@dataclass(frozen=True)
class Request:
    """What to freeze (exactly one source), where to write, and the config and its overrides."""

    output_graph: Path
    checkpoint_dir: Path | None = None
    input_checkpoint: Path | None = None
    input_meta_graph: Path | None = None
    saved_model: Path | None = None
    signature: str = "serving_default"
    keras_model: Path | None = None
    model_config: Path | None = None
    #: flag values that override the config (None = not given): name, labels, decoding,
    #: output_node, input_node, and the preprocessing fields (height, width, color_mode, ...)
    overrides: dict[str, Any] = field(default_factory=dict)
    verify_images: tuple[Path, ...] = ()
    verify_rows: int = 4
    #: max |original - frozen|, and max |frozen - tflite|
    tolerance: float = TOLERANCE
    #: also write `model.tflite`, converted from the frozen graph and checked against it
    tflite: bool = False


@dataclass(frozen=True)
class Report:
    manifest: Manifest
    graph_path: Path
    manifest_path: Path
    #: max |original - frozen| over the verification batch
    max_abs_diff: float
    verified_rows: int
    #: `model.tflite` and max |frozen - tflite| over the same batch; None without --tflite
    tflite_path: Path | None = None
    tflite_max_abs_diff: float | None = None


def run(request: Request) -> Report:
    """Freeze, convert, verify against the original (and the .tflite against the frozen graph),
    and only then put `model.pb`, `model.tflite` and `model.json` in place."""
    settings = read_settings(request.model_config, request.overrides)
    graph_path = request.output_graph
    tflite_path = graph_path.with_name(TFLITE_NAME)
    files = [graph_path, tflite_path] if request.tflite else [graph_path]
    stale = [] if request.tflite else [tflite_path]  # a previous bundle's, no longer described
    with AtomicOutput(files, stale) as out, _open(request, settings) as frozen:
        config = complete(settings, frozen.input.shape, frozen.output.shape)
        # deterministic: the same model gives the same bytes, hence the same version
        contents = {graph_path: frozen.graph_def.SerializeToString(deterministic=True)}
        if request.tflite:
            contents[tflite_path] = tflite.convert(frozen)
        entries = {path: artifact(path, data) for path, data in contents.items()}
        # the schema checks come before the verification runs
        manifest = build_manifest(frozen, config, entries[graph_path], entries.get(tflite_path))
        batch = verification_batch(
            frozen, config.preprocessing, request.verify_rows, list(request.verify_images)
        )
        diff, outputs = verify(frozen, manifest, contents[graph_path], batch, request.tolerance)
        lite_diff = None
        if request.tflite:
            lite_diff = tflite.check_parity(
                contents[tflite_path], manifest, batch, outputs, request.tolerance
            )
        out.commit(contents, manifest)
    return Report(
        manifest, graph_path, out.manifest_path, diff, len(batch),
        tflite_path if request.tflite else None, lite_diff,
    )


@contextmanager
def _open(request: Request, settings: dict[str, Any]) -> Iterator[Frozen]:
    """Freeze the one source the request names; a checkpoint's session stays open meanwhile."""
    given = [
        flag
        for flag, value in (
            ("--checkpoint_dir", request.checkpoint_dir),
            ("--input_checkpoint", request.input_checkpoint),
            ("--saved_model", request.saved_model),
            ("--keras_model", request.keras_model),
        )
        if value is not None
    ]
    if len(given) != 1:
        named = ", ".join(given) or "none"
        raise FreezeError(f"give exactly one model source, not {len(given)} ({named})")
    output, input = settings.get("output_node"), settings.get("input_node")
    if request.keras_model is not None:
        yield tf2.freeze_keras(request.keras_model, input, output)
    elif request.saved_model is not None:
        yield tf2.freeze_saved_model(request.saved_model, request.signature, output)
    else:
        files = checkpoint.locate(
            request.checkpoint_dir, request.input_checkpoint, request.input_meta_graph
        )
        with checkpoint.restore(files) as session:
            yield checkpoint.freeze(session, files, output, input)

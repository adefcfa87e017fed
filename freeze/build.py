"""One freeze, end to end: open the source, complete the config, verify, then write both files.

The Python API behind `python -m freeze`: `run(Request(...))` returns a `Report` or raises
`FreezeError`, leaving no partial output either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freeze import FreezeError, checkpoint, tf2
from freeze.config import complete, read_settings
from freeze.graph import Frozen
from freeze.verify import TOLERANCE, verification_batch, verify
from freeze.write import AtomicOutput, build_manifest
from handler.manifest import Manifest

GRAPH_NAME = "model.pb"


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
    tolerance: float = TOLERANCE


@dataclass(frozen=True)
class Report:
    manifest: Manifest
    graph_path: Path
    manifest_path: Path
    max_abs_diff: float
    verified_rows: int


def run(request: Request) -> Report:
    """Freeze, verify against the original, and only then put `model.pb` + `model.json` in place."""
    settings = read_settings(request.model_config, request.overrides)
    with AtomicOutput(request.output_graph) as out, _open(request, settings) as frozen:
        config = complete(settings, frozen.input.shape, frozen.output.shape)
        graph = frozen.graph_def.SerializeToString(deterministic=True)  # same model, same version
        manifest = build_manifest(frozen, config, graph, out.graph_path.name)  # schema checks first
        batch = verification_batch(
            frozen, config.preprocessing, request.verify_rows, list(request.verify_images)
        )
        diff = verify(frozen, graph, batch, config.decoding, request.tolerance)
        out.write_graph(graph)
        out.write_manifest(manifest)
        out.commit()
    return Report(manifest, out.graph_path, out.manifest_path, diff, len(batch))


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

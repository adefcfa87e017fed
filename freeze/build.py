"""One freeze, end to end: open the source, interpret the config, convert (--tflite), verify, then
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

from freeze import FreezeError, checkpoint, tflite
from freeze.config import complete, read_settings
from freeze.graph import Frozen, split_names
from freeze.keras_model import freeze_keras
from freeze.samples import INT_RANGE, STRINGS, Sampling, verification_feeds
from freeze.savedmodel import freeze_saved_model
from freeze.verify import TOLERANCE, verify
from freeze.write import AtomicOutput, artifact, build_manifest
from handler.manifest import Manifest

GRAPH_NAME = "model.pb"
#: the LiteRT model, always beside the graph (the manifest's `tflite` artifact names it)
TFLITE_NAME = "model.tflite"


@dataclass(frozen=True)
class Request:
    """What to freeze (exactly one source), where to write, and the config and its overrides."""

    output_graph: Path
    checkpoint_dir: Path | None = None
    input_checkpoint: Path | None = None
    input_meta_graph: Path | None = None
    #: a GraphDef (with `input_checkpoint`): binary with `input_binary`, else text
    input_graph: Path | None = None
    input_binary: bool = False
    saved_model: Path | None = None
    signature_name: str = "serving_default"
    saved_model_tags: tuple[str, ...] = ("serve",)
    keras_model: Path | None = None
    model_config: Path | None = None
    #: flag values that override the config (None = not given): name, labels, decoding,
    #: output_node, input_node (comma-separated), task_output, image_input, and the
    #: preprocessing fields (height, width, color_mode, ...)
    overrides: dict[str, Any] = field(default_factory=dict)
    verify_images: tuple[Path, ...] = ()
    verify_rows: int = 4
    verify_int_range: tuple[int, int] = INT_RANGE
    verify_strings: tuple[str, ...] = STRINGS
    #: max |original - frozen|, and max |frozen - tflite|, per output
    tolerance: float = TOLERANCE
    #: also write `model.tflite`, converted from the frozen graph and checked against it
    tflite: bool = False


@dataclass(frozen=True)
class Report:
    manifest: Manifest
    graph_path: Path
    manifest_path: Path
    #: how the source was read (e.g. which SavedModel loader, and why)
    method: str
    #: max |original - frozen| per output over the verification batch
    max_abs_diff: dict[str, float]
    verified_rows: int
    #: `model.tflite` and max |frozen - tflite| per output over the same batch; None without
    #: --tflite
    tflite_path: Path | None = None
    tflite_max_abs_diff: dict[str, float] | None = None


def run(request: Request) -> Report:
    """Freeze, convert, verify against the original (and the .tflite against the frozen graph),
    and only then put `model.pb`, `model.tflite` and `model.json` in place."""
    settings = read_settings(request.model_config, request.overrides)
    graph_path = request.output_graph
    tflite_path = graph_path.with_name(TFLITE_NAME)
    files = [graph_path, tflite_path] if request.tflite else [graph_path]
    stale = [] if request.tflite else [tflite_path]  # a previous bundle's, no longer described
    with AtomicOutput(files, stale) as out, _open(request, settings) as frozen:
        meaning = complete(settings, frozen.inputs, frozen.outputs)
        # deterministic: the same model gives the same bytes, hence the same version
        contents = {graph_path: frozen.graph_def.SerializeToString(deterministic=True)}
        if request.tflite:
            contents[tflite_path] = tflite.convert(frozen)
        entries = {path: artifact(path, data) for path, data in contents.items()}
        # the schema checks come before the verification runs
        manifest = build_manifest(frozen, meaning, entries[graph_path], entries.get(tflite_path))
        feeds = verification_feeds(manifest.inputs, Sampling(
            rows=request.verify_rows,
            int_range=request.verify_int_range,
            strings=request.verify_strings,
            images=request.verify_images,
        ))
        diffs, outputs = verify(frozen, manifest, contents[graph_path], feeds, request.tolerance)
        lite_diffs = None
        if request.tflite:
            lite_diffs = tflite.check_parity(
                contents[tflite_path], manifest, feeds, outputs, request.tolerance
            )
        out.commit(contents, manifest)
    return Report(
        manifest, graph_path, out.manifest_path, frozen.method, diffs,
        len(next(iter(feeds.values()))), tflite_path if request.tflite else None, lite_diffs,
    )


@contextmanager
def _open(request: Request, settings: dict[str, Any]) -> Iterator[Frozen]:
    """Freeze the one source the request names; a session (checkpoint, TF1 SavedModel) stays
    open meanwhile."""
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
    graph_file = request.input_graph or request.input_meta_graph
    if graph_file is not None and (request.keras_model or request.saved_model):
        raise FreezeError(f"{graph_file} is a checkpoint's graph: it goes with --input_checkpoint")
    outputs = split_names(settings.get("output_node"))
    inputs = split_names(settings.get("input_node"))
    if request.saved_model is not None and inputs:
        raise FreezeError(
            f"a SavedModel's signature names its own inputs: drop --input_node_names {inputs}"
        )
    if request.keras_model is not None:
        yield freeze_keras(request.keras_model, inputs, outputs)
    elif request.saved_model is not None:
        with freeze_saved_model(
            request.saved_model, request.signature_name, request.saved_model_tags, outputs
        ) as frozen:
            yield frozen
    else:
        files = checkpoint.locate(
            request.checkpoint_dir, request.input_checkpoint, request.input_meta_graph,
            request.input_graph, request.input_binary,
        )
        with checkpoint.restore(files) as session:
            yield checkpoint.freeze(session, files, outputs, inputs)

"""`python -m freeze`: a trained model in, `model.pb` + `model.json` out (the build step's CLI);
`--tflite` adds `model.tflite`, the same graph for LiteRT (MODEL_RUNTIME=litert).

TensorFlow's own `freeze_graph` flags are enough (no labels: a tensor model, every named output
frozen, inputs inferred):

    python -m freeze --input_meta_graph M.meta --input_checkpoint M --output_node_names a,b \\
        --output_graph model/model.pb
    python -m freeze --input_graph G.pb --input_binary --input_checkpoint M \\
        --output_node_names y --output_graph model/model.pb

`--labels` (or a config's labels) makes a classifier; preprocessing flags give an input an image
codec. The simple form reads output names, labels and preprocessing from `model_config.json`:

    python -m freeze --checkpoint_dir build/demo/checkpoint --output_dir model \\
        --model_config build/demo/model_config.json

A SavedModel (`--saved_model DIR`: its signature's inputs and outputs) or a Keras file
(`--keras_model FILE`: every input and output) replaces the checkpoint. Flags given explicitly
override the config. Errors are one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from freeze import FreezeError

if TYPE_CHECKING:
    from freeze.build import Report

#: flags named like the model_config.json field they override
OVERRIDES = (
    "name", "labels", "decoding", "task_output", "image_input",
    "height", "width", "color_mode", "resize", "scale", "offset",
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m freeze",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("source (exactly one of the first four)")
    source.add_argument("--checkpoint_dir", type=Path, help="folder with a 'checkpoint' state file")
    source.add_argument("--input_checkpoint", type=Path, help="checkpoint prefix: DIR/model.ckpt")
    source.add_argument("--saved_model", "--input_saved_model_dir", type=Path, help="SavedModel")
    source.add_argument("--keras_model", type=Path, help="Keras file (.keras or .h5)")
    source.add_argument("--input_meta_graph", type=Path, help="meta graph (default: PREFIX.meta)")
    source.add_argument(
        "--input_graph", type=Path, help="a GraphDef instead of the meta graph (.pbtxt, or .pb "
        "with --input_binary)",
    )
    source.add_argument("--input_binary", action="store_true", help="--input_graph is binary")
    source.add_argument(
        "--signature_name", "--signature", default="serving_default", help="SavedModel signature"
    )
    source.add_argument(
        "--saved_model_tags", default="serve", type=lambda text: tuple(text.split(",")),
        help="SavedModel MetaGraph tags, comma-separated (default: serve)",
    )

    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument("--output_dir", type=Path, help="write DIR/model.pb and DIR/model.json")
    output.add_argument("--output_graph", type=Path, help="the .pb path; model.json goes beside it")
    output.add_argument(
        "--repository", type=Path,
        help="publish as a version of --name in this model repository (DIR/NAME/VERSION/, "
        "models.json updated); see --version, --overwrite",
    )
    parser.add_argument(
        "--version", type=at_least_one,
        help="with --repository: the version number (default: the next free one)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="with --repository: replace an existing version"
    )
    parser.add_argument(
        "--tflite", action="store_true",
        help="also write model.tflite beside the graph: the same graph converted for LiteRT, "
        "checked against it (without the flag, a previous model.tflite there is removed)",
    )

    model = parser.add_argument_group("model (override --model_config)")
    model.add_argument("--model_config", type=Path, help="model_config.json from the exporter")
    model.add_argument(
        "--output_node_names", help="outputs, comma-separated: nodes (checkpoint), output keys "
        "(SavedModel: default all), names for the outputs (Keras: default its own)",
    )
    model.add_argument(
        "--input_node_names", "--input_node_name", help="inputs, comma-separated (checkpoint: "
        "default every Placeholder the outputs need; Keras: names for its inputs)",
    )
    model.add_argument("--name", help="model name in URLs")
    model.add_argument("--labels", type=lambda text: text.split(","), help="a,b: a classifier")
    model.add_argument("--decoding", choices=["softmax", "sigmoid"], help="the classifier's")
    model.add_argument("--task_output", help="the classifier's output, when there are several")
    image = parser.add_argument_group("image codec (preprocessing: only where given)")
    image.add_argument("--image_input", help="the input it is for, when there are several")
    image.add_argument("--height", type=int)
    image.add_argument("--width", type=int)
    image.add_argument("--color_mode", choices=["L", "RGB", "BGR"])
    image.add_argument("--resize", choices=["bilinear", "nearest", "bicubic"])
    image.add_argument("--scale", type=float)
    image.add_argument("--offset", type=float)

    check = parser.add_argument_group("verification")
    check.add_argument("--verify_images", type=Path, nargs="+", default=[], help="photos to add")
    check.add_argument(
        "--verify_rows", type=at_least_one, default=4, help="random inputs (default 4, at least 1)"
    )
    check.add_argument(
        "--verify_int_range", type=int_range, metavar="LOW,HIGH",
        help="integer inputs are drawn from LOW..HIGH (default 0,9; e.g. token ids below a "
        "vocabulary size)",
    )
    check.add_argument(
        "--verify_strings", type=Path, metavar="FILE",
        help="string inputs are drawn from FILE's lines (default: a few words and sentences)",
    )
    check.add_argument(
        "--tolerance", type=float,
        help="max |original - frozen|, and |frozen - tflite|, per output (default 1e-5)",
    )
    return parser.parse_args(argv)


def int_range(text: str) -> tuple[int, int]:
    """The --verify_int_range type: LOW,HIGH, refused before TF loads."""
    try:
        low, high = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be LOW,HIGH (two whole numbers), not {text!r}"
        ) from None
    if low > high:
        raise argparse.ArgumentTypeError(f"LOW must not exceed HIGH, not {text!r}")
    return low, high


def at_least_one(text: str) -> int:
    """The --verify_rows type: verification needs a row of noise; refused before TF loads."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def quiet_tensorflow() -> None:
    """Keep the CLI's output readable: TF1 graph utilities log deprecation notes at WARNING, and
    failures the CLI reports itself in one line at ERROR."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import absl.logging
    import tensorflow as tf

    tf.get_logger().setLevel("FATAL")
    absl.logging.set_verbosity(absl.logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.repository is not None and not args.name:
        print("freeze: error: --repository needs --name (the model's name in it)", file=sys.stderr)
        return 1
    if args.repository is None and (args.version or args.overwrite):
        print("freeze: error: --version and --overwrite go with --repository", file=sys.stderr)
        return 1
    quiet_tensorflow()
    from freeze import repository

    staged = None
    if args.repository is not None:
        version = args.version or repository.next_version(args.repository, args.name)
        staged = repository.staging(args.repository, args.name)
        args.output_dir = staged
    try:
        code = _freeze(args, published=staged is not None)
        if code == 0 and staged is not None:
            pin = repository.publish(args.repository, args.name, staged, version, args.overwrite)
            print(f"version  {args.name} {version} in {args.repository}")
            print(f"pin      sha256 of {args.repository / 'models.json'} = {pin}")
    except FreezeError as exc:
        print(f"freeze: error: {exc}", file=sys.stderr)
        code = 1
    finally:
        if staged is not None:
            repository.discard(staged)
    return code


def _freeze(args: argparse.Namespace, published: bool) -> int:
    """Freeze per `args`; print the report (without the bundle's own pin when it is
    `published` into a repository, whose pin is models.json's)."""
    from freeze.build import GRAPH_NAME, Request, run
    from freeze.samples import INT_RANGE, STRINGS, read_strings
    from freeze.verify import TOLERANCE

    try:
        request = Request(
            output_graph=args.output_graph or args.output_dir / GRAPH_NAME,
            checkpoint_dir=args.checkpoint_dir,
            input_checkpoint=args.input_checkpoint,
            input_meta_graph=args.input_meta_graph,
            input_graph=args.input_graph,
            input_binary=args.input_binary,
            saved_model=args.saved_model,
            signature_name=args.signature_name,
            saved_model_tags=args.saved_model_tags,
            keras_model=args.keras_model,
            model_config=args.model_config,
            overrides={
                "output_node": args.output_node_names,
                "input_node": args.input_node_names,
                **{key: getattr(args, key) for key in OVERRIDES},
            },
            verify_images=tuple(args.verify_images),
            verify_rows=args.verify_rows,
            verify_int_range=args.verify_int_range or INT_RANGE,
            verify_strings=read_strings(args.verify_strings) if args.verify_strings else STRINGS,
            tolerance=TOLERANCE if args.tolerance is None else args.tolerance,
            tflite=args.tflite,
        )
        report = run(request)
    except FreezeError as exc:
        print(f"freeze: error: {exc}", file=sys.stderr)
        return 1
    print_report(report, request.tolerance, pinned=not published)
    return 0


def print_report(report: Report, tolerance: float, pinned: bool = True) -> None:
    """What was frozen, how, and how well it was checked; the value to pin."""
    from freeze.verify import megabytes
    from handler.manifest import sha256_file

    m = report.manifest
    graph, tflite = m.artifacts.graph, m.artifacts.tflite
    print(f"source   {m.source.kind} {m.source.path}")
    print(f"loaded   {report.method}")
    print(f"size     {megabytes(m.source.size_bytes)} {m.source.kind} -> "
          f"{megabytes(graph.size_bytes)} {report.graph_path}")
    print(f"ops      {' '.join(m.ops)}")
    for spec in m.inputs:
        codec = spec.codec
        image = (f"; image {codec.height}x{codec.width} {codec.color_mode}, x{codec.scale:g} "
                 f"+{codec.offset:g}" if codec else "")
        print(f"input    {spec.name}: {spec.tensor} {spec.dtype} {spec.shape}{image}")
    for spec in m.outputs:
        print(f"output   {spec.name}: {spec.tensor} {spec.dtype} {spec.shape}")
    if m.init_ops:
        print(f"init ops {' '.join(m.init_ops)} (lookup tables, run once at cold start)")
    for name, diff in report.max_abs_diff.items():
        print(f"verified {name}: max |original - frozen| = {diff:.2g} over {report.verified_rows} "
              f"inputs (tolerance {tolerance:g})")
    if tflite is not None and report.tflite_max_abs_diff is not None:
        print(f"tflite   {tflite.path} {megabytes(tflite.size_bytes)}")
        for name, diff in report.tflite_max_abs_diff.items():
            print(f"tflite   {name}: max |frozen - tflite| = {diff:.2g} over "
                  f"{report.verified_rows} inputs (tolerance {tolerance:g})")
    task = m.task
    meaning = (f"classifier of {task.output}: {', '.join(task.labels)} ({task.activation})"
               if task else "tensor model (no task)")
    if not pinned:  # staged for a repository: its folder and pin follow
        print(f"manifest {m.name} {m.version}, {meaning}")
        return
    print(f"manifest {report.manifest_path}: {m.name} {m.version}, {meaning}")
    # What template.yaml's ModelSha256 (env MODEL_SHA256) pins: model.json, which pins model.pb
    # and model.tflite.
    print(f"pin      sha256 of model.json = {sha256_file(report.manifest_path)}")


if __name__ == "__main__":
    sys.exit(main())

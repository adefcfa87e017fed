"""`python -m freeze`: a trained model in, `model.pb` + `model.json` out (the build step's CLI);
`--tflite` adds `model.tflite`, the same graph for LiteRT (MODEL_RUNTIME=litert).

Two ways to name the input. TensorFlow's own `freeze_graph` flags:

    python -m freeze --input_meta_graph M.meta --input_checkpoint M --output_node_names y_pred \\
        --output_graph model/model.pb --labels cat,dog

or the simple form, where output names, labels and preprocessing come from `model_config.json`:

    python -m freeze --checkpoint_dir build/demo/checkpoint --output_dir model \\
        --model_config build/demo/model_config.json

A SavedModel (`--saved_model DIR`) or Keras file (`--keras_model FILE`) replaces the checkpoint.
Flags given explicitly override the config. Errors are one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from freeze import FreezeError


#: flags named like the model_config.json field they override
OVERRIDES = (
    "name", "labels", "decoding", "height", "width", "color_mode", "resize", "scale", "offset"
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m freeze",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint_dir", type=Path, help="folder with a 'checkpoint' state file")
    source.add_argument("--input_checkpoint", type=Path, help="checkpoint prefix: DIR/model.ckpt")
    source.add_argument("--saved_model", "--input_saved_model_dir", type=Path, help="SavedModel")
    source.add_argument("--keras_model", type=Path, help="Keras file (.keras or .h5)")
    parser.add_argument("--input_meta_graph", type=Path, help="meta graph (default: PREFIX.meta)")
    parser.add_argument("--signature", default="serving_default", help="SavedModel signature")

    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument("--output_dir", type=Path, help="write DIR/model.pb and DIR/model.json")
    output.add_argument("--output_graph", type=Path, help="the .pb path; model.json goes beside it")
    parser.add_argument(
        "--tflite", action="store_true",
        help="also write model.tflite beside the graph: the same graph converted for LiteRT, "
        "checked against it (without the flag, a previous model.tflite there is removed)",
    )

    model = parser.add_argument_group("model (override --model_config)")
    model.add_argument("--model_config", type=Path, help="model_config.json from the exporter")
    model.add_argument("--output_node_names", help="the output node (SavedModel: output key)")
    model.add_argument("--input_node_name", help="default: the only Placeholder the output needs")
    model.add_argument("--name", help="model name in URLs")
    model.add_argument("--labels", type=lambda text: text.split(","), help="a,b in output order")
    model.add_argument("--decoding", choices=["softmax", "sigmoid"])
    model.add_argument("--height", type=int)
    model.add_argument("--width", type=int)
    model.add_argument("--color_mode", choices=["L", "RGB", "BGR"])
    model.add_argument("--resize", choices=["bilinear", "nearest", "bicubic"])
    model.add_argument("--scale", type=float)
    model.add_argument("--offset", type=float)

    check = parser.add_argument_group("verification")
    check.add_argument("--verify_images", type=Path, nargs="+", default=[], help="photos to add")
    check.add_argument(
        "--verify_rows", type=at_least_one, default=4, help="random inputs (default 4, at least 1)"
    )
    check.add_argument(
        "--tolerance", type=float,
        help="max |original - frozen|, and |frozen - tflite| (default 1e-5)",
    )
    return parser.parse_args(argv)


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
    output_names = (args.output_node_names or "").split(",")
    if len(output_names) > 1:
        print(f"freeze: error: give one output node, not {output_names}", file=sys.stderr)
        return 1
    quiet_tensorflow()
    from freeze.build import GRAPH_NAME, Request, run
    from freeze.verify import TOLERANCE, megabytes
    from handler.manifest import sha256_file

    request = Request(
        output_graph=args.output_graph or args.output_dir / GRAPH_NAME,
        checkpoint_dir=args.checkpoint_dir,
        input_checkpoint=args.input_checkpoint,
        input_meta_graph=args.input_meta_graph,
        saved_model=args.saved_model,
        signature=args.signature,
        keras_model=args.keras_model,
        model_config=args.model_config,
        overrides={
            "output_node": args.output_node_names,
            "input_node": args.input_node_name,
            **{key: getattr(args, key) for key in OVERRIDES},
        },
        verify_images=tuple(args.verify_images),
        verify_rows=args.verify_rows,
        tolerance=TOLERANCE if args.tolerance is None else args.tolerance,
        tflite=args.tflite,
    )
    try:
        report = run(request)
    except FreezeError as exc:
        print(f"freeze: error: {exc}", file=sys.stderr)
        return 1
    m = report.manifest
    source, graph = megabytes(m.source.size_bytes), megabytes(m.graph.size_bytes)
    print(f"source   {m.source.kind} {m.source.path}")
    print(f"size     {source} {m.source.kind} -> {graph} {report.graph_path}")
    print(f"ops      {' '.join(m.ops)}")
    print(f"input    {m.input.tensor} {m.input.shape}; output {m.output.tensor} {m.output.shape}")
    print(
        f"verified max |original - frozen| = {report.max_abs_diff:.2g} over "
        f"{report.verified_rows} inputs (tolerance {request.tolerance:g})"
    )
    if m.tflite is not None:
        print(
            f"tflite   {m.tflite.path} {megabytes(m.tflite.size_bytes)}, max |frozen - tflite| = "
            f"{report.tflite_max_abs_diff:.2g} over {report.verified_rows} inputs "
            f"(tolerance {request.tolerance:g})"
        )
    print(f"manifest {report.manifest_path}: {m.name} {m.version}, {m.labels}, {m.decoding}")
    # What template.yaml's ModelSha256 (env MODEL_SHA256) pins: model.json, which pins model.pb
    # and model.tflite.
    print(f"pin      sha256 of model.json = {sha256_file(report.manifest_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

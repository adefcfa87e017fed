"""`python -m demo.repository --out DIR`: a model repository to try several models in one
function: the demo classifier in two versions (version 2 is the same graph with its labels
swapped, so another digest, labelled `canary`; version 1 `stable`), fer's emotion classifier and
mtcnn's ONet (demo.zoo), each frozen by `python -m freeze --repository`, then the version policy,
labels and default model written into models.json. Serve it with `make run MODEL_DIR=DIR`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from demo.zoo import freeze_args
from freeze.repository import pin

ROOT = Path(__file__).resolve().parents[1]
ZOO_MODELS = ("fer", "onet")


def freeze(*args: str | Path) -> None:
    subprocess.run([sys.executable, "-m", "freeze", *map(str, args)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def build(out: Path, demo_build: Path, zoo: Path) -> Path:
    """The repository in `out`, from the demo's export (demo.catsordogs) and zoo exports."""
    demo = ["--checkpoint_dir", demo_build / "checkpoint",
            "--model_config", demo_build / "model_config.json", "--tflite"]
    freeze(*demo, "--repository", out, "--name", "catsordogs")
    freeze(*demo, "--labels", "dog,cat", "--repository", out, "--name", "catsordogs")
    for name in ZOO_MODELS:
        args = freeze_args(zoo / name, out)  # --output_dir is replaced by --repository
        at = args.index("--output_dir")
        freeze(*args[:at], *args[at + 2:], "--repository", out)
    path = out / "models.json"
    document = json.loads(path.read_text())
    cats = next(m for m in document["model_config_list"] if m["name"] == "catsordogs")
    cats["model_version_policy"] = {"all": {}}
    cats["version_labels"] = {"stable": 1, "canary": 2}
    document["default_model"] = "catsordogs"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.repository", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="the repository folder (new)")
    parser.add_argument("--demo-build", type=Path, help="demo.catsordogs's output (default: "
                        "exported here)")
    args = parser.parse_args(argv)
    if (args.out / "models.json").exists():
        parser.error(f"{args.out} already holds a repository")
    with tempfile.TemporaryDirectory(prefix="repository-") as tmp:
        demo_build = args.demo_build
        if demo_build is None:
            demo_build = Path(tmp) / "demo"
            subprocess.run([sys.executable, "-m", "demo.catsordogs", "--out", str(demo_build)],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        for name in ZOO_MODELS:
            subprocess.run([sys.executable, "-m", "demo.zoo", name, "--out",
                            str(Path(tmp) / "zoo" / name)], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        build(args.out, demo_build, Path(tmp) / "zoo")
    print(f"wrote {args.out}: catsordogs 1 (stable) and 2 (canary), fer 1, onet 1")
    print(f"pin   {pin(args.out)} (MODEL_SHA256: sha256 of models.json)")


if __name__ == "__main__":
    main()

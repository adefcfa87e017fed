"""`python -m freeze.pin DIR`: print what MODEL_SHA256 (template.yaml's ModelSha256) pins for a
model folder: a repository's models.json sha256, every version it records checked first, or a
single bundle's model.json sha256. No TensorFlow is imported."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from freeze import FreezeError
from freeze.repository import pin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m freeze.pin", description=__doc__)
    parser.add_argument("folder", type=Path, help="a repository (models.json) or a bundle")
    args = parser.parse_args(argv)
    try:
        print(pin(args.folder))
    except FreezeError as exc:
        print(f"freeze.pin: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

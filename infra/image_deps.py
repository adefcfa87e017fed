"""Resolve (or install) requirements.txt for the Lambda image's platform, from any machine.

    python -m infra.image_deps              # dry run: print what the image's pip would install
    python -m infra.image_deps --install DIR # install into DIR and print its size

The image is the AWS Lambda Python 3.12 base (Amazon Linux 2023, glibc 2.34, x86_64), so a wheel
fits if it is cp312/abi3/py3 and tagged manylinux with glibc <= 2.34. pip's `--platform` does not
widen to older tags by itself: every accepted tag is listed (the legacy manylinux2014 name makes
pip add manylinux2010 and manylinux1). `--only-binary=:all:`: the image build compiles nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from infra.lambda_runtime import ROOT

PYTHON_VERSION = "3.12"
GLIBC_MINOR = 34  # Amazon Linux 2023 (the python3.11 base, Amazon Linux 2, has glibc 2.26)


def platforms(glibc_minor: int = GLIBC_MINOR) -> list[str]:
    """Every x86_64 manylinux tag a system with glibc 2.<glibc_minor> runs."""
    return [f"manylinux_2_{minor}_x86_64" for minor in range(5, glibc_minor + 1)] + [
        "manylinux2014_x86_64"
    ]


def pip_command(
    target: Path, requirements: Path, dry_run: bool, glibc_minor: int = GLIBC_MINOR
) -> list[str]:
    """The `pip install` that fetches requirements for the image, not for this machine."""
    command = [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
        "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
        *(arg for platform in platforms(glibc_minor) for arg in ("--platform", platform)),
        "--target", str(target), "-r", str(requirements),
    ]
    if dry_run:
        command += ["--dry-run", "--quiet", "--report", "-"]
    return command


def resolve(
    requirements: Path = ROOT / "requirements.txt", glibc_minor: int = GLIBC_MINOR
) -> list[dict[str, Any]]:
    """pip's installation report items (name, version, wheel URL) for the image's platform."""
    with TemporaryDirectory() as target:
        proc = subprocess.run(
            pip_command(Path(target), requirements, dry_run=True, glibc_minor=glibc_minor),
            capture_output=True, text=True, check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"requirements do not resolve for the image:\n{proc.stderr}")
    return json.loads(proc.stdout)["install"]


def tree_size(folder: Path) -> int:
    """Bytes of all files under `folder` (what the image's layer holds, before compression)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", type=Path, metavar="DIR", help="install into DIR, print sizes")
    parser.add_argument("-r", "--requirements", type=Path, default=ROOT / "requirements.txt")
    args = parser.parse_args(argv)
    if args.install is None:
        for item in resolve(args.requirements):
            meta = item["metadata"]
            wheel = item["download_info"]["url"].rsplit("/", 1)[-1]
            print(f"{meta['name']}=={meta['version']}  {wheel}")
        return
    subprocess.run(pip_command(args.install, args.requirements, dry_run=False), check=True)
    sizes = sorted(
        ((tree_size(p), p.name) for p in args.install.iterdir() if p.is_dir()), reverse=True
    )
    for size, name in sizes[:10]:
        print(f"{size / 1e6:10.1f} MB  {name}")
    print(f"{tree_size(args.install) / 1e6:10.1f} MB  total installed in {args.install}")


if __name__ == "__main__":
    main()

"""Lock, resolve or install the runtime requirements for a Lambda platform, from any machine.

    python -m infra.image_deps lock                  # requirements*.txt -> a hashed lock per arch
    python -m infra.image_deps resolve [--arch A]    # dry run: what the image's pip would install
    python -m infra.image_deps install DIR [--arch A] # install into DIR and print its size

Two things install from these locks: the Lambda image (requirements.txt -> requirements-<amd64|
arm64>.lock) and the LiteRT zip function (requirements-litert.txt -> requirements-litert-<amd64|
arm64>.lock, staged by infra/zip_package.py). Both run Lambda's Python 3.12 (Amazon Linux 2023,
glibc 2.34) on x86_64 or arm64, so a wheel fits if it is cp312/abi3/py3 and tagged manylinux for
that machine with glibc <= 2.34.

- Locking: uv evaluates requirements.txt's environment markers for the *target* platform
  (`--python-platform`), which pip cannot do (pip evaluates markers against the interpreter that
  runs it). That is what lets one requirements.txt say `tensorflow-cpu` on x86_64 (no aarch64
  wheel exists) and `tensorflow` on aarch64. Each lock pins every package, transitive ones too,
  with the sha256 of each of its files; the image and the zip install it with `--require-hashes`.
- Resolving: pip's `--platform` does not widen to older tags by itself, so every accepted tag is
  listed (the legacy manylinux2014 name makes pip add manylinux2010 and manylinux1 on x86_64:
  libclang ships a manylinux2010 wheel only). `--only-binary=:all:`: Lambda compiles nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from infra.lambda_runtime import ROOT

PYTHON_VERSION = "3.12"
GLIBC_MINOR = 34  # Amazon Linux 2023 (the python3.11 base, Amazon Linux 2, has glibc 2.26)
#: The image's requirements (TensorFlow and the rest).
REQUIREMENTS = ROOT / "requirements.txt"
#: The LiteRT zip function's: the same stack without TensorFlow.
LITERT_REQUIREMENTS = ROOT / "requirements-litert.txt"
#: What `make lock` locks, each for every architecture.
LOCKED = (REQUIREMENTS, LITERT_REQUIREMENTS)


@dataclass(frozen=True)
class Arch:
    """One Lambda architecture under its three names."""

    lambda_name: str  # template.yaml `Architectures`
    docker: str  # Docker's TARGETARCH: the Dockerfile picks the lock by it
    machine: str  # wheel tags, uv's --python-platform, `platform_machine` markers
    oldest_glibc_minor: int  # the oldest manylinux for this machine (manylinux1 / manylinux2014)

    @property
    def lock(self) -> Path:
        """The image's lock (the Dockerfile picks it by TARGETARCH)."""
        return self.lock_of(REQUIREMENTS)

    def lock_of(self, requirements: Path) -> Path:
        """The lock of requirements[-litert].txt for this machine: ...-<docker>.lock."""
        return ROOT / f"{requirements.stem}-{self.docker}.lock"

    def platforms(self, glibc_minor: int = GLIBC_MINOR) -> list[str]:
        """Every manylinux tag a system of this machine with glibc 2.<glibc_minor> runs."""
        return [
            f"manylinux_2_{minor}_{self.machine}"
            for minor in range(self.oldest_glibc_minor, glibc_minor + 1)
        ] + [f"manylinux2014_{self.machine}"]


ARCHES = {
    arch.lambda_name: arch
    for arch in (Arch("x86_64", "amd64", "x86_64", 5), Arch("arm64", "arm64", "aarch64", 17))
}
DEFAULT_ARCH = "x86_64"


def platforms(glibc_minor: int = GLIBC_MINOR, arch: str = DEFAULT_ARCH) -> list[str]:
    """Every manylinux tag the image of `arch` runs."""
    return ARCHES[arch].platforms(glibc_minor)


def uv_executable() -> str:
    """uv from the tools venv (infra/requirements-tools.txt), else from PATH."""
    venv_uv = ROOT / ".venv-tools" / "bin" / "uv"
    found = str(venv_uv) if venv_uv.exists() else shutil.which("uv")
    if found is None:
        raise FileNotFoundError("uv not found: run `make tools` (infra/requirements-tools.txt)")
    return found


def lock_command(arch: str, requirements: Path = REQUIREMENTS) -> list[str]:
    """The `uv pip compile` that writes `arch`'s hashed lock of `requirements`."""
    target = ARCHES[arch]
    return [
        uv_executable(), "pip", "compile", "--quiet", "--generate-hashes",
        "--python-version", PYTHON_VERSION,
        "--python-platform", f"{target.machine}-manylinux_2_{GLIBC_MINOR}",
        "--custom-compile-command", "make lock",
        "--output-file", str(target.lock_of(requirements).relative_to(ROOT)),
        str(requirements.relative_to(ROOT)),
    ]


def pip_command(
    target: Path, requirements: Path, dry_run: bool, glibc_minor: int = GLIBC_MINOR,
    arch: str = DEFAULT_ARCH,
) -> list[str]:
    """The `pip install` that fetches requirements for Lambda, not for this machine.

    A lock (`*.lock`) is installed as the image and the zip install it: hashes required, no
    dependency resolution (the lock already holds every package).
    """
    command = [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
        "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
        *(arg for platform in platforms(glibc_minor, arch) for arg in ("--platform", platform)),
        "--target", str(target), "-r", str(requirements),
    ]
    if requirements.suffix == ".lock":
        command += ["--require-hashes", "--no-deps"]
    if dry_run:
        command += ["--dry-run", "--quiet", "--report", "-"]
    return command


def resolve(
    requirements: Path = REQUIREMENTS, glibc_minor: int = GLIBC_MINOR, arch: str = DEFAULT_ARCH
) -> list[dict[str, Any]]:
    """pip's installation report items (name, version, wheel URL) for Lambda's `arch` platform."""
    with TemporaryDirectory() as target:
        proc = subprocess.run(
            pip_command(Path(target), requirements, True, glibc_minor, arch),
            capture_output=True, text=True, check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{requirements.name} does not resolve for Lambda {arch}:\n"
                           f"{proc.stderr}")
    return json.loads(proc.stdout)["install"]


def tree_size(folder: Path) -> int:
    """Bytes of all files under `folder` (what an image layer or a zip holds, uncompressed)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("lock", help="write <requirements>-<arch>.lock for every architecture")
    for name in ("resolve", "install"):
        command = commands.add_parser(name)
        if name == "install":
            command.add_argument("dir", type=Path)
        command.add_argument("--arch", choices=sorted(ARCHES), default=DEFAULT_ARCH)
        command.add_argument("-r", "--requirements", type=Path, help="default: the arch's lock")
    args = parser.parse_args(argv)
    if args.command == "lock":
        for requirements in LOCKED:
            for arch in ARCHES.values():
                subprocess.run(lock_command(arch.lambda_name, requirements), cwd=ROOT, check=True)
                print(f"wrote {arch.lock_of(requirements).relative_to(ROOT)}")
        return
    requirements = args.requirements or ARCHES[args.arch].lock
    if args.command == "resolve":
        for item in resolve(requirements, arch=args.arch):
            meta = item["metadata"]
            wheel = item["download_info"]["url"].rsplit("/", 1)[-1]
            print(f"{meta['name']}=={meta['version']}  {wheel}")
        return
    subprocess.run(
        pip_command(args.dir, requirements, dry_run=False, arch=args.arch), check=True
    )
    sizes = sorted(((tree_size(p), p.name) for p in args.dir.iterdir() if p.is_dir()), reverse=True)
    for size, name in sizes[:10]:
        print(f"{size / 1e6:10.1f} MB  {name}")
    print(f"{tree_size(args.dir) / 1e6:10.1f} MB  total installed in {args.dir}")


if __name__ == "__main__":
    main()

"""Shared, expensive fixtures: built once per test session through the project's own CLIs.

The build fixtures run the real build commands in a subprocess (as `make model` does), so the
tests exercise the same path a user's build runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m <args>` from the project root; fail the test with its output on error."""
    cmd = [sys.executable, "-m", *map(str, args)]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    """The real photos: kitten and dog (catsordogs), chelsea (scikit-image)."""
    from demo.photos import PHOTOS, photo_path

    return {name: photo_path(name) for name in PHOTOS}


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model as the build writes it: model.h5, checkpoint/ (TF1), model_config.json."""
    out = tmp_path_factory.mktemp("demo")
    run_module("demo.catsordogs", "--out", out)
    return out


@pytest.fixture(scope="session")
def demo_model_dir(demo_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model frozen from its TF1 checkpoint: model.pb + model.json."""
    out = tmp_path_factory.mktemp("model")
    run_module(
        "freeze",
        "--checkpoint_dir", demo_build / "checkpoint",
        "--output_dir", out,
        "--model_config", demo_build / "model_config.json",
    )
    return out

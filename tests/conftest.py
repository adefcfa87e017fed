"""Shared, expensive fixtures: built once per test session through the project's own CLIs.

The build fixtures run the real build commands in a subprocess (as `make model` does), so the
tests exercise the same path a user's build runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


def freeze_build(build: Path, out: Path) -> Path:
    """Freeze an exporter's output folder (checkpoint/ + model_config.json) as `make model` does:
    model.pb, model.tflite and model.json."""
    run_module(
        "freeze",
        "--checkpoint_dir", build / "checkpoint",
        "--output_dir", out,
        "--model_config", build / "model_config.json",
        "--tflite",
    )
    return out


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
    """The demo model frozen from its TF1 checkpoint: model.pb + model.tflite + model.json."""
    return freeze_build(demo_build, tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def seed_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed's architecture briefly trained (~4 s) on generated stripes, labels
    ["horizontal", "vertical"] (not a cat/dog model): checkpoint/ (with Adam slots),
    model_config.json, and train.log (the trainer's stdout)."""
    from demo import stripes

    data = tmp_path_factory.mktemp("stripes")
    stripes.write(data, per_class=40, seed=0)
    out = tmp_path_factory.mktemp("seed")
    proc = run_module(
        "demo.train_seed", "--data", data, "--out", out,
        "--epochs", "3", "--batch-size", "4", "--learning-rate", "5e-4", "--seed", "0",
    )
    (out / "train.log").write_text(proc.stdout)
    return out


@pytest.fixture(scope="session")
def seed_model_dir(seed_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed-architecture model frozen from its checkpoint: model.pb + model.tflite +
    model.json (name "seed", RGB 128x128, softmax over ["horizontal", "vertical"])."""
    return freeze_build(seed_build, tmp_path_factory.mktemp("seed_model"))


#: the demo.zoo exports the serving tests freeze (tfkeras_savedmodel is the freeze step's own)
ZOO_SERVED = ("fer", "onet", "pnet", "text")


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real models from PyPI packages (demo.zoo): each export's folder (model file, zoo.json,
    reference.npz: the package model's own outputs)."""
    out = tmp_path_factory.mktemp("zoo")
    run_module("demo.zoo", "all", "--out", out)
    return {name: out / name for name in ZOO_SERVED}


@pytest.fixture(scope="session")
def zoo_models(zoo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each zoo export frozen by the freeze step's CLI as its zoo.json describes it, with
    --tflite where LiteRT can run it (the text model's lookup tables need TensorFlow)."""
    from demo.zoo import freeze_args

    out = tmp_path_factory.mktemp("zoo_models")
    for name, folder in zoo.items():
        run_module("freeze", *freeze_args(folder, out / name, tflite=name != "text"))
    return {name: out / name for name in zoo}


@pytest.fixture(scope="session")
def lambda_handler(demo_model_dir: Path) -> Iterator[Callable[[dict, Any], dict]]:
    """The real Lambda entry point, `handler.app.handler`, imported once in this process with
    the function's environment from template.yaml and MODEL_DIR = the frozen demo model."""
    from infra.lambda_runtime import function_config, lambda_environment

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_DIR", str(demo_model_dir))
        for key, value in lambda_environment(function_config()).items():
            if key not in os.environ:
                patch.setenv(key, value)
        from handler.app import handler

        yield handler


@pytest.fixture(scope="session")
def local_api_url(lambda_handler: Callable[[dict, Any], dict]) -> Iterator[str]:
    """Base URL (http://127.0.0.1:PORT) of the local API (`sam local start-api` stand-in)
    serving the real handler in a background thread."""
    from infra.local_api import serve

    with serve(lambda_handler) as url:
        yield url


@pytest.fixture(scope="session")
def seed_handler(seed_model_dir: Path) -> Callable[[dict, Any], dict]:
    """A Lambda handler serving the seed architecture (RGB 128, softmax) beside the demo model:
    the same factories `handler.app` uses, over a second model in this process."""
    from handler.adapter import lambda_handler as make_handler
    from handler.api import create_app
    from handler.config import Settings
    from handler.loader import load_model

    model = load_model(Settings.from_env({"MODEL_DIR": str(seed_model_dir)}))
    return make_handler(create_app(model))

"""Cold start in a fresh process, as Lambda's INIT phase: the model loads at import and the
first request is served, on either runtime (the LiteRT one never imports TensorFlow); a missing,
corrupt or mismatched bundle fails INIT with one clear log line, before TensorFlow is even
imported."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

COLD_START = """
import gc, json, sys, time
import handler.heap  # handler.app's first import, before its INIT pauses the collector
def collections():
    return sum(generation["collections"] for generation in gc.get_stats())
before = {"collections": collections(), "frozen": gc.get_freeze_count()}
start = time.perf_counter()
try:
    from handler.app import handler
except Exception:
    print(json.dumps({"tensorflow_imported": "tensorflow" in sys.modules,
                      "gc_enabled": gc.isenabled(),
                      "frozen": gc.get_freeze_count() - before["frozen"]}))
    raise
init_s = time.perf_counter() - start
gc_after_init = {"enabled": gc.isenabled(),
                 "frozen": gc.get_freeze_count() - before["frozen"],
                 "collections": collections() - before["collections"]}
from tests.handler_events import http_v2, invoke
from demo.photos import photo_path
event = http_v2("POST", "/predict", photo_path("dog").read_bytes(), {"Content-Type": "image/jpeg"})
start = time.perf_counter()
first = invoke(handler, event)
first_s = time.perf_counter() - start
# what INIT's garbage (frozen, never collected) holds in its frames: no model file's bytes, no
# array (values the collector does not track, such as bytes and arrays, are not in gc.garbage)
gc.set_debug(gc.DEBUG_SAVEALL)
gc.unfreeze()
gc.collect()
gc_after_init["garbage_frame_bytes"] = max(
    (sys.getsizeof(value) for frame in gc.garbage if type(frame).__name__ == "frame"
     for value in frame.f_locals.values() if not gc.is_tracked(value)), default=0)
print(json.dumps({"init_s": init_s, "first_s": first_s, "status": first.status,
                  "answer": first.json(), "tensorflow_imported": "tensorflow" in sys.modules,
                  "gc": gc_after_init}))
"""


def cold_start(
    model_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    env = {**os.environ, "MODEL_DIR": str(model_dir), "PYTHONPATH": str(ROOT), **(extra_env or {})}
    env.pop("MODEL_S3_URI", None)
    proc = subprocess.run([sys.executable, "-c", COLD_START], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, records


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["tensorflow", "litert"])
def test_fresh_process_loads_at_import_and_serves_the_first_request(demo_model_dir, runtime):
    proc, records = cold_start(demo_model_dir, {"MODEL_RUNTIME": runtime})
    assert proc.returncode == 0, proc.stderr
    (loaded,) = [r for r in records if r.get("message") == "model loaded"]
    assert loaded["runtime"] == runtime
    for phase in ("read_verify_ms", "import_runtime_ms", "load_model_ms", "warm_up_ms"):
        assert loaded[phase] > 0
    assert loaded["warm_up_ms"] < 5_000  # Grappler is off: the warm-up is a plain run
    (result,) = [r for r in records if "init_s" in r]
    assert result["status"] == 200 and result["answer"]["predictions"][0]["label"] == "dog"
    # The zip function has no TensorFlow to import: LiteRT must not reach for it.
    assert result["tensorflow_imported"] is (runtime == "tensorflow")
    # INIT ran without a single collection, then froze what it made and resumed the collector
    # (handler/heap.py): tens of thousands of objects that warm requests' collections skip.
    assert result["gc"]["collections"] == 0 and result["gc"]["enabled"] is True
    assert result["gc"]["frozen"] > 20_000
    assert result["gc"]["garbage_frame_bytes"] < 1_000_000  # the model file is 15 MB
    print(f"cold start: {loaded}; init {result['init_s']:.2f} s, "
          f"first request {result['first_s'] * 1e3:.0f} ms")


def _missing(model_dir: Path, tmp: Path) -> tuple[Path, str]:
    return tmp / "absent", r"no manifest at .*absent/model\.json"


def _mismatched(model_dir: Path, tmp: Path) -> tuple[Path, str]:
    shutil.copy(model_dir / "model.json", tmp / "model.json")
    data = bytearray((model_dir / "model.pb").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    (tmp / "model.pb").write_bytes(data)
    return tmp, r"model\.pb does not match its manifest: sha256"


def _corrupt_manifest(model_dir: Path, tmp: Path) -> tuple[Path, str]:
    (tmp / "model.json").write_text('{"name": "catsordogs"')
    return tmp, r"invalid manifest .*model\.json"


@pytest.mark.parametrize("make_bundle", [_missing, _mismatched, _corrupt_manifest],
                         ids=["missing", "sha-mismatch", "corrupt-manifest"])
def test_bad_bundle_fails_init_with_one_clear_line(demo_model_dir, tmp_path, make_bundle):
    model_dir, reason = make_bundle(demo_model_dir, tmp_path)
    proc, records = cold_start(model_dir)
    assert proc.returncode != 0
    errors = [r for r in records if r.get("level") == "ERROR"]
    assert len(errors) == 1, records
    assert re.search(reason, errors[0]["message"]), errors[0]["message"]
    assert str(model_dir) in errors[0]["message"]
    # failed before the 2 s TensorFlow import; the collector back on, nothing frozen
    assert {"tensorflow_imported": False, "gc_enabled": True, "frozen": 0} in records
    assert "ModelBundleError" in proc.stderr  # raised: Lambda reports an INIT error


def _no_tflite(model_dir: Path, tmp: Path) -> tuple[Path, str]:
    manifest = json.loads((model_dir / "model.json").read_text())
    del manifest["artifacts"]["tflite"]
    (tmp / "model.json").write_text(json.dumps(manifest))
    return tmp, r"MODEL_RUNTIME=litert needs model\.tflite.*freeze with --tflite"


def _tflite_mismatch(model_dir: Path, tmp: Path) -> tuple[Path, str]:
    shutil.copy(model_dir / "model.json", tmp / "model.json")
    data = bytearray((model_dir / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp / "model.tflite").write_bytes(data)
    return tmp, r"model\.tflite does not match its manifest: sha256"


def _not_a_tflite(model_dir: Path, tmp: Path) -> tuple[Path, str]:
    """A manifest that agrees with its file, but the file is no LiteRT model (an unpinned
    bundle someone rewrote consistently): LiteRT refuses it, the function does not crash."""
    data = b"not a flatbuffer" * 64
    manifest = json.loads((model_dir / "model.json").read_text())
    manifest["artifacts"]["tflite"].update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    (tmp / "model.json").write_text(json.dumps(manifest))
    (tmp / "model.tflite").write_bytes(data)
    return tmp, r"model\.tflite does not load in LiteRT"


def _unknown_runtime(model_dir: Path, tmp: Path) -> tuple[Path, str]:
    return model_dir, r"MODEL_RUNTIME='litrt' is not a runtime: use tensorflow or litert"


@pytest.mark.parametrize(
    "make_bundle", [_no_tflite, _tflite_mismatch, _not_a_tflite, _unknown_runtime],
    ids=["no-tflite", "sha-mismatch", "not-a-tflite", "unknown-runtime"],
)
def test_bad_litert_bundle_fails_init_with_one_clear_line(demo_model_dir, tmp_path, make_bundle):
    model_dir, reason = make_bundle(demo_model_dir, tmp_path)
    runtime = "litrt" if make_bundle is _unknown_runtime else "litert"
    proc, records = cold_start(model_dir, {"MODEL_RUNTIME": runtime})
    assert proc.returncode != 0
    errors = [r for r in records if r.get("level") == "ERROR"]
    assert len(errors) == 1, records
    assert re.search(reason, errors[0]["message"]), errors[0]["message"]
    assert {"tensorflow_imported": False, "gc_enabled": True, "frozen": 0} in records
    assert "ModelBundleError" in proc.stderr


LAZY = """
import json, sys
from handler.app import app, handler
from handler.api import LAZY_PROTOCOLS, build_protocols
from tests.handler_events import http_v2, invoke
from demo.photos import photo_path
def built():
    return [name for name in LAZY_PROTOCOLS if name in sys.modules]
steps = {"init": built()}
event = http_v2("POST", "/predict", photo_path("dog").read_bytes(), {"Content-Type": "image/jpeg"})
steps["predict"] = (invoke(handler, event).status, built())
steps[sys.argv[1]] = (invoke(handler, http_v2("GET", sys.argv[1], stage="Prod")).status, built())
schema = invoke(handler, http_v2("GET", "/openapi.json")).json()
steps["eager_schema_equal"] = schema == app.openapi() and all(build_protocols(app))
steps["route_kinds"] = sorted({type(route).__name__ for route in app.router.routes})
print(json.dumps({"steps": steps, "schema": schema}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("first", ["/v2", "/v1/models/catsordogs", "/openapi.json",
                                   "/v2/health/nothing", "/models", "/models/catsordogs/versions/9"])
def test_named_tf_serving_and_v2_routes_are_built_on_their_first_request(demo_model_dir, first):
    """The cold start builds the default model's native routes only; the first request under
    /models, /v1 or /v2 (a 404 included, behind a stage too) or for the schema builds the
    others, answering as if they had always been there; the schema is the same whichever came
    first."""
    env = {**os.environ, "MODEL_DIR": str(demo_model_dir), "PYTHONPATH": str(ROOT),
           "MODEL_RUNTIME": "litert"}
    env.pop("MODEL_S3_URI", None)
    proc = subprocess.run([sys.executable, "-c", LAZY, first], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (result,) = [json.loads(line) for line in proc.stdout.splitlines() if '"steps"' in line]
    steps = result["steps"]
    everything = ["handler.protocols.named", "handler.protocols.tfserving", "handler.protocols.v2"]
    assert steps["init"] == [] and steps["predict"] == [200, []]
    assert steps[first] == [404 if first.endswith(("nothing", "/9")) else 200, everything]
    assert steps["eager_schema_equal"] is True
    # every route the app's own, no included router's: FastAPI would build those again on the
    # first request it routes (handler/api.py)
    assert steps["route_kinds"] == ["APIRoute", "Mount", "Route"]
    paths = list(result["schema"]["paths"])
    assert (paths.index("/predict") < paths.index("/models/{name}/predict")
            < paths.index("/v1/models/{name}") < paths.index("/v2"))


def test_every_lazy_route_is_under_a_lazy_prefix() -> None:
    """What LazyProtocols relies on: no lazily built route lies outside its prefixes."""
    import importlib

    from handler.api import LAZY_PREFIXES, LAZY_PROTOCOLS

    paths = [route.path for name in LAZY_PROTOCOLS
             for route in importlib.import_module(name).router.routes]
    assert paths and all(path.startswith(LAZY_PREFIXES) for path in paths)

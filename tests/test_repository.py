"""Several models, and several versions of a model, in one function: a repository in TF
Serving's layout (models.json + <name>/<version>/), built by the freeze step's --repository,
holding the demo classifier in two versions (the second: the same graph with its labels
swapped, so another digest), fer's emotion classifier and mtcnn's ONet; served through every
protocol by name, version and label, on both runtimes, through the handler and the local API."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from demo.zoo import astronaut_face
from freeze.repository import pin
from handler.adapter import lambda_handler as make_handler
from handler.api import create_app
from handler.config import Settings
from handler.loader import load_catalog
from handler.manifest import ModelBundleError
from tests.handler_events import http_v2, invoke

pytestmark = pytest.mark.slow

JSON = {"Content-Type": "application/json"}
JPEG = {"Content-Type": "image/jpeg"}
Handler = Callable[[dict, Any], dict]


def edit(repository: Path, change: Callable[[dict], None]) -> None:
    path = repository / "models.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


@pytest.fixture(scope="module")
def repository(demo_build: Path, zoo: dict[str, Path], tmp_path_factory) -> Path:
    """Built as a user builds one: `python -m freeze --repository` per version, then the
    version policy, labels and default model written into models.json (demo.repository, what
    `make repository` runs)."""
    from demo.repository import build

    return build(tmp_path_factory.mktemp("repository"), demo_build, zoo["fer"].parent)


@pytest.fixture(scope="module", params=["tensorflow", "litert"])
def served(request, repository: Path) -> Handler:
    settings = Settings.from_env({"MODEL_DIR": str(repository), "MODEL_RUNTIME": request.param})
    return make_handler(create_app(load_catalog(settings)))


def ok(response) -> Any:
    assert response.status == 200, response.body[:400]
    return response.json()


def label(answer: dict) -> str:
    return answer["predictions"][0]["label"]


def test_the_dog_by_default_version_and_label(served, photos):
    dog = photos["dog"].read_bytes()
    post = lambda path: ok(invoke(served, http_v2("POST", path, dog, JPEG)))  # noqa: E731
    assert label(post("/predict")) == "cat"  # the default model's highest version: swapped
    assert label(post("/models/catsordogs/versions/1/predict")) == "dog"
    assert label(post("/models/catsordogs/labels/stable/predict")) == "dog"
    assert label(post("/models/catsordogs/labels/canary/predict")) == "cat"
    versions = {post(f"/models/catsordogs/versions/{n}/predict")["version"] for n in (1, 2)}
    assert len(versions) == 2  # each version's own digest


def test_fer_and_onet_by_name(served):
    face = astronaut_face(fmt="PNG")
    png = {"Content-Type": "image/png"}
    fer = ok(invoke(served, http_v2("POST", "/models/fer/predict", face, png)))
    assert label(fer) == "happy"
    onet = ok(invoke(served, http_v2("POST", "/models/onet/predict", face, png)))
    assert label(onet) == "face"


def test_tf_serving_every_model_and_version(served, photos):
    status = ok(invoke(served, http_v2("GET", "/v1/models/catsordogs")))
    assert [v["version"] for v in status["model_version_status"]] == ["1", "2"]
    pinned = ok(invoke(served, http_v2("GET", "/v1/models/catsordogs/labels/canary")))
    assert [v["version"] for v in pinned["model_version_status"]] == ["2"]
    meta = ok(invoke(served, http_v2("GET", "/v1/models/onet/versions/1/metadata")))
    assert meta["model_spec"]["version"] == "1"
    outputs = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"]
    assert sorted(outputs) == ["fc6-1", "fc6-2", "fc6-3"]
    body = json.dumps({"instances": [{"b64": base64.b64encode(photos["dog"].read_bytes())
                                      .decode()}]})
    v1 = ok(invoke(served, http_v2("POST", "/v1/models/catsordogs/versions/1:predict", body, JSON)))
    latest = ok(invoke(served, http_v2("POST", "/v1/models/catsordogs:predict", body, JSON)))
    assert v1["predictions"] == latest["predictions"]  # the same graph: P(second label) alike


def test_tritonclient_lists_and_infers_every_version(served, photos):
    import numpy as np
    import tritonclient.http as triton

    from infra.local_api import serve

    with serve(served) as url:
        client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            index = client.get_model_repository_index()
            assert sorted((e["name"], e["version"], e["state"]) for e in index) == [
                ("catsordogs", "1", "READY"), ("catsordogs", "2", "READY"),
                ("fer", "1", "READY"), ("onet", "1", "READY")]
            assert "model_repository" in client.get_server_metadata()["extensions"]
            assert client.get_model_metadata("catsordogs")["versions"] == ["1", "2"]
            files = np.array([photos["dog"].read_bytes()], dtype=np.object_)
            tensor = triton.InferInput("input", [1], "BYTES")
            tensor.set_data_from_numpy(files)
            for version in ("1", "2"):
                result = client.infer("catsordogs", [tensor], model_version=version)
                assert result.get_response()["model_version"] == version
                assert result.as_numpy("probabilities")[0, 0] > 0.5  # P(second label), both
            with pytest.raises(triton.InferenceServerException, match="fixed at deployment"):
                client.load_model("onet")
            assert not client.is_model_ready("catsordogs", "3")
        finally:
            client.close()


@pytest.mark.parametrize("path", [
    "/models/nope/predict", "/models/catsordogs/versions/3/predict",
    "/models/catsordogs/labels/nightly/predict", "/v1/models/catsordogs/versions/3",
    "/v1/models/fer/labels/stable", "/v2/models/catsordogs/versions/34b7f28f53ff",
])
def test_unknown_names_versions_and_labels_are_404(served, path):
    method = "POST" if path.endswith("predict") else "GET"
    response = invoke(served, http_v2(method, path, b"{}", JSON))
    assert response.status == 404, response.body
    assert response.json()["code"] in ("model_not_found", "model_version_not_found")


def test_health_and_models_report_the_repository(served, repository):
    health = ok(invoke(served, http_v2("GET", "/health")))
    assert health["digest"] == pin(repository) and health["model"] == "catsordogs"
    listed = ok(invoke(served, http_v2("GET", "/models")))
    assert [m["name"] for m in listed["models"]] == ["catsordogs", "fer", "onet"]
    assert listed["models"][0]["labels"] == {"stable": 1, "canary": 2}


def test_the_pin_covers_every_version(repository, tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(repository, copy)
    the_pin = pin(copy)
    settings = Settings.from_env({"MODEL_DIR": str(copy), "MODEL_SHA256": the_pin})
    assert sorted(load_catalog(settings).models) == ["catsordogs", "fer", "onet"]
    manifest = copy / "fer" / "1" / "model.json"
    manifest.write_text(manifest.read_text().replace('"happy"', '"sad__"'))
    with pytest.raises(ModelBundleError, match=r"fer 1 in models.json"):
        load_catalog(settings)  # models.json unchanged (its pin holds), the version's does not


def test_a_bad_version_fails_the_cold_start_unless_told_to_serve_the_rest(repository, tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(repository, copy)
    (copy / "onet" / "1" / "model.pb").write_bytes(b"not a graph")
    with pytest.raises(ModelBundleError, match=r"onet/1/model.pb does not match its manifest"):
        load_catalog(Settings.from_env({"MODEL_DIR": str(copy)}))
    edit(copy, lambda document: document.update(on_load_error="serve_others"))
    handler = make_handler(create_app(load_catalog(Settings.from_env({"MODEL_DIR": str(copy)}))))
    response = invoke(handler, http_v2("POST", "/models/onet/predict", b'{"inputs": {}}', JSON))
    assert (response.status, response.json()["code"]) == (503, "model_unavailable")
    status = ok(invoke(handler, http_v2("GET", "/v1/models/onet")))["model_version_status"][0]
    assert status["state"] == "END" and "does not match" in status["status"]["error_message"]
    ready = ok(invoke(handler, http_v2("GET", "/v2/models/onet/ready")))
    assert ready["ready"] is False
    assert ok(invoke(handler, http_v2("GET", "/health")))["model"] == "catsordogs"


def test_both_layouts_at_once_and_the_init_budget_are_refused(repository, tmp_path, demo_model_dir):
    copy = tmp_path / "repo"
    shutil.copytree(repository, copy)
    shutil.copy(demo_model_dir / "model.json", copy / "model.json")
    with pytest.raises(ModelBundleError, match="holds both model.json .* and models.json"):
        load_catalog(Settings.from_env({"MODEL_DIR": str(copy)}))
    settings = Settings.from_env({"MODEL_DIR": str(repository), "MODEL_INIT_BUDGET_S": "0"})
    with pytest.raises(ModelBundleError, match=r"catsordogs 2, fer 1, onet 1 would not load"):
        load_catalog(settings)  # the first load shows how long one takes; the rest do not fit


def test_lazy_loading_checks_at_init_loads_on_first_use_and_keeps_the_budget(repository, photos):
    """MODEL_LOAD=lazy: no runtime built at INIT; each version on its first request; a budget
    of one demo graph unloads the least recently used; every answer stays right."""
    size = (repository / "catsordogs" / "1" / "model.pb").stat().st_size
    settings = Settings.from_env({
        "MODEL_DIR": str(repository), "MODEL_LOAD": "lazy",
        "MODEL_MEMORY_BUDGET_MB": str(-(-size // (1024 * 1024))),
    })
    catalog = load_catalog(settings)
    slots = {n: v.slot for n, v in catalog.models["catsordogs"].versions.items()}
    assert all(slot._model is None for slot in slots.values())  # nothing built at INIT
    handler = make_handler(create_app(catalog))
    dog = photos["dog"].read_bytes()
    for number, expected in ((1, "dog"), (2, "cat"), (1, "dog")):
        path = f"/models/catsordogs/versions/{number}/predict"
        assert label(ok(invoke(handler, http_v2("POST", path, dog, JPEG)))) == expected
        loaded = [n for n, slot in slots.items() if slot._model is not None]
        assert loaded == [number]  # the other was unloaded to keep within the budget


def test_lazy_loading_still_refuses_a_bad_bundle_at_init(repository, tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(repository, copy)
    (copy / "fer" / "1" / "model.pb").write_bytes(b"tampered")
    with pytest.raises(ModelBundleError, match=r"fer/1/model.pb does not match its manifest"):
        load_catalog(Settings.from_env({"MODEL_DIR": str(copy), "MODEL_LOAD": "lazy"}))
    with pytest.raises(ModelBundleError, match=r"MODEL_LOAD='sometimes' is not one of"):
        Settings.from_env({"MODEL_DIR": str(copy), "MODEL_LOAD": "sometimes"})


def test_a_repository_in_s3_needs_get_object_only(repository, tmp_path, monkeypatch, photos):
    """From MODEL_S3_URI: models.json (pinned), then each served version's model.json and the
    runtime's file, by key; no listing (the function's role has s3:GetObject only)."""
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="models")
        for path in repository.rglob("*"):
            if path.is_file():
                s3.upload_file(str(path), "models", f"repo/{path.relative_to(repository)}")
        cache = tmp_path / "cache"
        settings = Settings.from_env({
            "MODEL_S3_URI": "s3://models/repo", "MODEL_CACHE_DIR": str(cache),
            "MODEL_SHA256": pin(repository), "MODEL_RUNTIME": "litert",
        })
        handler = make_handler(create_app(load_catalog(settings)))
    got = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
    assert got == ["catsordogs/1/model.json", "catsordogs/1/model.tflite",
                   "catsordogs/2/model.json", "catsordogs/2/model.tflite",
                   "fer/1/model.json", "fer/1/model.tflite",
                   "models.json",
                   "onet/1/model.json", "onet/1/model.tflite"]
    dog = photos["dog"].read_bytes()
    answer = ok(invoke(handler, http_v2("POST", "/models/catsordogs/labels/stable/predict", dog,
                                        JPEG)))
    assert label(answer) == "dog"


def test_the_upload_page_lets_a_person_choose_the_model(repository, photos, tmp_path_factory):
    """In Chromium: the default model's page (the demo's version 2: "Dog or cat?") lists every
    model; choosing fer gives its own question, and its answer on the astronaut: happy."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from infra.local_api import serve
    from tests.test_upload_page import chromium

    face = tmp_path_factory.mktemp("face") / "face.png"
    face.write_bytes(astronaut_face(fmt="PNG"))
    catalog = load_catalog(Settings.from_env({"MODEL_DIR": str(repository)}))
    with serve(make_handler(create_app(catalog))) as url, chromium(tmp_path_factory) as browser:
        browser.get(url + "/")
        WebDriverWait(browser, 10).until(lambda _: browser.title == "Dog or cat?")
        links = browser.find_elements(By.CSS_SELECTOR, "#models a")
        assert [a.text for a in links] == ["catsordogs (default)", "fer", "onet"]
        links[1].click()
        WebDriverWait(browser, 10).until(lambda _: browser.title.startswith("Angry, disgust"))
        result = browser.find_element(By.ID, "result")
        browser.find_element(By.ID, "file").send_keys(str(face))
        WebDriverWait(browser, 30).until(lambda _: result.text and result.text != "Thinking...")
        assert result.text.startswith("happy"), result.text


def test_publishing_refuses_an_existing_version_and_the_pin_needs_no_tensorflow(
    repository, demo_build, tmp_path
):
    import subprocess
    import sys

    from tests.conftest import ROOT

    copy = tmp_path / "repo"
    shutil.copytree(repository, copy)
    before = (copy / "models.json").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "freeze", "--checkpoint_dir", demo_build / "checkpoint",
         "--model_config", demo_build / "model_config.json", "--repository", copy,
         "--name", "catsordogs", "--version", "2"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 1 and "version 2 of catsordogs is already built" in proc.stderr
    assert (copy / "models.json").read_bytes() == before  # nothing half-done
    assert sorted(p.name for p in (copy / "catsordogs").iterdir()) == ["1", "2"]  # no staging
    probe = ("import runpy, sys; sys.argv = ['freeze.pin', sys.argv[1]]\n"
             "try: runpy.run_module('freeze.pin', run_name='__main__')\n"
             "except SystemExit: pass\n"
             "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, str(copy)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == [pin(copy), "False"]


def test_a_pin_mismatch_fails_even_when_told_to_serve_the_rest(repository, tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(repository, copy)
    edit(copy, lambda document: document.update(on_load_error="serve_others"))
    manifest = copy / "onet" / "1" / "model.json"
    manifest.write_text(manifest.read_text().replace('"face"', '"FACE"'))
    with pytest.raises(ModelBundleError, match=r"is not the pinned onet 1 in models.json"):
        load_catalog(Settings.from_env({"MODEL_DIR": str(copy)}))


def test_no_version_named_goes_to_the_highest_available_one(repository, tmp_path, photos):
    """With serve_others and the newest version broken, /predict and TF Serving serve the
    version below it (TF Serving's rule), not a 503."""
    copy = tmp_path / "repo"
    shutil.copytree(repository, copy)
    edit(copy, lambda document: document.update(on_load_error="serve_others"))
    (copy / "catsordogs" / "2" / "model.pb").write_bytes(b"broken")
    handler = make_handler(create_app(load_catalog(Settings.from_env({"MODEL_DIR": str(copy)}))))
    dog = photos["dog"].read_bytes()
    assert label(ok(invoke(handler, http_v2("POST", "/predict", dog, JPEG)))) == "dog"  # v1
    response = invoke(handler, http_v2("POST", "/models/catsordogs/versions/2/predict", dog, JPEG))
    assert response.status == 503


def test_a_failed_lazy_load_is_not_counted_in_the_budget(repository):
    from handler.lazy import LazySlot, Pool

    pool = Pool(budget_bytes=100)

    def boom():
        raise RuntimeError("out of memory, say")

    slot = LazySlot("m 1", boom, 60, pool)
    with pytest.raises(RuntimeError):
        slot.get()
    assert pool.held() == 0

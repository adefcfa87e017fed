"""The seed architecture (RGB 128x128, softmax over labels) served beside the demo model in the
same process: the manifest alone drives preprocessing and output decoding."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from urllib3 import encode_multipart_formdata

from handler.manifest import load_manifest
from tests.handler_events import SOURCES, invoke

ORDER = ["kitten", "dog", "chelsea"]


def as_png(path: Path) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def reference(seed_model_dir: Path, photos) -> dict[str, np.ndarray]:
    """Softmax per photo computed without the handler: plain Pillow + a bare TF session."""
    import tensorflow as tf

    manifest = load_manifest(seed_model_dir)
    (spec,) = manifest.inputs
    p = spec.codec
    rows = []
    for name in ORDER:
        image = ImageOps.exif_transpose(Image.open(photos[name])).convert("RGB")
        image = image.resize((p.width, p.height), Image.Resampling.BILINEAR)
        rows.append(np.asarray(image, np.float32) * p.scale + p.offset)
    graph = (seed_model_dir / manifest.artifacts.graph.path).read_bytes()
    graph_def = tf.compat.v1.GraphDef.FromString(graph)
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            out = session.run(manifest.outputs[0].tensor, {spec.tensor: np.stack(rows)})
    return dict(zip(ORDER, out, strict=True))


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_seed_predict_matches_an_independent_reference(
    seed_handler, seed_model_dir, photos, reference, source
):
    labels = load_manifest(seed_model_dir).task.labels
    fields = [("file", (f"{n}.png", as_png(photos[n]), "image/png")) for n in ORDER]
    body, content_type = encode_multipart_formdata(fields)
    event = SOURCES[source]("POST", "/predict", body, {"Content-Type": content_type})
    response = invoke(seed_handler, event)
    assert response.status == 200, response.body
    answer = response.json()
    assert answer["model"] == load_manifest(seed_model_dir).name
    for name, prediction in zip(ORDER, answer["predictions"], strict=True):
        expected = reference[name]
        got = [prediction["probabilities"][label] for label in labels]
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert prediction["label"] == labels[int(np.argmax(expected))]
        assert sum(got) == pytest.approx(1.0, abs=1e-5)


def test_seed_jpeg_decoded_at_reduced_scale_stays_close(
    seed_handler, seed_model_dir, photos, reference
):
    """JPEGs use Image.draft (decode at 1/2 scale when the target is <= half the size)."""
    labels = load_manifest(seed_model_dir).task.labels
    for name in ("kitten", "dog"):
        jpeg = {"Content-Type": "image/jpeg"}
        event = SOURCES["http"]("POST", "/predict", photos[name].read_bytes(), jpeg)
        probabilities = invoke(seed_handler, event).json()["predictions"][0]["probabilities"]
        np.testing.assert_allclose([probabilities[l] for l in labels], reference[name], atol=0.05)


def test_seed_protocols_show_its_own_shapes(seed_handler, seed_model_dir, photos, reference):
    manifest = load_manifest(seed_model_dir)
    metadata = invoke(seed_handler, SOURCES["http"]("GET", f"/v2/models/{manifest.name}")).json()
    assert metadata["inputs"][0]["shape"] == [-1, 128, 128, 3]
    assert metadata["outputs"][0]["shape"] == [-1, len(manifest.task.labels)]
    body = {"instances": [{"b64": base64.b64encode(as_png(photos["chelsea"])).decode()}]}
    event = SOURCES["http"]("POST", f"/v1/models/{manifest.name}:predict", json.dumps(body),
                            {"Content-Type": "application/json"})
    (row,) = invoke(seed_handler, event).json()["predictions"]
    np.testing.assert_allclose(row, reference["chelsea"], atol=1e-5)


def test_seed_tells_held_out_stripes_apart(seed_handler, seed_model_dir):
    """Fresh stripes (another seed, 256 px so they get resized): a transposed or channel-swapped
    preprocessing would flip horizontal and vertical."""
    from demo import stripes

    labels = load_manifest(seed_model_dir).task.labels
    if set(labels) != set(stripes.LABELS):
        pytest.skip(f"the seed fixture is not the stripes model (labels {labels})")
    rng = np.random.default_rng(1234)
    truth = [label for label in stripes.LABELS for _ in range(4)]
    fields = []
    for i, label in enumerate(truth):
        buffer = io.BytesIO()
        stripes.stripes(rng, label, 256).save(buffer, "JPEG", quality=90)
        fields.append(("file", (f"{i}.jpg", buffer.getvalue(), "image/jpeg")))
    body, content_type = encode_multipart_formdata(fields)
    event = SOURCES["http"]("POST", "/predict", body, {"Content-Type": content_type})
    answer = invoke(seed_handler, event).json()
    predicted = [p["label"] for p in answer["predictions"]]
    assert sum(p == t for p, t in zip(predicted, truth, strict=True)) >= 7, (predicted, truth)

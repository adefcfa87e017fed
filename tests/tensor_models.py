"""Small tensor models (no image, no labels) written straight as schema-2 bundles, for the
serving side's tests of several named inputs and outputs of every dtype: a TF1 graph is built in
process, serialized, and described by a manifest the way the freeze step describes one (the
freeze step's own tests freeze real models; these test what the function does with any graph).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from handler.manifest import (
    MANIFEST_NAME, Artifact, Artifacts, Classification, InputSpec, Manifest, Source, TensorSpec,
)


def _artifact(folder: Path, name: str, data: bytes) -> Artifact:
    (folder / name).write_bytes(data)
    return Artifact(path=name, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def _spec(cls, tensor, name: str):
    import numpy as np

    dtype = "string" if tensor.dtype.name == "string" else np.dtype(tensor.dtype.as_numpy_dtype).name
    return cls(name=name, tensor=tensor.name, dtype=dtype, shape=tensor.shape.as_list())


def write_bundle(folder: Path, name: str, graph, inputs: dict, outputs: dict,
                 task: Classification | None = None, tflite: bool = False) -> Path:
    """`graph` with `inputs`/`outputs` ({logical name: tensor}) as a bundle in `folder`."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    graph_def = graph.as_graph_def()
    files = {"graph": _artifact(folder, "model.pb", graph_def.SerializeToString(deterministic=True))}
    if tflite:
        converter = tf.compat.v1.lite.TFLiteConverter(
            graph_def, list(inputs.values()), list(outputs.values())
        )
        files["tflite"] = _artifact(folder, "model.tflite", converter.convert())
    manifest = Manifest(
        name=name,
        version=files["graph"].sha256[:12],
        inputs=[_spec(InputSpec, t, n) for n, t in inputs.items()],
        outputs=[_spec(TensorSpec, t, n) for n, t in outputs.items()],
        task=task,
        artifacts=Artifacts(**files),
        ops=sorted({node.op for node in graph_def.node}),
        tensorflow_version=tf.__version__,
        source=Source(kind="checkpoint", path="tests/tensor_models.py", size_bytes=0),
        created_at="2026-12-01T00:00:00+00:00",
    )
    (folder / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
    return folder


def multi_io(folder: Path) -> Path:
    """Three inputs of three dtypes (float32 features [?, 3], int32 ids [?, ?] of any length,
    bool flag [?]) and three outputs (float32 total [?] = sum(features) + flag, int64 doubled
    [?, ?] = 2 ids, float32 scores [?, 2] = softmax([total, 0])), LiteRT form included."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        features = v1.placeholder(tf.float32, [None, 3], name="features")
        ids = v1.placeholder(tf.int32, [None, None], name="ids")
        flag = v1.placeholder(tf.bool, [None], name="flag")
        total = tf.identity(
            tf.reduce_sum(features, axis=1) + tf.cast(flag, tf.float32), name="total"
        )
        doubled = tf.identity(tf.cast(ids, tf.int64) * 2, name="doubled")
        scores = tf.nn.softmax(tf.stack([total, tf.zeros_like(total)], axis=1), name="scores")
    return write_bundle(
        folder, "multi", graph, {"features": features, "ids": ids, "flag": flag},
        {"total": total, "doubled": doubled, "scores": scores}, tflite=True,
    )


def strings(folder: Path) -> Path:
    """A string input (text [?]) and two string outputs, the same bytes: `echo` (UTF-8 text in
    JSON) and `echo_bytes` (TF Serving's {"b64": ...} by its name), plus `copies` int32 [?] = the
    batch index (a numeric output beside them). TensorFlow only: LiteRT has no string identity
    worth converting."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        text = v1.placeholder(tf.string, [None], name="text")
        echo = tf.identity(text, name="echo")
        echo_bytes = tf.identity(text, name="echo_bytes")
        copies = tf.identity(tf.range(tf.shape(text)[0]), name="copies")
    return write_bundle(
        folder, "strings", graph, {"text": text},
        {"echo": echo, "echo_bytes": echo_bytes, "copies": copies},
    )


def fixed_batch(folder: Path) -> Path:
    """A batch fixed at one row (x float32 [1, 2]) and an output that is NaN for x < 0
    (log x [1, 2])."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [1, 2], name="x")
        log = tf.math.log(x, name="log")
    return write_bundle(folder, "fixed", graph, {"x": x}, {"log": log})

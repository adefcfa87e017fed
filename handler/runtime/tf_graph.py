"""A frozen TensorFlow GraphDef in one `tf.compat.v1.Session`, opened and warmed up once.

Grappler, TensorFlow's graph optimizer, runs on a session's first `run` and costs 0.2-0.4 s
on the demo model. The graph was already optimized when it was frozen, so the session disables
the meta-optimizer: measured here, first run 0.07 s instead of 0.23-0.37 s, steady latency
unchanged (2.0-2.4 ms at batch 1), outputs equal to ~3e-7. The graph is finalized so no request
can add ops to it (a classic slow leak in TF1 serving code). The manifest's `init_ops` (lookup
table initializers) run once, before the warm-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from handler.manifest import Manifest, ModelBundleError
from handler.runtime import TENSORFLOW, warm_up


def session_config() -> tf.compat.v1.ConfigProto:
    """Default threading (best on Lambda's 1-2 vCPUs), oneDNN on, no Grappler pass at first run."""
    config = tf.compat.v1.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return config


class TensorFlowRuntime:
    """The frozen graph behind `ModelRuntime`; thread-safe (`Session.run` is)."""

    name = TENSORFLOW
    platform = "tensorflow_graphdef"

    def __init__(self, graph_bytes: bytes, manifest: Manifest) -> None:
        self.manifest = manifest
        self.artifact = manifest.artifacts.graph
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(graph_bytes)
        except DecodeError as exc:
            raise ModelBundleError(
                f"{self.artifact.path} is not a TensorFlow GraphDef: {exc}"
            ) from None
        self.graph = tf.Graph()
        try:
            with self.graph.as_default():
                tf.compat.v1.import_graph_def(graph_def, name="")
            self._inputs = {
                s.name: self.graph.get_tensor_by_name(s.tensor) for s in manifest.inputs
            }
            self._outputs = {
                s.name: self.graph.get_tensor_by_name(s.tensor) for s in manifest.outputs
            }
            init = [self.graph.get_operation_by_name(name) for name in manifest.init_ops]
        except (ValueError, KeyError) as exc:
            raise ModelBundleError(
                f"{self.artifact.path} does not fit its manifest (inputs "
                f"{[s.tensor for s in manifest.inputs]}, outputs "
                f"{[s.tensor for s in manifest.outputs]}, init ops {manifest.init_ops}): {exc}"
            ) from None
        self.session = tf.compat.v1.Session(graph=self.graph, config=session_config())
        self.graph.finalize()
        if init:
            try:
                self.session.run(init)
            except tf.errors.OpError as exc:
                raise ModelBundleError(
                    f"the init ops of {self.artifact.path} failed: {exc.message}"
                ) from None

    def run(
        self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str]
    ) -> dict[str, np.ndarray]:
        tensors = {name: self._outputs[name] for name in fetches}
        return self.session.run(tensors, {self._inputs[k]: v for k, v in feeds.items()})

    def warm_up(self) -> None:
        """One run on a zero batch: pays the first-run costs during INIT, not in a request."""
        warm_up(self, self.artifact, (tf.errors.OpError,))

    def close(self) -> None:
        self.session.close()

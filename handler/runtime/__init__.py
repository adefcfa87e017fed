"""The model runtime interface: what the data plane needs from whatever executes the graph.

A runtime is built once per container (at import) and shared by every request. TensorFlow
(`tf_graph`) is the one implementation today; another (e.g. LiteRT) plugs in behind the same
interface. Runtimes are imported only when chosen, so a bad bundle fails before any heavy import.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from handler.manifest import Manifest


class ModelRuntime(Protocol):
    """Executes one model: a float batch shaped like `manifest.input` in, its output tensor out."""

    manifest: Manifest

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a batch; return its output tensor (probabilities, a row per input)."""
        ...

    def warm_up(self) -> None:
        """Pay first-run costs now (during INIT); raise ModelBundleError if the model cannot run."""
        ...

"""A SavedModel's signature -> a frozen GraphDef, every output under the signature's own names.

First through `tf.saved_model.load` (TF2: the object graph restored, the signature a concrete
function). Some real SavedModels cannot be restored that way: one saved with a Keras 2
optimizer's slot variables fails in TF 2.21 without tf-keras installed ("'_UserObject' object
has no attribute 'add_slot'"), yet its MetaGraph and variables load in a TF1 session, the way a
checkpoint is restored. Then the signature's tensors (`signature_def`) are frozen from that
session. The Frozen's `method` says which path was taken, and why.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf

from freeze import FreezeError, first_line, session
from freeze.function import freeze_function
from freeze.graph import Frozen
from handler.manifest import Source

TF2_METHOD = "SavedModel restored by tf.saved_model.load"


@contextmanager
def freeze_saved_model(
    path: Path, signature: str, tags: Sequence[str], output_keys: Sequence[str]
) -> Iterator[Frozen]:
    """Freeze `signature` of the SavedModel (all its outputs, or those in `output_keys`); a TF1
    session that the fallback needs stays open while the Frozen is used."""
    if not (path / "saved_model.pb").is_file():
        raise FreezeError(f"{path} is not a SavedModel folder (no saved_model.pb)")
    size = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    source = Source(kind="savedmodel", path=str(path), size_bytes=size)
    try:
        loaded, reason = tf.saved_model.load(str(path), tags=list(tags)), ""
    except Exception as exc:  # protobuf, OpError, ValueError, AttributeError ('add_slot') ...
        loaded, reason = None, first_line(exc)
    if loaded is not None:
        yield _from_object_graph(loaded, path, signature, output_keys, source)
        return
    with _tf1_session(path, tags, reason) as (sess, meta_graph):
        yield _from_session(sess, meta_graph, path, signature, output_keys, source, reason)


def _from_object_graph(
    loaded: object, path: Path, signature: str, output_keys: Sequence[str], source: Source
) -> Frozen:
    signatures = loaded.signatures  # type: ignore[attr-defined]
    if signature not in signatures:
        raise _no_signature(path, signature, list(signatures))
    function = signatures[signature]
    inputs = sorted(function.structured_input_signature[1])  # tf.nest's order of the inputs
    outputs = sorted(function.structured_outputs)  # and of the frozen function's outputs
    chosen = _chosen(outputs, output_keys, signature)

    def reference(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = function(**{name: tf.constant(feeds[name]) for name in inputs})
        return {key: results[key].numpy() for key in chosen}

    return freeze_function(
        function,
        inputs,
        lambda frozen: {key: frozen.outputs[outputs.index(key)] for key in chosen},
        reference,
        source,
        TF2_METHOD,
        signature,
    )


@contextmanager
def _tf1_session(
    path: Path, tags: Sequence[str], reason: str
) -> Iterator[tuple[tf.compat.v1.Session, object]]:
    """The SavedModel's MetaGraph and variables in a TF1 session of its own graph (no global
    graph mode needed), closed on exit."""
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        try:
            meta_graph = tf.compat.v1.saved_model.loader.load(sess, list(tags), str(path))
        except Exception as exc:  # the same variety as tf.saved_model.load's
            raise FreezeError(
                f"cannot load SavedModel {path}: {reason}; in a TF1 session: {first_line(exc)}"
            ) from None
        yield sess, meta_graph


def _from_session(
    sess: tf.compat.v1.Session, meta_graph: object, path: Path, signature: str,
    output_keys: Sequence[str], source: Source, reason: str,
) -> Frozen:
    signature_defs = meta_graph.signature_def  # type: ignore[attr-defined]
    if signature not in signature_defs:
        raise _no_signature(path, signature, list(signature_defs))
    signature_def = signature_defs[signature]
    chosen = _chosen(sorted(signature_def.outputs), output_keys, signature)
    for role, infos in (("input", signature_def.inputs), ("output", signature_def.outputs)):
        sparse = sorted(key for key, info in infos.items() if not info.name)
        if sparse:
            raise FreezeError(
                f"signature {signature!r} {role} {', '.join(sparse)} is sparse or ragged: only "
                "dense tensors can be fed and fetched"
            )
    return session.freeze(
        sess,
        inputs={key: signature_def.inputs[key].name for key in sorted(signature_def.inputs)},
        outputs={key: signature_def.outputs[key].name for key in chosen},
        source=source,
        method=f"SavedModel loaded in a TF1 session (tf.saved_model.load failed: {reason})",
        signature_name=signature,
    )


def _chosen(outputs: list[str], output_keys: Sequence[str], signature: str) -> list[str]:
    """Every output of the signature, or the ones named (each must be one of them)."""
    unknown = [key for key in output_keys if key not in outputs]
    if unknown:
        raise FreezeError(
            f"signature {signature!r} has no output {', '.join(map(repr, unknown))}; its outputs: "
            f"{', '.join(outputs)} (all are frozen unless --output_node_names names some)"
        )
    return list(output_keys) or outputs


def _no_signature(path: Path, signature: str, names: list[str]) -> FreezeError:
    found = ", ".join(names) or "none"
    return FreezeError(f"SavedModel {path} has no signature {signature!r} (it has: {found})")

"""Which model the function trusts: the exact bundle (an optional pin) and the ops it may run.

A frozen graph is a program: TensorFlow runs whatever ops it names, and some ops read or write
files (ReadFile, WriteFile, MatchingFiles, Save*/Restore*), run Python (PyFunc, EagerPyFunc),
open datasets, or print. Classifying an image needs none of them, so every op type in the graph
must be in `INFERENCE_OPS`, an allowlist: a denylist would miss the next file or network op
TensorFlow adds. EXTRA_ALLOWED_OPS extends it for a graph with unusual layers.

The op types are read from the graph's own bytes (its nodes, and the nodes of every function in
its library: While/If bodies, called functions), not taken from the manifest; the manifest's
`ops` must then name exactly the graph's node ops, since a manifest that misdescribes its graph
is not trusted either. Parsing uses only the two GraphDef fields it needs (a projection of
TensorFlow's graph.proto, through the protobuf runtime TensorFlow itself uses), so a refused
graph fails in milliseconds, before TensorFlow is imported and before any session exists.

The sha256 in the manifest only proves that model.json and model.pb agree: whoever can replace
one in a bucket can replace both. MODEL_SHA256, set by the deployment (a template parameter that
only a stack update changes), pins the sha256 of model.json itself. The manifest holds what the
graph alone does not (labels, decoding, preprocessing) and records the graph's sha256 and size,
which `manifest.read_verified` checks: so one pin covers both files, and labels swapped in a bucket's
model.json with the .pb untouched are refused like a swapped graph.
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from handler.manifest import MANIFEST_NAME, Manifest, ModelBundleError, sha256_file

#: Op types a frozen model may use; nothing here touches files, the network, Python, or state
#: outside the run (a lookup table is filled once at cold start, then only read).
INFERENCE_OPS: frozenset[str] = frozenset({
    # graph plumbing
    "Const", "Placeholder", "PlaceholderWithDefault", "Identity", "IdentityN", "NoOp",
    "StopGradient", "Snapshot",
    # convolution, dense, normalization
    "Conv2D", "Conv3D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "Conv3DBackpropInputV2",
    "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "BiasAdd", "BiasAddV1",
    "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "LRN",
    # activations and output layers
    "Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Softplus", "Softsign", "Sigmoid", "Tanh",
    "Softmax", "LogSoftmax", "Erf", "Erfc",
    # pooling and resizing
    "MaxPool", "MaxPoolV2", "MaxPool3D", "AvgPool", "AvgPool3D",
    "ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea",
    # shapes, slicing, layout
    "Reshape", "Shape", "ShapeN", "Size", "Rank", "Squeeze", "ExpandDims", "Pack", "Unpack",
    "Concat", "ConcatV2", "Split", "SplitV", "Slice", "StridedSlice", "Transpose", "Tile",
    "Pad", "PadV2", "MirrorPad", "Fill", "ZerosLike", "OnesLike", "Range", "BroadcastTo",
    "BroadcastArgs", "Gather", "GatherV2", "GatherNd", "ReverseV2", "OneHot", "Cast",
    "SpaceToBatchND", "BatchToSpaceND", "SpaceToDepth", "DepthToSpace",
    # arithmetic and reductions
    "Add", "AddV2", "AddN", "Sub", "Mul", "Div", "RealDiv", "DivNoNan", "FloorDiv", "FloorMod",
    "Neg", "Abs", "Sign", "Floor", "Ceil", "Round", "Rint", "Reciprocal", "Square",
    "SquaredDifference", "Sqrt", "Rsqrt", "Pow", "Exp", "Expm1", "Log", "Log1p", "Sin", "Cos",
    "Maximum", "Minimum", "ClipByValue", "Mean", "Sum", "Max", "Min", "Prod", "ArgMax", "ArgMin",
    "Cumsum", "TopKV2",
    # comparisons and selection
    "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd",
    "LogicalOr", "LogicalNot", "All", "Any", "Select", "SelectV2",
    # control flow (RNNs, loops): bodies live in the library and are checked too
    "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "While", "StatelessWhile",
    "If", "StatelessIf", "PartitionedCall", "StatefulPartitionedCall",
    "TensorArrayV3", "TensorArrayReadV3", "TensorArrayWriteV3", "TensorArrayGatherV3",
    "TensorArrayScatterV3", "TensorArraySizeV3", "TensorListFromTensor", "TensorListGetItem",
    "TensorListSetItem", "TensorListReserve", "TensorListStack", "TensorListLength",
    "TensorListElementShape",
    # text: vocabulary lookups (static tables, filled by the manifest's init ops from constants
    # in the graph: a table read from a file is frozen as constants, so no file op is needed) and
    # the string, ragged and bincount ops of Keras TextVectorization's modes (int, ngrams,
    # multi_hot, count, tf_idf, character split), as measured on TF 2.21 / Keras 3
    "HashTableV2", "LookupTableFindV2", "LookupTableImportV2", "LookupTableSizeV2",
    "StringLower", "StaticRegexReplace", "RegexReplace", "StringSplitV2", "StringNGrams",
    "UnicodeDecode", "UnicodeEncode", "RaggedTensorToTensor", "RaggedBincount", "DenseBincount",
})

# graph.proto / function.proto / node_def.proto field numbers: GraphDef.node = 1,
# GraphDef.library = 2, FunctionDefLibrary.function = 1, FunctionDef.node_def = 3, NodeDef.op = 2.
# Every other field (weights included) is skipped as unknown.
_SCHEMA = """
name: "graph_ops.proto"  package: "graph_ops"  syntax: "proto3"
message_type { name: "Node"
  field { name: "op" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING } }
message_type { name: "Function"
  field { name: "node_def" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".graph_ops.Node" } }
message_type { name: "Library"
  field { name: "function" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".graph_ops.Function" } }
message_type { name: "Graph"
  field { name: "node" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".graph_ops.Node" }
  field { name: "library" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".graph_ops.Library" } }
"""


@cache
def _graph_ops_message() -> Any:
    """The projection's message class, built on first use: only a TensorFlow graph needs it, so
    the LiteRT function never imports protobuf (~15 ms of its cold start)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    pool = descriptor_pool.DescriptorPool()
    pool.Add(text_format.Parse(_SCHEMA, descriptor_pb2.FileDescriptorProto()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("graph_ops.Graph"))

_SHA256 = re.compile(r"[0-9a-f]{64}")


class PinMismatch(ModelBundleError):
    """A file is not the one its pin names: never served, whatever else may be."""


@dataclass(frozen=True)
class GraphOps:
    """The op types a serialized GraphDef uses."""

    nodes: frozenset[str]  #: of the graph's own nodes (what the manifest's `ops` lists)
    functions: frozenset[str]  #: of nodes inside its function library

    @property
    def all(self) -> frozenset[str]:
        return self.nodes | self.functions


def graph_ops(graph: bytes) -> GraphOps:
    """Read the op types from serialized GraphDef bytes; ModelBundleError if they do not parse."""
    from google.protobuf.message import DecodeError

    message = _graph_ops_message()()
    try:
        message.ParseFromString(graph)
    except DecodeError as exc:
        raise ModelBundleError(f"the graph is not a TensorFlow GraphDef: {exc}") from None
    return GraphOps(
        nodes=frozenset(node.op for node in message.node),
        functions=frozenset(
            node.op for function in message.library.function for node in function.node_def
        ),
    )


def check_pin(
    model_dir: Path, pin: str | None, name: str = MANIFEST_NAME,
    named_by: str = "MODEL_SHA256",
) -> None:
    """With a pin, `model_dir`/`name`'s sha256 must equal it: MODEL_SHA256 for the source's own
    file (model.json, or a repository's models.json), or models.json's record of a version's
    model.json.

    Run before the file is trusted for anything (for S3, before the graph is downloaded). A
    missing file is left to its reader, which says how to make one."""
    if pin is None:
        return
    if not _SHA256.fullmatch(pin):
        raise ModelBundleError(f"{named_by}={pin!r} is not a sha256 (64 hex digits)")
    path = model_dir / name
    if not path.is_file():
        return
    digest = sha256_file(path)
    if digest != pin:
        raise PinMismatch(
            f"{name} sha256 {digest} is not the pinned {named_by} {pin}: refusing a model this "
            f"deployment did not name ({path}; the pin is the sha256 of the build's {name}, "
            "which names the graph's)"
        )


def check_ops(graph: bytes, manifest: Manifest, extra_allowed: Set[str] = frozenset()) -> None:
    """Every op the graph runs must be an inference op (or in EXTRA_ALLOWED_OPS), and the
    manifest's `ops` must be the graph's node ops."""
    ops = graph_ops(graph)
    refused = sorted(ops.all - INFERENCE_OPS - extra_allowed)
    if refused:
        raise ModelBundleError(
            f"{manifest.artifacts.graph.path} uses ops outside the inference allowlist: "
            f"{', '.join(refused)} (file, I/O, state or Python ops are refused; if one is a "
            "layer you trust, add it to EXTRA_ALLOWED_OPS)"
        )
    if set(manifest.ops) != ops.nodes:
        raise ModelBundleError(
            f"the manifest's ops do not match {manifest.artifacts.graph.path}: the manifest lists "
            f"{sorted(manifest.ops)}, the graph uses {sorted(ops.nodes)}"
        )

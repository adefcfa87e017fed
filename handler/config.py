"""The function's configuration: environment variables, read once at cold start.

`handler.app` calls `Settings.from_env()` when it is imported (the Lambda INIT phase), so every
value is fixed for the container's life; `handler.observability` reads the service name and
namespace when it is imported. Nothing reads the environment per request. (No module-level
instance here: a test or tool that imports a handler module first would freeze a stale one.)

Model source
    MODEL_DIR          folder holding model.json + model.pb / model.tflite (default: `model/`
                       beside `handler/`, i.e. /var/task/model in the image and the zip).
    MODEL_S3_URI       s3://bucket/prefix: download model.json + the runtime's model file from there
                       at cold start instead (boto3 is imported only then); verified like a local
                       bundle.
    MODEL_CACHE_DIR    where the S3 download goes (default /tmp/model; /tmp is Lambda's only
                       writable disk and lives as long as the container).

Which runtime runs it (handler/runtime/)
    MODEL_RUNTIME      tensorflow (default): a TensorFlow session over model.pb; or litert: a
                       LiteRT interpreter over model.tflite (freeze --tflite), which needs no
                       TensorFlow (the zip function). Anything else fails the cold start.

A repository (handler/repository.py)
    MODEL_INIT_BUDGET_S  seconds the repository's loading may take at INIT, from reading the source
                       (models.json, a lazy runtime's import) to the last load (default 8: Lambda
                       ends INIT at 10 s, and Python's start and the handler's imports, ~0.5 s,
                       come first); checked before each load, so a repository that does not fit
                       stops the cold start with a line naming what did not load.
    MODEL_LOAD         eager (default): every served version loaded and warmed up at INIT; lazy:
                       the pin, manifests, sha256 and op checks at INIT, each version's runtime
                       built on its first request (handler/lazy.py).
    MODEL_MEMORY_BUDGET_MB  with MODEL_LOAD=lazy, the model files' megabytes the loaded versions
                       may hold; loading one more unloads the least recently used (default: no
                       bound).

Which model is trusted (handler/trust.py; a refusal fails the cold start with one ERROR line)
    MODEL_SHA256       the expected sha256 of model.json (64 hex digits; default: unset), which
                       records model.pb's sha256: one pin covers labels, preprocessing and graph.
                       Set it from the deployment (a template parameter), not from the bucket:
                       the manifest's own sha256 only proves that model.json and model.pb agree,
                       and whoever can replace one in S3 can replace both.
    EXTRA_ALLOWED_OPS  op types to accept beyond the built-in allowlist of inference ops,
                       separated by commas or spaces (e.g. "Assert,CheckNumerics"), for a graph
                       with unusual layers. The refusal's log line names the ops it found.

Limits (one place; every one answers 413 when exceeded, before the work it bounds; a value
exactly at a limit is accepted)
    MAX_REQUEST_BYTES    decoded request body (default 6 MiB = 6,291,456: Lambda's synchronous
                         request bound); checked on the body before it is parsed.
    MAX_IMAGE_BYTES      one encoded image (default 4,400,000: the largest image that fits a 6 MB
                         event once API Gateway base64-encodes it); checked before Pillow opens it.
    MAX_IMAGE_PIXELS     width x height from the image header (default 40,000,000); checked before
                         any pixel is decoded, so a decompression bomb costs nothing. Pillow's own
                         guard refuses more than 178,956,970 pixels whatever this says.
    MAX_REQUEST_PIXELS   the sum of width x height over a request's images (default 100,000,000),
                         from every header before the first image is decoded. Decoding costs time
                         per pixel, and MAX_BATCH x MAX_IMAGE_PIXELS (1.28 G) would be a cheap
                         denial of service: 32 flat 6300x6300 PNGs fit in a 4.2 MB request and
                         took 14.3 s, against the template's 15 s Timeout. Measured with
                         `handler.images.to_input` on flat images (2 AMD EPYC cores), per header
                         pixel: RGBA PNG 20-23 ns (worst: compositing on white at full size), LA
                         PNG and lossless RGBA WebP 16-20 ns, RGB PNG 11-13 ns, other PNG modes,
                         GIF and TIFF 2-9 ns, JPEG 0.2-0.9 ns (drafted). At 100 M pixels a whole
                         request took 2.4 s (flat RGBA PNGs) or 1.3 s (RGB), well inside the
                         Timeout even on a slower Lambda vCPU, and ten 10-megapixel photos still
                         fit in one request; the 32-PNG request is refused in 20 ms.
    MAX_BATCH            images or tensor rows in one request (default 32); checked before any
                         image is decoded.
    MAX_TENSOR_ELEMENTS  elements (numbers or strings) in one request's tensors, all inputs
                         together (TF Serving `instances`/`inputs`, v2 `data` or binary tensors,
                         native `inputs`). Default: MAX_BATCH x one row of every input, e.g.
                         32 x 256 x 256 x 1 = 2,097,152 for the demo model; a model with an open
                         dimension besides the batch (PNet: any height and width) gets at least
                         16,777,216 (OPEN_INPUT_ELEMENTS), so a real photo's tensor fits. Checked
                         on the parsed JSON's list lengths or the binary header's shape, before
                         NumPy builds an array. String bytes are bounded by MAX_REQUEST_BYTES.
    MAX_RESPONSE_BYTES   the answer's body (default 6,291,456 - 1,024: Lambda's synchronous
                         response bound less room for headers; base64 counted for binary
                         bodies); a larger answer is refused with 413 `response_too_large`.

Bulk inference (the batch entry, handler.batch, only; read at its cold start)
    OUTPUT_S3_URI        s3://bucket/prefix/ where records go for S3 Batch Operations and SQS
                         invocations (a Distributed Map batch names its own in BatchInput, which
                         wins); the function's role may write there and nowhere else.
    MAX_OBJECT_BYTES     one input object (default 50,000,000), checked on its HEAD before it is
                         downloaded. Not MAX_IMAGE_BYTES: that one exists only because a
                         synchronous invocation carries the image in a 6 MB event, and a phone's
                         photo (12-48 MP JPEG: 3-25 MB) passes it; 50 MB holds any such photo and
                         a 4096 x 4096 x 3 float32 tensor (.npy), while the job's threads
                         (handler/bulk.py THREADS) at this size still fit in 1769 MB.

Observability (read by handler.observability and by Powertools for AWS Lambda itself)
    POWERTOOLS_SERVICE_NAME       service name in logs and metrics (default tf-lambda-serving).
    POWERTOOLS_METRICS_NAMESPACE  CloudWatch namespace of the EMF metrics (default TfLambdaServing).
    POWERTOOLS_LOG_LEVEL, LOG_LEVEL  log level (default INFO).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "model"
#: the default MAX_TENSOR_ELEMENTS floor for a model with open dimensions: 16,777,216 elements,
#: a 2048 x 2048 RGB photo four times over (64 MiB as float32)
OPEN_INPUT_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class Limits:
    """Request limits; see the module docstring for what each one bounds and why."""

    max_request_bytes: int = 6 * 1024 * 1024
    max_image_bytes: int = 4_400_000
    max_image_pixels: int = 40_000_000
    max_request_pixels: int = 100_000_000
    max_batch: int = 32
    max_response_bytes: int = 6 * 1024 * 1024 - 1024
    #: None until the model is known: then MAX_BATCH x its input elements (`for_input`)
    max_tensor_elements: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        defaults = cls()
        elements = env.get("MAX_TENSOR_ELEMENTS")
        return cls(
            max_request_bytes=int(env.get("MAX_REQUEST_BYTES", defaults.max_request_bytes)),
            max_image_bytes=int(env.get("MAX_IMAGE_BYTES", defaults.max_image_bytes)),
            max_image_pixels=int(env.get("MAX_IMAGE_PIXELS", defaults.max_image_pixels)),
            max_request_pixels=int(env.get("MAX_REQUEST_PIXELS", defaults.max_request_pixels)),
            max_batch=int(env.get("MAX_BATCH", defaults.max_batch)),
            max_response_bytes=int(env.get("MAX_RESPONSE_BYTES", defaults.max_response_bytes)),
            max_tensor_elements=int(elements) if elements else None,
        )

    def tensor_elements(self, shapes: Sequence[Sequence[int | None]]) -> int:
        """MAX_TENSOR_ELEMENTS, or by default MAX_BATCH x the elements of one row of every input
        (`shapes`: the inputs' shapes, batch first; an open dimension counts as 1); at least
        OPEN_INPUT_ELEMENTS when an input leaves a dimension besides the batch open (PNet takes
        any height and width), so that a real photo's tensor fits."""
        if self.max_tensor_elements is not None:
            return self.max_tensor_elements
        rows = self.max_batch * sum(math.prod(d or 1 for d in shape[1:]) for shape in shapes)
        if any(None in shape[1:] for shape in shapes):
            return max(rows, OPEN_INPUT_ELEMENTS)
        return rows

    def for_inputs(self, shapes: Sequence[Sequence[int | None]]) -> Limits:
        """These limits with MAX_TENSOR_ELEMENTS resolved for a model's input `shapes`."""
        return replace(self, max_tensor_elements=self.tensor_elements(shapes))


LOAD_MODES = ("eager", "lazy")


def _choice(name: str, value: str, choices: Sequence[str]) -> str:
    """`value`, one of `choices`; a typo fails the cold start in one line."""
    from handler.manifest import ModelBundleError

    value = value.strip().lower()
    if value not in choices:
        raise ModelBundleError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class BulkSettings:
    """The batch entry's own settings; see the module docstring."""

    output_s3_uri: str | None = None
    max_object_bytes: int = 50_000_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> BulkSettings:
        return cls(
            output_s3_uri=env.get("OUTPUT_S3_URI") or None,
            max_object_bytes=int(env.get("MAX_OBJECT_BYTES") or cls.max_object_bytes),
        )


@dataclass(frozen=True)
class Settings:
    """Everything the function reads from its environment, observability's variables aside."""

    model_dir: Path
    model_s3_uri: str | None
    model_cache_dir: Path
    limits: Limits
    model_sha256: str | None = None
    extra_allowed_ops: frozenset[str] = frozenset()
    runtime: str = "tensorflow"
    #: seconds a repository's loads may take at INIT (MODEL_INIT_BUDGET_S; Lambda's INIT is 10 s)
    init_budget_s: float = 8.0
    #: MODEL_LOAD: "eager" (every served version at INIT) or "lazy" (on its first request)
    model_load: str = "eager"
    #: MODEL_MEMORY_BUDGET_MB: lazily loaded versions' model files held at most (None: no bound)
    memory_budget_mb: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            model_dir=Path(env.get("MODEL_DIR") or DEFAULT_MODEL_DIR),
            model_s3_uri=env.get("MODEL_S3_URI") or None,
            model_cache_dir=Path(env.get("MODEL_CACHE_DIR") or "/tmp/model"),
            limits=Limits.from_env(env),
            model_sha256=(env.get("MODEL_SHA256") or "").strip().lower() or None,
            extra_allowed_ops=frozenset(re.findall(r"[^\s,]+", env.get("EXTRA_ALLOWED_OPS", ""))),
            runtime=(env.get("MODEL_RUNTIME") or "tensorflow").strip().lower(),
            init_budget_s=float(env.get("MODEL_INIT_BUDGET_S") or 8.0),
            model_load=_choice("MODEL_LOAD", env.get("MODEL_LOAD") or "eager", LOAD_MODES),
            memory_budget_mb=int(env["MODEL_MEMORY_BUDGET_MB"])
            if env.get("MODEL_MEMORY_BUDGET_MB") else None,
        )

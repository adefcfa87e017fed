"""Structured JSON logs, CloudWatch EMF metrics and optional X-Ray traces (Powertools for AWS
Lambda), for all modules.

Logs carry sizes, counts and timings, never image bytes or request bodies; traces do not record
responses either.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.shared.functions import strtobool

# Powertools reads both variables itself, but defaults to "service_undefined" and to no namespace
# at all (every metrics flush would then fail): hence the project's defaults.
_SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "tf-lambda-serving"
_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "TfLambdaServing"
logger = Logger(service=_SERVICE)
metrics = Metrics(service=_SERVICE, namespace=_NAMESPACE)
#: the same metrics again under (service, model, version): a second EMF dimension set, so that
#: `metrics`' service-only set (which template.yaml's ServerErrors alarm matches) stays as it is
model_metrics = EphemeralMetrics(service=_SERVICE, namespace=_NAMESPACE)

# Libraries that log through the standard library: make them JSON too, quieter than our own
# lines unless LOG_LEVEL=DEBUG. Mangum's one line per request ("POST /predict 200", INFO) repeats
# what the API's access log (template.yaml) already records, and cost ~0.3 ms of a ~4 ms warm
# request (benchmarks/warm_path.py). python-multipart warns about each malformed form body
# ("Expected boundary character..."), a client's error that is answered 400, not our warning.
# getLogger registers each first, so this holds whichever module imports the library first.
_QUIET_LEVELS = {"mangum": logging.WARNING, "python_multipart": logging.ERROR}
for _name, _level in _QUIET_LEVELS.items():
    logging.getLogger(_name)
    copy_config_to_registered_loggers(
        source_logger=logger,
        include={_name},
        log_level=logging.DEBUG if logger.log_level <= logging.DEBUG else _level,
    )
_LOGGED = "_tf_lambda_serving_logged"


def add_metric_by(name: str, dimension: str, counts: Mapping[str, int]) -> None:
    """Count `name` once per value of `dimension` (failures by error code), as one EMF document
    each, printed now: a dimension holds for a whole document, so these cannot ride with the
    invocation's other metrics."""
    for value, count in counts.items():
        each = EphemeralMetrics(service=_SERVICE, namespace=_NAMESPACE)
        each.add_dimension(dimension, value)
        each.add_metric(name, MetricUnit.Count, count)
        each.flush_metrics()


def log_exception(message: str, exc: BaseException) -> None:
    """Log `exc` with its traceback, once. Starlette re-raises an exception after the app's
    handler answered it, for a server to log; Mangum would log it again ("An error occurred
    running the application.") with the same traceback, so its record of `exc` is dropped."""
    logger.exception(message, exc_info=exc)
    setattr(exc, _LOGGED, True)


logging.getLogger("mangum.http").addFilter(
    lambda record: not (record.exc_info and getattr(record.exc_info[1], _LOGGED, False))
)


def _tracer() -> Tracer | None:
    """Powertools' X-Ray tracer when POWERTOOLS_TRACE_DISABLED is false (template.yaml's
    Tracing=Active), else None: even a disabled Tracer imports the X-Ray SDK and botocore
    (~0.15 s of cold start, measured), so tracing off creates none."""
    if strtobool(os.environ.get("POWERTOOLS_TRACE_DISABLED", "true")):
        return None
    return Tracer(service=_SERVICE)


tracer = _tracer()


def traced[HandlerT: Callable[..., object]](handler: HandlerT) -> HandlerT:
    """`handler` in one X-Ray subsegment per invocation (cold start and service annotated) when
    tracing is on; `handler` itself when it is off."""
    if tracer is None:
        return handler
    return tracer.capture_lambda_handler(handler, capture_response=False)


__all__ = [
    "MetricUnit", "add_metric_by", "log_exception", "logger", "metrics", "model_metrics", "traced",
    "tracer",
]

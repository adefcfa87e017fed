"""Structured JSON logs and CloudWatch EMF metrics (Powertools for AWS Lambda), for all modules.

Logs carry sizes, counts and timings, never image bytes or request bodies.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from handler.config import Settings

_settings = Settings.from_env()
logger = Logger(service=_settings.service_name)
metrics = Metrics(service=_settings.service_name, namespace=_settings.metrics_namespace)

# Mangum logs each request ("POST /predict 200") through the standard library: make it JSON too.
# getLogger registers "mangum" first, so this holds whichever module imports Mangum first.
logging.getLogger("mangum")
copy_config_to_registered_loggers(source_logger=logger, include={"mangum"})

__all__ = ["MetricUnit", "logger", "metrics"]

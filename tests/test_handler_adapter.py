"""handler.adapter.stage_prefix: where the app's routes start, for each event source."""

from __future__ import annotations

import pytest

from handler.adapter import stage_prefix
from tests.handler_events import alb, function_url, http_v2, invoke, rest_v1


@pytest.mark.parametrize("event,path,prefix", [
    (http_v2("GET", "/predict", stage="Prod"), "/Prod/predict", "/Prod"),
    (http_v2("GET", "/", stage="Prod"), "/Prod/", "/Prod"),
    (http_v2("GET", "/predict"), "/predict", ""),                       # $default stage
    (http_v2("GET", "/Prodigy", stage="Prod"), "/Prod/Prodigy", "/Prod"),
    (function_url("GET", "/predict"), "/predict", ""),
    (rest_v1("GET", "/predict", stage="Prod"), "/predict", "/Prod"),
    (rest_v1("GET", "/", stage="v1"), "/", "/v1"),
    (alb("GET", "/predict"), "/predict", ""),
], ids=["http-stage", "http-stage-root", "http-default", "http-stage-like-path", "function-url",
        "rest-stage", "rest-stage-root", "alb"])
def test_stage_prefix(event, path, prefix):
    assert stage_prefix(event, path) == prefix


def test_rest_custom_domain_base_path():
    event = rest_v1("GET", "/predict")
    event["requestContext"]["path"] = "/cats/predict"  # custom domain, base path mapping "cats"
    assert stage_prefix(event, "/predict") == "/cats"


def test_http_api_stage_root_without_slash_serves_the_page(lambda_handler):
    event = http_v2("GET", "", stage="Prod")
    assert event["rawPath"] == "/Prod"
    response = invoke(lambda_handler, event)
    assert response.status == 200 and b'<h1 id="heading">' in response.body

"""The HTTP edge of every error: one shape for the whole API, {"error": message, "code": slug,
"status": int}, and the one place where a domain error (handler/errors.py) gets its status.

Every failure, ours or the framework's (404, 405, 422 validation), becomes this JSON here; no
traceback ever reaches a client and the container keeps serving.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from handler.errors import (
    BadRequest, NotFound, ServingError, TooLarge, Unavailable, Unprocessable,
    UnsupportedMediaType,
)
from handler.observability import log_exception, logger


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    code: str
    status: int


#: the status of each kind of domain error
STATUS: dict[type[ServingError], int] = {
    BadRequest: 400, NotFound: 404, TooLarge: 413, UnsupportedMediaType: 415, Unprocessable: 422,
    Unavailable: 503,
}


def status_of(exc: ServingError) -> int:
    return next(code for kind, code in STATUS.items() if isinstance(exc, kind))


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(error=message, code=code, status=status).model_dump(), status)


_HTTP_CODES = {
    400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
}


class GatewayErrorBody(BaseModel):
    """API Gateway's own answer, before the function runs: a request over Lambda's 6 MB
    payload limit gets 413 {"message": "Request Entity Too Large"}."""

    message: str


#: Responses documented in OpenAPI on every data-plane route.
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorBody} for status in (400, 404, 415, 422)
} | {413: {"model": ErrorBody | GatewayErrorBody}}


async def _serving_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServingError)
    return serving_error_response(exc)


def serving_error_response(exc: ServingError) -> JSONResponse:
    """A domain error as the one error shape, with its kind's status (logged at INFO)."""
    status = status_of(exc)
    logger.info("request refused", extra={"status": status, "code": exc.code})
    return error_response(status, exc.code, exc.message)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail))
    headers = dict(exc.headers or {})
    if "GET" in headers.get("Allow", "").split(", "):  # api.HeadAsGet answers HEAD wherever GET is
        headers["Allow"] += ", HEAD"
    response.headers.update(headers)
    return response


def invalid_request(errors: Sequence[Any]) -> ServingError:
    """Pydantic's validation errors (FastAPI's, or a protocol's own body parsing) as the one
    answer: 400 if the body is not JSON at all, else 422 naming each field and its problem."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return BadRequest("invalid_json", "the request body is not valid JSON")
    detail = "; ".join(
        f"{'.'.join(map(str, e.get('loc', ()))) or 'body'}: {e.get('msg')}" for e in errors
    )
    return Unprocessable("invalid_request", detail)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return serving_error_response(invalid_request(exc.errors()))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log_exception("unexpected error", exc)
    return error_response(500, "internal_error", "internal error; see the function's logs")


def install(app: FastAPI) -> None:
    """Route every exception type to the one error shape."""
    app.add_exception_handler(ServingError, _serving_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)

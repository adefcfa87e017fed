"""One error shape for the whole API: {"error": message, "code": slug, "status": int}.

Every failure, ours or the framework's (404, 405, 422 validation), becomes this JSON here, in
one place; no traceback ever reaches a client and the container keeps serving.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from handler.observability import log_exception, logger


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    code: str
    status: int


class ApiError(Exception):
    """A client-visible failure with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(error=message, code=code, status=status).model_dump(), status)


_HTTP_CODES = {
    400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
}

#: Responses documented in OpenAPI on every data-plane route.
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorBody} for status in (400, 404, 413, 415, 422)
}


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    logger.info("request refused", extra={"status": exc.status, "code": exc.code})
    return error_response(exc.status, exc.code, exc.message)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail))
    headers = dict(exc.headers or {})
    if "GET" in headers.get("Allow", "").split(", "):  # api.HeadAsGet answers HEAD wherever GET is
        headers["Allow"] += ", HEAD"
    response.headers.update(headers)
    return response


def invalid_request(errors: Sequence[Any]) -> ApiError:
    """Pydantic's validation errors (FastAPI's, or a protocol's own body parsing) as the one
    answer: 400 if the body is not JSON at all, else 422 naming each field and its problem."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return ApiError(400, "invalid_json", "the request body is not valid JSON")
    detail = "; ".join(
        f"{'.'.join(map(str, e.get('loc', ()))) or 'body'}: {e.get('msg')}" for e in errors
    )
    return ApiError(422, "invalid_request", detail)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    error = invalid_request(exc.errors())
    return error_response(error.status, error.code, error.message)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log_exception("unexpected error", exc)
    return error_response(500, "internal_error", "internal error; see the function's logs")


def install(app: FastAPI) -> None:
    """Route every exception type to the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)

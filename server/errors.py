"""One JSON error envelope for every non-stream response: ``{"code", "message", "detail"}``.

Route code raises :class:`ApiError`; the handlers installed by :func:`install_error_handlers` turn it,
FastAPI's validation errors, Starlette's HTTP errors and anything unexpected into the envelope. Failures
inside a run never come here: they are ``step_error`` events on a 200 stream.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The error envelope."""

    code: str = Field(description="Machine-readable error code, e.g. INVALID_QUESTION, CHAT_NOT_FOUND.")
    message: str = Field(description="A sentence a person can act on.")
    detail: Any = Field(None, description="Structured detail (validation errors, offending value).")


class ApiError(Exception):
    """An error a route reports to the client with an HTTP status and the envelope."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


def not_found(kind: str, ident: str) -> ApiError:
    """A 404 for an unknown chat, run, record or datasource."""
    return ApiError(404, f"{kind.upper()}_NOT_FOUND", f"No {kind} with id {ident!r}.", {"id": ident})


def conflict(code: str, message: str, detail: Any = None) -> ApiError:
    """A 409: the request is valid but the resource's state does not allow it now."""
    return ApiError(409, code, message, detail)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in ((400, "Malformed request"), (404, "Not found"), (409, "Conflict"), (422, "Invalid input"))
}
"""``responses=`` for routes, so the OpenAPI document shows the envelope."""


def envelope(status: int, code: str, message: str, detail: Any = None) -> JSONResponse:
    """The envelope as a response (also used by middleware, which runs outside the handlers)."""
    body = ErrorBody(code=code, message=message, detail=detail)
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


_STATUS_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the raw ``input``/``ctx`` (may be large or not JSON-serialisable)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return envelope(exc.status, exc.code, exc.message, exc.detail)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_errors(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        return envelope(400, "INVALID_JSON", "The request body is not valid JSON.", errors)
    if any(e["loc"][-1:] == ["question"] for e in errors):
        return envelope(422, "INVALID_QUESTION", "The question must be 1 to 2000 characters long.", errors)
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
    return envelope(422, "INVALID_REQUEST", f"Invalid {where}: {first['msg']}.", errors)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    return envelope(exc.status_code, code, message)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return envelope(500, "INTERNAL_ERROR", "The server failed to handle the request.", type(exc).__name__)


def install_error_handlers(app: FastAPI) -> None:
    """Make every non-stream error, expected or not, answer with the envelope."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

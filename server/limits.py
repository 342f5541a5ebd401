"""Validation at the edge: request targets and bodies are bounded before any route sees them.

A pure ASGI middleware, so it also guards routes that read the raw request (uploads) and the static
fallback. It answers with the JSON error envelope and a 4xx, never a 500:

* a path longer than :data:`MAX_PATH_CHARS` or a query string longer than :data:`MAX_QUERY_CHARS` → 414;
* a path with a NUL or another control character (after percent-decoding) → 400 ``INVALID_PATH``;
* a body larger than the limit → 413 ``PAYLOAD_TOO_LARGE``: refused from ``Content-Length`` before it
  is read, or as soon as a chunked body passes the limit. Multipart uploads to ``/api/datasources`` get
  their own, larger limit (``SQLBOT_MAX_UPLOAD_BYTES``); everything else ``SQLBOT_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import ApiError, envelope

MAX_PATH_CHARS = 2048
"""Longest accepted request path (ids are at most 64 characters; nothing legitimate comes close)."""
MAX_QUERY_CHARS = 8192
"""Longest accepted raw query string."""
UPLOAD_PATH = "/api/datasources"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BodyTooLarge(HTTPException):
    """The request body passed its limit while the app read it; answered as a 413 envelope.

    An ``HTTPException`` because FastAPI re-raises those from body parsing (anything else becomes a 400).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the server accepts ({_size(limit)}).")
        self.limit = limit


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"The request body is larger than the server accepts ({_size(limit)}).",
                    {"limit": limit})


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MB" if n >= 1 << 20 else f"{n} bytes"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class EdgeLimits:
    """Refuse malformed request targets and oversized bodies with a 4xx envelope."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def _refusal(self, scope: Scope) -> ApiError | None:
        path: str = scope.get("path", "")
        query: bytes = scope.get("query_string", b"")
        if len(path) > MAX_PATH_CHARS or len(query) > MAX_QUERY_CHARS:
            return ApiError(414, "URI_TOO_LONG",
                            f"The request path or query is too long (at most {MAX_PATH_CHARS} and "
                            f"{MAX_QUERY_CHARS} characters).", {"pathLength": len(path), "queryLength": len(query)})
        if _CONTROL.search(path):
            return ApiError(400, "INVALID_PATH", "The request path contains a NUL or another control character.")
        return None

    def limit_for(self, scope: Scope) -> int:
        """The body limit of this request: the upload limit for multipart posts to the upload route."""
        content_type = _header(scope, b"content-type") or b""
        if scope.get("path") == UPLOAD_PATH and content_type.startswith(b"multipart/form-data"):
            return self.max_upload_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the target and the declared length, then count the body as the app reads it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        limit = self.limit_for(scope)
        declared = _header(scope, b"content-length")
        if refusal is None and declared is not None:
            try:
                length = int(declared)
            except ValueError:
                refusal = ApiError(400, "BAD_REQUEST", "The Content-Length header is not a number.")
            else:
                if length > limit:
                    refusal = _too_large(limit)
        if refusal is not None:
            await _reply(refusal, scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return counted


async def _reply(error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
    response = envelope(error.status, error.code, error.message, error.detail)
    if error.status == 413:
        # The body was not read: the connection cannot carry another request after this one.
        response.headers["Connection"] = "close"
    await response(scope, receive, send)


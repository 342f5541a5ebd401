"""The JSON error envelope: every non-stream error is {code, message, detail}, never a 500 for user input."""

from __future__ import annotations

import httpx
import pytest

ENVELOPE_KEYS = {"code", "message", "detail"}

CASES = [
    # method, path, kwargs, status, code
    ("POST", "/api/chat/question", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "INVALID_JSON"),
    ("POST", "/api/chat/question", {"json": {"question": ""}}, 422, "INVALID_QUESTION"),
    ("POST", "/api/chat/question", {"json": {"question": "   "}}, 422, "INVALID_QUESTION"),
    ("POST", "/api/chat/question", {"json": {"question": "x" * 2001}}, 422, "INVALID_QUESTION"),
    ("POST", "/api/chat/question", {"json": {}}, 422, "INVALID_QUESTION"),
    ("POST", "/api/chat/question", {"json": ["question"]}, 422, "INVALID_REQUEST"),
    ("POST", "/api/chat/enhanced-question", {"json": {"question": "hi", "locale": "fr"}}, 422, "INVALID_REQUEST"),
    ("POST", "/api/chat/question", {"json": {"question": "hi", "chat_id": "nope"}}, 404, "CHAT_NOT_FOUND"),
    ("POST", "/api/chat/question", {"json": {"question": "hi", "datasource_id": "nope"}}, 404, "DATASOURCE_NOT_FOUND"),
    ("GET", "/api/chats/nope", {}, 404, "CHAT_NOT_FOUND"),
    ("DELETE", "/api/chats/nope", {}, 404, "CHAT_NOT_FOUND"),
    ("GET", "/api/chat/runs/nope", {}, 404, "RUN_NOT_FOUND"),
    ("GET", "/api/chat/runs/nope/stream", {}, 404, "RUN_NOT_FOUND"),
    ("POST", "/api/chat/runs/nope/cancel", {}, 404, "RUN_NOT_FOUND"),
    ("POST", "/api/chat/runs/nope/retry", {}, 404, "RUN_NOT_FOUND"),
    ("POST", "/api/chat/runs/nope/regenerate", {}, 404, "RUN_NOT_FOUND"),
    ("GET", "/api/chat/records/nope/data", {}, 404, "RECORD_NOT_FOUND"),
    ("GET", "/api/datasources/nope", {}, 404, "DATASOURCE_NOT_FOUND"),
    ("POST", "/api/datasources/nope/test", {}, 404, "DATASOURCE_NOT_FOUND"),
    ("DELETE", "/api/datasources/nope", {}, 404, "DATASOURCE_NOT_FOUND"),
    ("DELETE", "/api/datasources/flights", {}, 409, "DEMO_DATASOURCE"),
    ("POST", "/api/datasources", {"content": b"[", "headers": {"content-type": "application/json"}}, 400, "INVALID_JSON"),
    ("POST", "/api/datasources", {"json": {"id": "Bad Id", "type": "duckdb", "path": "x.duckdb"}}, 422, "INVALID_REQUEST"),
    ("POST", "/api/datasources", {"json": {"id": "etc", "type": "sqlite", "path": "/etc/passwd"}}, 403, "PATH_OUTSIDE_DATA_DIR"),
    ("POST", "/api/datasources", {"json": {"id": "up", "type": "sqlite", "path": "../../x.db"}}, 403, "PATH_OUTSIDE_DATA_DIR"),
    ("POST", "/api/datasources", {"json": {"id": "missing", "type": "duckdb", "path": "missing.duckdb"}}, 422, "INVALID_DATASOURCE"),
    ("POST", "/api/datasources", {"files": {"file": ("notes.txt", b"hello")}}, 422, "INVALID_UPLOAD"),
    ("POST", "/api/datasources", {"files": {"file": ("empty.csv", b"")}}, 422, "INVALID_UPLOAD"),
    ("POST", "/api/datasources", {"files": {"file": ("bad.parquet", b"not parquet")}}, 422, "INVALID_UPLOAD"),
    ("POST", "/api/datasources", {"files": {"other": ("a.csv", b"a\n1\n")}}, 422, "INVALID_UPLOAD"),
    ("GET", "/api/nothing-here", {}, 404, "ROUTE_NOT_FOUND"),
    ("PUT", "/api/chats", {}, 405, "METHOD_NOT_ALLOWED"),
    ("GET", "/api/chats?limit=0", {}, 422, "INVALID_REQUEST"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), CASES, ids=[f"{c[0]} {c[1]} {c[4]}" for c in CASES])
async def test_error_envelope(client: httpx.AsyncClient, method: str, path: str, kwargs: dict, status: int, code: str) -> None:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]


async def test_retry_of_a_successful_run_is_a_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat/enhanced-question", json={"question": "flights per carrier"})
    run_id = response.headers["x-run-id"]
    retry = await client.post(f"/api/chat/runs/{run_id}/retry")
    assert retry.status_code == 409
    assert retry.json()["code"] == "NOT_RETRYABLE"

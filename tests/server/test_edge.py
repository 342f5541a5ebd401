"""Validation at the edge, on a real socket: hostile request targets and bodies get a 4xx envelope and the
keep-alive connection stays usable (a 500 makes uvicorn drop it)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from graph.settings import Settings
from server.app import create_app
from tests.server.conftest import ThreadedServer
from tests.server.scripted import ScriptedEngine, scripted_factory

ENVELOPE_KEYS = {"code", "message", "detail"}
MAX_BODY = 64 * 1024
MAX_UPLOAD = 256 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>SQLBot</title>")  # the SPA fallback resolves paths
    settings = Settings(data_dir=tmp_path / "data", max_body_bytes=MAX_BODY, max_upload_bytes=MAX_UPLOAD,
                        _env_file=None)  # type: ignore[call-arg]
    app: FastAPI = create_app(settings, engine_factory=scripted_factory(ScriptedEngine()), static_dir=static)
    with ThreadedServer(app) as live:
        yield live


def _exchange(conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, target, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


HOSTILE = [
    ("GET", "/api/chats?offset=9223372036854775808", None, 422, "INVALID_REQUEST"),
    ("GET", "/api/chats?offset=99999999999999999999999999", None, 422, "INVALID_REQUEST"),
    ("GET", "/api/chats?limit=-1", None, 422, "INVALID_REQUEST"),
    ("GET", "/%00", None, 400, "INVALID_PATH"),
    ("GET", "/api/chats/%00", None, 400, "INVALID_PATH"),
    ("GET", "/a%0Ab", None, 400, "INVALID_PATH"),
    ("GET", "/" + "a" * 20_000, None, 414, "URI_TOO_LONG"),
    ("GET", "/api/chats?x=" + "a" * 20_000, None, 414, "URI_TOO_LONG"),
    ("GET", "/" + "a" * 300, None, 200, None),  # one component longer than NAME_MAX: the SPA, not an OSError
    ("GET", "/api/chat/runs/x/stream?after=9223372036854775808", None, 422, "INVALID_REQUEST"),
    ("POST", "/api/datasources", {"id": "nul", "type": "sqlite", "path": "a\u0000b.db"}, 422, "INVALID_REQUEST"),
    ("POST", "/api/datasources", {"id": "nul", "type": "sqlite", "path": "x\u0000/../chats.sqlite"}, 422,
     "INVALID_REQUEST"),
    ("POST", "/api/datasources", {"id": "long", "type": "sqlite", "path": "a" * 1000 + ".db"}, 422, "INVALID_DATASOURCE"),
]


@pytest.mark.parametrize(("method", "target", "payload", "status", "code"), HOSTILE,
                         ids=[f"{m} {t[:40]} {c}" for m, t, _, _, c in HOSTILE])
def test_hostile_targets_get_a_4xx_envelope_and_keep_the_connection(
    server: ThreadedServer, method: str, target: str, payload: dict | None, status: int, code: str | None
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        body = json.dumps(payload).encode() if payload is not None else None
        got, headers, raw = _exchange(conn, method, target, body, {"Content-Type": "application/json"} if body else {})
        assert got == status, raw[:500]
        if code is not None:
            envelope = json.loads(raw)
            assert set(envelope) == ENVELOPE_KEYS and envelope["code"] == code, envelope
        assert headers.get("connection", "").lower() != "close"
        sock = conn.sock
        again, _, health = _exchange(conn, "GET", "/healthz")
        assert again == 200 and json.loads(health)["status"] == "ok"
        assert conn.sock is sock, "the keep-alive connection was dropped"
    finally:
        conn.close()


def test_a_body_over_the_limit_is_a_413_envelope(server: ThreadedServer) -> None:
    big = json.dumps({"question": "x", "pad": "a" * MAX_BODY}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        status, _, raw = _exchange(conn, "POST", "/api/chat/question", big, {"Content-Type": "application/json"})
        assert status == 413
        envelope = json.loads(raw)
        assert envelope["code"] == "PAYLOAD_TOO_LARGE" and envelope["detail"] == {"limit": MAX_BODY}
    finally:
        conn.close()
    # The same body without Content-Length (chunked): refused once the limit is passed, still an envelope.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", "/api/datasources", body=iter([big[:1000], big[1000:]]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["code"] == "PAYLOAD_TOO_LARGE"
    finally:
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        status, _, _ = _exchange(conn, "GET", "/healthz")
        assert status == 200, "the server keeps serving"
    finally:
        conn.close()


def _multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "sqlbotboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_uploads_have_their_own_larger_limit(server: ThreadedServer) -> None:
    rows = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 2) for i in range(20_000))
    assert MAX_BODY < len(rows) < MAX_UPLOAD
    body, content_type = _multipart("numbers.csv", rows)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        status, _, raw = _exchange(conn, "POST", "/api/datasources", body, {"Content-Type": content_type})
        assert status == 201, raw[:500]
        assert json.loads(raw)["id"] == "numbers"
        too_big, content_type = _multipart("huge.csv", rows * 3)
        status, _, raw = _exchange(conn, "POST", "/api/datasources", too_big, {"Content-Type": content_type})
        assert status == 413 and json.loads(raw)["code"] == "PAYLOAD_TOO_LARGE"
    finally:
        conn.close()
    assert not (Path(server.server.config.app.state.services.settings.data_dir) / "uploads" / "huge").exists()

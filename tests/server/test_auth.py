"""API keys, chat isolation, admin-only operations, grants and the audit log, over real HTTP.

The app runs under uvicorn on a socket (a scripted engine answers), with three users from
``SQLBOT_AUTH_KEYS``: an admin, alice and bob.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from graph.settings import Settings
from server.app import create_app
from tests.server.conftest import ThreadedServer
from tests.server.scripted import ScriptedEngine, scripted_factory
from tests.support.databases import pg_empty  # noqa: F401

KEYS = {"admin": "key-admin-0123456789abcdef", "alice": "key-alice-0123456789abcdef", "bob": "key-bob-0123456789abcdef"}
AUTH_KEYS = f"admin:{KEYS['admin']}:admin,alice:{KEYS['alice']}:analyst,bob:{KEYS['bob']}"


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Chats, users, grants and audit in SQLite, or in PostgreSQL (a database of its own) where it runs."""
    database_url = request.getfixturevalue("pg_empty") if request.param == "postgres" else None
    return Settings(data_dir=tmp_path / "data", disconnect_grace_s=0.3, auth_keys=AUTH_KEYS,  # type: ignore[call-arg]
                    database_url=database_url, _env_file=None)


@pytest.fixture
def inputs(engine: ScriptedEngine) -> list[dict[str, Any] | None]:
    """The graph inputs of every run the engine started."""
    seen: list[dict[str, Any] | None] = []
    start = engine.start

    def recording(**kwargs: Any) -> Any:
        seen.append(kwargs["inputs"])
        return start(**kwargs)

    engine.start = recording  # type: ignore[method-assign]
    return seen


@pytest.fixture
def server(app: FastAPI, inputs: list[dict[str, Any] | None]) -> Iterator[ThreadedServer]:
    with ThreadedServer(app) as running:
        yield running


def client(server: ThreadedServer, user: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {KEYS[user]}"} if user else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=20)


def ask(c: httpx.Client, question: str, **body: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """Ask over the enhanced stream; returns (chat id, run id, events)."""
    with c.stream("POST", "/api/chat/enhanced-question", json={"question": question, **body}) as response:
        assert response.status_code == 200, response.read()
        run_id = response.headers["x-run-id"]
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    chat_id = c.get(f"/api/chat/runs/{run_id}").json()["chatId"]
    return chat_id, run_id, events


def test_requests_without_a_valid_key_get_401(server: ThreadedServer) -> None:
    with client(server) as anonymous:
        missing = anonymous.get("/api/chats")
        assert missing.status_code == 401 and missing.json()["code"] == "AUTH_REQUIRED"
        assert "Bearer" in missing.json()["detail"]["suggestion"] and missing.headers["www-authenticate"].startswith("Bearer")
        wrong = anonymous.get("/api/chats", headers={"Authorization": "Bearer key-nobody"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "INVALID_API_KEY"
        basic = anonymous.post("/api/chat/enhanced-question", json={"question": "x"}, headers={"Authorization": "Basic eDp5"})
        assert basic.status_code == 401
        assert anonymous.get("/healthz").status_code == 200  # health and the web UI stay reachable
    with client(server, "alice") as alice:
        me = alice.get("/api/auth/me").json()
        assert me == {"name": "alice", "roles": ["analyst"], "admin": False, "authRequired": True}


def test_another_users_chats_runs_and_records_are_not_found(server: ThreadedServer, tmp_path: Path) -> None:
    with client(server, "alice") as alice, client(server, "bob") as bob:
        chat_id, run_id, events = ask(alice, "flights per carrier")
        assert events[-1]["type"] == "final_complete"
        _, failed_id, failed = ask(alice, "flights FAIL@execute_query", chat_id=chat_id)
        assert failed[-1]["type"] == "stream_error"
        assert [c["id"] for c in alice.get("/api/chats").json()] == [chat_id]
        assert bob.get("/api/chats").json() == []
        for method, path, body in [
            ("GET", f"/api/chats/{chat_id}", None),
            ("DELETE", f"/api/chats/{chat_id}", None),
            ("GET", f"/api/chat/runs/{run_id}", None),
            ("GET", f"/api/chat/runs/{run_id}/stream", None),
            ("POST", f"/api/chat/runs/{run_id}/cancel", None),
            ("POST", f"/api/chat/runs/{failed_id}/retry", {}),
            ("POST", f"/api/chat/runs/{run_id}/regenerate", None),
            ("POST", f"/api/chat/runs/{failed_id}/sql", {"sql": "SELECT 1"}),
            ("GET", f"/api/chat/records/{run_id}/data", None),
            ("GET", f"/api/chat/record/{run_id}/data", None),
            ("GET", f"/api/chat/records/{run_id}/export?format=csv", None),
            ("POST", "/api/chat/enhanced-question", {"question": "more", "chat_id": chat_id}),
        ]:
            response = bob.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["code"].endswith("_NOT_FOUND"), (path, response.json())
        # alice herself still has all of it
        assert len(alice.get(f"/api/chats/{chat_id}").json()["records"]) == 2
        assert alice.get(f"/api/chat/records/{run_id}/data").json()["fields"] == ["carrier", "flights"]
        retried = alice.post(f"/api/chat/runs/{failed_id}/retry", json={})
        assert retried.status_code == 200 and '"final_complete"' in retried.text


def test_stream_token_opens_an_eventsource_stream_of_ones_own_run(server: ThreadedServer) -> None:
    with client(server, "alice") as alice, client(server, "bob") as bob, client(server) as anonymous:
        _, run_id, _ = ask(alice, "flights per carrier")
        token = alice.post("/api/auth/stream-token").json()
        assert token["token"] and token["expiresAt"] > time.time()
        stream = anonymous.get(f"/api/chat/runs/{run_id}/stream", params={"access_token": token["token"]})
        assert stream.status_code == 200 and '"final_complete"' in stream.text
        bob_token = bob.post("/api/auth/stream-token").json()["token"]
        assert anonymous.get(f"/api/chat/runs/{run_id}/stream", params={"access_token": bob_token}).status_code == 404
        forged = token["token"][:-4] + ("AAAA" if not token["token"].endswith("AAAA") else "BBBB")
        bad = anonymous.get(f"/api/chat/runs/{run_id}/stream", params={"access_token": forged})
        assert bad.status_code == 401 and bad.json()["code"] == "INVALID_API_KEY"
        # a token is for GETs only: it does not let a POST in
        post = anonymous.post(f"/api/chat/runs/{run_id}/cancel", params={"access_token": token["token"]})
        assert post.status_code == 401


def test_admin_only_operations_are_403_for_others(server: ThreadedServer) -> None:
    with client(server, "alice") as alice, client(server, "admin") as admin:
        for method, path, body in [
            ("POST", "/api/datasources", {"id": "x", "type": "duckdb", "path": "x.duckdb"}),
            ("POST", "/api/datasources/test", {"type": "postgresql", "url": "postgresql://u@127.0.0.1:1/x"}),
            ("PUT", "/api/datasources/flights", {"type": "postgresql", "url": "postgresql://u@127.0.0.1:1/x"}),
            ("POST", "/api/datasources/flights/refresh", None),
            ("DELETE", "/api/datasources/flights", None),
            ("GET", "/api/users", None),
            ("POST", "/api/users", {"name": "eve"}),
            ("DELETE", "/api/users/bob", None),
            ("GET", "/api/datasources/flights/grants", None),
            ("PUT", "/api/datasources/flights/grants", {"users": ["alice"]}),
            ("GET", "/api/audit", None),
        ]:
            response = alice.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["code"] == "ADMIN_REQUIRED" and response.json()["detail"]["suggestion"]
        upload = alice.post("/api/datasources", files={"file": ("t.csv", b"a,b\n1,2\n", "text/csv")})
        assert upload.status_code == 403
        assert admin.get("/api/users").status_code == 200
        assert admin.get("/api/audit").status_code == 200


def test_users_api_issues_keys_that_work_until_revoked(server: ThreadedServer) -> None:
    with client(server, "admin") as admin:
        created = admin.post("/api/users", json={"name": "carol", "roles": ["analyst"], "attrs": {"region": "East"}})
        assert created.status_code == 201
        key = created.json()["key"]
        assert admin.post("/api/users", json={"name": "carol"}).status_code == 409
        assert admin.post("/api/users", json={"name": "alice"}).status_code == 409  # defined in SQLBOT_AUTH_KEYS
        listed = {u["name"]: u for u in admin.get("/api/users").json()}
        assert set(listed) == {"admin", "alice", "bob", "carol"} and "key" not in listed["carol"]
        assert listed["carol"]["attrs"] == {"region": "East"} and listed["carol"]["source"] == "store"
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as carol:
            assert carol.get("/api/auth/me").json()["name"] == "carol"
            assert admin.delete("/api/users/carol").status_code == 200
            assert carol.get("/api/auth/me").status_code == 401
        assert admin.delete("/api/users/carol").status_code == 404


def test_grants_restrict_the_datasource_list_and_reach_the_graph(
    server: ThreadedServer, inputs: list[dict[str, Any] | None]
) -> None:
    with client(server, "admin") as admin, client(server, "alice") as alice, client(server, "bob") as bob:
        everything = {d["id"] for d in admin.get("/api/datasources").json()}
        assert {"flights", "superstore", "movies"} <= everything
        assert {d["id"] for d in bob.get("/api/datasources").json()} == everything  # default grant: all
        put = admin.put("/api/datasources/flights/grants", json={"users": ["bob"], "roles": ["analyst"]})
        assert put.json() == {"users": ["bob"], "roles": ["analyst"], "default": "all"}
        admin.put("/api/datasources/movies/grants", json={"users": ["bob"]})
        assert admin.get("/api/datasources/movies/grants").json()["users"] == ["bob"]
        assert {d["id"] for d in alice.get("/api/datasources").json()} == everything - {"movies"}
        assert alice.get("/api/datasources/movies").status_code == 404
        ask(alice, "flights per carrier")
        sent = inputs[-1]
        assert sent is not None and sent["principal"] == {"name": "alice", "roles": ["analyst"], "attrs": {}}
        assert set(sent["allowed_datasources"]) == everything - {"movies"}
        ask(admin, "flights per carrier")
        assert inputs[-1] is not None and inputs[-1]["allowed_datasources"] is None  # admins may query everything
        assert admin.put("/api/datasources/nope/grants", json={}).status_code == 404


def test_audit_has_a_row_for_every_run(server: ThreadedServer) -> None:
    with client(server, "alice") as alice, client(server, "bob") as bob, client(server, "admin") as admin:
        since = time.time()
        ask(alice, "flights per carrier")
        ask(alice, "flights FAIL@generate_sql")
        ask(bob, "flights per carrier")
        rows = admin.get("/api/audit", params={"since": since}).json()
        assert [(r["user"], r["outcome"]) for r in rows] == [("bob", "ok"), ("alice", "error"), ("alice", "ok")]
        ok = rows[-1]
        assert ok["question"] == "flights per carrier" and ok["sql"] and ok["rowCount"] == 2 and ok["code"] is None
        assert rows[1]["code"] and rows[1]["sql"] is None
        assert [r["user"] for r in admin.get("/api/audit", params={"user": "alice"}).json()] == ["alice", "alice"]
        assert len(admin.get("/api/audit", params={"limit": 1}).json()) == 1


@pytest.mark.parametrize(("host", "level", "text"), [
    ("127.0.0.1", "INFO", "no users configured: the API is open"),
    ("0.0.0.0", "WARNING", "NO USERS CONFIGURED and bound to 0.0.0.0"),
])
async def test_open_mode_says_so_at_start_up(tmp_path: Path, caplog: pytest.LogCaptureFixture, host: str, level: str,
                                             text: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", host=host, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, engine_factory=scripted_factory(ScriptedEngine()), static_dir=tmp_path / "static")
    with caplog.at_level("INFO", logger="uvicorn.error"):
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                me = (await c.get("/api/auth/me")).json()
                assert me == {"name": "", "roles": [], "admin": True, "authRequired": False}
                assert (await c.get("/api/chats")).status_code == 200  # no key needed
                refused = await c.post("/api/users", json={"name": "eve", "roles": ["admin"]})
                assert refused.status_code == 409 and refused.json()["code"] == "AUTH_NOT_ENABLED"
    assert [r.levelname for r in caplog.records if text in r.getMessage()] == [level]


def test_a_revoked_grant_stops_retry_and_edited_sql(server: ThreadedServer) -> None:
    with client(server, "alice") as alice, client(server, "admin") as admin:
        chat_id, _, _ = ask(alice, "flights per carrier", datasource_id="flights")
        _, failed_id, _ = ask(alice, "flights FAIL@execute_query", chat_id=chat_id)
        admin.put("/api/datasources/flights/grants", json={"users": ["bob"]})
        for path, body in ((f"/api/chat/runs/{failed_id}/retry", {}), (f"/api/chat/runs/{failed_id}/sql", {"sql": "SELECT 1"})):
            refused = alice.post(path, json=body)
            assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_PERMISSIONS", refused.text
        admin.put("/api/datasources/flights/grants", json={})
        assert alice.post(f"/api/chat/runs/{failed_id}/retry", json={}).status_code == 200

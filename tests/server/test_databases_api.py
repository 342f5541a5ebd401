"""Database connections through the HTTP API, with the real graph and the offline writer, on real servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from graph.settings import Settings
from server.app import create_app
from tests.support.databases import MY_HOST, MY_PORT, PG_HOST, PG_PORT, my_db, my_user, pg_db  # noqa: F401
from tests.support.net import free_port


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "data", retry_delay_scale=0, query_timeout_s=10,  # type: ignore[call-arg]
                        _env_file=None)
    app = create_app(settings, static_dir=tmp_path / "static")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as c:
            yield c


async def ask(client: httpx.AsyncClient, question: str, datasource: str, locale: str = "en") -> list[dict]:
    body = {"question": question, "locale": locale} | ({"datasource_id": datasource} if datasource else {})
    async with aconnect_sse(client, "POST", "/api/chat/enhanced-question", json=body) as source:
        assert source.response.status_code == 200
        return [json.loads(e.data) async for e in source.aiter_sse() if e.data]


async def test_mysql_connection_lifecycle_never_returns_the_password(
    api: httpx.AsyncClient, my_db: str, my_user: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user, password = my_user
    url = f"mysql://{user}:{password}@{MY_HOST}:{MY_PORT}/{my_db}"
    seen: list[str] = []

    async def call(method: str, path: str, **kw: object) -> httpx.Response:
        response = await api.request(method, path, **kw)  # type: ignore[arg-type]
        seen.append(response.text)
        return response

    wrong = await call("POST", "/api/datasources/test", json={"type": "mysql", "url": url.replace(password, "nope")})
    assert wrong.status_code == 200 and wrong.json()["ok"] is False
    assert wrong.json()["code"] == "DATABASE_CONNECTION_FAILED" and wrong.json()["suggestion"]
    refused = await call("POST", "/api/datasources", json={"id": "shop", "type": "mysql", "url": url.replace(password, "nope")})
    assert refused.status_code == 422 and refused.json()["code"] == "DATABASE_CONNECTION_FAILED"
    assert refused.json()["detail"]["suggestion"] and refused.json()["detail"]["retry"]["maxRetries"] == 2

    tested = await call("POST", "/api/datasources/test", json={"type": "mysql", "url": url})
    assert tested.json()["ok"] is True and tested.json()["serverVersion"].startswith(("MariaDB", "MySQL"))

    created = await call("POST", "/api/datasources", json={"id": "shop", "name": "Shop", "type": "mysql", "url": url})
    assert created.status_code == 201, created.text
    connection = created.json()["connection"]
    assert connection == {"host": MY_HOST, "port": MY_PORT, "database": my_db, "user": user, "schemas": [],
                          "hasPassword": True, "url": f"mysql://{user}:***@{MY_HOST}:{MY_PORT}/{my_db}", "passwordEnv": None}
    assert (await call("GET", "/api/datasources")).status_code == 200
    detail = await call("GET", "/api/datasources/shop")
    assert {t["name"] for t in detail.json()["schema"]["tables"]} == {"region", "orders", "shipped_orders"}
    saved = await call("POST", "/api/datasources/shop/test")
    assert saved.json()["ok"] is True and saved.json()["serverVersion"]
    # edit without a password keeps the stored one
    edited = await call("PUT", "/api/datasources/shop", json={"type": "mysql", "name": "Shop 2", "host": MY_HOST,
                                                              "port": MY_PORT, "database": my_db, "user": user, "password": ""})
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Shop 2" and edited.json()["connection"]["hasPassword"] is True
    assert (await call("POST", "/api/datasources/shop/test")).json()["ok"] is True
    # testing an unsaved edit without retyping the password uses the stored one, for the same server and user only
    masked = connection["url"]
    same = await call("POST", "/api/datasources/test", json={"id": "shop", "type": "mysql", "url": masked})
    assert same.json()["ok"] is True, same.json()
    other_host = masked.replace(MY_HOST, "localhost")
    moved = await call("POST", "/api/datasources/test", json={"id": "shop", "type": "mysql", "url": other_host})
    assert moved.json()["ok"] is False  # the stored password is not sent to a host it was not saved for
    unsaved = await call("POST", "/api/datasources/test", json={"id": "other", "type": "mysql", "url": masked})
    assert unsaved.json()["ok"] is False
    # the masked URL of a GET sent back as is keeps the stored password
    kept = await call("PUT", "/api/datasources/shop", json={"type": "mysql", "url": masked})
    assert kept.status_code == 200 and kept.json()["connection"]["hasPassword"] is True
    assert (await call("POST", "/api/datasources/shop/test")).json()["ok"] is True
    refreshed = await call("POST", "/api/datasources/shop/refresh")
    region = next(t for t in refreshed.json()["schema"]["tables"] if t["name"] == "region")
    assert region["description_en"] == "Sales regions"

    events = await ask(api, "total amount by region name", "shop")
    final = events[-1]
    assert final["type"] == "final_complete", final
    assert sorted(tuple(d.values()) for d in final["summary"]["output"]["data"]) == [("East", 22725.0), ("North", 22575.0), ("West", 22425.0)]

    data_dir = tmp_path / "data"
    secrets_file = data_dir / "secrets.json"
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    assert password not in (data_dir / "datasources.json").read_text()
    assert all(password not in text for text in seen)
    assert password not in caplog.text and password not in json.dumps(events)

    assert (await call("DELETE", "/api/datasources/shop")).status_code == 200
    assert password not in secrets_file.read_text()


async def test_postgresql_question_in_english_and_chinese(api: httpx.AsyncClient, pg_db: str) -> None:
    created = await api.post("/api/datasources", json={
        "id": "pgshop", "type": "postgresql", "host": PG_HOST, "port": PG_PORT, "database": pg_db, "user": "postgres",
        "schemas": ["public"]})
    assert created.status_code == 201, created.text
    assert created.json()["connection"]["schemas"] == ["public"] and created.json()["connection"]["hasPassword"] is False
    for question, locale in (("total amount by region name", "en"), ("各地区名称的订单金额总和", "zh")):
        events = await ask(api, question, "pgshop", locale)
        final = events[-1]
        assert final["type"] == "final_complete", (question, final)
        rows = sorted(tuple(d.values()) for d in final["summary"]["output"]["data"])
        assert rows == [("East", 22725.0), ("North", 22575.0), ("West", 22425.0)], (question, rows)
    # auto-selection ranks the database with the demo files
    events = await ask(api, "how many orders have status returned", "")
    ranked = [e for e in events if e["type"] == "step_complete" and "pgshop" in json.dumps(e) and "superstore" in json.dumps(e)]
    assert ranked, "select_datasource did not score the database beside the demo files"
    assert events[-1]["type"] == "final_complete", events[-1]
    assert events[-1]["summary"]["output"]["datasource"]["id"] == "pgshop"
    assert events[-1]["summary"]["output"]["data"] == [{"orders_count": 100}] or events[-1]["summary"]["output"]["rowCount"] == 1


class _Proxy:
    """A TCP forwarder to PostgreSQL that can be stopped: the database 'goes away' mid-session."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: asyncio.base_events.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
            self.writers += [writer, up_writer]

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(Exception):
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                with contextlib.suppress(Exception):
                    dst.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        self.server = await asyncio.start_server(handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)


async def test_a_database_that_goes_away_is_a_clear_error_and_the_server_keeps_serving(
    tmp_path: Path, pg_db: str
) -> None:
    proxy = _Proxy()
    await proxy.start()
    settings = Settings(data_dir=tmp_path / "data", retry_delay_scale=0, query_timeout_s=10,  # type: ignore[call-arg]
                        _env_file=None)
    app = create_app(settings, static_dir=tmp_path / "static")
    async with app.router.lifespan_context(app):
        # the server's blocking calls run in worker threads; the proxy lives on this test's loop
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as api:
            url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{pg_db}"
            assert (await api.post("/api/datasources", json={"id": "flaky", "type": "postgresql", "url": url})).status_code == 201
            assert (await ask(api, "total amount by region name", "flaky"))[-1]["type"] == "final_complete"
            await proxy.stop()
            events = await ask(api, "number of orders by status", "flaky")
            errors = [e for e in events if e["type"] == "step_error"]
            assert errors and errors[-1]["error"]["code"] == "DATABASE_CONNECTION_FAILED", events[-3:]
            assert errors[-1]["error"]["suggestion"] and errors[-1]["error"]["canRetry"] is True
            retries = [e for e in events if e["type"] == "step_progress" and "retry" in json.dumps(e).lower()]
            assert len(retries) == 2  # the proposal's strategy: 2 retries, linear
            assert events[-1]["type"] == "stream_error"
            tested = (await api.post("/api/datasources/flaky/test")).json()
            assert tested["ok"] is False and tested["code"] == "DATABASE_CONNECTION_FAILED"
            assert (await api.get("/healthz")).status_code == 200
            assert (await ask(api, "average departure delay by airline", "flights"))[-1]["type"] == "final_complete"

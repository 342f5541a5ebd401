"""SQLBot's own files (chat store, checkpoints, registry, demo builds, uploads) are never a datasource:
refused by resolved path (symlinks followed) and by inode (hard links), at registration and at every open."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import duckdb
import httpx
import pytest

from datasources.errors import AppFileRefused
from datasources.registry import DatasourceConfig
from graph.context import registry_from_settings
from graph.settings import Settings
from server.deps import Services


def sqlite_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return path


def services(client: httpx.AsyncClient) -> Services:
    return client._transport.app.state.services  # type: ignore[attr-defined]


async def register(client: httpx.AsyncClient, ident: str, path: str, kind: str = "sqlite") -> httpx.Response:
    return await client.post("/api/datasources", json={"id": ident, "type": kind, "path": path})


@pytest.fixture
async def data_dir(client: httpx.AsyncClient) -> Path:
    data = services(client).settings.data_dir.resolve()
    sqlite_db(data / "checkpoints.sqlite")  # the scripted engine keeps no checkpoints: stand in for LangGraph's
    (data / "demo").mkdir()
    with duckdb.connect(str(data / "demo" / "flights-v9.duckdb")) as conn:  # a demo build
        conn.execute("CREATE TABLE flights AS SELECT 1 AS x")
    return data


REFUSED = ["chats.sqlite", "./chats.sqlite", "demo/../chats.sqlite", "chats.sqlite-wal", "checkpoints.sqlite",
           "datasources.json", "demo/flights-v9.duckdb"]


@pytest.mark.parametrize("path", REFUSED)
async def test_app_files_are_refused(client: httpx.AsyncClient, data_dir: Path, path: str) -> None:
    await register(client, "mine", sqlite_db(data_dir / "mine.db").name)  # so datasources.json exists
    kind = "duckdb" if path.endswith(".duckdb") else "sqlite"
    for target in (path, str(data_dir / path)):
        response = await register(client, "stolen", target, kind)
        assert response.status_code == 403, response.text
        body = response.json()
        assert body["code"] == "APP_FILE_REFUSED" and "own state" in body["message"]
    assert "stolen" not in {d["id"] for d in (await client.get("/api/datasources")).json()}


async def test_links_to_app_files_are_refused(client: httpx.AsyncClient, data_dir: Path) -> None:
    os.symlink(data_dir / "chats.sqlite", data_dir / "innocent.db")
    os.link(data_dir / "chats.sqlite", data_dir / "hardlink.db")
    os.link(data_dir / "demo" / "flights-v9.duckdb", data_dir / "copy.duckdb")
    (data_dir / "nested").mkdir()
    os.symlink(data_dir, data_dir / "nested" / "loop")
    for ident, path, kind in (("a", "innocent.db", "sqlite"), ("b", "hardlink.db", "sqlite"),
                              ("c", "copy.duckdb", "duckdb"), ("d", "nested/loop/chats.sqlite", "sqlite")):
        response = await register(client, ident, path, kind)
        assert response.status_code == 403, (path, response.text)


async def test_a_file_swapped_for_a_link_after_registration_is_refused_at_open(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    sqlite_db(data_dir / "user.db")
    assert (await register(client, "user", "user.db")).status_code == 201
    (data_dir / "user.db").unlink()
    os.symlink(data_dir / "chats.sqlite", data_dir / "user.db")
    with pytest.raises(AppFileRefused):
        services(client).registry.connect("user")
    tested = (await client.post("/api/datasources/user/test")).json()
    assert tested["ok"] is False and "own state" in tested["message"]


async def test_user_files_and_uploads_still_register(client: httpx.AsyncClient, data_dir: Path) -> None:
    sqlite_db(data_dir / "sub" / "shop.db")
    assert (await register(client, "shop", "sub/shop.db")).status_code == 201
    upload = await client.post("/api/datasources", files={"file": ("sales.csv", b"region,amount\nnorth,1\n")})
    assert upload.status_code == 201, upload.text
    # Another id may not take over the upload's database...
    response = await register(client, "thief", "uploads/sales/sales.duckdb", "duckdb")
    assert response.status_code == 403 and response.json()["code"] == "APP_FILE_REFUSED"
    # ...and a refused JSON registration under the upload's own id must not delete the upload's files.
    response = await register(client, "sales", "uploads/sales/sales.duckdb", "duckdb")
    assert response.status_code == 409
    assert (data_dir / "uploads" / "sales" / "sales.duckdb").is_file()
    assert (await client.post("/api/datasources/sales/test")).json()["ok"] is True


def test_a_moved_checkpoint_db_is_refused_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    moved = sqlite_db(data / "state" / "graph.db")
    registry = registry_from_settings(Settings(data_dir=data, checkpoint_db=moved, _env_file=None))  # type: ignore[call-arg]
    with pytest.raises(AppFileRefused):
        registry.add(DatasourceConfig(id="graph", name="graph", type="sqlite", path=moved))
    registry.add(DatasourceConfig(id="user", name="user", type="sqlite", path=sqlite_db(data / "state" / "user.db")))

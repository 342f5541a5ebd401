"""PostgreSQL and MariaDB connectors against the real servers: introspection, read-only, timeout, cancel, pools."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import stat
import time
from pathlib import Path

import pytest

from datasources.errors import ConnectionFailed, InvalidDatasource, QueryFailed, QueryTimeout
from datasources.registry import DatasourceConfig, Registry
from datasources.secrets import Secret, SecretStore
from datasources.server import POOL_OVERFLOW, POOL_SIZE, ServerConnection, parse_server_url
from tests.support.databases import (  # noqa: F401 - fixtures
    MY_HOST,
    MY_PORT,
    PG_HOST,
    PG_PORT,
    my_active,
    my_db,
    my_exec,
    my_user,
    pg_active,
    pg_db,
    pg_exec,
    pg_sessions,
)
from tests.support.net import free_port


def _registry(tmp_path: Path, kind: str, database: str, user: str = "", password: str | None = None) -> Registry:
    registry = Registry(tmp_path / "data", query_timeout_s=10)
    host, port = (PG_HOST, PG_PORT) if kind == "postgresql" else (MY_HOST, MY_PORT)
    user = user or ("postgres" if kind == "postgresql" else "root")
    spec, secret = parse_server_url(f"{'postgresql' if kind == 'postgresql' else 'mysql'}://{user}@{host}:{port}/{database}")
    registry.add(DatasourceConfig(id="shop", name="Shop", type=kind, server=spec),  # type: ignore[arg-type]
                 Secret(password) if password else secret)
    return registry


@pytest.fixture(params=["postgresql", "mysql"])
def shop(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    kind = request.param
    database = request.getfixturevalue("pg_db" if kind == "postgresql" else "my_db")
    registry = _registry(tmp_path, kind, database)
    try:
        yield kind, database, registry
    finally:
        registry.close()


def test_url_parsing_keeps_the_password_out_of_the_spec() -> None:
    spec, secret = parse_server_url("postgresql://ann:s%40cret@db.example:6543/sales?sslmode=require")
    assert (spec.type, spec.host, spec.port, spec.database, spec.user) == ("postgresql", "db.example", 6543, "sales", "ann")
    assert secret is not None and secret.reveal() == "s@cret" and "s@cret" not in repr(secret) + str(spec)
    assert "s@cret" not in json.dumps(spec.to_dict())
    assert spec.url(has_password=True) == "postgresql://ann:***@db.example:6543/sales?sslmode=require"
    env_spec, env_secret = parse_server_url("mysql://bob:${SHOP_PW}@h/shop")
    assert env_secret is None and env_spec.password_env == "SHOP_PW" and env_spec.port == 3306
    assert parse_server_url("mariadb://u@h/db")[0].type == "mysql"
    for bad in ("sqlite://u:topsecret@x/db", "postgresql://u:topsecret@h", "postgresql://u:topsecret@h/db?host=/tmp",
                "mysql://u:topsecret@h:99999/db"):
        with pytest.raises(InvalidDatasource) as info:
            parse_server_url(bad)
        assert "topsecret" not in f"{info.value} {info.value.detail}"


def test_secret_store_file_is_0600_and_config_has_no_password(pg_db: str, tmp_path: Path) -> None:
    registry = _registry(tmp_path, "postgresql", pg_db, password="hunter2-" + secrets.token_hex(4))
    try:
        store = SecretStore(tmp_path / "data")
        assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
        password = store.get("shop")
        assert password is not None
        assert password.reveal() not in (tmp_path / "data" / "datasources.json").read_text()
        assert registry.has_password("shop")
        registry.remove("shop")
        assert not store.has("shop")
    finally:
        registry.close()


def test_introspection_reads_comments_keys_row_counts_and_samples(shop) -> None:  # type: ignore[no-untyped-def]
    kind, _, registry = shop
    schema = registry.schema("shop")
    assert schema.dialect == ("postgres" if kind == "postgresql" else "mysql")
    assert {t.name for t in schema.tables} == {"region", "orders", "shipped_orders"}
    region, orders = schema.table("region"), schema.table("orders")
    assert region is not None and orders is not None
    assert region.description_en == "Sales regions"
    name = region.column("name")
    assert name is not None and (name.description_en, name.description_zh) == ("Region name", "地区名称")
    assert name.sample_values == ("East", "North", "West")
    assert orders.column("amount").description_en == "Order amount in USD"  # type: ignore[union-attr]
    assert orders.column("status").sample_values == ("open", "returned", "shipped")  # type: ignore[union-attr]
    assert region.column("id").primary_key and orders.column("id").primary_key  # type: ignore[union-attr]
    fks = [(f.column, f.ref_table, f.ref_column, f.inferred) for f in orders.foreign_keys]
    assert ("region_id", "region", "id", False) in fks
    assert region.row_count == 3 and orders.row_count == 300
    values = registry.values("shop")
    assert any(m.value == "West" for m in values.lookup("west"))
    # cached until refreshed; the fingerprint moves with a refresh
    assert registry.schema("shop") is schema
    before = registry.fingerprint("shop")
    assert registry.refresh("shop") is not schema and registry.fingerprint("shop") != before


def test_refresh_sees_a_new_column(shop) -> None:  # type: ignore[no-untyped-def]
    kind, database, registry = shop
    registry.schema("shop")
    if kind == "postgresql":
        pg_exec(database, "ALTER TABLE region ADD COLUMN manager text; COMMENT ON COLUMN region.manager IS 'Who runs it'")
    else:
        my_exec(database, "ALTER TABLE region ADD COLUMN manager VARCHAR(40) COMMENT 'Who runs it'")
    assert registry.schema("shop").table("region").column("manager") is None  # type: ignore[union-attr]
    column = registry.refresh("shop").table("region").column("manager")  # type: ignore[union-attr]
    assert column is not None and column.description_en == "Who runs it"


async def test_answers_and_types(shop) -> None:  # type: ignore[no-untyped-def]
    _, _, registry = shop
    conn = registry.connect("shop")
    result = await conn.run(
        "SELECT r.name, SUM(o.amount) AS total FROM orders o JOIN region r ON r.id = o.region_id "
        "GROUP BY r.name ORDER BY r.name", max_rows=10, timeout_s=10)
    assert result.columns == ["name", "total"]
    assert result.rows == [["East", 22725.0], ["North", 22575.0], ["West", 22425.0]]
    assert result.column_types[1] in ("NUMERIC", "DECIMAL")
    capped = await conn.run("SELECT id FROM orders ORDER BY id", max_rows=5, timeout_s=10)
    assert capped.row_count == 5 and capped.truncated


WRITES = [
    "DELETE FROM orders",
    "UPDATE region SET name = 'X'",
    "INSERT INTO region VALUES (9, 'South')",
    "CREATE TABLE evil (a int)",
    "DROP TABLE orders",
]


async def test_the_database_itself_refuses_writes_with_the_guard_bypassed(shop) -> None:  # type: ignore[no-untyped-def]
    kind, _, registry = shop
    conn = registry.connect("shop")
    for sql in WRITES:
        with pytest.raises(QueryFailed) as info:
            await conn.run(sql, max_rows=10, timeout_s=10)
        assert info.value.kind in ("permission", "syntax"), (sql, info.value)  # derived-table wrap, then read-only txn
        assert "read-only" in info.value.message or info.value.kind == "syntax"  # the wrap refuses it first
    # a second statement after ';' never runs
    with pytest.raises(QueryFailed):
        await conn.run("SELECT 1; DELETE FROM orders", max_rows=10, timeout_s=10)
    # a statement that turns the session read-write does not carry over to the next query
    if kind == "postgresql":
        with pytest.raises(QueryFailed):  # a SET is not a query: the derived-table wrap refuses it
            await conn.run("SET default_transaction_read_only = off", max_rows=1, timeout_s=10)
        with pytest.raises(QueryFailed):  # a SET is not a query: the derived-table wrap refuses it
            await conn.run("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", max_rows=1, timeout_s=10)
    else:
        with pytest.raises(QueryFailed):  # a SET is not a query: the derived-table wrap refuses it
            await conn.run("SET SESSION TRANSACTION READ WRITE", max_rows=1, timeout_s=10)
    for _ in range(POOL_SIZE + 1):  # whichever pooled session comes next
        with pytest.raises(QueryFailed) as info:
            await conn.run("DELETE FROM orders", max_rows=10, timeout_s=10)
        assert info.value.kind in ("permission", "syntax")
    left = await conn.run("SELECT count(*) FROM orders", max_rows=1, timeout_s=10)
    assert left.rows == [[300]]


def _slow(kind: str, marker: str) -> str:
    if kind == "postgresql":
        return f"SELECT pg_sleep(30) /* {marker} */"
    return f"SELECT SLEEP(30) /* {marker} */"


def _active(kind: str, database: str, marker: str) -> list[str]:
    return pg_active(database, marker) if kind == "postgresql" else my_active(marker)


async def _gone(kind: str, database: str, marker: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not await asyncio.to_thread(_active, kind, database, marker):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_timeout_stops_the_query_on_the_server(shop) -> None:  # type: ignore[no-untyped-def]
    kind, database, registry = shop
    conn = registry.connect("shop")
    marker = f"sqlbot_timeout_{secrets.token_hex(4)}"
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        await conn.run(_slow(kind, marker), max_rows=1, timeout_s=1.0)
    assert time.monotonic() - started < 10
    assert await _gone(kind, database, marker)
    assert (await conn.run("SELECT 1", max_rows=1, timeout_s=5)).rows == [[1]]  # the pool is still usable


async def test_cancel_interrupts_the_query_on_the_server(shop) -> None:  # type: ignore[no-untyped-def]
    kind, database, registry = shop
    conn = registry.connect("shop")
    marker = f"sqlbot_cancel_{secrets.token_hex(4)}"
    task = asyncio.create_task(conn.run(_slow(kind, marker), max_rows=1, timeout_s=60))
    deadline = time.monotonic() + 5
    while not await asyncio.to_thread(_active, kind, database, marker):
        assert time.monotonic() < deadline, "the query never started"
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _gone(kind, database, marker)
    assert (await conn.run("SELECT 1", max_rows=1, timeout_s=5)).rows == [[1]]


async def test_the_pool_is_bounded(pg_db: str, tmp_path: Path) -> None:
    registry = _registry(tmp_path, "postgresql", pg_db)
    try:
        conn = registry.connect("shop")
        seen: list[int] = []

        async def watch() -> None:
            for _ in range(15):
                seen.append(await asyncio.to_thread(pg_sessions, pg_db))
                await asyncio.sleep(0.05)

        queries = [conn.run("SELECT pg_sleep(0.4)", max_rows=1, timeout_s=20) for _ in range(3 * (POOL_SIZE + POOL_OVERFLOW))]
        await asyncio.gather(watch(), *queries)
        assert max(seen) <= POOL_SIZE + POOL_OVERFLOW
        assert max(seen) >= POOL_SIZE  # it really ran in parallel
    finally:
        registry.close()


def test_wrong_password_is_a_clear_error_without_the_password(my_db: str, my_user: tuple[str, str], tmp_path: Path) -> None:
    user, password = my_user
    registry = Registry(tmp_path / "data")
    spec, _ = parse_server_url(f"mysql://{user}@{MY_HOST}:{MY_PORT}/{my_db}")
    config = DatasourceConfig(id="shop", name="Shop", type="mysql", server=spec)
    wrong = "not-" + password
    with pytest.raises(ConnectionFailed) as info:
        registry.add(config, Secret(wrong))
    text = f"{info.value} {info.value.detail} {info.value!r}"
    assert "Access denied" in text and wrong not in text and "Check the host" in info.value.message
    assert info.value.__cause__ is None and info.value.__context__ is None or wrong not in repr(info.value.__context__)
    assert registry.list() == registry.list()[:3]  # nothing saved
    latency, version = registry.probe_config(config, Secret(password))
    assert latency > 0 and version.startswith(("MariaDB", "MySQL"))
    registry.close()


def test_unreachable_server_and_unknown_role(pg_db: str, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "data")
    for url in (f"postgresql://postgres@127.0.0.1:{free_port()}/{pg_db}", f"postgresql://no_such_role_x@127.0.0.1:5432/{pg_db}",
                f"mysql://root@127.0.0.1:{free_port()}/x"):
        spec, _ = parse_server_url(url)
        config = DatasourceConfig(id="x", name="x", type=spec.type, server=spec)
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as info:
            registry.probe_config(config)
        assert time.monotonic() - started < 8 and "Could not connect" in info.value.message
    registry.close()


def test_environment_variable_password(pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry(tmp_path / "data")
    spec, secret = parse_server_url(f"postgresql://postgres:${{SQLBOT_T_PW}}@{PG_HOST}:{PG_PORT}/{pg_db}")
    config = DatasourceConfig(id="shop", name="Shop", type="postgresql", server=spec)
    with pytest.raises(ConnectionFailed, match="SQLBOT_T_PW"):
        registry.add(config, secret)
    monkeypatch.setenv("SQLBOT_T_PW", "anything")  # trust auth: any password is accepted
    registry.add(config, secret)
    assert registry.has_password("shop") and not SecretStore(tmp_path / "data").has("shop")
    assert "SQLBOT_T_PW" in (tmp_path / "data" / "datasources.json").read_text()
    assert isinstance(registry.connect("shop"), ServerConnection)
    registry.close()

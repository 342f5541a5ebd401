"""Users, grants, audit and chat owners in both chat stores (SQLite, and PostgreSQL where it runs).

Also the migrations: a store written before users existed opens with every chat owned by nobody.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from server.auth import hash_key
from server.store import AuditEntry, ChatStore, Grant, SqliteStore, StoredUser
from server.store_postgres import MIGRATIONS, PostgresStore, migrate
from tests.support.databases import pg_empty  # noqa: F401


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChatStore]:
    opened: ChatStore
    if request.param == "sqlite":
        opened = await SqliteStore.open(tmp_path / "chats.sqlite")
    else:
        opened = await PostgresStore.open(request.getfixturevalue("pg_empty"))
    try:
        yield opened
    finally:
        await opened.close()


async def test_users_are_kept_as_key_hashes_and_can_be_revoked(store: ChatStore) -> None:
    assert await store.count_users() == 0
    await store.add_user(StoredUser("alice", hash_key("k-alice"), ["analyst"], {"region": "East"}, time.time()))
    with pytest.raises(ValueError):
        await store.add_user(StoredUser("alice", hash_key("other"), [], {}, time.time()))
    found = await store.user_by_key(hash_key("k-alice"))
    assert found is not None and found.name == "alice" and found.roles == ["analyst"] and found.attrs == {"region": "East"}
    assert await store.user_by_key(hash_key("k-wrong")) is None
    assert await store.count_users() == 1
    assert await store.revoke_user("alice") and not await store.revoke_user("alice")
    assert await store.user_by_key(hash_key("k-alice")) is None and await store.count_users() == 0
    assert [u.revoked_at is not None for u in await store.list_users()] == [True]
    await store.add_user(StoredUser("alice", hash_key("k-new"), [], {}, time.time()))  # a revoked name is reusable
    assert (await store.user_by_key(hash_key("k-new"))) is not None


async def test_grants_audit_and_owners(store: ChatStore) -> None:
    await store.set_grants("flights", [Grant("flights", "user", "alice"), Grant("flights", "role", "ops")])
    await store.set_grants("movies", [Grant("movies", "user", "bob")])
    assert {(g.kind, g.subject) for g in await store.list_grants("flights")} == {("user", "alice"), ("role", "ops")}
    await store.set_grants("flights", [])
    assert await store.list_grants("flights") == [] and len(await store.list_grants()) == 1

    await store.create_chat("a1", "alice's", None, "alice")
    await store.create_chat("b1", "bob's", None, "bob")
    await store.create_chat("o1", "open mode", None)
    assert [c.id for c in await store.list_chats(owner="alice")] == ["a1"]
    assert {c.id for c in await store.list_chats()} == {"a1", "b1", "o1"}
    assert (await store.get_chat("b1")).owner == "bob"  # type: ignore[union-attr]

    t0 = time.time()
    for i, (user, outcome) in enumerate([("alice", "ok"), ("bob", "refusal"), ("alice", "error")]):
        await store.add_audit(AuditEntry(t0 + i, user, "c", f"r{i}", f"q{i}", "flights", "SELECT 1", 1 if outcome == "ok" else None,
                                         outcome, None if outcome == "ok" else "SOME_CODE"))  # type: ignore[arg-type]
    rows = await store.list_audit()
    assert [r.record_id for r in rows] == ["r2", "r1", "r0"] and rows[1].outcome == "refusal"
    assert [r.record_id for r in await store.list_audit(user="alice")] == ["r2", "r0"]
    assert [r.record_id for r in await store.list_audit(since=t0 + 1)] == ["r2", "r1"]
    assert len(await store.list_audit(limit=1)) == 1


async def test_sqlite_store_from_before_users_gets_an_owner_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE chat (id TEXT PRIMARY KEY, title TEXT NOT NULL, datasource_id TEXT,
                               created_at REAL NOT NULL, updated_at REAL NOT NULL);
            INSERT INTO chat VALUES ('old', 'an old chat', NULL, 1, 1);
        """)
    store = await SqliteStore.open(path)
    try:
        old = await store.get_chat("old")
        assert old is not None and old.owner == ""
        assert [c.id for c in await store.list_chats(owner="alice")] == []
    finally:
        await store.close()


async def test_postgres_store_from_before_users_is_migrated(pg_empty: str) -> None:  # noqa: F811
    async with await psycopg.AsyncConnection.connect(pg_empty, autocommit=True) as conn:
        await conn.execute("CREATE TABLE sqlbot_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
        await conn.execute(MIGRATIONS[0])
        await conn.execute("INSERT INTO sqlbot_migrations VALUES (1, 0)")
        await conn.execute("INSERT INTO sqlbot_chat VALUES ('old', 'an old chat', NULL, 1, 1)")
    store = await PostgresStore.open(pg_empty)
    try:
        old = await store.get_chat("old")
        assert old is not None and old.owner == ""
        async with await psycopg.AsyncConnection.connect(pg_empty, autocommit=True, row_factory=dict_row) as conn:
            assert await migrate(conn) == 0  # type: ignore[arg-type]
    finally:
        await store.close()

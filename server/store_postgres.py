"""Chats and records in PostgreSQL (``SQLBOT_DATABASE_URL``), shared by every server process.

The same :class:`server.store.ChatStore` as the SQLite store, over a psycopg connection pool. The schema is
kept by numbered migrations (:data:`MIGRATIONS`) applied at start-up under an advisory lock, so several
processes starting at once apply each one exactly once; ``sqlbot_migrations`` records what has run.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from server.store import Chat, Record, interrupt

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sqlbot_chat (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        datasource_id TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX sqlbot_chat_updated ON sqlbot_chat (updated_at DESC);
    CREATE TABLE sqlbot_record (
        id TEXT PRIMARY KEY,
        chat_id TEXT NOT NULL REFERENCES sqlbot_chat(id) ON DELETE CASCADE,
        body JSONB NOT NULL,
        status TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX sqlbot_record_chat ON sqlbot_record (chat_id, created_at);
    CREATE INDEX sqlbot_record_running ON sqlbot_record (status) WHERE status = 'running';
    """,
)
"""Schema changes in order; a new one is appended, never edited (a database records how many it has run)."""

MIGRATION_LOCK = 0x5_9_1_B_07
"""The advisory lock key that serialises migrations (and the checkpointer's set-up) across processes."""


async def migrate(conn: AsyncConnection[dict[str, object]]) -> int:
    """Apply the migrations ``conn``'s database has not run yet; returns how many ran."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS sqlbot_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        cur = await conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM sqlbot_migrations")
        row = await cur.fetchone()
        done = int(str(row["v"])) if row else 0
        for version, sql in enumerate(MIGRATIONS[done:], start=done + 1):
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO sqlbot_migrations VALUES (%s, %s)", (version, time.time()))
        return len(MIGRATIONS) - done
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


class PostgresStore:
    """:class:`server.store.ChatStore` in PostgreSQL, through a small connection pool."""

    kind: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, max_size: int = 10) -> PostgresStore:
        """Connect to ``url`` and bring its schema up to date."""
        pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]] = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, open=False, name="sqlbot-store",
            kwargs={"autocommit": True, "row_factory": dict_row, "application_name": "sqlbot-store"},
        )
        await pool.open(wait=True, timeout=10)
        try:
            async with pool.connection() as conn:
                await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    # chats

    async def create_chat(self, chat_id: str, title: str, datasource_id: str | None) -> Chat:
        """Create a chat titled after its first question."""
        now = time.time()
        chat = Chat(chat_id, title[:80], datasource_id, now, now)
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO sqlbot_chat (id, title, datasource_id, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
                (chat.id, chat.title, chat.datasource_id, now, now),
            )
        return chat

    async def get_chat(self, chat_id: str) -> Chat | None:
        """The chat with ``chat_id``, or None."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM sqlbot_chat WHERE id = %s", (chat_id,))
            row = await cur.fetchone()
        return Chat(**row) if row else None  # type: ignore[arg-type]

    async def list_chats(self, limit: int = 50, offset: int = 0) -> list[Chat]:
        """Chats, most recently active first."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM sqlbot_chat ORDER BY updated_at DESC LIMIT %s OFFSET %s", (limit, offset)
            )
            return [Chat(**r) for r in await cur.fetchall()]  # type: ignore[arg-type]

    async def delete_chat(self, chat_id: str) -> bool:
        """Delete a chat and its records; False when there was none."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM sqlbot_chat WHERE id = %s", (chat_id,))
            return cur.rowcount > 0

    # records

    async def save_record(self, record: Record) -> None:
        """Insert or replace a record and bump its chat's ``updated_at`` (one transaction)."""
        record.updated_at = time.time()
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO sqlbot_record (id, chat_id, body, status, created_at, updated_at) "
                "VALUES (%s, %s, %s::jsonb, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET body = excluded.body, "
                "status = excluded.status, updated_at = excluded.updated_at",
                (record.id, record.chat_id, record.to_json(), record.status, record.created_at, record.updated_at),
            )
            await conn.execute(
                "UPDATE sqlbot_chat SET updated_at = %s WHERE id = %s", (record.updated_at, record.chat_id)
            )

    async def get_record(self, record_id: str) -> Record | None:
        """The record with ``record_id``, or None."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT body::text AS body FROM sqlbot_record WHERE id = %s", (record_id,))
            row = await cur.fetchone()
        return Record.from_json(str(row["body"])) if row else None

    async def list_records(self, chat_id: str) -> list[Record]:
        """A chat's records, oldest first."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT body::text AS body FROM sqlbot_record WHERE chat_id = %s ORDER BY created_at", (chat_id,)
            )
            return [Record.from_json(str(r["body"])) for r in await cur.fetchall()]

    async def mark_interrupted(self, alive: Callable[[str], Awaitable[bool]] | None = None) -> int:
        """Records left ``running`` whose run is not ``alive`` any more become ``interrupted``; returns how many.

        Other processes' runs are live: pass ``alive`` (the event log's view of their owners' leases).
        """
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT body::text AS body FROM sqlbot_record WHERE status = 'running'")
            stale = [Record.from_json(str(r["body"])) for r in await cur.fetchall()]
        count = 0
        for record in stale:
            if alive is not None and await alive(record.id):
                continue
            await self.save_record(interrupt(record))
            count += 1
        return count

"""The knowledge store in PostgreSQL (``SQLBOT_DATABASE_URL``), shared by every server process."""

from __future__ import annotations

import json
import time
from typing import Literal

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from knowledge.store import Kind, KnowledgeStore, TermExists
from server.store_postgres import MIGRATION_LOCK  # one lock: the chat store migrates under it too

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS sqlbot_knowledge (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    datasource TEXT NOT NULL,
    key TEXT NOT NULL,
    body JSONB NOT NULL,
    seq BIGSERIAL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (kind, id),
    UNIQUE (kind, datasource, key)
)
"""


class PostgresKnowledge(KnowledgeStore):
    """:class:`KnowledgeStore` in PostgreSQL, shared by every server process."""

    kind: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, max_size: int = 4) -> PostgresKnowledge:
        """Connect to ``url`` and create the table if needed."""
        pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]] = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, open=False, name="sqlbot-knowledge",
            kwargs={"autocommit": True, "row_factory": dict_row, "application_name": "sqlbot-knowledge"},
        )
        await pool.open(wait=True, timeout=10)
        try:
            async with pool.connection() as conn:
                # The same advisory lock as the chat store's migrations: concurrent start-ups create it once.
                await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
                try:
                    await conn.execute(_PG_SCHEMA)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    async def _put(self, kind: Kind, ident: str, datasource: str, key: str, body: str) -> None:
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO sqlbot_knowledge (kind, id, datasource, key, body, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT (kind, id) DO UPDATE SET "
                    "datasource = excluded.datasource, key = excluded.key, body = excluded.body, "
                    "updated_at = excluded.updated_at",
                    (kind, ident, datasource, key, body, time.time()),
                )
        except errors.UniqueViolation as exc:
            raise TermExists(key) from exc

    async def _list(self, kind: Kind, datasource: str | None) -> list[str]:
        sql = "SELECT body::text AS body FROM sqlbot_knowledge WHERE kind = %s"
        args: tuple[str, ...] = (kind,)
        if datasource is not None:
            sql, args = sql + " AND datasource = %s", (kind, datasource)
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql + " ORDER BY seq", args)
            return [json.dumps(json.loads(str(r["body"])), ensure_ascii=False) for r in await cur.fetchall()]

    async def _delete(self, kind: Kind, ident: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM sqlbot_knowledge WHERE kind = %s AND id = %s", (kind, ident))
            return cur.rowcount > 0

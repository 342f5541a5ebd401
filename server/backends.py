"""The one place that chooses where chats, checkpoints and run events live, from the settings.

Unset ``SQLBOT_DATABASE_URL`` and ``SQLBOT_REDIS_URL`` (the default): SQLite files in the data directory
and the in-memory event log, nothing else to run. Set: PostgreSQL for chats, records and LangGraph
checkpoints, and Redis Streams for run events, so several server processes can serve the same chats.
Their client libraries are imported only when configured.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from datasources.layout import CHATS_DB, CHECKPOINTS_DB
from graph.settings import Settings
from knowledge.store import KnowledgeStore, SqliteKnowledge
from server.eventlog import EventLog, LocalEventLog
from server.store import ChatStore, SqliteStore


async def open_store(settings: Settings, stack: AsyncExitStack) -> ChatStore:
    """The chat store: PostgreSQL (migrated) when ``database_url`` is set, else SQLite in the data directory."""
    store: ChatStore
    if settings.database_url:
        from server.store_postgres import PostgresStore

        store = await PostgresStore.open(settings.database_url)
    else:
        store = await SqliteStore.open(settings.data_dir / CHATS_DB)
    stack.push_async_callback(store.close)
    return store


async def open_knowledge(settings: Settings, stack: AsyncExitStack) -> KnowledgeStore:
    """Glossary, examples and instructions, in the same database as the chat store."""
    knowledge: KnowledgeStore
    if settings.database_url:
        from knowledge.store_postgres import PostgresKnowledge

        knowledge = await PostgresKnowledge.open(settings.database_url)
    else:
        knowledge = await SqliteKnowledge.open(settings.data_dir / CHATS_DB)
    stack.push_async_callback(knowledge.close)
    return knowledge


def open_event_log(settings: Settings) -> EventLog:
    """The run event log: Redis Streams when ``redis_url`` is set, else this process's memory."""
    if not settings.redis_url:
        return LocalEventLog()
    from server.eventlog_redis import RedisEventLog

    return RedisEventLog.from_url(settings.redis_url, prefix=settings.redis_prefix, lease_s=settings.worker_lease_s,
                                  retention_s=settings.redis_retention_s, locale=settings.default_locale)


async def open_checkpointer(settings: Settings, stack: AsyncExitStack) -> Any:
    """LangGraph's checkpointer: ``AsyncPostgresSaver`` over a pool when ``database_url`` is set, else SQLite."""
    if settings.database_url:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        from server.store_postgres import MIGRATION_LOCK

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            settings.database_url, min_size=1, max_size=20, open=False, name="sqlbot-checkpoints",
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0,
                    "application_name": "sqlbot-checkpoints"},
        )
        await pool.open(wait=True, timeout=10)
        stack.push_async_callback(pool.close)
        saver = AsyncPostgresSaver(pool)
        async with pool.connection() as conn:  # several processes start at once: one sets the tables up
            await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                await saver.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        return saver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = settings.checkpoint_db or settings.data_dir / CHECKPOINTS_DB
    path.parent.mkdir(parents=True, exist_ok=True)
    return await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(path)))

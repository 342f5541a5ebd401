"""Chats and records in PostgreSQL (``SQLBOT_DATABASE_URL``), shared by every server process.

The same :class:`server.store.ChatStore` as the SQLite store, over a psycopg connection pool. The schema is
kept by numbered migrations (:data:`MIGRATIONS`) applied at start-up under an advisory lock, so several
processes starting at once apply each one exactly once; ``sqlbot_migrations`` records what has run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from server.store import AuditEntry, Chat, Grant, Record, StoredUser, audit_entry, audit_filter, interrupt

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
    """
    ALTER TABLE sqlbot_chat ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    CREATE INDEX sqlbot_chat_owner ON sqlbot_chat (owner, updated_at DESC);
    CREATE TABLE sqlbot_user (
        name TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        roles JSONB NOT NULL,
        attrs JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION
    );
    CREATE TABLE sqlbot_grant (
        datasource_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        PRIMARY KEY (datasource_id, kind, subject)
    );
    CREATE TABLE sqlbot_audit (
        id BIGSERIAL PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        user_name TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        question TEXT NOT NULL,
        datasource_id TEXT,
        sql TEXT,
        row_count BIGINT,
        outcome TEXT NOT NULL,
        code TEXT
    );
    CREATE INDEX sqlbot_audit_at ON sqlbot_audit (at DESC);
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

    async def create_chat(self, chat_id: str, title: str, datasource_id: str | None, owner: str = "") -> Chat:
        """Create a chat titled after its first question."""
        now = time.time()
        chat = Chat(chat_id, title[:80], datasource_id, now, now, owner)
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO sqlbot_chat (id, title, datasource_id, created_at, updated_at, owner) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (chat.id, chat.title, chat.datasource_id, now, now, owner),
            )
        return chat

    async def get_chat(self, chat_id: str) -> Chat | None:
        """The chat with ``chat_id``, or None."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM sqlbot_chat WHERE id = %s", (chat_id,))
            row = await cur.fetchone()
        return Chat(**row) if row else None  # type: ignore[arg-type]

    async def list_chats(self, limit: int = 50, offset: int = 0, owner: str | None = None) -> list[Chat]:
        """Chats, most recently active first (only ``owner``'s when given)."""
        where, args = ("WHERE owner = %s ", (owner,)) if owner is not None else ("", ())
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT * FROM sqlbot_chat {where}ORDER BY updated_at DESC LIMIT %s OFFSET %s",
                (*args, limit, offset),
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

    # users, grants, audit

    async def add_user(self, user: StoredUser) -> None:
        """Add a user (a revoked one of the same name is replaced); ValueError if an active one exists."""
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT revoked_at FROM sqlbot_user WHERE name = %s FOR UPDATE", (user.name,))
            row = await cur.fetchone()
            if row is not None and row["revoked_at"] is None:
                raise ValueError(f"user {user.name!r} exists")
            await conn.execute(
                "INSERT INTO sqlbot_user (name, key_hash, roles, attrs, created_at, revoked_at) "
                "VALUES (%s, %s, %s::jsonb, %s::jsonb, %s, NULL) ON CONFLICT (name) DO UPDATE SET "
                "key_hash = excluded.key_hash, roles = excluded.roles, attrs = excluded.attrs, "
                "created_at = excluded.created_at, revoked_at = NULL",
                (user.name, user.key_hash, json.dumps(user.roles), json.dumps(user.attrs), user.created_at),
            )

    @staticmethod
    def _user(row: dict[str, Any]) -> StoredUser:
        return StoredUser(str(row["name"]), str(row["key_hash"]), list(row["roles"]), dict(row["attrs"]),
                          float(row["created_at"]), row["revoked_at"])

    async def list_users(self) -> list[StoredUser]:
        """Every user, revoked ones included, by name."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM sqlbot_user ORDER BY name")
            return [self._user(r) for r in await cur.fetchall()]

    async def revoke_user(self, name: str) -> bool:
        """Revoke a user's key; False when there is no active user of that name."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE sqlbot_user SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL", (time.time(), name)
            )
            return cur.rowcount > 0

    async def user_by_key(self, key_hash: str) -> StoredUser | None:
        """The active user whose key hashes to ``key_hash``."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM sqlbot_user WHERE key_hash = %s AND revoked_at IS NULL", (key_hash,)
            )
            row = await cur.fetchone()
        return self._user(row) if row else None

    async def count_users(self) -> int:
        """How many active users there are."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT COUNT(*) AS n FROM sqlbot_user WHERE revoked_at IS NULL")
            row = await cur.fetchone()
        return int(str(row["n"])) if row else 0

    async def list_grants(self, datasource_id: str | None = None) -> list[Grant]:
        """Grants of one datasource, or of all."""
        where, args = ("WHERE datasource_id = %s ", (datasource_id,)) if datasource_id is not None else ("", ())
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT * FROM sqlbot_grant {where}ORDER BY datasource_id, kind, subject", args
            )
            return [Grant(str(r["datasource_id"]), r["kind"], str(r["subject"]))  # type: ignore[arg-type]
                    for r in await cur.fetchall()]

    async def set_grants(self, datasource_id: str, grants: list[Grant]) -> None:
        """Replace a datasource's grants (one transaction)."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM sqlbot_grant WHERE datasource_id = %s", (datasource_id,))
            for g in grants:
                await conn.execute(
                    "INSERT INTO sqlbot_grant (datasource_id, kind, subject) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (datasource_id, g.kind, g.subject),
                )

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append one entry to the audit log."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO sqlbot_audit (at, user_name, chat_id, record_id, question, datasource_id, sql, row_count, "
                "outcome, code) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (entry.at, entry.user, entry.chat_id, entry.record_id, entry.question, entry.datasource_id,
                 entry.sql, entry.row_count, entry.outcome, entry.code),
            )

    async def list_audit(self, user: str | None = None, since: float | None = None, limit: int = 100) -> list[AuditEntry]:
        """Audit entries, newest first, optionally of one user and after ``since``."""
        clauses, args = audit_filter(user, since, "%s")
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT * FROM sqlbot_audit {clauses}ORDER BY at DESC, id DESC LIMIT %s",
                (*args, limit),
            )
            return [audit_entry(r) for r in await cur.fetchall()]

"""Chats and their records: the :class:`ChatStore` interface and its SQLite implementation (the default).

:class:`SqliteStore` keeps them in the data directory (aiosqlite); ``server.store_postgres.PostgresStore``
keeps them in PostgreSQL when several server processes share them (``SQLBOT_DATABASE_URL``). A chat is a LangGraph thread (``thread_id == chat.id``); a record is one run in it (``record.id == run_id``).
The record is filled from the event stream by :mod:`server.recorder`, so legacy and enhanced clients
record the same way. Checkpoint ids are stored per record so a retry still works after a restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol

import aiosqlite

RecordStatus = Literal["running", "succeeded", "failed", "cancelled", "interrupted"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    datasource_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS record (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL REFERENCES chat(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS record_chat ON record(chat_id, created_at);
CREATE TABLE IF NOT EXISTS app_user (
    name TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    attrs TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS datasource_grant (
    datasource_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    PRIMARY KEY (datasource_id, kind, subject)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    user_name TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    question TEXT NOT NULL,
    datasource_id TEXT,
    sql TEXT,
    row_count INTEGER,
    outcome TEXT NOT NULL,
    code TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
"""


@dataclass
class Chat:
    """A conversation: the LangGraph thread its questions run in."""

    id: str
    title: str
    """The first question, shortened."""
    datasource_id: str | None
    """The datasource the chat was started with (None: chosen per question)."""
    created_at: float
    updated_at: float
    owner: str = ""
    """The user the chat belongs to ("" = nobody: no users were configured when it was created)."""


@dataclass
class StoredUser:
    """A user of the users table (``sqlbot users``); only a hash of the key is kept."""

    name: str
    key_hash: str
    roles: list[str]
    attrs: dict[str, str]
    created_at: float
    revoked_at: float | None = None


@dataclass
class Grant:
    """Who may query a datasource: a user by name or everyone holding a role."""

    datasource_id: str
    kind: Literal["user", "role"]
    subject: str


@dataclass
class AuditEntry:
    """One run as the audit log keeps it: who asked what, which SQL ran where, and how it ended."""

    at: float
    user: str
    chat_id: str
    record_id: str
    question: str
    datasource_id: str | None
    sql: str | None
    row_count: int | None
    outcome: Literal["ok", "error", "refusal", "cancelled", "interrupted"]
    code: str | None = None
    """The error code when the run did not succeed."""
    id: int | None = None


@dataclass
class StepRecord:
    """How one step of a run went."""

    step_id: str
    name: str
    status: Literal["running", "completed", "error", "skipped"]
    duration: int | None = None
    reused: bool = False


@dataclass
class Record:
    """One question asked in a chat and what came of it."""

    id: str
    chat_id: str
    question: str
    locale: str | None
    """The requested locale (None: detected from the question)."""
    datasource_id: str | None = None
    """The datasource the request asked for (None: let the graph choose)."""
    kind: Literal["ask", "regenerate", "edit"] = "ask"
    """How the record came about: a question, a regeneration, or SQL the person edited and ran."""
    status: RecordStatus = "running"
    datasource: dict[str, Any] | None = None
    """The datasource the run used, as the graph reported it."""
    sql: str | None = None
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None
    """Result rows (capped), as arrays in ``columns`` order."""
    row_count: int | None = None
    truncated: bool | None = None
    chart: dict[str, Any] | None = None
    explanation: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    error: dict[str, Any] | None = None
    """The terminal error (protocol ``ErrorInfo`` in wire form) when the run did not succeed."""
    failed_step: str | None = None
    timings: dict[str, Any] = field(default_factory=dict)
    """``total`` wall time and per-step durations, in ms."""
    attempts: int = 1
    """1 for the first run; +1 per retry of the failed step."""
    checkpoint_before: str | None = None
    """The thread's checkpoint id when the run started."""
    checkpoint_after: str | None = None
    """The thread's checkpoint id when the run ended (retry resumes only from this one)."""
    pending: list[str] = field(default_factory=list)
    """Graph nodes still to run when the run ended (non-empty means it can be resumed)."""
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    owner: str = ""
    """The user who asked ("" in open mode)."""

    def to_json(self) -> str:
        """Serialise everything but the key columns."""
        return json.dumps(asdict(self), ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> Record:
        """Rebuild a record from :meth:`to_json` output, ignoring unknown keys."""
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["steps"] = [StepRecord(**s) for s in data.get("steps", [])]
        return cls(**data)


INTERRUPTED_ERROR: dict[str, Any] = {
    "code": "INTERNAL_ERROR",
    "title": "Interrupted",
    "message": "The server stopped while this question was being answered.",
    "canRetry": True,
    "level": "error",
}
"""The error of a record whose run was cut short by a stopped server (it stays retryable)."""


def interrupt(record: Record) -> Record:
    """Mark a record left ``running`` by a process that is gone as ``interrupted`` (retryable)."""
    record.status = "interrupted"
    record.error = record.error or dict(INTERRUPTED_ERROR)
    return record


class ChatStore(Protocol):
    """What the server needs from the chat database, whichever database it is."""

    kind: Literal["sqlite", "postgres"]
    """Which database this is, as ``/healthz`` reports it."""

    async def close(self) -> None:
        """Release the connection(s)."""
        ...

    async def create_chat(self, chat_id: str, title: str, datasource_id: str | None, owner: str = "") -> Chat:
        """Create a chat titled after its first question."""
        ...

    async def get_chat(self, chat_id: str) -> Chat | None:
        """The chat with ``chat_id``, or None."""
        ...

    async def list_chats(self, limit: int = 50, offset: int = 0, owner: str | None = None) -> list[Chat]:
        """Chats, most recently active first (only ``owner``'s when given)."""
        ...

    async def delete_chat(self, chat_id: str) -> bool:
        """Delete a chat and its records; False when there was none."""
        ...

    async def save_record(self, record: Record) -> None:
        """Insert or replace a record and bump its chat's ``updated_at``."""
        ...

    async def get_record(self, record_id: str) -> Record | None:
        """The record with ``record_id``, or None."""
        ...

    async def list_records(self, chat_id: str) -> list[Record]:
        """A chat's records, oldest first."""
        ...

    async def mark_interrupted(self, alive: Callable[[str], Awaitable[bool]] | None = None) -> int:
        """Records left ``running`` whose run is not ``alive`` any more become ``interrupted``; returns how many.

        ``alive(record_id)`` is None for a store used by one process, where no run survives a restart.
        """
        ...

    async def add_user(self, user: StoredUser) -> None:
        """Add a user (a revoked one of the same name is replaced); ValueError if an active one exists."""
        ...

    async def list_users(self) -> list[StoredUser]:
        """Every user, revoked ones included, by name."""
        ...

    async def revoke_user(self, name: str) -> bool:
        """Revoke a user's key; False when there is no active user of that name."""
        ...

    async def user_by_key(self, key_hash: str) -> StoredUser | None:
        """The active user whose key hashes to ``key_hash``."""
        ...

    async def count_users(self) -> int:
        """How many active users there are."""
        ...

    async def list_grants(self, datasource_id: str | None = None) -> list[Grant]:
        """Grants of one datasource, or of all."""
        ...

    async def set_grants(self, datasource_id: str, grants: list[Grant]) -> None:
        """Replace a datasource's grants."""
        ...

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append one entry to the audit log."""
        ...

    async def list_audit(self, user: str | None = None, since: float | None = None, limit: int = 100) -> list[AuditEntry]:
        """Audit entries, newest first, optionally of one user and after ``since``."""
        ...


class SqliteStore:
    """:class:`ChatStore` in a SQLite file. One connection; aiosqlite serialises the calls."""

    kind: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open (and create) the database at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.executescript(_SCHEMA)
        async with conn.execute("PRAGMA table_info(chat)") as cur:
            columns = {row["name"] async for row in cur}
        if "owner" not in columns:  # a store from before users: its chats belong to nobody
            await conn.execute("ALTER TABLE chat ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
        await conn.commit()
        return cls(conn)

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    # chats

    async def create_chat(self, chat_id: str, title: str, datasource_id: str | None, owner: str = "") -> Chat:
        """Create a chat titled after its first question."""
        now = time.time()
        chat = Chat(chat_id, title[:80], datasource_id, now, now, owner)
        await self._conn.execute(
            "INSERT INTO chat (id, title, datasource_id, created_at, updated_at, owner) VALUES (?, ?, ?, ?, ?, ?)",
            (chat.id, chat.title, chat.datasource_id, now, now, owner),
        )
        await self._conn.commit()
        return chat

    async def get_chat(self, chat_id: str) -> Chat | None:
        """The chat with ``chat_id``, or None."""
        async with self._conn.execute("SELECT * FROM chat WHERE id = ?", (chat_id,)) as cur:
            row = await cur.fetchone()
        return Chat(**dict(row)) if row else None

    async def list_chats(self, limit: int = 50, offset: int = 0, owner: str | None = None) -> list[Chat]:
        """Chats, most recently active first (only ``owner``'s when given)."""
        where, args = ("WHERE owner = ? ", (owner,)) if owner is not None else ("", ())
        async with self._conn.execute(
            f"SELECT * FROM chat {where}ORDER BY updated_at DESC LIMIT ? OFFSET ?", (*args, limit, offset)
        ) as cur:
            return [Chat(**dict(r)) async for r in cur]

    async def delete_chat(self, chat_id: str) -> bool:
        """Delete a chat and its records; False when there was none."""
        cur = await self._conn.execute("DELETE FROM chat WHERE id = ?", (chat_id,))
        await self._conn.commit()
        return cur.rowcount > 0

    # records

    async def save_record(self, record: Record) -> None:
        """Insert or replace a record and bump its chat's ``updated_at``."""
        record.updated_at = time.time()
        await self._conn.execute(
            "INSERT INTO record (id, chat_id, body, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET body = excluded.body, status = excluded.status, "
            "updated_at = excluded.updated_at",
            (record.id, record.chat_id, record.to_json(), record.status, record.created_at, record.updated_at),
        )
        await self._conn.execute(
            "UPDATE chat SET updated_at = ? WHERE id = ?", (record.updated_at, record.chat_id)
        )
        await self._conn.commit()

    async def get_record(self, record_id: str) -> Record | None:
        """The record with ``record_id``, or None."""
        async with self._conn.execute("SELECT body FROM record WHERE id = ?", (record_id,)) as cur:
            row = await cur.fetchone()
        return Record.from_json(row["body"]) if row else None

    async def list_records(self, chat_id: str) -> list[Record]:
        """A chat's records, oldest first."""
        async with self._conn.execute(
            "SELECT body FROM record WHERE chat_id = ? ORDER BY created_at", (chat_id,)
        ) as cur:
            return [Record.from_json(r["body"]) async for r in cur]

    async def mark_interrupted(self, alive: Callable[[str], Awaitable[bool]] | None = None) -> int:
        """Records left ``running`` whose run is not ``alive`` any more become ``interrupted``; returns how many."""
        async with self._conn.execute("SELECT body FROM record WHERE status = 'running'") as cur:
            stale = [Record.from_json(r["body"]) async for r in cur]
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
        async with self._conn.execute("SELECT revoked_at FROM app_user WHERE name = ?", (user.name,)) as cur:
            row = await cur.fetchone()
        if row is not None and row["revoked_at"] is None:
            raise ValueError(f"user {user.name!r} exists")
        await self._conn.execute(
            "INSERT OR REPLACE INTO app_user (name, key_hash, roles, attrs, created_at, revoked_at) "
            "VALUES (?, ?, ?, ?, ?, NULL)",
            (user.name, user.key_hash, json.dumps(user.roles), json.dumps(user.attrs), user.created_at),
        )
        await self._conn.commit()

    @staticmethod
    def _user(row: Any) -> StoredUser:
        return StoredUser(row["name"], row["key_hash"], json.loads(row["roles"]), json.loads(row["attrs"]),
                          row["created_at"], row["revoked_at"])

    async def list_users(self) -> list[StoredUser]:
        """Every user, revoked ones included, by name."""
        async with self._conn.execute("SELECT * FROM app_user ORDER BY name") as cur:
            return [self._user(r) async for r in cur]

    async def revoke_user(self, name: str) -> bool:
        """Revoke a user's key; False when there is no active user of that name."""
        cur = await self._conn.execute(
            "UPDATE app_user SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (time.time(), name)
        )
        await self._conn.commit()
        return cur.rowcount > 0

    async def user_by_key(self, key_hash: str) -> StoredUser | None:
        """The active user whose key hashes to ``key_hash``."""
        async with self._conn.execute(
            "SELECT * FROM app_user WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,)
        ) as cur:
            row = await cur.fetchone()
        return self._user(row) if row else None

    async def count_users(self) -> int:
        """How many active users there are."""
        async with self._conn.execute("SELECT COUNT(*) AS n FROM app_user WHERE revoked_at IS NULL") as cur:
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def list_grants(self, datasource_id: str | None = None) -> list[Grant]:
        """Grants of one datasource, or of all."""
        where, args = ("WHERE datasource_id = ? ", (datasource_id,)) if datasource_id is not None else ("", ())
        async with self._conn.execute(
            f"SELECT * FROM datasource_grant {where}ORDER BY datasource_id, kind, subject", args
        ) as cur:
            return [Grant(r["datasource_id"], r["kind"], r["subject"]) async for r in cur]

    async def set_grants(self, datasource_id: str, grants: list[Grant]) -> None:
        """Replace a datasource's grants."""
        await self._conn.execute("DELETE FROM datasource_grant WHERE datasource_id = ?", (datasource_id,))
        await self._conn.executemany(
            "INSERT OR IGNORE INTO datasource_grant (datasource_id, kind, subject) VALUES (?, ?, ?)",
            [(datasource_id, g.kind, g.subject) for g in grants],
        )
        await self._conn.commit()

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append one entry to the audit log."""
        await self._conn.execute(
            "INSERT INTO audit (at, user_name, chat_id, record_id, question, datasource_id, sql, row_count, outcome, "
            "code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.at, entry.user, entry.chat_id, entry.record_id, entry.question, entry.datasource_id, entry.sql,
             entry.row_count, entry.outcome, entry.code),
        )
        await self._conn.commit()

    async def list_audit(self, user: str | None = None, since: float | None = None, limit: int = 100) -> list[AuditEntry]:
        """Audit entries, newest first, optionally of one user and after ``since``."""
        clauses, args = audit_filter(user, since, "?")
        async with self._conn.execute(
            f"SELECT * FROM audit {clauses}ORDER BY at DESC, id DESC LIMIT ?", (*args, limit)
        ) as cur:
            return [audit_entry(dict(r)) async for r in cur]


def audit_filter(user: str | None, since: float | None, mark: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (with ``mark`` placeholders) and arguments of an audit query."""
    parts: list[str] = []
    args: list[Any] = []
    if user is not None:
        parts.append(f"user_name = {mark}")
        args.append(user)
    if since is not None:
        parts.append(f"at >= {mark}")
        args.append(since)
    return ("WHERE " + " AND ".join(parts) + " " if parts else ""), tuple(args)


def audit_entry(row: dict[str, Any]) -> AuditEntry:
    """An audit row (either database) as an :class:`AuditEntry`."""
    return AuditEntry(at=row["at"], user=row["user_name"], chat_id=row["chat_id"], record_id=row["record_id"],
                      question=row["question"], datasource_id=row["datasource_id"], sql=row["sql"],
                      row_count=row["row_count"], outcome=row["outcome"], code=row["code"], id=row["id"])

"""Glossary, examples and instructions kept in the chat store's database (SQLite file or PostgreSQL).

One table holds every item as JSON, keyed by ``(kind, id)``; ``(kind, datasource, key)`` is unique, where the key
is the normalized term for a glossary entry (so a term is defined once per datasource), the id for an example,
and empty for an instruction (one per datasource). :class:`SqliteKnowledge` opens its own connection to the
chat database file; ``knowledge.store_postgres.PostgresKnowledge`` its own small pool on ``SQLBOT_DATABASE_URL``
(a separate module, so the embedded default never imports psycopg).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Literal

import aiosqlite

from knowledge.models import GlossaryEntry, Instruction, KnowledgeBundle, SQLExample
from knowledge.retrieve import bundle, normalize

Kind = Literal["glossary", "example", "instruction"]


class TermExists(Exception):
    """A glossary term is already defined for that datasource."""


class KnowledgeStore(ABC):
    """CRUD over the three kinds, and the per-question bundle the graph asks for."""

    kind: Literal["sqlite", "postgres"]

    @abstractmethod
    async def close(self) -> None:
        """Release the connection(s)."""

    @abstractmethod
    async def _put(self, kind: Kind, ident: str, datasource: str, key: str, body: str) -> None:
        """Insert or replace; raises :class:`TermExists` when ``(kind, datasource, key)`` belongs to another id."""

    @abstractmethod
    async def _list(self, kind: Kind, datasource: str | None) -> list[str]:
        """Bodies of ``kind`` (for ``datasource`` when given), oldest first."""

    @abstractmethod
    async def _delete(self, kind: Kind, ident: str) -> bool:
        """Delete one item; False when there was none."""

    # glossary

    async def put_glossary(self, entry: GlossaryEntry) -> GlossaryEntry:
        """Insert or replace an entry (by id)."""
        await self._put("glossary", entry.id, entry.datasource, normalize(entry.term), entry.model_dump_json())
        return entry

    async def list_glossary(self, datasource: str | None = None) -> list[GlossaryEntry]:
        """Entries of ``datasource`` (global ones are under ``''``), or all."""
        return [GlossaryEntry.model_validate_json(b) for b in await self._list("glossary", datasource)]

    async def get_glossary(self, ident: str) -> GlossaryEntry | None:
        """One entry by id."""
        return next((g for g in await self.list_glossary() if g.id == ident), None)

    async def delete_glossary(self, ident: str) -> bool:
        """Delete an entry."""
        return await self._delete("glossary", ident)

    # examples

    async def put_example(self, example: SQLExample) -> SQLExample:
        """Insert or replace an example (by id)."""
        await self._put("example", example.id, example.datasource, example.id, example.model_dump_json())
        return example

    async def list_examples(self, datasource: str | None = None) -> list[SQLExample]:
        """Examples of ``datasource``, or all."""
        return [SQLExample.model_validate_json(b) for b in await self._list("example", datasource)]

    async def get_example(self, ident: str) -> SQLExample | None:
        """One example by id."""
        return next((e for e in await self.list_examples() if e.id == ident), None)

    async def delete_example(self, ident: str) -> bool:
        """Delete an example."""
        return await self._delete("example", ident)

    # instructions

    async def put_instruction(self, instruction: Instruction) -> Instruction:
        """Set (or, with empty text, clear) a datasource's instruction."""
        if not instruction.text.strip():
            await self._delete("instruction", instruction.datasource)
        else:
            await self._put(
                "instruction", instruction.datasource, instruction.datasource, "", instruction.model_dump_json()
            )
        return instruction

    async def get_instruction(self, datasource: str) -> Instruction:
        """A datasource's instruction (empty text when none)."""
        found = [Instruction.model_validate_json(b) for b in await self._list("instruction", datasource)]
        return found[0] if found else Instruction(datasource=datasource, text="")

    async def list_instructions(self) -> list[Instruction]:
        """Every datasource's instruction."""
        return [Instruction.model_validate_json(b) for b in await self._list("instruction", None)]

    # the graph's view

    async def for_question(self, datasource: str, question: str) -> KnowledgeBundle:
        """Glossary entries mentioned, closest examples and the instruction (a ``KnowledgeSource``)."""
        glossary = await self.list_glossary(datasource) + await self.list_glossary("")
        return bundle(
            question, datasource, glossary, await self.list_examples(datasource),
            (await self.get_instruction(datasource)).text,
        )


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS knowledge (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    datasource TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (kind, id),
    UNIQUE (kind, datasource, key)
);
"""


class SqliteKnowledge(KnowledgeStore):
    """:class:`KnowledgeStore` in the chat store's SQLite file (its own connection; WAL lets both share it)."""

    kind: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path) -> SqliteKnowledge:
        """Open (and create) the table in the database at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.executescript(_SQLITE_SCHEMA)
        await conn.commit()
        return cls(conn)

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def _put(self, kind: Kind, ident: str, datasource: str, key: str, body: str) -> None:
        try:
            await self._conn.execute(
                "INSERT INTO knowledge (kind, id, datasource, key, body, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(kind, id) DO UPDATE SET datasource = excluded.datasource, key = excluded.key, "
                "body = excluded.body, updated_at = excluded.updated_at",
                (kind, ident, datasource, key, body, time.time()),
            )
        except aiosqlite.IntegrityError as exc:
            await self._conn.rollback()
            raise TermExists(key) from exc
        await self._conn.commit()

    async def _list(self, kind: Kind, datasource: str | None) -> list[str]:
        sql = "SELECT body FROM knowledge WHERE kind = ?"
        args: tuple[str, ...] = (kind,)
        if datasource is not None:
            sql, args = sql + " AND datasource = ?", (kind, datasource)
        async with self._conn.execute(sql + " ORDER BY rowid", args) as cur:
            return [r[0] async for r in cur]

    async def _delete(self, kind: Kind, ident: str) -> bool:
        cur = await self._conn.execute("DELETE FROM knowledge WHERE kind = ? AND id = ?", (kind, ident))
        await self._conn.commit()
        return cur.rowcount > 0

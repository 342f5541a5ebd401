"""The knowledge store in PostgreSQL: the same behaviour as the SQLite store."""

from __future__ import annotations

import pytest

from knowledge.models import GlossaryEntry, Instruction, SQLExample
from knowledge.store import SqliteKnowledge, TermExists
from knowledge.store_postgres import PostgresKnowledge
from tests.support.databases import pg_empty  # noqa: F401


async def exercise(store: PostgresKnowledge | SqliteKnowledge) -> None:
    gmv = await store.put_glossary(GlossaryEntry(term="GMV", synonyms=["成交总额"], expression="SUM(sales)",
                                                 datasource="superstore"))
    await store.put_glossary(GlossaryEntry(term="YoY", meaning="year over year"))
    with pytest.raises(TermExists):
        await store.put_glossary(GlossaryEntry(term="gmv", datasource="superstore"))
    await store.put_glossary(GlossaryEntry(term="gmv", datasource="flights"))  # another datasource: allowed
    await store.put_example(SQLExample(question="total sales", sql="SELECT SUM(sales) FROM superstore",
                                       datasource="superstore"))
    await store.put_instruction(Instruction(datasource="superstore", text="rows are order lines"))
    assert [g.term for g in await store.list_glossary("superstore")] == ["GMV"]
    assert (await store.get_glossary(gmv.id)).synonyms == ["成交总额"]  # type: ignore[union-attr]
    found = await store.for_question("superstore", "成交总额 total sales?")
    assert [g.term for g in found.glossary] == ["GMV"] and found.instruction == "rows are order lines"
    assert found.examples[0].example.question == "total sales"
    assert {g.term for g in found.all_glossary} == {"GMV", "YoY"}
    assert await store.delete_glossary(gmv.id) and not await store.delete_glossary(gmv.id)
    await store.put_instruction(Instruction(datasource="superstore", text=""))
    assert (await store.get_instruction("superstore")).text == ""


async def test_postgres_knowledge(pg_empty: str) -> None:  # noqa: F811
    store = await PostgresKnowledge.open(pg_empty)
    try:
        await exercise(store)
    finally:
        await store.close()
    reopened = await PostgresKnowledge.open(pg_empty)  # the table survives and is not created twice
    try:
        assert [g.term for g in await reopened.list_glossary()] == ["YoY", "gmv"]
    finally:
        await reopened.close()


async def test_sqlite_knowledge(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = await SqliteKnowledge.open(tmp_path / "chats.sqlite")
    try:
        await exercise(store)
    finally:
        await store.close()

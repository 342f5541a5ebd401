"""The offline writer with knowledge: glossary terms link like columns, close examples answer directly."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge.models import GlossaryEntry, SQLExample
from knowledge.retrieve import bundle, find_terms, top_examples
from llm.base import SQLRequest, WriterError
from llm.offline import OfflineWriter

GLOSSARY = [
    GlossaryEntry(term="GMV", synonyms=["成交总额"], expression="SUM(sales)", datasource="superstore"),
    GlossaryEntry(term="loss-making", synonyms=["亏损"], expression="profit < 0", datasource="superstore"),
    GlossaryEntry(term="profit margin", synonyms=["利润率"], expression="SUM(profit) / SUM(sales)",
                  datasource="superstore"),
    GlossaryEntry(term="blockbuster", synonyms=["大片"], expression="BoxOffice >= 100000000", datasource="movies"),
    GlossaryEntry(term="rotten", synonyms=["烂片"], expression="Meter < 60", datasource="movies"),
    GlossaryEntry(term="YoY", synonyms=["同比"], meaning="against the same period last year"),
]
EXAMPLES = [
    SQLExample(question="Which states had the most loss-making order lines?", datasource="superstore",
               sql="SELECT state, COUNT(*) AS n FROM superstore WHERE profit < 0 GROUP BY state ORDER BY n DESC LIMIT 5"),
    SQLExample(question="total sales by ship mode", datasource="superstore",
               sql="SELECT ship_mode, SUM(sales) FROM superstore GROUP BY ship_mode"),
]


async def answer(registry: Any, ds: str, question: str, locale: str = "en") -> tuple[str, list[Any], str]:
    knowledge = bundle(question, ds, GLOSSARY, EXAMPLES)
    request = SQLRequest(question, registry.schema(ds), locale=locale, values=registry.values(ds),  # type: ignore[arg-type]
                         knowledge=knowledge)
    draft = await OfflineWriter().write_sql(request, lambda chunk: None)
    result = await registry.connect(ds).run(draft.sql, max_rows=1000, timeout_s=60)
    return draft.sql, [tuple(r) for r in result.rows], draft.interpretation


def gold(registry: Any, ds: str, sql: str) -> list[Any]:
    return [tuple(r) for r in registry.connect(ds).fetchall(sql)]


def test_terms_are_found_longest_first_in_both_languages() -> None:
    hits = find_terms("各地区的利润率和亏损订单", GLOSSARY)
    assert [h.entry.term for h in hits] == ["profit margin", "loss-making"]
    assert [h.entry.term for h in find_terms("How many Loss Making orders? GMVs?", GLOSSARY)] == ["loss-making", "GMV"]
    assert find_terms("migmvx", GLOSSARY) == []  # not inside another word


async def test_measure_term_becomes_the_aggregate(offline_registry: Any) -> None:
    sql, rows, readback = await answer(offline_registry, "superstore", "GMV by region")
    assert sorted(rows) == sorted(gold(offline_registry, "superstore",
                                       "SELECT region, SUM(sales) FROM superstore GROUP BY region"))
    assert "SUM(sales)" in sql and "glossary: 'GMV' = SUM(sales)" in readback


async def test_filter_term_in_chinese_is_anded_into_where(offline_registry: Any) -> None:
    sql, rows, readback = await answer(offline_registry, "superstore", "家具类的亏损订单有多少？", "zh")
    assert rows == gold(offline_registry, "superstore",
                        "SELECT COUNT(*) FROM superstore WHERE profit < 0 AND category = 'Furniture'")
    assert "profit < 0" in sql and "术语表" in readback and "loss-making" in readback


async def test_ratio_measure_with_filter_term(offline_registry: Any) -> None:
    _, rows, _ = await answer(offline_registry, "superstore", "What is the profit margin of loss-making orders?")
    assert rows == gold(offline_registry, "superstore",
                        "SELECT SUM(profit) / SUM(sales) FROM superstore WHERE profit < 0")


async def test_filter_term_alone_names_its_table(offline_registry: Any) -> None:
    sql, rows, _ = await answer(offline_registry, "movies", "How many blockbusters are there?")
    assert rows == gold(offline_registry, "movies", "SELECT COUNT(*) FROM tomatoes WHERE BoxOffice >= 100000000")


async def test_without_the_glossary_the_term_is_not_guessed(offline_registry: Any) -> None:
    request = SQLRequest("How many blockbusters are there?", offline_registry.schema("movies"),
                         values=offline_registry.values("movies"))
    with pytest.raises(WriterError):
        await OfflineWriter().write_sql(request, lambda chunk: None)


def test_examples_are_ranked_by_similarity() -> None:
    matches = top_examples("total sales per ship mode", EXAMPLES)
    assert matches[0].example.question == "total sales by ship mode" and matches[0].score > 80
    assert top_examples("average runtime of dramas", EXAMPLES) == []


async def test_a_close_example_answers_and_is_cited(offline_registry: Any) -> None:
    sql, rows, readback = await answer(offline_registry, "superstore",
                                       "Which states had the most loss-making order lines")
    assert sql == EXAMPLES[0].sql and len(rows) == 5
    assert "saved example 'Which states had the most loss-making order lines?'" in readback


async def test_a_longer_or_different_question_is_not_answered_from_an_example(offline_registry: Any) -> None:
    sql, _, readback = await answer(offline_registry, "superstore", "total sales by ship mode for Furniture")
    assert "Furniture" in sql and "saved example" not in readback
    sql, _, readback = await answer(offline_registry, "superstore", "Total sales by ship mode")  # same words: answered
    assert sql == EXAMPLES[1].sql and "saved example" in readback


def test_literals_must_match_to_answer_from_an_example() -> None:
    from llm.offline.examples import answering_example

    example = SQLExample(question="total sales in 2015", sql="SELECT 1", datasource="superstore")
    assert answering_example("total sales in 2015?", tuple(top_examples("total sales in 2015?", [example])))
    assert answering_example("total sales in 2016", tuple(top_examples("total sales in 2016", [example]))) is None


async def test_a_term_inside_a_name_the_schema_uses_is_not_linked(offline_registry: Any) -> None:
    sql, _, readback = await answer(offline_registry, "movies", "Which movie has the most reviews on Rotten Tomatoes?")
    assert "Meter" not in sql and "glossary" not in readback
    sql, _, _ = await answer(offline_registry, "movies", "How many rotten movies are there?")
    assert "Meter < 60" in sql

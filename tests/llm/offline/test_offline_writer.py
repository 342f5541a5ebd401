"""The offline writer, shape by shape, judged by the rows its SQL returns on the demo databases."""

from typing import Any

import pytest

from datasources.schema import Column, ForeignKey, Schema, Table
from llm.base import Chunk, ExplainRequest, SQLRequest, WriterError
from llm.offline import OfflineWriter, analyze_question, score_question
from llm.offline.text import tokenize


async def ask(
    registry: Any, ds: str, question: str, locale: str = "en"
) -> tuple[list[str], list[tuple[Any, ...]], list[Chunk]]:
    chunks: list[Chunk] = []
    request = SQLRequest(question, registry.schema(ds), locale=locale, values=registry.values(ds))  # type: ignore[arg-type]
    draft = await OfflineWriter().write_sql(request, chunks.append)
    result = await registry.connect(ds).run(draft.sql, max_rows=100_000, timeout_s=60)
    return list(result.columns), [tuple(r) for r in result.rows], chunks


def rows_of(registry: Any, ds: str, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in registry.connect(ds).fetchall(sql)]


async def test_count_with_value_and_month_filters(offline_registry: Any) -> None:
    _, rows, _ = await ask(offline_registry, "flights", "how many flights departed from EWR in March?")
    assert rows == rows_of(
        offline_registry, "flights", "SELECT COUNT(*) FROM flights WHERE origin='EWR' AND month=3"
    )


async def test_average_grouped_through_a_foreign_key_names_the_group(offline_registry: Any) -> None:
    cols, rows, chunks = await ask(offline_registry, "flights", "average arrival delay per airline")
    assert len(rows) == 16
    names = {r[cols.index("airlines_name")] for r in rows}
    assert "Delta Air Lines Inc." in names
    assert any("airline" in c.reasoning for c in chunks)
    assert sum(1 for c in chunks if c.text) >= 2  # the SQL streams in pieces


async def test_top_n_orders_by_the_measure(offline_registry: Any) -> None:
    _, rows, _ = await ask(offline_registry, "superstore", "top 3 states by profit")
    expected = rows_of(
        offline_registry,
        "superstore",
        "SELECT state, SUM(profit) p FROM superstore GROUP BY 1 ORDER BY 2 DESC LIMIT 3",
    )
    assert [r[0] for r in rows] == [r[0] for r in expected]


async def test_which_with_superlative_returns_one_group(offline_registry: Any) -> None:
    _, rows, _ = await ask(offline_registry, "superstore", "which region has the lowest total sales")
    assert [r[0] for r in rows] == ["South"]


async def test_group_by_two_dimensions(offline_registry: Any) -> None:
    _, rows, _ = await ask(offline_registry, "superstore", "number of orders by region and segment")
    assert len(rows) == 12


async def test_numeric_comparison_in_hours_scales_to_minutes(offline_registry: Any) -> None:
    _, rows, _ = await ask(
        offline_registry, "flights", "count flights with a departure delay of more than 3 hours"
    )
    assert rows == rows_of(offline_registry, "flights", "SELECT COUNT(*) FROM flights WHERE dep_delay > 180")


async def test_time_bucket_is_ordered_by_time(offline_registry: Any) -> None:
    cols, rows, _ = await ask(offline_registry, "flights", "monthly average departure delay")
    assert [r[0] for r in rows] == list(range(1, 13))


async def test_distinct_count(offline_registry: Any) -> None:
    _, rows, _ = await ask(offline_registry, "superstore", "how many different cities are there")
    assert rows == rows_of(offline_registry, "superstore", "SELECT COUNT(DISTINCT city) FROM superstore")


async def test_ratio(offline_registry: Any) -> None:
    _, rows, _ = await ask(offline_registry, "superstore", "what percentage of orders are unprofitable")
    expected = rows_of(
        offline_registry,
        "superstore",
        "SELECT 100.0 * AVG(CASE WHEN profit < 0 THEN 1 ELSE 0 END) FROM superstore",
    )
    assert rows[0][0] == pytest.approx(expected[0][0])


async def test_year_filter_and_list_value(offline_registry: Any) -> None:
    _, rows, _ = await ask(offline_registry, "movies", "how many dramas were released after 2005")
    expected = rows_of(
        offline_registry, "movies", "SELECT COUNT(*) FROM omdb WHERE Genre LIKE '%Drama%' AND Year > 2005"
    )
    assert rows == expected


async def test_value_linking_of_a_person(offline_registry: Any) -> None:
    cols, rows, chunks = await ask(offline_registry, "movies", "list the movies directed by Alfred Hitchcock")
    assert "Psycho" in {r[cols.index("Title")] for r in rows}
    assert any("Director" in c.reasoning for c in chunks)


async def test_row_level_superlative_joins_the_title(offline_registry: Any) -> None:
    cols, rows, _ = await ask(offline_registry, "movies", "which movie had the highest box office")
    assert rows[0][cols.index("Title")] == "Avatar"


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        ("各地区的平均利润", "SELECT region, AVG(profit) FROM superstore GROUP BY 1 ORDER BY 1"),
        ("家具类的销售额是多少", "SELECT SUM(sales) FROM superstore WHERE category = 'Furniture'"),
        (
            "利润最低的3个子类别",
            "SELECT sub_category, SUM(profit) p FROM superstore GROUP BY 1 ORDER BY 2 LIMIT 3",
        ),
    ],
)
async def test_chinese_questions(offline_registry: Any, question: str, sql: str) -> None:
    _, rows, _ = await ask(offline_registry, "superstore", question, "zh")
    expected = rows_of(offline_registry, "superstore", sql)
    assert [r[0] for r in rows] == [r[0] for r in expected]
    assert [r[-1] for r in rows] == pytest.approx([r[-1] for r in expected])


def test_chinese_segmentation_splits_cue_and_column() -> None:
    words = [t.text for t in tokenize("各地区的总销售额")]
    assert words[:2] == ["各", "地区"]
    assert "销售额" in words
    lemmas = [t.lemma for t in tokenize("哪个航空公司的平均延误最高")]
    assert "airline" in lemmas and "delay" in lemmas


async def test_unlinkable_question_is_refused_not_guessed(offline_registry: Any) -> None:
    request = SQLRequest("what is the meaning of zorblax", offline_registry.schema("superstore"))
    with pytest.raises(WriterError) as err:
        await OfflineWriter().write_sql(request, lambda c: None)
    assert err.value.kind == "not_understood"


async def test_repair_without_a_named_column_gives_up() -> None:
    schema = Schema("x", "duckdb", (Table("t", (Column("a", "INTEGER"),)),))
    request = SQLRequest("total a", schema, failed_sql="SELECT 1", error="something odd")
    with pytest.raises(WriterError):
        await OfflineWriter().write_sql(request, lambda c: None)


@pytest.mark.parametrize(
    "text", ["", "hello", "write me a poem about the sea", "asdkjh qwpoe zxcm", "你好", "讲个笑话"]
)
def test_non_questions_are_rejected(text: str) -> None:
    assert not analyze_question(text).is_data_question


@pytest.mark.parametrize(
    "text", ["total sales by region", "各地区的总销售额", "how many flights to LAX", "哪个导演的电影最多"]
)
def test_data_questions_are_accepted(text: str) -> None:
    analysis = analyze_question(text)
    assert analysis.is_data_question
    assert analysis.language == ("zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("average departure delay by airline", "flights"),
        ("每个月的航班数量", "flights"),
        ("total profit by region", "superstore"),
        ("各类别的销售额", "superstore"),
        ("which director made the most films", "movies"),
        ("票房最高的电影", "movies"),
    ],
)
def test_datasource_scoring_picks_the_right_datasource(
    offline_registry: Any, question: str, expected: str
) -> None:
    scores = {
        ds: score_question(question, offline_registry.schema(ds), offline_registry.values(ds)).score
        for ds in ("flights", "superstore", "movies")
    }
    assert max(scores, key=lambda k: scores[k]) == expected, scores


async def test_works_on_a_user_table_without_descriptions(tmp_path: Any) -> None:
    import duckdb

    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE orders (customer_name VARCHAR, product VARCHAR, amount DOUBLE, order_date DATE)"
    )
    con.execute(
        "INSERT INTO orders VALUES ('Ann','Pen',3.5,'2024-01-03'),('Bob','Ink',10,'2024-02-01'),('Ann','Ink',8,'2024-02-09')"
    )
    schema = Schema(
        "shop",
        "duckdb",
        (
            Table(
                "orders",
                (
                    Column("customer_name", "VARCHAR", sample_values=("Ann", "Bob")),
                    Column("product", "VARCHAR", sample_values=("Ink", "Pen")),
                    Column("amount", "DOUBLE"),
                    Column("order_date", "DATE"),
                ),
                row_count=3,
            ),
        ),
    )
    writer = OfflineWriter()
    draft = await writer.write_sql(SQLRequest("total amount per customer", schema), lambda c: None)
    assert sorted(con.execute(draft.sql).fetchall()) == [("Ann", 11.5), ("Bob", 10.0)]
    draft = await writer.write_sql(SQLRequest("monthly total amount", schema), lambda c: None)
    assert [r[-1] for r in con.execute(draft.sql).fetchall()] == [3.5, 18.0]
    draft = await writer.write_sql(SQLRequest("how many orders of Ink", schema), lambda c: None)
    assert con.execute(draft.sql).fetchall() == [(2,)]


async def test_explain_describes_the_range_in_both_locales() -> None:
    rows = [("US Airways", 1.6), ("Frontier", 20.0), ("Delta", 9.3)]
    request = ExplainRequest("avg delay by airline", "SELECT ...", ["name", "avg_dep_delay"], rows, 3, False)
    chunks: list[Chunk] = []
    text = await OfflineWriter().explain(request, chunks.append)
    assert "1.6" in text and "US Airways" in text and "20.0" in text and "Frontier" in text
    assert len(chunks) >= 2 and "".join(c.text for c in chunks) == text
    zh = await OfflineWriter().explain(
        ExplainRequest("q", "s", ["name", "v"], rows, 3, False, locale="zh"), lambda c: None
    )
    assert "Frontier" in zh and "从" in zh


def test_foreign_key_is_unused_when_not_needed() -> None:
    fk = ForeignKey("b_id", "b", "id")
    assert fk.ref_table == "b"

"""Capabilities added for held-out questions, judged by the rows the written SQL returns."""

from typing import Any

import pytest

from llm.base import SQLRequest, WriterError
from llm.offline import OfflineWriter


async def run(registry: Any, ds: str, question: str) -> list[tuple[Any, ...]]:
    request = SQLRequest(question, registry.schema(ds), values=registry.values(ds))  # type: ignore[arg-type]
    draft = await OfflineWriter().write_sql(request, lambda c: None)
    result = await registry.connect(ds).run(draft.sql, max_rows=100_000, timeout_s=60)
    return [tuple(r) for r in result.rows]


def rows_of(registry: Any, ds: str, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in registry.connect(ds).fetchall(sql)]


def first_column(rows: list[tuple[Any, ...]]) -> set[Any]:
    return {r[0] for r in rows}


async def test_row_filter_stays_a_where_when_rows_are_named(offline_registry: Any) -> None:
    rows = await run(offline_registry, "superstore", "how many orders have negative profit")
    assert rows == rows_of(offline_registry, "superstore", "SELECT COUNT(*) FROM superstore WHERE profit < 0")


async def test_category_list_column_is_grouped_by_item(offline_registry: Any) -> None:
    rows = dict(await run(offline_registry, "movies", "how many movies per genre"))
    assert "Action, Adventure" not in rows
    assert (
        rows["Comedy"]
        == rows_of(offline_registry, "movies", "SELECT COUNT(*) FROM omdb WHERE Genre LIKE '%Comedy%'")[0][0]
    )


async def test_unlinkable_comparison_is_refused(offline_registry: Any) -> None:
    with pytest.raises(WriterError) as err:
        await run(offline_registry, "superstore", "orders with a flurbness above 8")
    assert err.value.kind == "not_understood"


async def test_numeric_reading_of_an_ambiguous_word_under_a_comparison(offline_registry: Any) -> None:
    rows = await run(offline_registry, "movies", "movies released after 2010 with rating above 8")
    expected = rows_of(
        offline_registry,
        "movies",
        "SELECT o.Title FROM omdb o JOIN tomatoes t ON o.ID = t.ID WHERE o.Year > 2010 AND t.Rating > 8",
    )
    assert sorted(r[0] for r in rows) == sorted(r[0] for r in expected)


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        (
            "average tomatometer of dramas released in the 90s",
            "WHERE o.Genre LIKE '%Drama%' AND o.Year BETWEEN 1990 AND 1999",
        ),
        (
            "average tomatometer of dramas from 2000 onwards",
            "WHERE o.Genre LIKE '%Drama%' AND o.Year >= 2000",
        ),
    ],
)
async def test_year_ranges_through_a_one_to_one_table(offline_registry: Any, question: str, sql: str) -> None:
    rows = await run(offline_registry, "movies", question)
    expected = rows_of(
        offline_registry, "movies", f"SELECT AVG(t.Meter) FROM omdb o JOIN tomatoes t ON o.ID = t.ID {sql}"
    )
    assert rows[0][0] == pytest.approx(expected[0][0])


async def test_min_and_max_of_one_column(offline_registry: Any) -> None:
    rows = await run(offline_registry, "flights", "min and max air time for flights to SFO")
    expected = rows_of(
        offline_registry, "flights", "SELECT MIN(air_time), MAX(air_time) FROM flights WHERE dest = 'SFO'"
    )
    assert set(rows[0]) == set(expected[0])


async def test_worst_first_orders_without_a_limit(offline_registry: Any) -> None:
    rows = await run(offline_registry, "superstore", "show me profit by state, worst first")
    assert len(rows) == 49
    assert rows[0][0] == "Texas"


async def test_minutes_late_is_a_delay_condition_in_a_percentage(offline_registry: Any) -> None:
    rows = await run(offline_registry, "flights", "what % of JFK departures left more than 30 min late")
    expected = rows_of(
        offline_registry,
        "flights",
        "SELECT 100.0 * AVG(CASE WHEN dep_delay > 30 THEN 1 ELSE 0 END) FROM flights WHERE origin = 'JFK'",
    )
    assert rows[0][0] == pytest.approx(expected[0][0])


async def test_code_next_to_its_column(offline_registry: Any) -> None:
    rows = await run(offline_registry, "movies", "how many R rated movies are there")
    assert rows == rows_of(offline_registry, "movies", "SELECT COUNT(*) FROM omdb WHERE Rating = 'R'")


async def test_day_of_week_bucket(offline_registry: Any) -> None:
    rows = await run(offline_registry, "flights", "number of flights by day of the week")
    assert len(rows) == 7


async def test_superlative_names_its_measure(offline_registry: Any) -> None:
    rows = await run(offline_registry, "flights", "which origin had the windiest days")
    assert rows[0][0] == "JFK"


async def test_duration_unit_without_a_column(offline_registry: Any) -> None:
    rows = await run(offline_registry, "movies", "films longer than 3 hours")
    assert (
        len(rows)
        == rows_of(offline_registry, "movies", "SELECT COUNT(*) FROM omdb WHERE Runtime > 180")[0][0]
    )


async def test_rows_with_their_measure(offline_registry: Any) -> None:
    rows = await run(offline_registry, "movies", "Christopher Nolan films and their box office")
    assert len(rows) == 9


async def test_group_word_beside_an_excluded_value_still_groups(offline_registry: Any) -> None:
    rows = await run(offline_registry, "flights", "number of planes per engine type, excluding Turbo-fan")
    assert len(rows) == 5 and "Turbo-fan" not in first_column(rows)

"""Analyst phrasings: named periods, units, comparisons, shares, absence and equality, judged by executed rows."""

from typing import Any

import pytest

from evals.accuracy import compare_results
from llm.base import SQLRequest, WriterError
from llm.offline import OfflineWriter


async def answers_like(registry: Any, ds: str, question: str, gold: str) -> bool:
    """Whether the offline writer's SQL returns what ``gold`` returns (the accuracy eval's rule, unordered)."""
    request = SQLRequest(question, registry.schema(ds), values=registry.values(ds))  # type: ignore[arg-type]
    draft = await OfflineWriter().write_sql(request, lambda c: None)
    conn = registry.connect(ds)
    pred = await conn.run(draft.sql, max_rows=100_000, timeout_s=60)
    expected = await conn.run(gold, max_rows=100_000, timeout_s=60)
    return compare_results(expected.columns, expected.rows, pred.columns, pred.rows, ordered=False)


@pytest.mark.parametrize(
    ("ds", "question", "gold"),
    [
        (
            "flights",
            "how many flights in the first half of the year",
            "SELECT COUNT(*) FROM flights WHERE month <= 6",
        ),
        (
            "flights",
            "上半年从JFK出发的航班有多少",
            "SELECT COUNT(*) FROM flights WHERE origin = 'JFK' AND month <= 6",
        ),
        (
            "flights",
            "统计每家航司第四季度的航班数",
            "SELECT carrier, COUNT(*) FROM flights WHERE month >= 10 GROUP BY carrier",
        ),
        (
            "flights",
            "winter flights from JFK - how many",
            "SELECT COUNT(*) FROM flights WHERE origin = 'JFK' AND month IN (12, 1, 2)",
        ),
        (
            "flights",
            "LGA夏季的平均湿度",
            "SELECT AVG(humid) FROM weather WHERE origin = 'LGA' AND month BETWEEN 6 AND 8",
        ),
        (
            "flights",
            "average wind speed at EWR on weekends",
            "SELECT AVG(wind_speed) FROM weather WHERE origin = 'EWR' AND dayofweek(time_hour) IN (0, 6)",
        ),
    ],
)
async def test_named_periods_filter_months_and_weekdays(
    offline_registry: Any, ds: str, question: str, gold: str
) -> None:
    assert await answers_like(offline_registry, ds, question, gold)


async def test_named_period_without_a_date_is_refused(offline_registry: Any) -> None:
    with pytest.raises(WriterError) as err:
        await answers_like(offline_registry, "superstore", "total sales in the summer", "SELECT 1")
    assert err.value.kind == "not_understood"


@pytest.mark.parametrize(
    ("ds", "question", "gold"),
    [
        (
            "flights",
            "total air time in hours for United flights",
            "SELECT SUM(f.air_time) / 60.0 FROM flights f JOIN airlines a ON f.carrier = a.carrier "
            "WHERE a.name = 'United Air Lines Inc.'",
        ),
        (
            "superstore",
            "give me total income in thousands by region",
            "SELECT region, SUM(sales) / 1000.0 FROM superstore GROUP BY region",
        ),
        (
            "superstore",
            "各地区的销售额，以万为单位",
            "SELECT region, SUM(sales) / 10000.0 FROM superstore GROUP BY region",
        ),
    ],
)
async def test_answer_in_the_unit_asked_for(offline_registry: Any, ds: str, question: str, gold: str) -> None:
    assert await answers_like(offline_registry, ds, question, gold)


@pytest.mark.parametrize(
    ("ds", "question", "gold"),
    [
        (
            "flights",
            "compare the average departure delay of JFK and LGA",
            "SELECT origin, AVG(dep_delay) FROM flights WHERE origin IN ('JFK', 'LGA') GROUP BY origin",
        ),
        (
            "superstore",
            "compare sales and profit for Furniture vs Office Supplies",
            "SELECT category, SUM(sales), SUM(profit) FROM superstore "
            "WHERE category IN ('Furniture', 'Office Supplies') GROUP BY category",
        ),
        (
            "movies",
            "average runtime of horror films vs comedies",
            "SELECT 'Horror', AVG(Runtime) FROM omdb WHERE Genre LIKE '%Horror%' "
            "UNION ALL SELECT 'Comedy', AVG(Runtime) FROM omdb WHERE Genre LIKE '%Comedy%'",
        ),
    ],
)
async def test_compared_values_become_groups(
    offline_registry: Any, ds: str, question: str, gold: str
) -> None:
    assert await answers_like(offline_registry, ds, question, gold)


@pytest.mark.parametrize(
    ("ds", "question", "gold"),
    [
        (
            "superstore",
            "list the states in the Central region",
            "SELECT DISTINCT state FROM superstore WHERE region = 'Central'",
        ),
        (
            "flights",
            "飞往ATL的航班占全部航班的比例",
            "SELECT 100.0 * SUM(CASE WHEN dest = 'ATL' THEN 1 ELSE 0 END) / COUNT(*) FROM flights",
        ),
        (
            "movies",
            "获得奥斯卡奖的电影占比",
            "SELECT 100.0 * SUM(CASE WHEN Oscars > 0 THEN 1 ELSE 0 END) / COUNT(*) FROM omdb",
        ),
        (
            "superstore",
            "average sales for orders with no discount",
            "SELECT AVG(sales) FROM superstore WHERE discount = 0",
        ),
        (
            "flights",
            "how many flights had no departure delay",
            "SELECT COUNT(*) FROM flights WHERE dep_delay <= 0",
        ),
        (
            "movies",
            "number of films with a tomatometer of 100",
            "SELECT COUNT(*) FROM tomatoes WHERE Meter = 100",
        ),
        (
            "superstore",
            "纽约市的订单数量和总利润",
            "SELECT COUNT(*), SUM(profit) FROM superstore WHERE city = 'New York City'",
        ),
        (
            "flights",
            "flights between 1000 and 2000 miles - how many?",
            "SELECT COUNT(*) FROM flights WHERE distance BETWEEN 1000 AND 2000",
        ),
    ],
)
async def test_shapes_of_everyday_phrasing(offline_registry: Any, ds: str, question: str, gold: str) -> None:
    assert await answers_like(offline_registry, ds, question, gold)


@pytest.mark.parametrize(
    ("ds", "question", "gold"),
    [
        (
            "movies",
            "各类型影片的平均评分",
            "WITH RECURSIVE split(id, g, rest) AS (SELECT ID, '', Genre || ',' FROM omdb UNION ALL SELECT id, "
            "trim(substr(rest, 1, instr(rest, ',') - 1)), substr(rest, instr(rest, ',') + 1) FROM split "
            "WHERE rest <> '') SELECT g, AVG(t.Rating) FROM split JOIN tomatoes t ON t.ID = split.id "
            "WHERE g <> '' GROUP BY g",
        ),
        (
            "movies",
            "90年代以来每年上映的影片数量",
            "SELECT Year, COUNT(*) FROM omdb WHERE Year >= 1990 GROUP BY Year",
        ),
        (
            "movies",
            "French films released after 2000 - how many?",
            "SELECT COUNT(*) FROM omdb WHERE Language LIKE '%French%' AND Year > 2000",
        ),
        (
            "movies",
            "what's the highest-grossing comedy",
            "SELECT o.Title FROM omdb o JOIN tomatoes t ON o.ID = t.ID WHERE o.Genre LIKE '%Comedy%' "
            "ORDER BY t.BoxOffice DESC NULLS LAST LIMIT 1",
        ),
    ],
)
async def test_readings_of_ambiguous_words(offline_registry: Any, ds: str, question: str, gold: str) -> None:
    assert await answers_like(offline_registry, ds, question, gold)


async def test_a_comparator_leading_to_its_own_number_leaves_the_year_alone(offline_registry: Any) -> None:
    gold = (
        "SELECT o.Title FROM omdb o JOIN tomatoes t ON o.ID = t.ID "
        "WHERE o.Genre LIKE '%Drama%' AND o.Year = 2012 AND t.Meter > 90"
    )
    assert await answers_like(offline_registry, "movies", "list dramas from 2012 with a meter above 90", gold)

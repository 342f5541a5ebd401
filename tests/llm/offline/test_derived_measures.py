"""Derived measures and group-wise rankings: ratios of sums, averages of per-period counts, top rows per
group, ranges written A到B…之间, and date verbs absorbed by their filter — judged by executed rows."""

from typing import Any

import pytest

from tests.llm.offline.test_analyst_phrasing import answers_like


@pytest.mark.parametrize(
    ("ds", "question", "gold"),
    [
        (
            "superstore",
            "profit margin by segment",
            "SELECT segment, SUM(profit) / SUM(sales) FROM superstore GROUP BY segment",
        ),
        (
            "superstore",
            "各类别的毛利率",
            "SELECT category, SUM(profit) / SUM(sales) FROM superstore GROUP BY category",
        ),
        (
            "superstore",
            "sales per unit by ship mode",
            "SELECT ship_mode, SUM(sales) / SUM(quantity) FROM superstore GROUP BY ship_mode",
        ),
    ],
)
async def test_ratios_are_sums_divided(offline_registry: Any, ds: str, question: str, gold: str) -> None:
    assert await answers_like(offline_registry, ds, question, gold)


@pytest.mark.parametrize(
    ("question", "gold"),
    [
        (
            "average number of flights per day from LGA",
            "SELECT AVG(n) FROM (SELECT year, month, day, COUNT(*) AS n FROM flights WHERE origin = 'LGA' "
            "GROUP BY year, month, day)",
        ),
        (
            "每天平均有多少个航班飞往ATL",
            "SELECT AVG(n) FROM (SELECT year, month, day, COUNT(*) AS n FROM flights WHERE dest = 'ATL' "
            "GROUP BY year, month, day)",
        ),
        (
            "average daily flights by origin",
            "SELECT origin, AVG(n) FROM (SELECT origin, year, month, day, COUNT(*) AS n FROM flights "
            "GROUP BY origin, year, month, day) GROUP BY origin",
        ),
    ],
)
async def test_average_of_a_count_per_calendar_day(offline_registry: Any, question: str, gold: str) -> None:
    assert await answers_like(offline_registry, "flights", question, gold)


@pytest.mark.parametrize(
    ("ds", "question", "gold"),
    [
        (
            "superstore",
            "the best selling sub-category in each region",
            "SELECT region, sub_category FROM (SELECT region, sub_category, RANK() OVER (PARTITION BY region "
            "ORDER BY SUM(sales) DESC) AS r FROM superstore GROUP BY region, sub_category) WHERE r = 1",
        ),
        (
            "superstore",
            "每个地区利润最高的州",
            "SELECT region, state FROM (SELECT region, state, RANK() OVER (PARTITION BY region "
            "ORDER BY SUM(profit) DESC) AS r FROM superstore GROUP BY region, state) WHERE r = 1",
        ),
    ],
)
async def test_top_row_within_each_group(offline_registry: Any, ds: str, question: str, gold: str) -> None:
    assert await answers_like(offline_registry, ds, question, gold)


@pytest.mark.parametrize(
    ("ds", "question", "gold"),
    [
        (
            "superstore",
            "折扣在0.1到0.3之间的订单有多少",
            "SELECT COUNT(*) FROM superstore WHERE discount BETWEEN 0.1 AND 0.3",
        ),
        ("movies", "how many films released in 1999", "SELECT COUNT(*) FROM omdb WHERE Year = 1999"),
        (
            "movies",
            "average oscars of films shorter than 90 minutes",
            "SELECT AVG(Oscars) FROM omdb WHERE Runtime < 90",
        ),
        (
            "superstore",
            "how many orders lost money in the East",
            "SELECT COUNT(*) FROM superstore WHERE region = 'East' AND profit < 0",
        ),
        (
            "movies",
            "票房低于1000万的电影有多少部",
            "SELECT COUNT(*) FROM tomatoes WHERE BoxOffice < 10000000",
        ),
        (
            "superstore",
            "各州的销售额，前3名",
            "SELECT state, SUM(sales) AS s FROM superstore GROUP BY state ORDER BY s DESC LIMIT 3",
        ),
        (
            "flights",
            "哪个月的航班最多",
            "SELECT month, COUNT(*) AS n FROM flights GROUP BY month ORDER BY n DESC LIMIT 1",
        ),
    ],
)
async def test_ranges_date_verbs_and_conditions(
    offline_registry: Any, ds: str, question: str, gold: str
) -> None:
    assert await answers_like(offline_registry, ds, question, gold)

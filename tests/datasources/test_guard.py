"""The SQL guard, driven by fixtures/guard.sql, plus row limiting checked against the real databases."""

import pytest

from datasources.guard import SQLRejected, check_sql, limit_rows
from datasources.registry import Registry
from tests.datasources.cases import Case, load_cases

CASES = load_cases("guard.sql")


def test_fixture_file_parses() -> None:
    assert len(CASES) > 80
    assert {c.verdict for c in CASES} == {"allow", "refuse"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_guard_case(case: Case, registry: Registry) -> None:
    schema = registry.schema(case.datasource)
    if case.verdict == "allow":
        check_sql(case.sql, schema)
        return
    with pytest.raises(SQLRejected) as info:
        check_sql(case.sql, schema)
    if case.kind:
        assert info.value.kind == case.kind, info.value.message
    assert info.value.message.endswith((".", ")")), "messages are whole sentences"


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict == "allow"], ids=lambda c: f"L{c.line}")
async def test_allowed_queries_run(case: Case, registry: Registry) -> None:
    """Everything the guard lets through must also be valid for the database once limited."""
    schema = registry.schema(case.datasource)
    sql = limit_rows(check_sql(case.sql, schema), 5, schema.dialect)
    result = await registry.connect(case.datasource).run(sql, max_rows=5, timeout_s=10)
    assert result.row_count <= 5


def test_messages_name_the_problem(registry: Registry) -> None:
    schema = registry.schema("flights")
    with pytest.raises(SQLRejected, match="flights, airlines, airports, planes, weather"):
        check_sql("SELECT * FROM passengers", schema)
    with pytest.raises(SQLRejected, match="read_csv"):
        check_sql("SELECT * FROM read_csv('/etc/passwd')", schema)
    with pytest.raises(SQLRejected, match="DELETE"):
        check_sql("WITH x AS (DELETE FROM flights RETURNING *) SELECT * FROM x", schema)
    with pytest.raises(SQLRejected, match="one statement") as info:
        check_sql("SELECT 1; DROP TABLE x", schema)
    assert info.value.kind == "permission"


def test_syntax_error_carries_parser_message(registry: Registry) -> None:
    with pytest.raises(SQLRejected) as info:
        check_sql("SELECT * FROM flights WHERE", registry.schema("flights"))
    assert info.value.kind == "syntax"
    assert info.value.detail


async def test_limit_rows_caps_outer_rows_but_aggregates_see_all(registry: Registry) -> None:
    schema = registry.schema("flights")
    expr = check_sql("SELECT origin, count(*) AS n FROM flights GROUP BY origin ORDER BY n DESC", schema)
    sql = limit_rows(expr, 2, "duckdb")
    result = await registry.connect("flights").run(sql, max_rows=1, timeout_s=10)
    assert result.truncated and result.row_count == 1
    # EWR has the most 2013 departures: 120,835. The count is over all rows, not the first two.
    assert result.rows == [["EWR", 120835]]


@pytest.mark.parametrize(
    ("datasource", "sql", "key"),
    [
        ("flights", "SELECT dep_delay FROM flights WHERE dep_delay IS NOT NULL ORDER BY dep_delay DESC", 0),
        ("flights", "SELECT carrier, sum(distance) AS d FROM flights GROUP BY 1 ORDER BY d", 1),
        ("movies", "SELECT Title, Year FROM omdb ORDER BY Year DESC, Title", 1),
        ("superstore", "SELECT sales FROM superstore ORDER BY sales", 0),
    ],
)
async def test_limit_rows_keeps_order(registry: Registry, datasource: str, sql: str, key: int) -> None:
    schema = registry.schema(datasource)
    conn = registry.connect(datasource)
    limited = await conn.run(
        limit_rows(check_sql(sql, schema), 50, schema.dialect), max_rows=50, timeout_s=10
    )
    direct = await conn.run(sql + " LIMIT 50", max_rows=50, timeout_s=10)
    assert [r[key] for r in limited.rows] == [r[key] for r in direct.rows]


def test_limit_rows_sql_shape() -> None:
    from sqlglot import parse_one

    sql = limit_rows(
        parse_one("WITH x AS (SELECT 1 AS a) SELECT a FROM x ORDER BY a", read="sqlite"), 11, "sqlite"
    )
    assert sql == "SELECT * FROM (WITH x AS (SELECT 1 AS a) SELECT a FROM x ORDER BY a) AS _q LIMIT 11"

"""defog sql-eval: gold expansion per defog's convention, and loading a database into DuckDB and PostgreSQL."""

import os
from pathlib import Path

import pytest

from evals import defog


def test_braces_expand_to_every_non_empty_subset_with_matching_group_by() -> None:
    gold = "SELECT {a.name, a.aid}, COUNT(*) AS n FROM a GROUP BY {} ORDER BY n DESC"
    assert defog.expand_gold(gold) == [
        "SELECT a.name, COUNT(*) AS n FROM a GROUP BY a.name ORDER BY n DESC",
        "SELECT a.aid, COUNT(*) AS n FROM a GROUP BY a.aid ORDER BY n DESC",
        "SELECT a.name, a.aid, COUNT(*) AS n FROM a GROUP BY a.name, a.aid ORDER BY n DESC",
    ]


def test_semicolons_separate_alternatives_and_plain_statements_pass_through() -> None:
    assert defog.expand_gold("SELECT 1;SELECT {x,y} FROM t;") == ["SELECT 1", "SELECT x FROM t", "SELECT y FROM t", "SELECT x, y FROM t"]
    assert defog.expand_gold("SELECT a FROM t WHERE b = 'x'") == ["SELECT a FROM t WHERE b = 'x'"]


def test_questions_skip_databases_defog_data_does_not_ship() -> None:
    if not (defog.defog_dir() / defog.QUESTIONS_FILE).is_file():
        pytest.skip(f"the defog questions are not beside the checkout ({defog.defog_dir()})")
    loaded = defog.load_questions()
    assert len(loaded.examples) == 190
    assert set(loaded.skipped) == {"broker", "derm_treatment", "ewallet", "car_dealership"}
    assert {t.split(":")[1] for e in loaded.examples for t in e.tags if t.startswith("category:")} == {
        "group_by", "order_by", "ratio", "table_join", "instruct", "date_functions"
    }
    assert all(e.gold_sql and "{" not in " ".join(e.gold_sql) for e in loaded.examples)


def test_copy_rows_unescape_and_null() -> None:
    tables = defog.parse_dump(
        "CREATE TABLE public.t (\n    a bigint NOT NULL,\n    b text\n);\n\nCOPY public.t (a, b) FROM stdin;\n1\tx\\ty\n2\t\\N\n\\.\n"
        "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (a);\n"
    )
    assert tables["t"].columns == [("a", "bigint"), ("b", "text")]
    assert tables["t"].rows == [["1", "x\ty"], ["2", None]]
    assert tables["t"].primary_key == ["a"]


def test_restaurants_loads_into_duckdb_with_descriptions(tmp_path: Path) -> None:
    registry = defog.defog_registry(tmp_path, ["restaurants"])
    try:
        schema = registry.schema("defog_restaurants")
        assert {t.name for t in schema.tables} == {"restaurant", "location", "geographic"}
        restaurant = schema.table("restaurant")
        assert restaurant is not None and restaurant.row_count and restaurant.row_count > 0
        assert any(c.description_en for c in restaurant.columns)  # from restaurants.json, as column comments
        # a gold statement (PostgreSQL) runs on DuckDB after transpiling
        conn = registry.connect("defog_restaurants")
        import asyncio

        result = asyncio.run(conn.run(defog.to_duckdb("SELECT COUNT(*) FROM restaurant WHERE rating > 4"), max_rows=10, timeout_s=10))
        assert result.rows[0][0] > 0
    finally:
        registry.close()


def test_restaurants_loads_into_postgresql() -> None:
    if not defog.postgres_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable in CI at {defog.PG_DSN}")
        pytest.skip(f"PostgreSQL is not reachable at {defog.PG_DSN}")
    dsn = defog.build_postgres("restaurants")
    columns, rows = defog.run_postgres(dsn, "SELECT COUNT(*) AS n FROM restaurant WHERE rating > 4")
    assert columns == ["n"] and rows[0][0] > 0
    with pytest.raises(Exception, match="read-only"):
        defog.run_postgres(dsn, "DELETE FROM restaurant")


def test_restaurants_loads_into_mariadb_and_answers_through_a_mysql_datasource(tmp_path: Path) -> None:
    import asyncio
    import secrets

    from tests.support.databases import my_available, require

    require(my_available(), "MariaDB/MySQL is not reachable at 127.0.0.1:3306")
    name = f"sqlbot_t_{secrets.token_hex(6)}"
    try:
        defog.build_mysql("restaurants", name=name)
        registry = defog.mysql_registry(tmp_path, {"restaurants": name})
        try:
            schema = registry.schema("defog_restaurants")
            assert {t.name for t in schema.tables} == {"restaurant", "location", "geographic"}
            assert any(c.description_en for t in schema.tables for c in t.columns)  # descriptions as COMMENTs
            conn = registry.connect("defog_restaurants")
            gold = defog.to_mysql("SELECT COUNT(*) FROM restaurant WHERE rating > 4")
            assert asyncio.run(conn.run(gold, max_rows=10, timeout_s=10)).rows[0][0] > 0
        finally:
            registry.close()
    finally:
        import pymysql

        admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()

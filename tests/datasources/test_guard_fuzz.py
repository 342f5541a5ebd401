"""Fuzzing the guard (hypothesis, bounded): any input ends in a result or a refusal, and whatever it accepts
reads only the datasource's tables and CTEs in scope and calls only allow-listed functions.

The oracle is independent of the guard's own walk: sqlglot's optimizer scopes say which names are CTEs.
"""

import inspect

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from datasources.guard import SQLRejected, check_sql
from datasources.registry import Registry
from datasources.schema import Schema
from datasources.sql_functions import ALLOWED_TYPED, is_allowed
from tests.datasources.cases import FIXTURES

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TABLES = ["flights", "airlines", "planes", "duckdb_tables", "duckdb_settings", "sqlite_master", "pg_class",
          "information_schema.tables", "main.flights", "other.flights", "secret"]
FUNCTIONS = ["sum", "count", "avg", "lower", "abs", "version", "current_setting", "getenv", "sleep_ms", "read_csv",
             "query", "pg_read_file", "load_file", "sqlite_version", "duckdb_settings", "date_trunc", "md5", "glob"]
TOKENS = ["SELECT", "FROM", "WHERE", "WITH", "AS", "UNION", "ALL", "(", ")", ",", ";", "*", "1", "'x'", "--",
          "/*", "*/", "JOIN", "ON", "=", "INSERT", "INTO", "DELETE", "DROP", "TABLE", "PRAGMA", "SET", "ATTACH",
          "COPY", "TO", "RECURSIVE", "[", "]", "x", "FOR", "IN", "PIVOT", "USING", "\\", '"', "$$", "@@version",
          *TABLES, *FUNCTIONS]


def _assert_safe(tree: exp.Expression, schema: Schema) -> None:
    """Everything an accepted tree reads and calls is allowed (the oracle)."""
    known = {t.name.lower() for t in schema.tables}
    for node in tree.walk():
        if isinstance(node, exp.Func) and not (isinstance(node.parent, exp.Table) and node.arg_key == "this"):
            assert is_allowed(node, schema.dialect), node.sql()
    for scope in traverse_scope(tree):
        for name, source in scope.sources.items():
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                cte_names = {str(c.alias_or_name).lower() for s in scope.cte_scopes for c in [s.expression.parent]
                             if isinstance(c, exp.CTE)}
                real = source.name.lower()
                assert real in known or (real in cte_names and not source.db), f"{name} -> {source.sql()}"


def _check(sql: str, schema: Schema) -> None:
    try:
        tree = check_sql(sql, schema)
    except SQLRejected:
        return
    try:
        scoped = sqlglot.parse_one(sql, read=schema.dialect)
    except sqlglot.errors.SqlglotError:
        scoped = tree
    try:
        _assert_safe(scoped, schema)
    except (sqlglot.errors.OptimizeError, RecursionError):
        pass  # shapes the scope builder cannot read (e.g. PIVOT); the function check above still ran


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_token_soup_never_crashes(registry: Registry, sql: str) -> None:
    _check(sql, registry.schema("flights"))


@FUZZ
@given(st.text(max_size=200))
def test_any_text_never_crashes(registry: Registry, sql: str) -> None:
    _check(sql, registry.schema("movies"))


def _select(draw: st.DrawFn, depth: int, ctes: list[str]) -> exp.Select:
    source = draw(st.sampled_from(TABLES + ctes))
    if depth > 0 and draw(st.booleans()):
        table: exp.Expression = _select(draw, depth - 1, ctes).subquery("s")
    else:
        table = exp.to_table(source)
    column: exp.Expression = exp.column("x")
    if draw(st.booleans()):
        column = exp.Anonymous(this=draw(st.sampled_from(FUNCTIONS)), expressions=[column])
    select = exp.select(column).from_(table)
    if depth > 0 and draw(st.booleans()):
        select = select.where(exp.column("x").isin(query=_select(draw, depth - 1, ctes)))
    return select


@st.composite
def queries(draw: st.DrawFn) -> str:
    """Random trees: CTEs named after system tables, nested subqueries, unions, allowed and forbidden calls."""
    names = draw(st.lists(st.sampled_from(["duckdb_tables", "sqlite_master", "a", "b", "flights"]), max_size=3,
                          unique=True))
    query: exp.Expression = _select(draw, 2, [])
    for i, name in enumerate(names):
        visible = names[:i] if draw(st.booleans()) else []
        query = query.with_(name, as_=_select(draw, 1, visible)) if isinstance(query, exp.Select) else query
    if draw(st.booleans()):
        query = exp.union(query, _select(draw, 1, []), distinct=False)
    if draw(st.booleans()):
        query = exp.select("*").from_(query.subquery("outer_q")).join(exp.to_table(draw(st.sampled_from(TABLES))))
    return query.sql(dialect="duckdb")


@FUZZ
@given(queries())
def test_random_trees_accepted_only_when_safe(registry: Registry, sql: str) -> None:
    _check(sql, registry.schema("flights"))


@pytest.mark.parametrize("sql", [
    "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "SELECT " + "abs(" * 300 + "1" + ")" * 300,
    "SELECT " + "+".join(["1"] * 30000),
    " UNION ALL ".join(["SELECT 1"] * 20000),
    " UNION ALL ".join(["SELECT 1"] * 500),
    "SELECT * FROM " + "(SELECT * FROM " * 200 + "flights" + ")" * 200,
    "SELECT 1 WHERE " + " AND ".join(f"x = {i}" for i in range(5000)),
    "SELECT '" + "x" * 200_000 + "'",
    "SELECT 1\x00; DROP TABLE flights",
])
def test_huge_and_deep_inputs_are_refused_not_crashed(registry: Registry, sql: str) -> None:
    _check(sql, registry.schema("flights"))


def test_every_sqlglot_function_class_was_reviewed() -> None:
    """Upgrading sqlglot must not let a new function class through unreviewed: the snapshot lists them all."""
    snapshot = (FIXTURES / "sqlglot_functions.txt").read_text().split()
    installed = sorted(c.__name__ for c in vars(exp).values() if inspect.isclass(c) and issubclass(c, exp.Func))
    assert installed == snapshot, "review new classes in datasources/sql_functions.py, then update the snapshot"
    assert ALLOWED_TYPED <= set(snapshot)

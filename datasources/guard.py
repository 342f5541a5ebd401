"""The SQL guard: decide from the parsed tree whether a statement is one read-only query over known tables.

:func:`check_sql` parses with sqlglot in the schema's dialect and refuses, with a sentence a person can act
on, anything that is not exactly one SELECT / WITH / UNION-INTERSECT-EXCEPT query: DML or DDL anywhere in
the tree (a ``DELETE ... RETURNING`` inside a CTE included), file/network/extension/settings access
(``read_csv``, ``FROM 'file.csv'``, ``ATTACH``, ``PRAGMA``, ``getenv``, ``duckdb_*``...) and tables that are
not in the datasource's schema (catalogues such as ``information_schema`` and ``sqlite_master`` included).
The databases are opened read-only with external access disabled as well; this is the first line, the
one that explains.
"""

from __future__ import annotations

from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datasources.errors import DatasourceError
from datasources.schema import Dialect, Schema

RejectionKind = Literal["syntax", "permission", "unknown_table"]


class SQLRejected(DatasourceError):
    """The guard refused a statement before it reached the database."""

    def __init__(self, message: str, *, kind: RejectionKind = "permission", detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.kind: RejectionKind = kind
        """``syntax`` (cannot be parsed), ``permission`` (parsed, but not allowed) or ``unknown_table`` (names a
        table the datasource does not have: a mistake a rewrite can fix, not an attempt to escape)."""


def _classes(*names: str) -> tuple[type[exp.Expression], ...]:
    """The sqlglot node classes that exist in the installed version (names move between releases)."""
    found = (getattr(exp, name, None) for name in names)
    return tuple(c for c in found if isinstance(c, type) and issubclass(c, exp.Expression))


_QUERY_ROOTS = _classes("Select", "SetOperation", "Union", "Intersect", "Except")
_WRITES_OR_COMMANDS = _classes(
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "AlterTable",
    "TruncateTable",
    "Into",
    "Returning",
    "Command",
    "Copy",
    "Attach",
    "Detach",
    "Pragma",
    "Set",
    "Use",
    "Install",
    "LoadData",
    "Transaction",
    "Commit",
    "Rollback",
    "Describe",
    "Summarize",
    "Show",
    "Grant",
    "Revoke",
    "Cache",
    "Uncache",
    "Refresh",
    "Analyze",
    "Kill",
    "Export",
    "Lock",
    "Put",
    "Get",
    "Comprehension",
)
# Table functions that only compute values; any other function in FROM could read files or settings.
_SAFE_TABLE_FUNCTIONS = _classes("Unnest", "GenerateSeries", "ExplodingGenerateSeries")
_FILE_FUNCTIONS = _classes("ReadCSV", "ReadParquet", "ReadJSON")
_FORBIDDEN_NAMES = frozenset(
    {
        "getenv",
        "current_setting",
        "glob",
        "query",
        "query_table",
        "query_table_by_name",
        "sniff_csv",
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        "which_secret",
        "checkpoint",
        "force_checkpoint",
        "set_variable",
        "getvariable",
        "current_database",
        "current_schemas",
        "current_catalog",
        "current_schema",
        "version",
        "pg_read_file",
        "pg_ls_dir",
        "lo_import",
        "lo_export",
        "dblink",
        "load_file",
        "sleep",
        "pg_sleep",
        "benchmark",
        "system",
        "shell",
        "http_get",
        "http_post",
    }
)
_FORBIDDEN_PREFIXES = (
    "read_",
    "duckdb_",
    "pragma_",
    "sqlite_",
    "parquet_",
    "iceberg_",
    "delta_",
    "postgres_",
    "mysql_",
    "pg_",
    "json_execute",
    "http_",
    "arrow_",
    "icu_",
    "test_",
)
_FORBIDDEN_SUFFIXES = ("_scan", "_metadata", "_schema")
_ALLOWED_SCHEMAS = frozenset({"main"})


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _forbidden_function(node: exp.Func) -> bool:
    if isinstance(node, _FILE_FUNCTIONS):
        return True
    name = _function_name(node)
    return (
        name in _FORBIDDEN_NAMES or name.startswith(_FORBIDDEN_PREFIXES) or name.endswith(_FORBIDDEN_SUFFIXES)
    )


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Returning):
        return "RETURNING"
    return node.key.upper()


def parse_one_statement(sql: str, dialect: Dialect) -> exp.Expression:
    """Parse ``sql`` as exactly one statement of ``dialect``.

    Raises:
        SQLRejected: it does not parse (``syntax``), is empty, or holds several statements (``permission``).
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SQLRejected(
            f"The SQL could not be parsed as {dialect}: {message}", kind="syntax", detail=str(exc)
        ) from exc
    if not statements:
        raise SQLRejected("The SQL is empty; write one SELECT query.", kind="syntax")
    if len(statements) > 1:
        raise SQLRejected(
            f"Only one statement can run at a time, but this SQL holds {len(statements)}; "
            "remove everything after the first query (including a second statement after ';')."
        )
    statement = statements[0]
    if not isinstance(
        statement, exp.Expression
    ):  # every concrete sqlglot node is one; keeps the type precise
        raise SQLRejected("The SQL could not be parsed into a query.", kind="syntax")
    return statement


def check_sql(sql: str, schema: Schema) -> exp.Expression:
    """Return the parsed statement if it is exactly one read-only query over the schema's tables.

    Raises:
        SQLRejected: ``syntax`` when it does not parse, ``permission`` when it is not allowed.
    """
    root = parse_one_statement(sql, schema.dialect)
    query = root
    while isinstance(query, exp.Subquery):
        query = query.this
    if not isinstance(query, _QUERY_ROOTS):
        raise SQLRejected(
            f"Only read-only queries (SELECT, WITH ... SELECT, UNION) are allowed; this is a "
            f"{_statement_name(query)} statement."
        )
    cte_names = {str(cte.alias_or_name).lower() for cte in root.find_all(exp.CTE)}
    known = {t.name.lower() for t in schema.tables}
    for node in root.walk():
        if isinstance(node, _WRITES_OR_COMMANDS):
            raise SQLRejected(
                f"Only read-only queries are allowed, but this one contains {_statement_name(node)}; "
                "rewrite it as a plain SELECT."
            )
        if isinstance(node, exp.Func) and _forbidden_function(node):
            raise SQLRejected(
                f"The function {_function_name(node)}() is not allowed: queries may not read files, settings "
                "or system catalogues. Query the datasource's tables instead."
            )
        if isinstance(node, exp.Table):
            _check_table(node, schema, known, cte_names)
    return root


def _check_table(node: exp.Table, schema: Schema, known: set[str], cte_names: set[str]) -> None:
    target = node.this
    available = ", ".join(t.name for t in schema.tables)
    if isinstance(target, exp.Func) or not isinstance(target, exp.Identifier):
        if isinstance(target, _SAFE_TABLE_FUNCTIONS):
            return
        name = _function_name(target) if isinstance(target, exp.Func) else target.sql()
        raise SQLRejected(
            f"Reading from {name}(...) is not allowed: queries may only read the tables of the "
            f"{schema.datasource_id} datasource ({available})."
        )
    name = str(target.this)
    qualifier = ".".join(p for p in (node.catalog, node.db) if p)
    if qualifier and (node.catalog or node.db.lower() not in _ALLOWED_SCHEMAS):
        raise SQLRejected(
            f"The table {qualifier}.{name} is outside the {schema.datasource_id} datasource; "
            f"use its own tables ({available})."
        )
    if not qualifier and name.lower() in cte_names:
        return
    if name.lower() not in known:
        looks_like_file = any(ch in name for ch in "/\\:") or "." in name
        system = name.lower().startswith(("sqlite_", "pg_", "duckdb_", "information_schema"))
        reason = "reading files is not allowed" if looks_like_file else "there is no such table"
        raise SQLRejected(
            f"The query reads from {name!r}, but {reason}; the {schema.datasource_id} datasource has these "
            f"tables: {available}.",
            kind="permission" if looks_like_file or system else "unknown_table",
        )


def limit_rows(expr: exp.Expression, n: int, dialect: Dialect) -> str:
    """Wrap a checked query so at most ``n`` rows come out while aggregates still see every row.

    The original query becomes a subquery (``SELECT * FROM (<query>) AS _q LIMIT n``); DuckDB and SQLite
    both keep the subquery's ORDER BY for the outer scan, which the tests pin. Pass ``max_rows + 1`` to
    learn whether the result was truncated.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    inner = expr.this if isinstance(expr, exp.Subquery) else expr
    wrapped = exp.select("*").from_(
        exp.Subquery(this=inner.copy(), alias=exp.TableAlias(this=exp.to_identifier("_q")))
    )
    # the wrapper owns a copy of the query, so neither step needs to copy the tree again
    return wrapped.limit(n, copy=False).sql(dialect=dialect, copy=False)

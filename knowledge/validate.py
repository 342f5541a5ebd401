"""Checks run when knowledge is saved.

A glossary expression must parse and name real columns; an example's SQL must pass the read-only guard and
actually run (bounded: one row, a short timeout).
"""

from __future__ import annotations

import sqlglot
from rapidfuzz import process
from sqlglot import exp

from datasources.connection import Connection
from datasources.errors import DatasourceError
from datasources.guard import SQLRejected, check_sql, limit_rows
from datasources.schema import Schema

EXAMPLE_TIMEOUT_S = 10.0
"""How long an example's SQL may run when it is saved."""


class KnowledgeInvalid(Exception):
    """An item that cannot be saved: what is wrong, and what to do instead."""

    def __init__(self, message: str, suggestion: str, field: str) -> None:
        super().__init__(message)
        self.suggestion = suggestion
        self.field = field


def check_expression(expression: str, schema: Schema | None) -> None:
    """Raise :class:`KnowledgeInvalid` unless ``expression`` parses and its columns exist in ``schema``.

    A global entry (``schema`` None) is only parsed: its columns depend on the datasource it is used with.
    """
    dialect = schema.dialect if schema is not None else None
    try:
        node = sqlglot.parse_one(expression, read=dialect)
    except sqlglot.errors.ParseError as exc:
        raise KnowledgeInvalid(
            f"The expression does not parse: {str(exc).splitlines()[0]}",
            "Write one SQL expression, e.g. SUM(sales) or profit < 0.",
            "expression",
        ) from None
    if isinstance(node, exp.Query | exp.DML | exp.DDL | exp.Command):
        raise KnowledgeInvalid(
            "The expression is a whole statement, not an expression.",
            "Write only the measure or condition, e.g. SUM(sales) or profit < 0.",
            "expression",
        )
    if schema is None:
        return
    known = {c.name.lower(): c.name for t in schema.tables for c in t.columns}
    tables = {t.name.lower() for t in schema.tables}
    for col in node.find_all(exp.Column):
        if col.table and col.table.lower() not in tables:
            raise KnowledgeInvalid(
                f"The expression names table {col.table!r}, which {schema.datasource_id!r} does not have.",
                "Use one of: " + ", ".join(t.name for t in schema.tables[:12]),
                "expression",
            )
        if col.name.lower() not in known:
            close = [m[0] for m in process.extract(col.name, list(known.values()), limit=3)]
            raise KnowledgeInvalid(
                f"The expression names column {col.name!r}, which {schema.datasource_id!r} does not have.",
                "Did you mean " + " or ".join(close) + "?" if close else "Check the column names in the schema view.",
                "expression",
            )


async def check_example(sql: str, schema: Schema, connection: Connection) -> None:
    """Raise :class:`KnowledgeInvalid` unless ``sql`` is one read-only query that runs on the datasource."""
    try:
        tree = check_sql(sql, schema)
    except SQLRejected as exc:
        raise KnowledgeInvalid(
            f"The example's SQL was refused by the read-only guard: {exc}",
            "Save one SELECT statement over this datasource's tables.",
            "sql",
        ) from None
    try:
        await connection.run(limit_rows(tree, 1, schema.dialect), max_rows=1, timeout_s=EXAMPLE_TIMEOUT_S)
    except DatasourceError as exc:
        raise KnowledgeInvalid(
            f"The example's SQL did not run: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            "Run it in the chat first (or fix it in the SQL editor), then save it.",
            "sql",
        ) from None

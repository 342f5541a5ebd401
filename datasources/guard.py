"""The SQL guard: decide from the parsed tree whether a statement is one read-only query over known tables.

:func:`check_sql` parses with sqlglot in the schema's dialect and accepts only exactly one SELECT / WITH /
UNION-INTERSECT-EXCEPT / PIVOT query that

- contains no DML, DDL or command anywhere in the tree (a ``DELETE ... RETURNING`` inside a CTE included);
- calls only functions known to be pure (allow-lists in :mod:`datasources.sql_functions`), and reads rows
  FROM nothing but the datasource's tables, its own CTEs and value generators (``range``, ``unnest``);
- names a CTE only where that CTE is in scope: a CTE called ``duckdb_databases`` inside one subquery does
  not make the system table of that name readable elsewhere;
- stays within size bounds (characters, nesting, tree nodes, set-operation branches), so that no input can
  crash the guard or keep a parser busy for seconds: every input ends in a result or a refusal.

The databases are opened read-only with their own locks as well (see :mod:`datasources.connection`); this
is the first line, the one that explains.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect as SqlglotDialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import TokenType

from datasources.errors import DatasourceError
from datasources.schema import Dialect, Schema
from datasources.sql_functions import (
    SAFE_TABLE_FUNCTION_NAMES,
    SAFE_TABLE_FUNCTIONS,
    function_name,
    is_allowed,
    is_dangerous,
)

RejectionKind = Literal["syntax", "permission", "unknown_table", "unknown_function", "too_complex"]

MAX_SQL_CHARS = 100_000
"""Longer SQL is refused before parsing (20,000 UNION branches took sqlglot 2 s to parse)."""
MAX_NESTING = 20
"""Deepest bracket nesting accepted; sqlglot's recursive parser needs ~30 Python frames per level."""
MAX_NODES = 20_000
"""Largest syntax tree accepted."""
MAX_SET_OPERATIONS = 100
"""Most UNION / INTERSECT / EXCEPT operators accepted in one query."""


class SQLRejected(DatasourceError):
    """The guard refused a statement before it reached the database."""

    def __init__(self, message: str, *, kind: RejectionKind = "permission", detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.kind: RejectionKind = kind
        """``syntax`` (cannot be parsed), ``permission`` (parsed, but reaches outside the datasource or writes),
        ``unknown_table`` / ``unknown_function`` (names something the datasource or the allow-list does not
        have: a mistake a rewrite can fix, not an attempt to escape) or ``too_complex`` (over a size bound)."""


def _classes(*names: str) -> tuple[type[exp.Expression], ...]:
    """The sqlglot node classes that exist in the installed version (names move between releases)."""
    found = (getattr(exp, name, None) for name in names)
    return tuple(c for c in found if isinstance(c, type) and issubclass(c, exp.Expression))


_QUERY_ROOTS = _classes("Select", "SetOperation", "Union", "Intersect", "Except", "Pivot")
_WRITES_OR_COMMANDS = _classes(
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable", "TruncateTable", "Into",
    "Returning", "Command", "Copy", "Attach", "Detach", "Pragma", "Set", "Use", "Install", "LoadData",
    "Transaction", "Commit", "Rollback", "Describe", "Summarize", "Show", "Grant", "Revoke", "Cache", "Uncache",
    "Refresh", "Analyze", "Kill", "Export", "Lock", "Put", "Get", "Declare", "Execute", "Call",
)
_SET_OPERATIONS = _classes("SetOperation", "Union", "Intersect", "Except")
_DEFAULT_SCHEMAS: dict[Dialect, frozenset[str]] = {
    "duckdb": frozenset({"main"}),
    "sqlite": frozenset({"main"}),
    "postgres": frozenset({"public"}),
    "mysql": frozenset(),
}
_SYSTEM_PREFIXES = ("sqlite_", "pg_", "duckdb_", "information_schema", "mysql", "performance_schema", "sys")
_OPENING = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSING = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Returning):
        return "RETURNING"
    return node.key.upper()


def _check_size(sql: str, dialect: Dialect) -> None:
    """Refuse input too large or too deeply nested for the parser, before parsing it."""
    if len(sql) > MAX_SQL_CHARS:
        raise SQLRejected(
            f"The SQL is {len(sql):,} characters long; at most {MAX_SQL_CHARS:,} are accepted. "
            "Write a shorter query (aggregate instead of listing values).",
            kind="too_complex",
        )
    if "\x00" in sql:
        raise SQLRejected("The SQL contains a NUL character.", kind="syntax")
    try:
        tokens = SqlglotDialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError as exc:
        raise SQLRejected(f"The SQL could not be read as {dialect}: {_first_line(exc)}", kind="syntax") from exc
    depth = deepest = 0
    for token in tokens:
        if token.token_type in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif token.token_type in _CLOSING:
            depth -= 1
    if deepest > MAX_NESTING:
        raise SQLRejected(
            f"The SQL nests brackets {deepest} levels deep; at most {MAX_NESTING} are accepted. "
            "Flatten it (a CTE per level) and try again.",
            kind="too_complex",
        )


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def parse_one_statement(sql: str, dialect: Dialect) -> exp.Expression:
    """Parse ``sql`` as exactly one statement of ``dialect``; comments and trailing semicolons are fine.

    Raises:
        SQLRejected: it does not parse or is too large (``syntax`` / ``too_complex``), is empty, or holds
            several statements (``permission``).
    """
    _check_size(sql, dialect)
    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except SqlglotError as exc:
        raise SQLRejected(
            f"The SQL could not be parsed as {dialect}: {_first_line(exc)}", kind="syntax", detail=str(exc)
        ) from exc
    except RecursionError as exc:
        raise SQLRejected("The SQL is nested too deeply to check; simplify it.", kind="too_complex") from exc
    # a lone comment after the last ';' parses as a Semicolon node: it is not a statement
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        raise SQLRejected("The SQL is empty; write one SELECT query.", kind="syntax")
    if len(statements) > 1:
        raise SQLRejected(
            f"Only one statement can run at a time, but this SQL holds {len(statements)}; "
            "remove everything after the first query (including a second statement after ';')."
        )
    statement = statements[0]
    if not isinstance(statement, exp.Expression):  # every concrete sqlglot node is one; keeps the type precise
        raise SQLRejected("The SQL could not be parsed into a query.", kind="syntax")
    return statement


def check_sql(sql: str, schema: Schema) -> exp.Expression:
    """Return the parsed statement if it is exactly one read-only query over the schema's tables.

    Never raises anything but :class:`SQLRejected`, whatever ``sql`` holds.

    Raises:
        SQLRejected: with ``kind`` saying why (see :class:`SQLRejected`).
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
    try:
        _Checker(schema).check(root)
    except RecursionError as exc:  # a tree too deep for sqlglot's own helpers
        raise SQLRejected("The SQL is nested too deeply to check; simplify it.", kind="too_complex") from exc
    return root


def _cte_names(with_: exp.With) -> list[str]:
    return [str(cte.alias_or_name).lower() for cte in with_.expressions if isinstance(cte, exp.CTE)]


class _Checker:
    """One iterative walk over the tree, carrying the CTE names visible at each node."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.known = {t.name.lower() for t in schema.tables}
        self.available = ", ".join(t.name for t in schema.tables)

    def check(self, root: exp.Expression) -> None:
        nodes = set_operations = 0
        stack: list[tuple[exp.Expression, frozenset[str]]] = [(root, frozenset())]
        while stack:
            node, visible = stack.pop()
            nodes += 1
            if nodes > MAX_NODES:
                raise SQLRejected(
                    f"The query is too large to run (over {MAX_NODES:,} syntax nodes); simplify it.",
                    kind="too_complex",
                )
            if isinstance(node, _SET_OPERATIONS):
                set_operations += 1
                if set_operations > MAX_SET_OPERATIONS:
                    raise SQLRejected(
                        f"The query combines more than {MAX_SET_OPERATIONS} UNION/INTERSECT/EXCEPT branches; "
                        "filter with IN (...) or a CASE instead.",
                        kind="too_complex",
                    )
            self._check_node(node, visible)
            stack.extend(self._children(node, visible))

    def _children(
        self, node: exp.Expression, visible: frozenset[str]
    ) -> Iterable[tuple[exp.Expression, frozenset[str]]]:
        with_ = node.args.get("with_") or node.args.get("with")
        if not isinstance(with_, exp.With):
            return ((child, visible) for child in node.iter_expressions())
        names = _cte_names(with_)
        recursive = bool(with_.args.get("recursive"))
        everything = visible | frozenset(names)
        out: list[tuple[exp.Expression, frozenset[str]]] = []
        for child in node.iter_expressions():
            if child is not with_:
                out.append((child, everything))
                continue
            # a CTE sees the ones defined before it (all of them, itself included, under RECURSIVE)
            for i, cte in enumerate(with_.expressions):
                out.append((cte, everything if recursive else visible | frozenset(names[:i])))
        return out

    def _check_node(self, node: exp.Expression, visible: frozenset[str]) -> None:
        if isinstance(node, _WRITES_OR_COMMANDS):
            raise SQLRejected(
                f"Only read-only queries are allowed, but this one contains {_statement_name(node)}; "
                "rewrite it as a plain SELECT."
            )
        if isinstance(node, exp.SessionParameter):
            raise SQLRejected(
                f"Server variables such as @@{node.name} are not readable; query the datasource's tables instead."
            )
        if isinstance(node, exp.Table):
            self._check_table(node, visible)
        elif isinstance(node, exp.Func) and not self._is_table_function(node):
            self._check_function(node)

    def _is_table_function(self, node: exp.Func) -> bool:
        return isinstance(node.parent, exp.Table) and node.arg_key == "this"

    def _check_function(self, node: exp.Func) -> None:
        if is_allowed(node, self.schema.dialect):
            return
        name = function_name(node)
        if is_dangerous(node):
            raise SQLRejected(
                f"The function {name}() is not allowed: queries may not read files, settings, sessions or "
                "system catalogues, nor wait. Query the datasource's tables instead."
            )
        raise SQLRejected(
            f"The function {name}() is not available here; use standard {self.schema.dialect} aggregate, "
            "date, string or math functions.",
            kind="unknown_function",
        )

    def _check_table(self, node: exp.Table, visible: frozenset[str]) -> None:
        target = node.this
        schema = self.schema
        if isinstance(target, exp.Func) or not isinstance(target, exp.Identifier):
            if isinstance(target, SAFE_TABLE_FUNCTIONS) or (
                isinstance(target, exp.Anonymous) and target.name.lower() in SAFE_TABLE_FUNCTION_NAMES
            ):
                return
            name = function_name(target) if isinstance(target, exp.Func) else target.sql()
            raise SQLRejected(
                f"Reading from {name}(...) is not allowed: queries may only read the tables of the "
                f"{schema.datasource_id} datasource ({self.available})."
            )
        name = str(target.this)
        lowered = name.lower()
        if node.catalog or node.db:
            qualified = f"{node.db}.{name}".lower()
            if not node.catalog and (
                qualified in self.known or (node.db.lower() in _DEFAULT_SCHEMAS[schema.dialect] and lowered in self.known)
            ):
                return
            qualifier = ".".join(p for p in (node.catalog, node.db) if p)
            raise SQLRejected(
                f"The table {qualifier}.{name} is outside the {schema.datasource_id} datasource; "
                f"use its own tables ({self.available})."
            )
        if lowered in visible or lowered in self.known:
            return
        looks_like_file = any(ch in name for ch in "/\\:") or "." in name
        system = lowered.startswith(_SYSTEM_PREFIXES)
        reason = (
            "reading files is not allowed" if looks_like_file
            else "system catalogues are not readable" if system
            else "there is no such table"
        )
        raise SQLRejected(
            f"The query reads from {name!r}, but {reason}; the {schema.datasource_id} datasource has these "
            f"tables: {self.available}.",
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

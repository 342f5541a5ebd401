"""DuckDB's own reading of a statement, checked just before it runs: the second line under the SQL guard.

The guard (:mod:`datasources.guard`) reads SQL with sqlglot. A statement that sqlglot and DuckDB read
differently could slip past it, so the DuckDB connection asks DuckDB's parser too
(``json_serialize_sql``, which serialises only SELECT statements) and refuses, whatever the guard said:
anything but exactly one SELECT; a table that is neither the database's own nor a CTE in scope; a table
function other than a value generator; a call of a function that reads files, settings, sessions or
catalogues. Settings themselves are locked by the connection (``lock_configuration``), files by
``enable_external_access = false``.

It runs inside the query worker process (:mod:`datasources._worker`), which imports nothing of the app, so
this module imports only the standard library; the name lists arrive as :class:`Rules`, built by the parent
from :mod:`datasources.sql_functions` (:func:`datasources.sql_functions.second_line_rules`).
"""

from __future__ import annotations

import json
from typing import Any, TypedDict


class Rules(TypedDict):
    """The name lists the second line decides by (lower case)."""

    allowed_functions: list[str]
    """Functions allowed although their names look dangerous (``current_date``)."""
    dangerous_functions: list[str]
    dangerous_prefixes: list[str]
    table_functions: list[str]
    """The only functions rows may be read FROM (value generators)."""


class Refused(Exception):
    """DuckDB's reading of the statement is not allowed to run."""

    def __init__(self, message: str, kind: str = "permission") -> None:
        super().__init__(message)
        self.kind = kind
        """``syntax`` (DuckDB cannot parse it), ``semantic`` (a table the file does not have) or ``permission``."""


_OWN_SCHEMAS = frozenset({"", "main"})
_SYSTEM_PREFIXES = ("duckdb_", "sqlite_", "pg_", "information_schema")
_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
# keywords DuckDB binds to session functions when no column has the name
_SESSION_KEYWORDS = [[k] for k in ("current_user", "session_user", "current_role", "current_schema",
                                   "current_catalog", "current_database")]


def check_duckdb_statement(cursor: Any, sql: str, tables: frozenset[str], rules: Rules) -> None:
    """Refuse ``sql`` unless DuckDB (``cursor``: a DuckDB connection) reads it as one SELECT over ``tables``.

    Raises:
        Refused: ``syntax`` when DuckDB cannot parse it, ``semantic`` for a table it does not have,
            ``permission`` for anything else it refuses, naming what DuckDB saw.
    """
    row = cursor.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    tree = dict(json.loads(row[0])) if row else {"error": True, "error_message": "no result"}
    check_tree(tree, tables, rules)


def check_tree(tree: dict[str, Any], tables: frozenset[str], rules: Rules) -> None:
    """The pure part of :func:`check_duckdb_statement`, over the output of ``json_serialize_sql``."""
    if tree.get("error"):
        message = str(tree.get("error_message", "not a SELECT"))
        if tree.get("error_type") == "parser":
            raise Refused(message, kind="syntax")
        raise _refused(
            "DuckDB reads this as something other than one plain SELECT (a PIVOT without an IN list is one: "
            f"name its values, ON col IN (...)): {message}"
        )
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise _refused(f"Only one statement can run at a time; DuckDB read {len(statements)}.")
    stack: list[tuple[Any, frozenset[str]]] = [(statements[0], frozenset())]
    while stack:
        node, visible = stack.pop()
        if isinstance(node, list):
            stack.extend((item, visible) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        visible = _push_ctes(node, visible, stack)
        _check(node, visible, tables, rules)
        stack.extend((value, visible) for key, value in node.items() if key != "cte_map")


def _push_ctes(node: dict[str, Any], visible: frozenset[str], stack: list[tuple[Any, frozenset[str]]]) -> frozenset[str]:
    """Queue each CTE body with the names it may see; return the names the node's own parts see."""
    entries = (node.get("cte_map") or {}).get("map") or []
    names: list[str] = []
    for entry in entries:
        name = str(entry.get("key", "")).lower()
        body = (entry.get("value") or {}).get("query_node")
        recursive = isinstance(body, dict) and body.get("type") == "RECURSIVE_CTE_NODE"
        stack.append((body, visible | frozenset(names + ([name] if recursive else []))))
        names.append(name)
    return visible | frozenset(names)


def _refused(message: str) -> Refused:
    return Refused(message, kind="permission")


def _check(node: dict[str, Any], visible: frozenset[str], tables: frozenset[str], rules: Rules) -> None:
    kind = node.get("type")
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", "")).lower()
        schema = str(node.get("schema_name", "")).lower()
        catalog = str(node.get("catalog_name", ""))
        if catalog or schema not in _OWN_SCHEMAS or (name not in tables and not (schema == "" and name in visible)):
            shown = ".".join(p for p in (catalog, schema, name) if p)
            message = f"{shown!r} is not one of this database's tables."
            ordinary = not catalog and schema in _OWN_SCHEMAS and not name.startswith(_SYSTEM_PREFIXES)
            raise Refused(message, kind="semantic") if ordinary else _refused(message)
    elif kind == "SHOW_REF" or (str(kind).endswith("_NODE") and kind not in _QUERY_NODES):
        raise _refused(f"DuckDB reads this as a {kind} statement; only plain SELECT queries may run.")
    elif kind == "COLUMN_REF" and [str(p).lower() for p in node.get("column_names", [])] in _SESSION_KEYWORDS:
        raise _refused(f"{node['column_names'][0]} reads the session; it is not allowed.")
    elif kind == "TABLE_FUNCTION":
        function = node.get("function") or {}
        name = str(function.get("function_name", "")).lower()
        if name not in rules["table_functions"]:
            raise _refused(f"Reading rows from {name}(...) is not allowed.")
    elif node.get("class") == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        schema = str(node.get("schema", "")).lower()
        catalog = str(node.get("catalog", ""))
        dangerous = name in rules["dangerous_functions"] or name.startswith(tuple(rules["dangerous_prefixes"]))
        if catalog or schema not in _OWN_SCHEMAS or (dangerous and name not in rules["allowed_functions"]):
            raise _refused(f"The function {name}() is not allowed: it reads outside the datasource's tables.")

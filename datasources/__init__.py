"""Connectors, schema introspection, value index and SQL guard for SQLBot's datasources.

Nothing here imports from ``graph``, ``nodes``, ``server`` or ``llm``: callers pass plain parameters
(paths, limits, timeouts) and catch :class:`DatasourceError` subclasses.
"""

from datasources.connection import Connection, DuckDBConnection, QueryResult, SQLiteConnection, to_json_value
from datasources.errors import (
    BuildFailed,
    ConnectionFailed,
    DatasourceError,
    DatasourceNotFound,
    InvalidDatasource,
    QueryCancelled,
    QueryFailed,
    QueryTimeout,
    ResourceLimitExceeded,
)
from datasources.guard import SQLRejected, check_sql, limit_rows
from datasources.registry import DatasourceConfig, Registry
from datasources.sandbox import SandboxLimits
from datasources.schema import Column, ForeignKey, Schema, Table, column_kind, schema_version
from datasources.values import ValueIndex, ValueMatch

__all__ = [
    "BuildFailed",
    "Column",
    "Connection",
    "ConnectionFailed",
    "DatasourceConfig",
    "DatasourceError",
    "DatasourceNotFound",
    "DuckDBConnection",
    "ForeignKey",
    "InvalidDatasource",
    "QueryCancelled",
    "QueryFailed",
    "QueryResult",
    "QueryTimeout",
    "SQLRejected",
    "Registry",
    "ResourceLimitExceeded",
    "SandboxLimits",
    "SQLiteConnection",
    "Schema",
    "Table",
    "ValueIndex",
    "ValueMatch",
    "check_sql",
    "column_kind",
    "limit_rows",
    "schema_version",
    "to_json_value",
]

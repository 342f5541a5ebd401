"""MySQL and MariaDB through SQLAlchemy's pool and PyMySQL: read-only sessions, statement timeout, KILL QUERY.

Each pooled session is ``SET SESSION TRANSACTION READ ONLY``; before every query that is asserted again
(a statement could have changed it, and MySQL does not undo session settings on rollback) together with
the server-side limit (MariaDB ``max_statement_time``, MySQL ``max_execution_time``), then the query runs in
``START TRANSACTION READ ONLY`` and is rolled back. PyMySQL connects without ``CLIENT.MULTI_STATEMENTS``,
so a second statement after ``;`` is a syntax error, and ``LOCAL INFILE`` is off. A session whose
statement was not a plain query is discarded instead of going back to the pool. A timeout or a cancelled
task sends ``KILL QUERY <id>`` from a second connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymysql
import sqlglot
from pymysql.constants import FIELD_TYPE
from sqlglot import exp

from datasources.errors import DatasourceError
from datasources.schema import Dialect
from datasources.server import CONNECT_TIMEOUT_S, CatalogueTable, ServerConnection

_TYPE_NAMES = {
    getattr(FIELD_TYPE, name): name for name in dir(FIELD_TYPE) if not name.startswith("_")
}
_TYPE_ALIASES = {
    "TINY": "TINYINT",
    "SHORT": "SMALLINT",
    "INT24": "MEDIUMINT",
    "LONG": "INT",
    "LONGLONG": "BIGINT",
    "NEWDECIMAL": "DECIMAL",
    "VAR_STRING": "VARCHAR",
    "STRING": "CHAR",
    "BLOB": "TEXT",  # TEXT columns arrive with the BLOB type code; the charset (not in description) tells
    "NEWDATE": "DATE",
}
_SYNTAX = {1064, 1149}
_SEMANTIC = {1054, 1146, 1305, 1052, 1055, 1056, 1060, 1066, 1111, 1140, 1241, 1247, 1222, 1630, 1584}
_PERMISSION = {1792, 1142, 1143, 1044, 1227, 1370, 1290}
_TIMEOUT = {1969, 3024}
_INTERRUPTED = {1317}
_CONNECTION = {1040, 1045, 1049, 1129, 1130, 1152, 1153, 1158, 1159, 1160, 1161, 2002, 2003, 2005, 2006, 2013, 2055, 4031}


def quote_ident(name: str) -> str:
    """A MySQL quoted identifier."""
    return "`" + name.replace("`", "``") + "`"


def _is_plain_query(sql: str) -> bool:
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except Exception:  # noqa: BLE001 - anything unparseable is treated as not plain
        return False
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return isinstance(tree, (exp.Select, exp.SetOperation)) and not any(
        isinstance(n, (exp.Set, exp.Into, exp.Command)) for n in tree.walk()
    )


class MySQLConnection(ServerConnection):
    """One MySQL/MariaDB database, read-only, with a bounded pool of PyMySQL connections."""

    dialect: Dialect = "mysql"

    def _sqlalchemy_url(self) -> str:
        return "mysql+pymysql://"

    def _connect_params(self, password: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "host": self.spec.host,
            "port": self.spec.port,
            "database": self.spec.database,
            "user": self.spec.user or None,
            "password": password or "",
            "connect_timeout": CONNECT_TIMEOUT_S,
            "charset": "utf8mb4",
            "local_infile": False,
            "autocommit": False,
            "program_name": "sqlbot",
        }
        options = dict(self.spec.options)
        if "charset" in options:
            params["charset"] = options["charset"]
        if "ssl_ca" in options:
            params["ssl_ca"] = options["ssl_ca"]
        return params

    def _connect(self, password: str | None) -> Any:
        conn = pymysql.connect(**self._connect_params(password))
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
        conn.sqlbot_mariadb = "mariadb" in str(row[0] if row else "").lower()
        return conn

    def _begin(self, dbapi: Any, timeout_s: float) -> None:
        with dbapi.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            if getattr(dbapi, "sqlbot_mariadb", False):
                cursor.execute(f"SET SESSION max_statement_time = {max(0.001, timeout_s):.3f}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {max(1, int(timeout_s * 1000))}")
            cursor.execute("START TRANSACTION READ ONLY")

    def _execute_user(self, cursor: Any, sql: str) -> None:
        cursor.execute(sql)  # no arguments: PyMySQL does no %-interpolation; no multi-statements flag

    def _after_fetch(self, cursor: Any) -> None:
        result: Any = getattr(cursor, "_result", None)
        warnings: Any = getattr(result, "warning_count", 0) if result is not None else 0
        if warnings:
            # an interruption reported as a warning rather than an error
            cursor.execute("SHOW WARNINGS")
            for _level, code, message in cursor.fetchall():
                if int(code) in _TIMEOUT | _INTERRUPTED:
                    raise pymysql.err.OperationalError(int(code), str(message))

    def _after(self, dbapi: Any, sql: str) -> bool:
        dbapi.rollback()
        return _is_plain_query(sql)

    def _cancel(self, dbapi: Any) -> None:
        thread_id = int(dbapi.thread_id())
        secret = self._password_value()
        killer = pymysql.connect(**self._connect_params(secret.reveal() if secret else None))
        try:
            with killer.cursor() as cursor:
                cursor.execute(f"KILL QUERY {thread_id}")
        finally:
            killer.close()

    def _column_types(self, dbapi: Any, description: Sequence[Any]) -> list[str]:
        out = []
        for column in description:
            name = _TYPE_NAMES.get(column[1], "")
            out.append(_TYPE_ALIASES.get(name, name))
        return out

    def _version_sql(self) -> str:
        return "SELECT VERSION()"

    def quote(self, name: str) -> str:
        """``name`` as a MySQL quoted identifier."""
        return quote_ident(name)

    def _classify(self, exc: Exception) -> Exception:
        if isinstance(exc, DatasourceError):  # already ours (a timeout noticed by the runner, a login failure)
            return exc
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in _TIMEOUT:
            return self._timeout(exc)
        if code in _INTERRUPTED:
            return self._cancelled(exc)
        if code in _CONNECTION or (
            code is None and isinstance(exc, (pymysql.err.OperationalError, pymysql.err.InterfaceError))
        ):
            return self._connection_failed(exc)
        if code in _PERMISSION:
            return self._failed(exc, "permission", read_only=code == 1792)
        if code in _SYNTAX:
            return self._failed(exc, "syntax")
        if code in _SEMANTIC:
            return self._failed(exc, "semantic")
        if isinstance(exc, (pymysql.err.OperationalError, pymysql.err.InterfaceError)) and code and code >= 2000:
            return self._connection_failed(exc)  # client-side errors (2xxx): the connection is gone
        return self._failed(exc, "runtime")

    def catalogue(self) -> list[CatalogueTable]:
        """Tables and views of the database with comments, keys and ``information_schema`` row estimates."""
        found: dict[str, CatalogueTable] = {}
        for name, ttype, comment, rows in self.fetchall(
            "SELECT table_name, table_type, table_comment, table_rows FROM information_schema.tables "
            "WHERE table_schema = DATABASE() ORDER BY table_name"
        ):
            is_view = str(ttype).upper() == "VIEW"
            found[str(name)] = CatalogueTable(
                name=str(name),
                is_view=is_view,
                comment="" if is_view else str(comment or ""),
                row_estimate=None if is_view or rows is None else int(rows),
                qualified=quote_ident(str(name)),
            )
        for name, column, ctype, comment in self.fetchall(
            "SELECT table_name, column_name, column_type, column_comment FROM information_schema.columns "
            "WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position"
        ):
            if str(name) in found:
                found[str(name)].columns.append((str(column), str(ctype).upper(), str(comment or "")))
        keys: dict[str, list[str]] = {}
        for name, column, constraint, ref_table, ref_column in self.fetchall(
            "SELECT table_name, column_name, constraint_name, referenced_table_name, referenced_column_name "
            "FROM information_schema.key_column_usage WHERE table_schema = DATABASE() "
            "AND (constraint_name = 'PRIMARY' OR referenced_table_name IS NOT NULL) "
            "ORDER BY table_name, constraint_name, ordinal_position"
        ):
            table = found.get(str(name))
            if table is None:
                continue
            if constraint == "PRIMARY":
                keys.setdefault(table.name, []).append(str(column))
            else:
                table.foreign_keys.append((str(column), str(ref_table), str(ref_column)))
        for name, columns in keys.items():
            found[name].primary_key = tuple(columns)
        return list(found.values())

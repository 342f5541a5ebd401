"""PostgreSQL through SQLAlchemy's pool and psycopg 3: read-only sessions, statement timeout, cancel.

Each pooled session starts with ``default_transaction_read_only = on`` and the datasource's schemas as its
``search_path``; each query then runs in its own ``SET TRANSACTION READ ONLY`` transaction with
``SET LOCAL statement_timeout``, and is always rolled back, which also undoes any session setting the
statement may have changed. Untrusted SQL goes through the extended protocol (``prepare=True``), which
refuses a second statement after ``;``. A timeout or a cancelled task sends a cancel request
(``cancel_safe``), so the server stops the query instead of finishing it for nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from datasources.errors import ConnectionFailed, DatasourceError
from datasources.schema import Dialect
from datasources.secrets import scrub
from datasources.server import CONNECT_TIMEOUT_S, CatalogueTable, ServerConnection

_CATALOGUE_RELKINDS = ("r", "p", "v", "m", "f")
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def quote_ident(name: str) -> str:
    """A PostgreSQL quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


class PostgresConnection(ServerConnection):
    """One PostgreSQL database, read-only, with a bounded pool of psycopg connections."""

    dialect: Dialect = "postgres"

    def _sqlalchemy_url(self) -> str:
        return "postgresql+psycopg://"

    def _connect(self, password: str | None) -> Any:
        params: dict[str, Any] = {
            "host": self.spec.host,
            "port": self.spec.port,
            "dbname": self.spec.database,
            "user": self.spec.user or None,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "sqlbot",
            # belt and braces under the per-query READ ONLY transaction
            "options": "-c default_transaction_read_only=on",
        }
        params.update(dict(self.spec.options))
        if password is not None:
            params["password"] = password
        conn = psycopg.connect(**params)
        path = ", ".join(quote_ident(s) for s in self.spec.search_path)
        conn.execute("SELECT set_config('search_path', %s, false)", (path,))
        conn.commit()
        return conn

    def _begin(self, dbapi: Any, timeout_s: float) -> None:
        dbapi.execute("SET TRANSACTION READ ONLY")  # the first statement: psycopg has just sent BEGIN
        dbapi.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")

    def _execute_user(self, cursor: Any, sql: str) -> None:
        cursor.execute(sql, prepare=True)  # extended protocol: exactly one statement

    def _cancel(self, dbapi: Any) -> None:
        dbapi.cancel_safe(timeout=5.0)

    def _column_types(self, dbapi: Any, description: Sequence[Any]) -> list[str]:
        out = []
        for column in description:
            info = dbapi.adapters.types.get(column.type_code)
            out.append(str(info.name).upper() if info is not None else "")
        return out

    def _version_sql(self) -> str:
        return "SELECT version()"

    def quote(self, name: str) -> str:
        """``name`` as a PostgreSQL quoted identifier."""
        return quote_ident(name)

    def _classify(self, exc: Exception) -> Exception:
        if isinstance(exc, DatasourceError):  # already ours (a timeout noticed by the runner, a login failure)
            return exc
        state = getattr(exc, "sqlstate", None) or ""
        if isinstance(exc, pg_errors.QueryCanceled) or state == "57014":
            return self._timeout(exc) if "statement timeout" in str(exc) else self._cancelled(exc)
        if state.startswith(_CONNECTION_STATES) or (
            not state and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
        ):
            return self._connection_failed(exc)
        if state in ("25006", "42501"):
            return self._failed(exc, "permission", read_only=state == "25006")
        if state == "42601":
            return self._failed(exc, "syntax")
        if state.startswith("42") or state in ("22P02", "22007", "22008", "42804"):
            return self._failed(exc, "semantic")
        if isinstance(exc, psycopg.Error):
            return self._failed(exc, "runtime")
        return self._failed(exc, "runtime") if str(exc) else ConnectionFailed(scrub(repr(exc), self._password))

    def catalogue(self) -> list[CatalogueTable]:
        """Tables and views of the search-path schemas with comments, keys and ``reltuples`` estimates."""
        schemas = list(self.spec.search_path)
        found: dict[tuple[str, str], CatalogueTable] = {}
        for nsp, name, kind, comment, reltuples in self.fetchall(
            "SELECT n.nspname, c.relname, c.relkind, obj_description(c.oid, 'pg_class'), c.reltuples "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind = ANY(%s) AND NOT c.relispartition",
            (schemas, list(_CATALOGUE_RELKINDS)),
        ):
            estimate = int(reltuples) if kind in ("r", "p", "m") and reltuples is not None and reltuples >= 0 else None
            found[(nsp, name)] = CatalogueTable(
                name=name,
                is_view=kind in ("v", "m"),
                comment=comment or "",
                row_estimate=estimate,
                qualified=f"{quote_ident(nsp)}.{quote_ident(name)}",
            )
        for nsp, name, column, dtype, comment in self.fetchall(
            "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY n.nspname, c.relname, a.attnum",
            (schemas, list(_CATALOGUE_RELKINDS)),
        ):
            if (nsp, name) in found:
                found[(nsp, name)].columns.append((column, str(dtype), comment or ""))
        for nsp, name, ctype, cols, ref_name, ref_cols in self.fetchall(
            "SELECT n.nspname, cl.relname, con.contype, "
            "ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, i) "
            "      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.i), "
            "rc.relname, "
            "ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, i) "
            "      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.i) "
            "FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid "
            "JOIN pg_namespace n ON n.oid = cl.relnamespace LEFT JOIN pg_class rc ON rc.oid = con.confrelid "
            "WHERE con.contype IN ('p', 'f') AND n.nspname = ANY(%s) ORDER BY n.nspname, cl.relname, con.conname",
            (schemas,),
        ):
            table = found.get((nsp, name))
            if table is None:
                continue
            if ctype == "p":
                table.primary_key = tuple(cols)
            elif ref_name:
                table.foreign_keys.extend(zip(cols, [ref_name] * len(cols), ref_cols, strict=False))
        # the first schema on the search path that has a name wins, as it does for unqualified SQL
        order = {s: i for i, s in enumerate(schemas)}
        out: dict[str, CatalogueTable] = {}
        for (_nsp, name), table in sorted(found.items(), key=lambda item: (order[item[0][0]], item[0][1])):
            out.setdefault(name, table)
        return sorted(out.values(), key=lambda t: t.name)

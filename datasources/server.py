"""Database servers (PostgreSQL, MySQL/MariaDB): connection specs, pooled read-only connections, limits.

:class:`ServerSpec` is what a datasource stores about a server: host, port, database, user, schemas and,
for the password, at most the *name* of an environment variable (a typed password lives in the
:class:`~datasources.secrets.SecretStore`). :class:`ServerConnection` is the dialect-neutral half of a
connector: a bounded SQLAlchemy ``QueuePool`` of driver connections (pre-pinged, recycled), one query per
checked-out connection, run in a worker thread inside a read-only transaction with a server-side statement
timeout; a timeout or a cancelled task interrupts the query *on the server* (the subclass knows how: a
PostgreSQL cancel request, a MySQL ``KILL QUERY`` from a second connection). The dialect modules
(:mod:`datasources.postgres`, :mod:`datasources.mysql`) fill in the driver-specific parts.

Every message that leaves this module has been passed through :func:`~datasources.secrets.scrub`, and
driver exceptions are never chained onto the errors raised here (``from None``), so a password cannot
travel up in a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from datasources.connection import ProgressCallback, QueryResult, to_json_value
from datasources.errors import (
    ConnectionFailed,
    InvalidDatasource,
    QueryCancelled,
    QueryErrorKind,
    QueryFailed,
    QueryTimeout,
)
from datasources.schema import Dialect
from datasources.secrets import MASK, Secret, env_reference, resolve_env, scrub

ServerType = Literal["postgresql", "mysql"]
SERVER_TYPES: tuple[ServerType, ...] = ("postgresql", "mysql")
DEFAULT_PORTS: dict[ServerType, int] = {"postgresql": 5432, "mysql": 3306}
_SCHEMES: dict[str, ServerType] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mysql+pymysql": "mysql",
    "mariadb+pymysql": "mysql",
}
_OPTIONS: dict[ServerType, frozenset[str]] = {
    "postgresql": frozenset({"sslmode", "sslrootcert", "application_name"}),
    "mysql": frozenset({"charset", "ssl_ca"}),
}
"""URL query parameters passed on to the driver; anything else is refused (it could redirect the connection)."""

POOL_SIZE = 4
"""Connections kept open per datasource."""
POOL_OVERFLOW = 4
"""Extra connections opened under load, closed again when returned."""
POOL_TIMEOUT_S = 10.0
"""How long a query waits for a free connection before failing with a clear error."""
CONNECT_TIMEOUT_S = 5
"""How long opening one connection may take (an unreachable host fails after this)."""
INTROSPECTION_TIMEOUT_S = 20.0
"""Server-side limit on one catalogue or sampling query."""
_CANCEL_GRACE_S = 0.5
"""The server's own statement timeout normally fires first; the client cancels this much later."""


@dataclass(frozen=True)
class ServerSpec:
    """Where a database server is and who to log in as (never the password itself)."""

    type: ServerType
    """``postgresql`` or ``mysql`` (MariaDB included)."""
    host: str
    """Host name or address."""
    port: int
    """TCP port."""
    database: str
    """Database to connect to."""
    user: str
    """User (role) to log in as; a read-only role is recommended (see the README)."""
    schemas: tuple[str, ...] = ()
    """PostgreSQL schemas to expose, in search-path order (default ``public``); unused for MySQL."""
    password_env: str = ""
    """Name of the environment variable that holds the password (``${NAME}`` in the URL), or empty."""
    options: tuple[tuple[str, str], ...] = field(default=())
    """Allowed driver options from the URL's query string (``sslmode=require``...)."""

    @property
    def dialect(self) -> Dialect:
        """The sqlglot dialect of SQL written for this server."""
        return "postgres" if self.type == "postgresql" else "mysql"

    @property
    def search_path(self) -> tuple[str, ...]:
        """The PostgreSQL schemas, ``public`` when none is given."""
        return self.schemas or ("public",)

    def url(self, *, has_password: bool) -> str:
        """The connection URL with the password shown as ``***`` (or the ``${NAME}`` reference)."""
        scheme = "postgresql" if self.type == "postgresql" else "mysql"
        auth = quote(self.user, safe="")
        if self.password_env:
            auth += ":${" + self.password_env + "}"
        elif has_password:
            auth += ":" + MASK
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.options)
        return f"{scheme}://{auth}@{host}:{self.port}/{quote(self.database, safe='')}" + (f"?{query}" if query else "")

    def identity(self) -> str:
        """Everything that decides which server and data a connection reaches (for fingerprints)."""
        return "|".join(
            [self.type, self.host, str(self.port), self.database, self.user, ",".join(self.schemas),
             self.password_env, "&".join(f"{k}={v}" for k, v in self.options)]
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (no secret in it)."""
        return {
            "type": self.type,
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "user": self.user,
            "schemas": list(self.schemas),
            "password_env": self.password_env,
            "options": [list(o) for o in self.options],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        return cls(
            type=data["type"],
            host=data["host"],
            port=int(data["port"]),
            database=data["database"],
            user=data["user"],
            schemas=tuple(data.get("schemas", ())),
            password_env=data.get("password_env", ""),
            options=tuple((str(k), str(v)) for k, v in data.get("options", ())),
        )


def parse_server_url(url: str, expected: ServerType | None = None) -> tuple[ServerSpec, Secret | None]:
    """Split ``postgresql://user:password@host:5432/db`` into a spec and the password (if one is typed).

    A password written as ``${NAME}`` becomes ``password_env=NAME`` and no secret. MariaDB URLs
    (``mariadb://``) are MySQL ones.

    Raises:
        InvalidDatasource: not a PostgreSQL/MySQL URL, no host or database, an unknown option, or a scheme
            that does not match ``expected``. The message never contains the password.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidDatasource(
            "The connection URL could not be parsed; write it as type://user:password@host:port/database."
        ) from None
    kind = _SCHEMES.get(parts.scheme.lower())
    if kind is None:
        raise InvalidDatasource(
            f"The URL scheme {parts.scheme!r} is not supported; use postgresql:// or mysql:// (MariaDB too)."
        )
    if expected is not None and kind != expected:
        raise InvalidDatasource(f"The URL is a {kind} URL, but the datasource type is {expected}.")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database:
        raise InvalidDatasource("The connection URL needs a host and a database: type://user@host:port/database.")
    raw_password = unquote(parts.password) if parts.password is not None else None
    env = env_reference(raw_password)
    options = tuple(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted({k for k, _ in options} - _OPTIONS[kind])
    if unknown:
        raise InvalidDatasource(
            f"The URL option(s) {', '.join(unknown)} are not supported; allowed: {', '.join(sorted(_OPTIONS[kind]))}."
        )
    spec = ServerSpec(
        type=kind,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[kind],
        database=database,
        user=unquote(parts.username or ""),
        password_env=env or "",
        options=options,
    )
    # the masked password a GET shows (``***``) sent back unchanged means "no new password": keep the stored one
    secret = Secret(raw_password) if raw_password and not env and raw_password != MASK else None
    return spec, secret


@dataclass
class CatalogueTable:
    """One table or view as the server's catalogue describes it (before statistics)."""

    name: str
    """Unqualified name (PostgreSQL: the first schema on the search path that has it wins)."""
    is_view: bool = False
    """True for views and materialized views."""
    comment: str = ""
    """``COMMENT ON TABLE`` / MySQL table ``COMMENT``."""
    row_estimate: int | None = None
    """The catalogue's approximate row count (``pg_class.reltuples``, ``information_schema.tables``)."""
    columns: list[tuple[str, str, str]] = field(default_factory=list)
    """(name, type, comment) in column order."""
    primary_key: tuple[str, ...] = ()
    """Primary-key columns in key order."""
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)
    """(column, referenced table, referenced column) for declared foreign keys."""
    qualified: str = ""
    """The table's name quoted and qualified for trusted sampling queries."""


def server_version_text(raw: str) -> str:
    """A short server version (``PostgreSQL 15.20``, ``MariaDB 10.11.19``, ``MySQL 8.4.0``)."""
    text = raw.strip()
    if text.startswith("PostgreSQL"):
        return " ".join(text.split()[:2])
    if "mariadb" in text.lower():
        return "MariaDB " + text.split("-")[0]
    return "MySQL " + text.split("-")[0]


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark a worker's outcome as seen: a cancelled or timed-out query's error is expected."""
    if not fut.cancelled():
        fut.exception()


class ServerConnection:
    """A pooled, read-only connection to one database on a server; subclasses supply the driver parts."""

    dialect: Dialect

    def __init__(self, spec: ServerSpec, password: Secret | None = None) -> None:
        self.spec = spec
        self.path = Path(spec.database)
        """No file: the database name (kept for the :class:`~datasources.connection.Connection` protocol)."""
        self._password = password
        self._closed = False
        self._holder_lock = threading.Lock()
        self._version: str | None = None
        # imported here: the embedded default (DuckDB/SQLite only) never pays for SQLAlchemy at start-up
        import sqlalchemy as sa
        from sqlalchemy.pool import QueuePool

        self._engine = sa.create_engine(
            self._sqlalchemy_url(),
            creator=self._connect_checked,
            poolclass=QueuePool,
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_S,
            pool_pre_ping=True,  # a connection the server dropped is replaced at checkout, not used
            pool_recycle=1800,
            pool_reset_on_return="rollback",
        )

    # ------------------------------------------------------------------------------ driver parts

    def _sqlalchemy_url(self) -> str:
        raise NotImplementedError

    def _connect(self, password: str | None) -> Any:
        """Open one driver connection (session set to read-only where the server allows it)."""
        raise NotImplementedError

    def _begin(self, dbapi: Any, timeout_s: float) -> None:
        """Start a read-only transaction with a server-side statement timeout on ``dbapi``."""
        raise NotImplementedError

    def _execute_user(self, cursor: Any, sql: str) -> None:
        """Execute untrusted SQL so that only one statement can run."""
        cursor.execute(sql)

    def _after_fetch(self, cursor: Any) -> None:
        """Raise when the server reported, short of an error, that the statement was interrupted."""

    def _after(self, dbapi: Any, sql: str) -> bool:
        """Roll back; return False when the connection must not go back to the pool."""
        dbapi.rollback()
        return True

    def _cancel(self, dbapi: Any) -> None:
        """Interrupt the statement running on ``dbapi`` (called from another thread)."""
        raise NotImplementedError

    def _column_types(self, dbapi: Any, description: Sequence[Any]) -> list[str]:
        raise NotImplementedError

    def _classify(self, exc: Exception) -> Exception:
        """Translate a driver error into a datasources error (message already scrubbed)."""
        raise NotImplementedError

    def _version_sql(self) -> str:
        raise NotImplementedError

    def catalogue(self) -> list[CatalogueTable]:
        """Tables, views, columns, comments, keys and row estimates from the server's catalogue."""
        raise NotImplementedError

    def quote(self, name: str) -> str:
        """``name`` as a quoted identifier of this dialect."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ pool

    def _password_value(self) -> Secret | None:
        if self.spec.password_env:
            return resolve_env(self.spec.password_env)
        return self._password

    def _connect_checked(self) -> Any:
        secret = self._password_value()
        try:
            return self._connect(secret.reveal() if secret else None)
        except Exception as exc:  # noqa: BLE001 - every driver failure becomes one scrubbed ConnectionFailed
            raise self._connection_failed(exc, secret) from None

    def _connection_failed(self, exc: BaseException, secret: Secret | None = None) -> ConnectionFailed:
        text = scrub(str(exc).strip() or type(exc).__name__, secret or self._password)
        first = text.splitlines()[0] if text else type(exc).__name__
        where = f"{self.spec.host}:{self.spec.port}/{self.spec.database}"
        return ConnectionFailed(
            f"Could not connect to {self.spec.type} at {where} as {self.spec.user or '(no user)'}: {first}. "
            "Check the host, port, database, user and password, and that the server is running and reachable.",
            detail=text,
        )

    def _checkout(self) -> Any:
        """A pooled connection (pre-pinged).

        Raises:
            ConnectionFailed: the pool is closed or exhausted, or the server cannot be reached.
        """
        if self._closed:
            raise ConnectionFailed("The connection is closed; reconnect to the datasource.")
        import sqlalchemy as sa

        try:
            return self._engine.raw_connection()
        except ConnectionFailed:
            raise
        except sa.exc.TimeoutError:
            raise ConnectionFailed(
                f"All {POOL_SIZE + POOL_OVERFLOW} connections to {self.spec.database} are busy; "
                "wait for running questions to finish and retry."
            ) from None
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy wraps the creator's error
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ConnectionFailed):
                raise cause from None
            raise self._connection_failed(exc) from None

    def _release(self, handle: Any, reusable: bool) -> None:
        with contextlib.suppress(Exception):
            if not reusable:
                handle.invalidate()
            handle.close()

    # ------------------------------------------------------------------------------ queries

    def _run_sync(
        self, handle: Any, state: dict[str, bool], sql: str, max_rows: int, timeout_s: float
    ) -> tuple[list[str], list[str], list[Any], bool]:
        dbapi = handle.driver_connection
        reusable = True
        try:
            self._begin(dbapi, timeout_s)
            cursor = dbapi.cursor()
            try:
                started = time.monotonic()
                # a derived table admits only a query: COPY, SET, DO, LOCK, CALL or INTO OUTFILE cannot parse there
                self._execute_user(cursor, "SELECT * FROM (\n" + sql.strip().rstrip(";").rstrip() + "\n) AS _sqlbot_q")
                description = list(cursor.description or [])
                raw = cursor.fetchmany(max_rows + 1) if description else []
                self._after_fetch(cursor)
                if time.monotonic() - started >= timeout_s:
                    # MariaDB ends BENCHMARK() at max_statement_time with a made-up value and no error
                    raise QueryTimeout(self._timeout_message(timeout_s))
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()
            types = self._column_types(dbapi, description)
            reusable = self._after(dbapi, sql)
        except Exception as exc:  # noqa: BLE001 - classified below
            error = self._classify(exc)
            reusable = not isinstance(error, ConnectionFailed)
            with contextlib.suppress(Exception):
                dbapi.rollback()
            raise error from None
        finally:
            state["reusable"] = reusable
        truncated = len(raw) > max_rows
        return [d[0] for d in description], types, list(raw[:max_rows]), truncated

    async def run(
        self, sql: str, *, max_rows: int, timeout_s: float, on_progress: ProgressCallback | None = None
    ) -> QueryResult:
        """Run one query read-only on a pooled connection; see the module docstring.

        Raises:
            QueryFailed: the database refused or failed the query (``kind`` says why).
            QueryTimeout: the query ran longer than ``timeout_s`` and was stopped on the server.
            QueryCancelled: the query was interrupted from elsewhere.
            ConnectionFailed: the server cannot be reached (or went away during the query).
        """
        if max_rows < 0:
            raise ValueError("max_rows must be >= 0")
        started = time.perf_counter()
        # Checkout and query share one worker thread: a thread never sits on a pooled connection waiting for
        # another thread (the default executor is small), and a connection is held only while it works.
        holder: dict[str, Any] = {}
        work = asyncio.ensure_future(asyncio.to_thread(self._checkout_and_run, holder, sql, max_rows, timeout_s))
        work.add_done_callback(_retrieve)
        try:
            done, _ = await asyncio.wait({work}, timeout=timeout_s + _CANCEL_GRACE_S)
            if not done:
                self._cancel_holder(holder)
                raise QueryTimeout(self._timeout_message(timeout_s))
            columns, types, raw, truncated = work.result()
        except asyncio.CancelledError:
            self._cancel_holder(holder)
            raise
        except QueryTimeout as exc:
            raise QueryTimeout(self._timeout_message(timeout_s), detail=exc.detail) from None
        rows = [[to_json_value(v) for v in row] for row in raw]
        return QueryResult(
            columns=columns,
            column_types=types,
            rows=rows,
            row_count=len(rows),
            truncated=truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _timeout_message(timeout_s: float) -> str:
        return (
            f"The query ran longer than {timeout_s:g} s and was stopped on the server; narrow it down "
            "(filter, aggregate or limit) or raise the query timeout."
        )

    def _checkout_and_run(
        self, holder: dict[str, Any], sql: str, max_rows: int, timeout_s: float
    ) -> tuple[list[str], list[str], list[Any], bool]:
        handle = self._checkout()
        state = {"reusable": False}
        with self._holder_lock:
            holder["handle"] = handle
            cancelled = holder.get("cancelled", False)
        try:
            if cancelled:
                state["reusable"] = True
                raise QueryCancelled("The query was cancelled before it started.")
            return self._run_sync(handle, state, sql, max_rows, timeout_s)
        finally:
            with self._holder_lock:
                holder.pop("handle", None)
            self._release(handle, state["reusable"])

    def _cancel_holder(self, holder: dict[str, Any]) -> None:
        with self._holder_lock:
            holder["cancelled"] = True
            handle = holder.get("handle")
        if handle is None:
            return
        dbapi = handle.driver_connection

        def cancel() -> None:
            with contextlib.suppress(Exception):
                self._cancel(dbapi)

        threading.Thread(target=cancel, name="sqlbot-cancel", daemon=True).start()

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run trusted introspection SQL (read-only, with the introspection timeout) and return every row."""
        handle = self._checkout()
        dbapi = handle.driver_connection
        reusable = True
        try:
            self._begin(dbapi, INTROSPECTION_TIMEOUT_S)
            with contextlib.closing(dbapi.cursor()) as cursor:
                cursor.execute(sql, tuple(params) if params else None)
                rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
            dbapi.rollback()
            return rows
        except Exception as exc:  # noqa: BLE001 - classified
            error = self._classify(exc)
            reusable = not isinstance(error, ConnectionFailed)
            with contextlib.suppress(Exception):
                dbapi.rollback()
            raise error from None
        finally:
            self._release(handle, reusable)

    def test(self) -> float:
        """Run ``SELECT 1`` on a pooled connection and return the latency in milliseconds."""
        started = time.perf_counter()
        self.fetchall("SELECT 1")
        return (time.perf_counter() - started) * 1000

    def server_version(self) -> str:
        """The server's product and version, e.g. ``PostgreSQL 15.20`` or ``MariaDB 10.11.19``."""
        if self._version is None:
            self._version = server_version_text(str(self.fetchall(self._version_sql())[0][0]))
        return self._version

    def close(self) -> None:
        """Close idle pooled connections; connections running a query close when it ends."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._engine.dispose()

    # ------------------------------------------------------------------------------ helpers for subclasses

    def _failed(self, exc: BaseException, kind: QueryErrorKind, *, read_only: bool = False) -> QueryFailed:
        text = scrub(str(exc).strip() or type(exc).__name__, self._password)
        first = text.splitlines()[0] if text else type(exc).__name__
        if read_only:
            return QueryFailed(
                "The database refused to change data: SQLBot runs every query in a read-only transaction "
                f"({first}).",
                kind=kind,
                detail=text,
            )
        return QueryFailed(f"The database could not run the query: {first}", kind=kind, detail=text)

    def _timeout(self, exc: BaseException) -> QueryTimeout:
        return QueryTimeout("The query ran longer than its time limit and was stopped on the server.",
                            detail=scrub(str(exc), self._password))

    def _cancelled(self, exc: BaseException) -> QueryCancelled:
        return QueryCancelled("The query was interrupted before it finished.", detail=scrub(str(exc), self._password))

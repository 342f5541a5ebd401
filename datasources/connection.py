"""Read-only connections that run one query off the event loop, with a row cap, a timeout and progress.

:class:`DuckDBConnection` keeps one read-only database handle per file (external access and extension
loading disabled) and takes a fresh ``cursor()`` per query, so concurrent queries never share state.
:class:`SQLiteConnection` opens the file through a ``mode=ro`` URI and keeps a small pool of connections,
one per running query, because SQLite's ``interrupt()`` acts on a whole connection.

A query runs in a worker thread. When it outlives ``timeout_s`` or the awaiting task is cancelled, the
query itself is interrupted inside the database (not merely abandoned), so it stops using CPU at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import duckdb

from datasources.duckdb_check import check_duckdb_statement
from datasources.errors import ConnectionFailed, QueryCancelled, QueryErrorKind, QueryFailed, QueryTimeout
from datasources.schema import Dialect
from datasources.sql_functions import ALLOWED_NAMES

ProgressCallback = Callable[[float], None]
"""Receives the percentage (0-100) of the running query that the database reports as done."""

_PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class QueryResult:
    """The (capped) result of one query, ready to be serialised as JSON."""

    columns: list[str]
    """Column names in result order."""
    column_types: list[str]
    """Database type names per column (SQLite: inferred from the first non-null value)."""
    rows: list[list[Any]]
    """At most ``max_rows`` rows of JSON-safe values (ISO strings for times, floats for decimals)."""
    row_count: int
    """Number of rows returned in ``rows``."""
    truncated: bool
    """True when the query produced more than ``max_rows`` rows."""
    elapsed_ms: float
    """Wall-clock time from submission to the last fetched row."""


@runtime_checkable
class Connection(Protocol):
    """What the graph needs from an open datasource."""

    dialect: Dialect
    path: Path

    async def run(
        self, sql: str, *, max_rows: int, timeout_s: float, on_progress: ProgressCallback | None = None
    ) -> QueryResult:
        """Run one read-only query and return at most ``max_rows`` rows."""
        ...

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run trusted introspection SQL synchronously (never user SQL: it bypasses the limits)."""
        ...

    def test(self) -> float:
        """Run a trivial query and return its latency in milliseconds."""
        ...

    def close(self) -> None:
        """Release the database handle(s)."""
        ...


def to_json_value(value: Any) -> Any:
    """Convert one database value into something ``json.dumps`` accepts without losing its meaning."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return to_json_value(float(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_json_value(v) for v in value]
    return str(value)


class _Interrupted(Exception):
    """The database reported that the running query was interrupted."""


class _ThreadedConnection:
    """Shared machinery: run in a thread, poll progress, interrupt on timeout or cancellation."""

    dialect: Dialect
    path: Path
    supports_progress = False

    def _acquire(self) -> Any:
        raise NotImplementedError

    def _release(self, handle: Any) -> None:
        raise NotImplementedError

    def _interrupt(self, handle: Any) -> None:
        raise NotImplementedError

    def _progress(self, handle: Any) -> float:
        return -1.0

    def _execute(
        self, handle: Any, sql: str, max_rows: int
    ) -> tuple[list[str], list[str], list[list[Any]], bool]:
        raise NotImplementedError

    async def run(
        self, sql: str, *, max_rows: int, timeout_s: float, on_progress: ProgressCallback | None = None
    ) -> QueryResult:
        """Run ``sql`` in a worker thread; see the module docstring for timeout and cancellation semantics.

        Raises:
            QueryFailed: the database refused or failed the query (``kind`` says why).
            QueryTimeout: the query ran longer than ``timeout_s`` and was interrupted.
            QueryCancelled: the query was interrupted from elsewhere (e.g. the registry closed).
        """
        if max_rows < 0:
            raise ValueError("max_rows must be >= 0")
        handle = self._acquire()
        started = time.perf_counter()
        work = asyncio.ensure_future(asyncio.to_thread(self._execute, handle, sql, max_rows))
        # Release the handle only once the worker is really done, whatever happens to the awaiting task.
        work.add_done_callback(lambda fut: self._finish(fut, handle))
        poller = None
        if on_progress is not None and self.supports_progress:
            poller = asyncio.ensure_future(self._poll(handle, on_progress))
        try:
            done, _ = await asyncio.wait({work}, timeout=timeout_s)
            if not done:
                self._interrupt(handle)
                raise QueryTimeout(
                    f"The query ran longer than {timeout_s:g} s and was stopped; narrow it down "
                    "(filter, aggregate or limit) or raise the query timeout."
                )
            try:
                columns, types, rows, truncated = work.result()
            except _Interrupted as exc:
                raise QueryCancelled(
                    "The query was interrupted before it finished.", detail=str(exc)
                ) from None
        except asyncio.CancelledError:
            self._interrupt(handle)
            raise
        finally:
            if poller is not None:
                poller.cancel()
        return QueryResult(
            columns=columns,
            column_types=types,
            rows=rows,
            row_count=len(rows),
            truncated=truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def _finish(self, fut: asyncio.Future[Any], handle: Any) -> None:
        if not fut.cancelled():
            fut.exception()  # mark as retrieved: a timed-out query's interrupt error is expected
        self._release(handle)

    async def _poll(self, handle: Any, on_progress: ProgressCallback) -> None:
        last = -1.0
        while True:
            await asyncio.sleep(_PROGRESS_INTERVAL_S)
            percent = self._progress(handle)
            if percent >= 0 and percent != last:
                last = percent
                on_progress(min(percent, 100.0))


def _fetch(cursor: Any, max_rows: int) -> tuple[list[list[Any]], bool]:
    raw = cursor.fetchmany(max_rows + 1) if max_rows > 0 else []
    truncated = len(raw) > max_rows if max_rows > 0 else bool(cursor.fetchmany(1))
    return [[to_json_value(v) for v in row] for row in raw[:max_rows]], truncated


# --------------------------------------------------------------------------------------------------- DuckDB

_DUCKDB_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
# Session settings of each pooled cursor: progress from the first millisecond, never printed. They must be set
# before the configuration is locked, so cursors are made and configured up front.
_DUCKDB_SESSION = "SET enable_progress_bar = true; SET enable_progress_bar_print = false; SET progress_bar_time = 0"
_DUCKDB_CURSORS = 8


def _classify_duckdb(exc: duckdb.Error) -> QueryFailed:
    kind: QueryErrorKind = "runtime"
    if isinstance(exc, duckdb.ParserException):
        kind = "syntax"
    elif isinstance(exc, (duckdb.BinderException, duckdb.CatalogException, duckdb.ConversionException)):
        kind = "semantic"
    detail = str(exc)
    first_line = detail.splitlines()[0] if detail else type(exc).__name__
    return QueryFailed(f"The database could not run the query: {first_line}", kind=kind, detail=detail)


class DuckDBConnection(_ThreadedConnection):
    """A read-only DuckDB database; every query gets its own cursor."""

    dialect: Dialect = "duckdb"
    supports_progress = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._closed = False
        try:
            self._db = duckdb.connect(str(path), read_only=True, config=dict(_DUCKDB_CONFIG))
            listed = self._db.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary "
                "UNION SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
            ).fetchall()
        except duckdb.Error as exc:
            raise ConnectionFailed(
                f"Could not open the DuckDB database {path.name}: {exc}", detail=str(exc)
            ) from exc
        self._tables = frozenset(str(row[0]).lower() for row in listed)
        """The database's own tables and views: all a user query may read (the second line's list)."""
        self._idle: list[duckdb.DuckDBPyConnection] = []
        for _ in range(_DUCKDB_CURSORS):
            cursor = self._db.cursor()
            # DuckDB shares one instance per file within a process: if another connection object locked it
            # already, these cursors run without progress reports
            with contextlib.suppress(duckdb.InvalidInputException):
                cursor.execute(_DUCKDB_SESSION)
            self._idle.append(cursor)
        # from here on no statement can change a setting (threads, memory, logging, profiling...), even one
        # that got past the guard
        with contextlib.suppress(duckdb.InvalidInputException):
            self._db.execute("SET lock_configuration = true")
        locked = self._db.execute("SELECT current_setting('lock_configuration')").fetchone()
        if not locked or locked[0] is not True:
            self.close()
            raise ConnectionFailed(f"Could not lock the configuration of the DuckDB database {path.name}.")
        self._lock = threading.Lock()

    def _acquire(self) -> duckdb.DuckDBPyConnection:
        if self._closed:
            raise ConnectionFailed("The connection is closed; reconnect to the datasource.")
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._db.cursor()  # all configured cursors busy: this one runs without progress reports

    def _release(self, handle: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < _DUCKDB_CURSORS:
                self._idle.append(handle)
                return
        with contextlib.suppress(duckdb.Error):
            handle.close()

    def _interrupt(self, handle: duckdb.DuckDBPyConnection) -> None:
        with contextlib.suppress(duckdb.Error):
            handle.interrupt()

    def _progress(self, handle: duckdb.DuckDBPyConnection) -> float:
        try:
            return float(handle.query_progress())
        except duckdb.Error:
            return -1.0

    def _execute(
        self, handle: duckdb.DuckDBPyConnection, sql: str, max_rows: int
    ) -> tuple[list[str], list[str], list[list[Any]], bool]:
        try:
            # the second line: DuckDB's own parser must read one SELECT over this database's tables
            check_duckdb_statement(handle, sql, self._tables)
            handle.execute(sql)
            description = handle.description or []
            rows, truncated = _fetch(handle, max_rows)
        except duckdb.InterruptException as exc:
            raise _Interrupted(str(exc)) from exc
        except duckdb.Error as exc:
            raise _classify_duckdb(exc) from exc
        return [d[0] for d in description], [str(d[1]) for d in description], rows, truncated

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run trusted introspection SQL on a private cursor."""
        cursor = self._acquire()
        try:
            return cursor.execute(sql, list(params)).fetchall()
        finally:
            self._release(cursor)

    def test(self) -> float:
        """Run ``SELECT 1`` and return the latency in milliseconds."""
        started = time.perf_counter()
        self.fetchall("SELECT 1")
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        """Close the database handle (running queries are interrupted by DuckDB)."""
        if not self._closed:
            self._closed = True
            idle, self._idle = self._idle, []
            for cursor in idle:
                with contextlib.suppress(duckdb.Error):
                    cursor.close()
            with contextlib.suppress(duckdb.Error):
                self._db.close()


# --------------------------------------------------------------------------------------------------- SQLite

_SQLITE_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
_SQLITE_FUNCTIONS = ALLOWED_NAMES["sqlite"]


def _sqlite_authorizer(tables: frozenset[str]) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """Defence in depth under the SQL guard: read only this database's own tables, call only allowed functions.

    No catalogue, ATTACH, PRAGMA or write gets past it.
    """

    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if action not in _SQLITE_ALLOWED_ACTIONS:
            return sqlite3.SQLITE_DENY
        # a CTE or subquery is read with db None; a real table with db "main"; temp and attached ones never
        if action == sqlite3.SQLITE_READ and db is not None and (db != "main" or (arg1 or "").lower() not in tables):
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _SQLITE_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return authorize


def _classify_sqlite(exc: sqlite3.Error) -> QueryFailed | _Interrupted:
    text = str(exc)
    lowered = text.lower()
    kind: QueryErrorKind = "runtime"
    if "interrupted" in lowered:
        return _Interrupted(text)
    if "syntax error" in lowered or "incomplete input" in lowered or "unrecognized token" in lowered:
        kind = "syntax"
    elif any(
        marker in lowered
        for marker in (
            "no such column",
            "no such table",
            "no such function",
            "ambiguous column",
            "misuse of",
            "wrong number of arguments",
            "columns but",
            "values for",
        )
    ):
        kind = "semantic"
    return QueryFailed(f"The database could not run the query: {text}", kind=kind, detail=text)


def _sqlite_type(values: Sequence[Any]) -> str:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, bool):
        return "BOOLEAN"
    if isinstance(sample, int):
        return "INTEGER"
    if isinstance(sample, float):
        return "REAL"
    if isinstance(sample, (bytes, memoryview)):
        return "BLOB"
    return "TEXT" if sample is not None else ""


class SQLiteConnection(_ThreadedConnection):
    """A read-only SQLite database with a pool of connections (one per running query)."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._uri = f"file:{quote(str(path))}?mode=ro"
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        first = self._open()  # fail now, not on first query, if the file is not a database
        listed = first.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        ).fetchall()
        self._authorizer = _sqlite_authorizer(frozenset(str(row[0]).lower() for row in listed))
        self._release(first)

    def _open(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            con.execute("PRAGMA query_only = ON")
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise ConnectionFailed(
                f"Could not open the SQLite database {self.path.name}: {exc}", detail=str(exc)
            ) from exc
        return con

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise ConnectionFailed("The connection is closed; reconnect to the datasource.")
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _release(self, handle: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < 4:
                self._idle.append(handle)
                return
        handle.close()

    def _interrupt(self, handle: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            handle.interrupt()

    def _execute(
        self, handle: sqlite3.Connection, sql: str, max_rows: int
    ) -> tuple[list[str], list[str], list[list[Any]], bool]:
        handle.set_authorizer(self._authorizer)
        cursor = handle.cursor()
        try:
            cursor.execute(sql)
            description = cursor.description or []
            raw = cursor.fetchmany(max_rows + 1)
        except sqlite3.Error as exc:
            raise _classify_sqlite(exc) from exc
        finally:
            cursor.close()
            handle.set_authorizer(None)
        truncated = len(raw) > max_rows
        raw = raw[:max_rows]
        types = [_sqlite_type([row[i] for row in raw]) for i in range(len(description))]
        rows = [[to_json_value(v) for v in row] for row in raw]
        return [d[0] for d in description], types, rows, truncated

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run trusted introspection SQL on a pooled connection."""
        handle = self._acquire()
        try:
            return handle.execute(sql, tuple(params)).fetchall()
        finally:
            self._release(handle)

    def test(self) -> float:
        """Run ``SELECT 1`` and return the latency in milliseconds."""
        started = time.perf_counter()
        self.fetchall("SELECT 1")
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        """Close every idle connection; busy ones close when their query ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()


def open_connection(dialect: Dialect, path: Path) -> Connection:
    """Open ``path`` read-only with the connector for ``dialect``."""
    if dialect == "duckdb":
        return DuckDBConnection(path)
    if dialect == "sqlite":
        return SQLiteConnection(path)
    raise ConnectionFailed(f"Datasources of type {dialect!r} are not supported yet.")

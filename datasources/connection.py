"""Read-only connections: user queries run in sandboxed worker processes, introspection runs in-process.

:meth:`Connection.run` (user SQL) goes to a :class:`~datasources.sandbox.WorkerPool`: a few worker
processes per database file with hard memory, thread, spill, result-size and cell-size bounds. When a
query outlives ``timeout_s`` or the awaiting task is cancelled, the query is interrupted inside the
database and, if it has not stopped after a short grace, its worker process is killed and replaced — so
the timeout stops the work, not just the wait. DuckDB's progress still reaches ``on_progress``.

:meth:`Connection.fetchall` (trusted introspection only) uses an in-process read-only handle: DuckDB with
external access and extension loading disabled, SQLite through a ``mode=ro`` URI.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote

import duckdb

from datasources._worker import CUT_MARKER, to_json_value
from datasources.errors import (
    ConnectionFailed,
    QueryCancelled,
    QueryErrorKind,
    QueryFailed,
    QueryTimeout,
    ResourceLimitExceeded,
)
from datasources.sandbox import Job, SandboxLimits, WorkerDied, WorkerPool
from datasources.schema import Dialect

__all__ = [
    "CUT_MARKER",
    "Connection",
    "DuckDBConnection",
    "ProgressCallback",
    "QueryResult",
    "SQLiteConnection",
    "open_connection",
    "to_json_value",
]

ProgressCallback = Callable[[float], None]
"""Receives the percentage (0-100) of the running query that the database reports as done.

It is called from a worker thread, never from the event loop."""


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
    """True when the query produced more than ``max_rows`` rows, or more than the result byte bound."""
    elapsed_ms: float
    """Wall-clock time from submission to the last fetched row."""
    truncated_by: Literal["rows", "bytes"] | None = None
    """Which bound cut the result short, if one did."""
    cells_cut: int = field(default=0)
    """How many cells were longer than the cell bound and end with :data:`CUT_MARKER`."""


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


class _SandboxedConnection:
    """``run`` in a worker process; subclasses provide the in-process introspection handle."""

    dialect: Dialect
    path: Path
    limits: SandboxLimits
    _pool: WorkerPool
    _owns_pool: bool

    async def run(
        self, sql: str, *, max_rows: int, timeout_s: float, on_progress: ProgressCallback | None = None
    ) -> QueryResult:
        """Run ``sql`` in a worker process; see the module docstring for timeout and cancellation.

        Raises:
            QueryFailed: the database refused or failed the query (``kind`` says why).
            QueryTimeout: the query ran longer than ``timeout_s`` and was stopped.
            QueryCancelled: the query was stopped from elsewhere (e.g. the connection closed).
            ResourceLimitExceeded: the query needed more memory, or a bigger value, than allowed.
            ConnectionFailed: the connection is closed or no worker could open the database.
        """
        if max_rows < 0:
            raise ValueError("max_rows must be >= 0")
        limits = self.limits
        request = (sql, max_rows, limits.max_result_bytes, limits.max_cell_chars, timeout_s)
        job = Job()
        started = time.perf_counter()
        work = asyncio.ensure_future(asyncio.to_thread(self._pool.execute, job, request, on_progress))
        work.add_done_callback(_retrieve)
        try:
            done, _ = await asyncio.wait({work}, timeout=timeout_s)
        except asyncio.CancelledError:
            self._pool.stop(job)
            raise
        if not done:
            self._pool.stop(job)
            raise QueryTimeout(
                f"The query ran longer than {timeout_s:g} s and was stopped; narrow it down "
                "(filter, aggregate or limit) or raise the query timeout."
            )
        try:
            reply = work.result()
        except WorkerDied as exc:
            raise self._died(exc) from None
        if reply is None:
            raise QueryCancelled("The query was stopped before it started.")
        if reply[0] == "err":
            raise self._error(reply, timeout_s)
        _, _, columns, types, rows, truncated_by, cells_cut = reply
        return QueryResult(
            columns=columns,
            column_types=types,
            rows=rows,
            row_count=len(rows),
            truncated=truncated_by is not None,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            truncated_by=truncated_by,
            cells_cut=cells_cut,
        )

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of this connection's live query workers."""
        return self._pool.pids

    def _error(self, reply: tuple[Any, ...], timeout_s: float) -> Exception:
        _, _, category, kind, message, detail = reply
        if category == "timeout":
            return QueryTimeout(
                f"The query ran longer than {timeout_s:g} s and was stopped; narrow it down "
                "(filter, aggregate or limit) or raise the query timeout."
            )
        if category == "interrupted":
            return QueryCancelled("The query was interrupted before it finished.", detail=message)
        if category == "memory":
            return ResourceLimitExceeded(
                f"The query needed more than the {self.limits.memory_mb} MB of memory a query may use "
                f"and was stopped ({message}).",
                limit="memory",
                detail=detail,
            )
        if category == "limit":
            return ResourceLimitExceeded(
                f"The query went past a size limit of the database and was stopped: {message}",
                limit="size",
                detail=detail,
            )
        if category == "refused" and kind != "permission":  # the second line found a mistake, not an escape
            return QueryFailed(f"The database could not run the query: {message}", kind=_kind(kind), detail=detail)
        if category == "refused":  # the database's own second line (one SELECT over the file's own tables)
            return QueryFailed(f"The database refused the query: {message}", kind="permission", detail=detail)
        return QueryFailed(f"The database could not run the query: {message}", kind=_kind(kind), detail=detail)

    def _died(self, exc: WorkerDied) -> Exception:
        if exc.reason == "memory":
            return ResourceLimitExceeded(
                f"The query used more than {self.limits.rss_limit_bytes // 2**20} MB of memory; its worker "
                "was stopped (the next query gets a fresh one).",
                limit="memory",
            )
        if exc.reason == "timeout":
            return QueryTimeout("The query did not stop when interrupted; its worker was stopped.")
        if exc.reason == "closed":
            return QueryCancelled("The connection was closed while the query ran.")
        return QueryFailed(
            f"The database process ended while running the query (exit code {exc.returncode}); "
            "it was restarted — simplify the query and try again.",
            kind="runtime",
        )

    def close(self) -> None:
        """Release the in-process handle and stop the query workers unless the pool was lent to it."""
        if self._owns_pool:
            self._pool.close()
        self._close_handle()

    def _close_handle(self) -> None:
        raise NotImplementedError


def _kind(kind: str) -> QueryErrorKind:
    return kind if kind in ("syntax", "semantic", "permission") else "runtime"  # type: ignore[return-value]


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark a worker thread's outcome as retrieved: a stopped query's error is expected, not news."""
    if not fut.cancelled():
        fut.exception()


# --------------------------------------------------------------------------------------------------- DuckDB

_DUCKDB_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class DuckDBConnection(_SandboxedConnection):
    """A read-only DuckDB database: user queries in worker processes, introspection on private cursors."""

    dialect: Dialect = "duckdb"

    def __init__(self, path: Path, *, limits: SandboxLimits | None = None, pool: WorkerPool | None = None) -> None:
        self.path = path
        self.limits = pool.limits if pool is not None else limits or SandboxLimits()
        try:
            self._db = duckdb.connect(str(path), read_only=True, config=dict(_DUCKDB_CONFIG))
        except duckdb.Error as exc:
            raise ConnectionFailed(
                f"Could not open the DuckDB database {path.name}: {exc}", detail=str(exc)
            ) from exc
        self._closed = False
        self._owns_pool = pool is None
        self._pool = pool or WorkerPool("duckdb", path, self.limits)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run trusted introspection SQL on a private cursor."""
        if self._closed:
            raise ConnectionFailed("The connection is closed; reconnect to the datasource.")
        cursor = self._db.cursor()
        try:
            return cursor.execute(sql, list(params)).fetchall()
        finally:
            cursor.close()

    def test(self) -> float:
        """Run ``SELECT 1`` and return the latency in milliseconds."""
        started = time.perf_counter()
        self.fetchall("SELECT 1")
        return (time.perf_counter() - started) * 1000

    def _close_handle(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(duckdb.Error):
                self._db.close()


# --------------------------------------------------------------------------------------------------- SQLite


class SQLiteConnection(_SandboxedConnection):
    """A read-only SQLite database: user queries in worker processes, introspection on pooled connections."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, *, limits: SandboxLimits | None = None, pool: WorkerPool | None = None) -> None:
        self.path = path
        self.limits = pool.limits if pool is not None else limits or SandboxLimits()
        self._uri = f"file:{quote(str(path))}?mode=ro"
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._release(self._open())  # fail now, not on first query, if the file is not a database
        self._owns_pool = pool is None
        self._pool = pool or WorkerPool("sqlite", path, self.limits)

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

    def _close_handle(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()


def open_connection(
    dialect: Dialect, path: Path, *, limits: SandboxLimits | None = None, pool: WorkerPool | None = None
) -> Connection:
    """Open ``path`` read-only with the connector for ``dialect``.

    User queries obey ``limits`` in a worker pool of the connection's own, or run on ``pool`` (shared
    between connections to the same file, and closed by whoever created it).
    """
    if dialect == "duckdb":
        return DuckDBConnection(path, limits=limits, pool=pool)
    if dialect == "sqlite":
        return SQLiteConnection(path, limits=limits, pool=pool)
    raise ConnectionFailed(f"Datasources of type {dialect!r} are not supported yet.")

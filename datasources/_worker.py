"""The query worker process: runs user SQL against one database file with hard resource limits.

Started by :mod:`datasources.sandbox` as ``python <this file> <request fd> <control fd> <json config>``,
so it imports only the standard library and the one database driver it needs (never the app). It
imposes its own limits (``RLIMIT_AS``, no core dumps), opens the file read-only with every setting locked,
then serves one query at a time:

* the *request* channel carries ``("run", qid, sql, max_rows, max_bytes, max_cell, timeout_s)`` in and
  ``("progress", qid, pct)`` / ``("ok", qid, ...)`` / ``("err", qid, ...)`` out;
* the *control* channel carries ``("interrupt", qid)`` in; a side thread reads it, interrupts the
  running query and samples DuckDB's progress. End of file there means the parent is gone: exit at once.

The values are converted to JSON-safe ones here and bounded in bytes (rows) and per cell, so a huge
result never crosses the pipe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import importlib.util
import json
import math
import os
import resource
import sqlite3
import sys
import threading
import time
import uuid
from decimal import Decimal
from multiprocessing.connection import Connection as Pipe
from typing import Any
from urllib.parse import quote

_PROGRESS_INTERVAL_S = 0.1
_FETCH_BATCH = 256
CUT_MARKER = "…[cut {n} of {total} {unit}]"
"""Appended to a text, blob or list cell that was longer than the cell bound."""


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


def bounded_value(value: Any, max_cell: int) -> tuple[Any, int, bool]:
    """``to_json_value`` with a bound: returns ``(value, approximate JSON bytes, cut)``.

    Text longer than ``max_cell`` characters, blobs longer than ``max_cell // 2`` bytes (hex doubles them)
    and lists or structs whose elements add up past ``max_cell`` are cut and end with :data:`CUT_MARKER`.
    """
    if value is None or isinstance(value, bool):
        return value, 5, False
    if isinstance(value, (int, float)):
        return to_json_value(value), 12, False
    if isinstance(value, str):
        if len(value) <= max_cell:
            return value, len(value) + 2, False
        cut = value[:max_cell] + CUT_MARKER.format(n=len(value) - max_cell, total=len(value), unit="characters")
        return cut, len(cut) + 2, True
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        keep = max(max_cell // 2, 0)
        if len(raw) <= keep:
            return raw.hex(), 2 * len(raw) + 2, False
        cut = raw[:keep].hex() + CUT_MARKER.format(n=len(raw) - keep, total=len(raw), unit="bytes")
        return cut, len(cut) + 2, True
    if isinstance(value, (list, tuple, set, dict)):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        out: list[Any] = []
        size, was_cut = 2, False
        for i, item in enumerate(items):
            key, inner = item if isinstance(value, dict) else (None, item)
            converted, n, c = bounded_value(inner, max_cell)
            size += n + 1 + (len(str(key)) + 3 if key is not None else 0)
            was_cut = was_cut or c
            if size > max_cell:
                marker = CUT_MARKER.format(n=len(items) - i, total=len(items), unit="elements")
                if isinstance(value, dict):
                    return {**dict(out), "…": marker}, max_cell + len(marker), True
                return [*out, marker], max_cell + len(marker), True
            out.append((str(key), converted) if key is not None else converted)
        return (dict(out) if isinstance(value, dict) else out), size, was_cut
    converted = to_json_value(value)
    return converted, len(str(converted)) + 2, False


class Fetched:
    """Rows fetched under the bounds, and why fetching stopped early (if it did)."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.truncated_by: str | None = None
        self.cells_cut = 0
        self.samples: dict[int, Any] = {}
        """The first non-null raw value of each column (SQLite infers column types from them)."""


def fetch_bounded(cursor: Any, max_rows: int, max_bytes: int, max_cell: int) -> Fetched:
    """Fetch at most ``max_rows`` rows and about ``max_bytes`` of JSON, each cell cut at ``max_cell``."""
    out = Fetched()
    total = 0
    while True:
        batch = cursor.fetchmany(min(_FETCH_BATCH, max_rows + 1 - len(out.rows)))
        if not batch:
            return out
        for raw in batch:
            if len(out.rows) >= max_rows:
                out.truncated_by = "rows"
                return out
            row: list[Any] = []
            for i, value in enumerate(raw):
                converted, size, cut = bounded_value(value, max_cell)
                row.append(converted)
                total += size + 1
                out.cells_cut += cut
                if value is not None and i not in out.samples:
                    out.samples[i] = value
            if total > max_bytes:
                out.truncated_by = "bytes"
                return out
            out.rows.append(row)


class _Worker:
    """One open database and the query running on it (at most one at a time)."""

    def __init__(self, requests: Pipe, control: Pipe, config: dict[str, Any]) -> None:
        self.requests = requests
        self.control = control
        self.config = config
        self.dialect: str = config["dialect"]
        self.send_lock = threading.Lock()
        self.current: int | None = None
        self.deadline = 0.0
        self.deadline_hit = False
        self.db: Any = self._open()

    # ---------------------------------------------------------------------------------------- opening

    def _open(self) -> Any:
        if self.dialect == "duckdb":
            return self._open_duckdb()
        return self._open_sqlite()

    def _open_duckdb(self) -> Any:
        import duckdb

        cfg = self.config
        settings: dict[str, Any] = {
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": f"{cfg['memory_mb']}MiB",
            "threads": cfg["threads"],
        }
        if cfg.get("temp_dir"):
            settings["temp_directory"] = cfg["temp_dir"]
            settings["max_temp_directory_size"] = f"{cfg['spill_mb']}MiB"
        else:
            settings["temp_directory"] = ""
        db = duckdb.connect(cfg["path"], read_only=True, config=settings)
        listed = db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary "
            "UNION SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
        ).fetchall()
        self.tables = frozenset(str(row[0]).lower() for row in listed)
        # Session settings first (they cannot be global), then lock every setting for good.
        db.execute(
            "SET enable_progress_bar = true; SET enable_progress_bar_print = false; "
            "SET progress_bar_time = 0; SET lock_configuration = true"
        )
        self.second_line: Any = _load_sibling("duckdb_check")
        return db

    def _open_sqlite(self) -> sqlite3.Connection:
        cfg = self.config
        con = sqlite3.connect(f"file:{quote(cfg['path'])}?mode=ro", uri=True, check_same_thread=False)
        con.execute("PRAGMA query_only = ON")
        con.execute("PRAGMA temp_store = MEMORY")  # sorts and temp b-trees count against the heap limit
        # SQLite's own allocator bound (process-wide: this process serves only this database).
        con.execute(f"PRAGMA hard_heap_limit = {int(cfg['memory_mb']) * 2**20}")
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        for limit, value in (
            (sqlite3.SQLITE_LIMIT_LENGTH, cfg["max_value_bytes"]),
            (sqlite3.SQLITE_LIMIT_SQL_LENGTH, cfg["max_sql_bytes"]),
            (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 200),
            (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 100),
            (sqlite3.SQLITE_LIMIT_VDBE_OP, 1_000_000),
            (sqlite3.SQLITE_LIMIT_FUNCTION_ARG, 100),
            (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
            (sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10_000),
            (sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100),
            (sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 1),
            (sqlite3.SQLITE_LIMIT_COLUMN, 2000),
        ):
            con.setlimit(limit, value)
        listed = con.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        ).fetchall()
        con.set_authorizer(_sqlite_authorizer(
            frozenset(str(row[0]).lower() for row in listed), frozenset(cfg["rules"]["allowed_functions"])
        ))
        con.set_progress_handler(self._sqlite_tick, 10_000)
        return con

    def _sqlite_tick(self) -> int:
        """SQLite's progress handler: a non-zero return stops the statement (deadline reached)."""
        if self.current is not None and _now() > self.deadline:
            self.deadline_hit = True
            return 1
        return 0

    # ---------------------------------------------------------------------------------------- serving

    def send(self, message: tuple[Any, ...]) -> None:
        with self.send_lock:
            self.requests.send(message)

    def watch(self) -> None:
        """Side thread: apply interrupts, report progress, and exit when the parent goes away."""
        last = -1.0
        while True:
            try:
                ready = self.control.poll(_PROGRESS_INTERVAL_S)
                message = self.control.recv() if ready else None
            except (EOFError, OSError):
                os._exit(0)
            qid = self.current
            if message is not None:
                if message[0] == "interrupt" and message[1] == qid:
                    self.db.interrupt()
                continue
            if qid is None or self.dialect != "duckdb":
                last = -1.0
                continue
            try:
                percent = float(self.db.query_progress())
            except Exception:  # noqa: BLE001 - progress is best effort
                continue
            if percent >= 0 and percent != last:
                last = percent
                with self.send_lock:
                    if self.current == qid:
                        self.requests.send(("progress", qid, min(percent, 100.0)))

    def serve(self) -> None:
        while True:
            try:
                message = self.requests.recv()
            except (EOFError, OSError):
                return
            if message[0] == "close":
                return
            _, qid, sql, max_rows, max_bytes, max_cell, timeout_s = message
            with self.send_lock:
                self.deadline = _now() + timeout_s
                self.deadline_hit = False
                self.current = qid
            try:
                reply = self._run(qid, sql, max_rows, max_bytes, max_cell)
            except MemoryError:
                reply = ("err", qid, "memory", "runtime", "The query needed more memory than allowed.", "")
            with self.send_lock:
                self.current = None
                self.requests.send(reply)

    def _run(self, qid: int, sql: str, max_rows: int, max_bytes: int, max_cell: int) -> tuple[Any, ...]:
        if self.dialect == "duckdb":
            return self._run_duckdb(qid, sql, max_rows, max_bytes, max_cell)
        return self._run_sqlite(qid, sql, max_rows, max_bytes, max_cell)

    def _run_duckdb(self, qid: int, sql: str, max_rows: int, max_bytes: int, max_cell: int) -> tuple[Any, ...]:
        import duckdb

        db = self.db
        try:
            statements = db.extract_statements(sql)
            kinds = [str(s.type).rsplit(".", 1)[-1] for s in statements]
            if kinds != ["SELECT"]:
                return (
                    "err", qid, "refused", "permission",
                    "Only one SELECT statement may run; this was "
                    + (", ".join(kinds) if kinds else "empty") + ".",
                    sql[:500],
                )
            try:
                # DuckDB's own parser must read one SELECT over this file's tables (datasources/duckdb_check.py)
                self.second_line.check_duckdb_statement(db, sql, self.tables, self.config["rules"])
            except self.second_line.Refused as exc:
                return ("err", qid, "refused", exc.kind, str(exc), sql[:500])
            cursor = db.execute(sql)
            description = cursor.description or []
            got = fetch_bounded(cursor, max_rows, max_bytes, max_cell)
        except duckdb.InterruptException as exc:
            return ("err", qid, "interrupted", "runtime", str(exc), "")
        except duckdb.OutOfMemoryException as exc:
            return ("err", qid, "memory", "runtime", str(exc).splitlines()[0], str(exc))
        except duckdb.Error as exc:
            detail = str(exc)
            kind = "runtime"
            if isinstance(exc, duckdb.ParserException):
                kind = "syntax"
            elif isinstance(exc, (duckdb.BinderException, duckdb.CatalogException, duckdb.ConversionException)):
                kind = "semantic"
            first = detail.splitlines()[0] if detail else type(exc).__name__
            return ("err", qid, "failed", kind, first, detail)
        types = [str(d[1]) for d in description]
        return ("ok", qid, [d[0] for d in description], types, got.rows, got.truncated_by, got.cells_cut)

    def _run_sqlite(self, qid: int, sql: str, max_rows: int, max_bytes: int, max_cell: int) -> tuple[Any, ...]:
        cursor = self.db.cursor()
        try:
            cursor.execute(sql)
            description = cursor.description or []
            got = fetch_bounded(cursor, max_rows, max_bytes, max_cell)
        except sqlite3.Error as exc:
            text = str(exc)
            lowered = text.lower()
            if "interrupted" in lowered:
                return ("err", qid, "timeout" if self.deadline_hit else "interrupted", "runtime", text, "")
            if "out of memory" in lowered:
                return ("err", qid, "memory", "runtime", text, text)
            if any(m in lowered for m in _SQLITE_LIMIT_MARKERS):
                return ("err", qid, "limit", "runtime", text, text)
            return ("err", qid, "failed", _sqlite_kind(lowered), text, text)
        finally:
            cursor.close()
        types = [_sqlite_type(got.samples.get(i)) for i in range(len(description))]
        return ("ok", qid, [d[0] for d in description], types, got.rows, got.truncated_by, got.cells_cut)


_SQLITE_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_SQLITE_LIMIT_MARKERS = ("string or blob too big", "too many", "too large", "too big", "stack overflow")


def _sqlite_authorizer(tables: frozenset[str], functions: frozenset[str]) -> Any:
    """Defence in depth under the SQL guard: read only this file's own tables, call only allowed functions.

    No catalogue, ATTACH, PRAGMA or write gets past it. A CTE or subquery is read with ``db`` None, a real
    table with ``db`` "main"; temp and attached ones never.
    """

    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if action not in _SQLITE_ALLOWED_ACTIONS:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_READ and db is not None and (db != "main" or (arg1 or "").lower() not in tables):
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in functions:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return authorize


def _sqlite_kind(lowered: str) -> str:
    if "syntax error" in lowered or "incomplete input" in lowered or "unrecognized token" in lowered:
        return "syntax"
    semantic = (
        "no such column", "no such table", "no such function", "ambiguous column", "misuse of",
        "wrong number of arguments", "columns but", "values for",
    )
    return "semantic" if any(m in lowered for m in semantic) else "runtime"


def _sqlite_type(sample: Any) -> str:
    if isinstance(sample, bool):
        return "BOOLEAN"
    if isinstance(sample, int):
        return "INTEGER"
    if isinstance(sample, float):
        return "REAL"
    if isinstance(sample, (bytes, memoryview)):
        return "BLOB"
    return "TEXT" if sample is not None else ""


def _load_sibling(name: str) -> Any:
    """Import ``name`` from this file's directory by path.

    The worker runs isolated (``python -I``): its own directory is not on ``sys.path``, so the app's modules
    there (``secrets``, ``server``, ``mysql`` …) can never shadow a standard or driver module — before this,
    ``import duckdb`` picked up the app's ``secrets`` and took 0.9 s instead of 0.3 s.
    """
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _now() -> float:
    return time.monotonic()


def _limit_self(config: dict[str, Any]) -> None:
    """Hard limits the kernel enforces whatever the database does."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    address_space = int(config["address_space_mb"]) * 2**20
    if address_space > 0:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


def main(argv: list[str]) -> int:
    """Entry point: ``<request fd> <control fd> <json config>``."""
    requests = Pipe(int(argv[1]))
    control = Pipe(int(argv[2]), writable=False)
    config = json.loads(argv[3])
    try:
        _limit_self(config)
        worker = _Worker(requests, control, config)
    except Exception as exc:  # noqa: BLE001 - any failure to open is reported, then the process ends
        requests.send(("fail", f"{type(exc).__name__}: {exc}"))
        return 1
    requests.send(("ready", os.getpid()))
    threading.Thread(target=worker.watch, name="sqlbot-worker-watch", daemon=True).start()
    worker.serve()
    with contextlib.suppress(Exception):
        worker.db.close()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: the watch thread still holds the driver's objects


if __name__ == "__main__":
    sys.exit(main(sys.argv))

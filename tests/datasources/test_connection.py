"""Running queries: JSON-safe rows, row caps, real progress, timeouts, cancellation, error kinds, read-only."""

import asyncio
import os
import time
from pathlib import Path

import pytest

from datasources.connection import DuckDBConnection, QueryResult
from datasources.demo import ensure_demo
from datasources.errors import QueryFailed, QueryTimeout
from datasources.registry import Registry

# A DuckDB query that keeps both cores busy for far longer than any test waits.
ENDLESS = "SELECT count(*) FROM range(1000000000) a, range(1000) b WHERE (a.range + b.range) % 7 = 3"
LONG = "SELECT count(*) FROM range(2000000000) t WHERE t.range % 7 = 3"


async def test_values_are_json_safe(registry: Registry) -> None:
    result = await registry.connect("flights").run(
        "SELECT TIMESTAMP '2013-01-01 05:00:00' AS ts, DATE '2013-01-02' AS d, 1.25::DECIMAL(5, 2) AS dec, "
        "'\\xAB'::BLOB AS b, 'nan'::DOUBLE AS nan, NULL AS nothing, [1, 2] AS l, {'k': 1} AS s",
        max_rows=5,
        timeout_s=5,
    )
    assert result.rows == [["2013-01-01T05:00:00", "2013-01-02", 1.25, "ab", None, None, [1, 2], {"k": 1}]]
    assert result.column_types[:3] == ["TIMESTAMP", "DATE", "DECIMAL(5,2)"]
    assert (
        result.columns[0] == "ts" and result.row_count == 1 and not result.truncated and result.elapsed_ms > 0
    )


async def test_row_cap_and_truncated_flag(registry: Registry) -> None:
    conn = registry.connect("flights")
    capped = await conn.run("SELECT * FROM airlines ORDER BY carrier", max_rows=10, timeout_s=5)
    assert capped.row_count == 10 and capped.truncated and capped.rows[0][0] == "9E"
    exact = await conn.run("SELECT * FROM airlines", max_rows=16, timeout_s=5)
    assert exact.row_count == 16 and not exact.truncated
    movies = await registry.connect("movies").run("SELECT Title FROM omdb", max_rows=3, timeout_s=5)
    assert movies.row_count == 3 and movies.truncated and movies.column_types == ["TEXT"]


async def test_timeout_interrupts_the_query_and_reports_progress(registry: Registry) -> None:
    conn = registry.connect("flights")
    progress: list[float] = []
    started = time.perf_counter()
    with pytest.raises(QueryTimeout, match="longer than 0.8 s"):
        await conn.run(LONG, max_rows=1, timeout_s=0.8, on_progress=progress.append)
    assert time.perf_counter() - started < 2
    assert progress, "DuckDB reports real progress while the query runs"
    assert all(0 <= p <= 100 for p in progress) and progress == sorted(progress)
    # The connection is still usable afterwards.
    assert (await conn.run("SELECT 42", max_rows=1, timeout_s=5)).rows == [[42]]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_cancelling_the_task_interrupts_the_query_at_once(demo_data_dir: Path) -> None:
    conn = DuckDBConnection(ensure_demo(demo_data_dir, "flights"))
    try:
        loop = asyncio.get_running_loop()
        running = asyncio.Event()
        task = asyncio.create_task(conn.run(
            ENDLESS, max_rows=1, timeout_s=60, on_progress=lambda _: loop.call_soon_threadsafe(running.set)
        ))
        # DuckDB reports progress only once the query runs (the worker may still be starting on a loaded machine)
        await asyncio.wait_for(running.wait(), 30)
        (pid,) = conn.worker_pids  # the pre-started worker, running the query
        busy = cpu_seconds(pid)
        await asyncio.sleep(0.2)
        assert not task.done() and cpu_seconds(pid) > busy, "the query is running in the worker"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.25)
        stopped = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        assert cpu_seconds(pid) - stopped < 0.05, "the worker process does no more work after the cancel"
        assert pid in conn.worker_pids, "an interruptible query is interrupted, its worker kept"
        assert (await conn.run("SELECT 42", max_rows=1, timeout_s=5)).rows == [[42]]
    finally:
        conn.close()


async def test_sqlite_timeout(registry: Registry) -> None:
    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    with pytest.raises(QueryTimeout):
        await registry.connect("movies").run(endless, max_rows=1, timeout_s=0.3)
    assert (
        await registry.connect("movies").run("SELECT count(*) FROM omdb", max_rows=1, timeout_s=5)
    ).rows == [[17472]]


@pytest.mark.parametrize(
    ("datasource", "sql", "kind"),
    [
        ("flights", "SELEC 1", "syntax"),
        ("flights", "SELECT * FROM flights WHERE", "syntax"),
        ("flights", "SELECT no_such_column FROM flights", "semantic"),
        ("flights", "SELECT * FROM no_such_table", "semantic"),
        ("flights", "SELECT CAST('abc' AS INTEGER)", "semantic"),
        ("flights", "SELECT origin + 1 FROM flights", "semantic"),
        ("flights", "SELECT 1 / 0 = error('boom')", "runtime"),
        ("movies", "SELEC 1", "syntax"),
        ("movies", "SELECT nope FROM omdb", "semantic"),
        ("movies", "SELECT * FROM nope", "semantic"),
    ],
)
async def test_errors_are_classified(registry: Registry, datasource: str, sql: str, kind: str) -> None:
    with pytest.raises(QueryFailed) as info:
        await registry.connect(datasource).run(sql, max_rows=1, timeout_s=5)
    assert info.value.kind == kind, info.value.detail
    assert info.value.message.startswith("The database could not run the query")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/*')",
        "CREATE TABLE x (a INTEGER)",
        "DELETE FROM airlines",
        "ATTACH ':memory:' AS m",
        "INSTALL httpfs",
        "COPY airlines TO '/tmp/sqlbot-leak.csv'",
        "SET enable_external_access = true",
    ],
)
async def test_duckdb_is_read_only_without_the_guard(registry: Registry, sql: str) -> None:
    """The database itself refuses writes and file access, in case anything slips past the guard."""
    with pytest.raises(QueryFailed):
        await registry.connect("flights").run(sql, max_rows=5, timeout_s=5)
    assert not Path("/tmp/sqlbot-leak.csv").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM omdb",
        "CREATE TABLE x (a)",
        "ATTACH DATABASE ':memory:' AS m",
        "PRAGMA writable_schema = ON",
        "SELECT load_extension('x')",
    ],
)
async def test_sqlite_is_read_only_without_the_guard(registry: Registry, sql: str) -> None:
    with pytest.raises(QueryFailed):
        await registry.connect("movies").run(sql, max_rows=5, timeout_s=5)


async def test_concurrent_queries_share_one_database(registry: Registry) -> None:
    conn = registry.connect("flights")
    results: list[QueryResult] = await asyncio.gather(
        *(
            conn.run(f"SELECT count(*) FROM flights WHERE month = {m}", max_rows=1, timeout_s=10)
            for m in range(1, 13)
        )
    )
    assert sum(r.rows[0][0] for r in results) == 336776

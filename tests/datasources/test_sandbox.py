"""Each resource bound holds for real, with the SQL guard bypassed: the connection is called directly.

The queries are the hostile ones of issue 9 (item 3). Limits are set low so that every test is quick.
"""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from datasources.connection import CUT_MARKER, DuckDBConnection, SQLiteConnection
from datasources.demo import ensure_demo
from datasources.errors import QueryFailed, QueryTimeout, ResourceLimitExceeded
from datasources.registry import Registry
from datasources.sandbox import SandboxLimits

LIMITS = SandboxLimits(memory_mb=256, threads=1, spill_mb=64, kill_grace_s=0.5, max_result_bytes=100_000,
                       max_cell_chars=1000)
UNIONS = " UNION ALL ".join(f"SELECT {i} AS x" for i in range(20_000))
DOUBLING = ("WITH RECURSIVE r(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || s FROM r WHERE n < 60) "
            "SELECT n, length(s) FROM r")


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def busy(pid: int, seconds: float = 0.3) -> bool:
    """Whether ``pid`` used CPU during the next ``seconds``."""
    def cpu() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    try:
        before = cpu()
        time.sleep(seconds)
        return cpu() - before > 2
    except OSError:
        return False


@pytest.fixture
def duck(demo_data_dir: Path, tmp_path: Path) -> Iterator[DuckDBConnection]:
    """A DuckDB connection with small bounds and its own spill directory."""
    conn = DuckDBConnection(ensure_demo(demo_data_dir, "flights"), limits=replace(LIMITS, temp_root=tmp_path / "spill"))
    yield conn
    conn.close()


@pytest.fixture
def lite(demo_data_dir: Path) -> Iterator[SQLiteConnection]:
    """A SQLite connection with small bounds."""
    conn = SQLiteConnection(ensure_demo(demo_data_dir, "movies"), limits=replace(LIMITS, memory_mb=64))
    yield conn
    conn.close()


async def test_settings_are_neither_readable_nor_changeable(duck: DuckDBConnection) -> None:
    # the second line refuses reading settings; lock_configuration refuses changing them
    with pytest.raises(QueryFailed) as info:
        await duck.run("SELECT current_setting('memory_limit')", max_rows=1, timeout_s=10)
    assert info.value.kind == "permission"
    for sql in ("SET GLOBAL threads = 4", "SET memory_limit = '10GB'", "RESET lock_configuration"):
        with pytest.raises(QueryFailed):
            await duck.run(sql, max_rows=1, timeout_s=5)


@pytest.mark.parametrize("sql", ["SELECT 1; SELECT 2", "CREATE TEMP TABLE z AS SELECT 1", "EXPLAIN SELECT 1", ""])
async def test_only_one_select_statement_runs(duck: DuckDBConnection, sql: str) -> None:
    with pytest.raises(QueryFailed, match="Only one SELECT statement"):
        await duck.run(sql, max_rows=5, timeout_s=5)
    assert (await duck.run("SELECT 1 -- trailing comment", max_rows=1, timeout_s=5)).rows == [[1]]


async def test_list_sort_over_a_huge_range_is_killed_and_the_worker_replaced(duck: DuckDBConnection) -> None:
    await duck.run("SELECT 1", max_rows=1, timeout_s=10)
    before = duck.worker_pids
    started = time.perf_counter()
    with pytest.raises(ResourceLimitExceeded) as info:
        await duck.run("SELECT list_sort(range(100000000))[1]", max_rows=1, timeout_s=60)
    assert info.value.limit == "memory"
    assert time.perf_counter() - started < 30
    assert not any(alive(pid) for pid in before)
    assert (await duck.run("SELECT count(*) FROM airlines", max_rows=1, timeout_s=10)).rows == [[16]]
    assert duck.worker_pids and set(duck.worker_pids).isdisjoint(before)


async def test_a_gigabyte_string_is_refused(duck: DuckDBConnection) -> None:
    with pytest.raises(ResourceLimitExceeded):
        await duck.run("SELECT length(repeat('x', 1000000000))", max_rows=1, timeout_s=60)
    assert (await duck.run("SELECT 7", max_rows=1, timeout_s=10)).rows == [[7]]


async def test_twenty_thousand_unions_stop_at_the_timeout(duck: DuckDBConnection) -> None:
    """Planning cannot be interrupted: the worker is killed after the grace and the next query is served."""
    await duck.run("SELECT 1", max_rows=1, timeout_s=10)
    (pid,) = duck.worker_pids
    with pytest.raises(QueryTimeout):
        await duck.run(UNIONS, max_rows=5, timeout_s=0.5)
    deadline = time.monotonic() + LIMITS.kill_grace_s + 2
    while alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    # either the planner took the interrupt (the worker is kept, idle) or the worker was killed after the grace
    assert not alive(pid) or not busy(pid), "the work really stopped"
    assert (await duck.run("SELECT 42", max_rows=1, timeout_s=10)).rows == [[42]]


async def test_cancel_kills_an_uninterruptible_query(duck: DuckDBConnection) -> None:
    await duck.run("SELECT 1", max_rows=1, timeout_s=10)
    (pid,) = duck.worker_pids
    task = asyncio.create_task(duck.run(UNIONS, max_rows=5, timeout_s=60))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + LIMITS.kill_grace_s + 2
    while alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not alive(pid)
    assert (await duck.run("SELECT 3", max_rows=1, timeout_s=10)).rows == [[3]]


async def test_result_is_bounded_in_bytes_and_cells_are_cut(duck: DuckDBConnection) -> None:
    wide = await duck.run("SELECT repeat('x', 500) AS s FROM range(100000)", max_rows=100_000, timeout_s=20)
    assert wide.truncated and wide.truncated_by == "bytes"
    assert 150 < wide.row_count < 250, "about 100 kB of 500-character cells"
    long = await duck.run("SELECT repeat('y', 100000) AS s, range(5000) AS l", max_rows=5, timeout_s=20)
    text, items = long.rows[0]
    assert text.startswith("y" * 1000) and text.endswith(CUT_MARKER.format(n=99_000, total=100_000, unit="characters"))
    assert len(items) < 1000 and "cut" in items[-1]
    assert long.cells_cut == 2 and not long.truncated


async def test_sqlite_zeroblob_never_ships_200_mb(lite: SQLiteConnection) -> None:
    with pytest.raises(QueryFailed, match="not authorized"):  # not on the function allow-list at all
        await lite.run("SELECT zeroblob(100000000)", max_rows=1, timeout_s=10)
    with pytest.raises(ResourceLimitExceeded) as info:  # an allowed function asked for a 100 MB value
        await lite.run("SELECT replace(printf('%.*c', 1000000, 'x'), 'x', printf('%.*c', 100, 'y'))", max_rows=1,
                       timeout_s=10)
    assert info.value.limit == "size"
    small = await lite.run("SELECT printf('%.*c', 1000000, 'x') AS b", max_rows=1, timeout_s=10)
    assert small.column_types == ["TEXT"] and small.cells_cut == 1 and len(small.rows[0][0]) < 1100


async def test_sqlite_doubling_recursive_cte_is_bounded(lite: SQLiteConnection) -> None:
    with pytest.raises(ResourceLimitExceeded):
        await lite.run(DOUBLING, max_rows=100, timeout_s=20)
    heap = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r ORDER BY random()"
    with pytest.raises((ResourceLimitExceeded, QueryTimeout)):
        await lite.run(heap, max_rows=10, timeout_s=20)
    assert (await lite.run("SELECT count(*) FROM omdb", max_rows=1, timeout_s=5)).rows == [[17472]]


async def test_sqlite_setlimit_bounds(lite: SQLiteConnection) -> None:
    compound = " UNION ALL ".join(f"SELECT {i}" for i in range(200))
    deep = "SELECT " + "(" * 300 + "1" + ")" * 300
    for sql in (compound, deep):
        with pytest.raises(ResourceLimitExceeded):
            await lite.run(sql, max_rows=1, timeout_s=5)


async def test_queries_beyond_the_pool_wait_for_a_worker(lite: SQLiteConnection) -> None:
    results = await asyncio.gather(*(lite.run(f"SELECT {i}", max_rows=1, timeout_s=10) for i in range(10)))
    assert [r.rows for r in results] == [[[i]] for i in range(10)]
    assert len(lite.worker_pids) <= LIMITS.workers


async def test_close_leaves_no_process_or_spill_directory(demo_data_dir: Path, tmp_path: Path) -> None:
    limits = SandboxLimits(temp_root=tmp_path / "spill", memory_mb=256)
    conn = DuckDBConnection(ensure_demo(demo_data_dir, "flights"), limits=limits)
    busy = asyncio.create_task(conn.run("SELECT count(*) FROM range(1000000000) a, range(1000) b", max_rows=1,
                                        timeout_s=60))
    await conn.run("SELECT 1", max_rows=1, timeout_s=10)
    pids = conn.worker_pids
    assert len(pids) == 2
    await asyncio.to_thread(conn.close)
    assert not any(alive(pid) for pid in pids)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids), "reaped, not left as zombies"
    assert list((tmp_path / "spill").iterdir()) == []
    with pytest.raises(Exception):  # noqa: B017 - cancelled or closed, either way it ended
        await busy


def test_workers_exit_when_the_server_process_dies(demo_data_dir: Path) -> None:
    """Killing the parent (no atexit, no close) still leaves no worker behind: they see their pipe close."""
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from datasources.connection import DuckDBConnection\n"
        "conn = DuckDBConnection(Path(sys.argv[1]))\n"
        "async def main():\n"
        "    asyncio.ensure_future(conn.run('SELECT count(*) FROM range(1000000000) a, range(1000) b', max_rows=1,"
        " timeout_s=600))\n"
        "    await conn.run('SELECT 1', max_rows=1, timeout_s=30)\n"
        "    print(*conn.worker_pids, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(ensure_demo(demo_data_dir, "flights"))],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2 and all(alive(pid) for pid in pids), "one idle worker, one busy"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)


async def test_registry_shares_one_pool_per_file_even_without_caching(demo_data_dir: Path) -> None:
    registry = Registry(demo_data_dir, enable_caching=False, limits=LIMITS)
    try:
        first, second = registry.connect("movies"), registry.connect("movies")
        assert first is not second
        assert (await first.run("SELECT 1", max_rows=1, timeout_s=10)).rows == [[1]]
        assert (await second.run("SELECT 2", max_rows=1, timeout_s=10)).rows == [[2]]
        pids = first.worker_pids  # type: ignore[attr-defined]
        assert pids == second.worker_pids  # type: ignore[attr-defined]
    finally:
        registry.close()
    assert not any(alive(pid) for pid in pids)

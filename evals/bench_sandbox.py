"""The sandbox's price and what it buys, side by side in one run.

``uv run python -m evals.bench_sandbox [--out artifacts/bench] [--repeats 300] [--skip-before]``

* **hop**: median latency of small queries through :meth:`Connection.run` (a worker process) and through
  the previous in-process path (the same query on a cursor of an in-process read-only handle, run in a
  thread, rows converted the same way), interleaved so both see the same machine load;
* **worst**: the hostile queries of issue 9 item 3, each run *before* (in-process in a fresh subprocess,
  the previous configuration: no memory limit, no SQLite limits, interrupt at the timeout) and *after*
  (the sandbox with default limits): peak RSS of the process doing the work, what the caller got, how long
  after the timeout the work really stopped, and how many bytes of rows would be shipped.

Writes ``sandbox.json`` and ``sandbox.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TIMEOUT_S = 2.0
BEFORE_CAP_S = 60.0
UNIONS = " UNION ALL ".join(f"SELECT {i} AS x" for i in range(20_000))
WORST: list[tuple[str, str, str]] = [
    ("list_sort(range(1e8))", "flights", "SELECT list_sort(range(100000000))[1]"),
    ("20,000 UNION ALL", "flights", UNIONS),
    ("repeat('x', 1e9)", "flights", "SELECT length(repeat('x', 1000000000))"),
    ("SQLite doubling CTE", "movies",
     "WITH RECURSIVE r(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || s FROM r WHERE n < 40) "
     "SELECT n, length(s) FROM r"),
    ("SQLite zeroblob(1e8)", "movies", "SELECT zeroblob(100000000)"),
]
SMALL: list[tuple[str, str]] = [
    ("flights", "SELECT count(*) FROM airlines"),
    ("flights", "SELECT * FROM airlines"),
    ("movies", "SELECT Title, Year FROM omdb LIMIT 20"),
]


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    if fields[0] == "Z":
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRSS:
    """Samples the resident memory of some processes every 20 ms and keeps the peak."""

    def __init__(self, pids: Any) -> None:
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for pid in self.pids():
                self.peak = max(self.peak, _rss(pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


# ------------------------------------------------------------------------------------------- before


def _before_child(dialect: str, path: str, sql: str) -> None:
    """In this process: the previous in-process path (interrupt at the timeout, then wait for the thread)."""
    from datasources._worker import to_json_value

    if dialect == "duckdb":
        import duckdb

        con: Any = duckdb.connect(path, read_only=True, config={
            "enable_external_access": False, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False})
        error_types: tuple[type[BaseException], ...] = (duckdb.Error,)
    else:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        error_types = (sqlite3.Error, MemoryError)
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            cursor = con.cursor()
            cursor.execute(sql)
            rows = [[to_json_value(v) for v in row] for row in cursor.fetchmany(1001)]
            out["outcome"] = "rows"
            out["bytes"] = len(json.dumps(rows))
        except error_types as exc:
            out["outcome"] = type(exc).__name__

    started = time.perf_counter()
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    interrupted_at = None
    if thread.is_alive():
        interrupted_at = time.perf_counter()
        con.interrupt()
        thread.join(BEFORE_CAP_S)
    ended = time.perf_counter()
    out["wall_s"] = ended - started
    out["stop_after_timeout_s"] = (ended - interrupted_at) if interrupted_at else 0.0
    out["still_running"] = thread.is_alive()
    print(json.dumps(out), flush=True)
    os._exit(0)


def run_before(dialect: str, path: Path, sql: str) -> dict[str, Any]:
    """Run ``sql`` the previous way in a fresh process and measure its peak RSS from outside."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "evals.bench_sandbox", "--before-child", dialect, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(sql)
    proc.stdin.close()
    peak = PeakRSS(lambda: [proc.pid])
    try:
        line = proc.stdout.readline()
        proc.wait(BEFORE_CAP_S + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        line = ""
    result = json.loads(line) if line else {"outcome": f"killed (exit {proc.wait()})"}
    result["peak_rss_mb"] = round(peak.stop() / 2**20)
    return result


# ------------------------------------------------------------------------------------------- after


async def run_after(conn: Any, sql: str) -> dict[str, Any]:
    """Run ``sql`` through the sandbox; measure its worker's peak RSS and when the work really stopped."""
    from datasources.errors import DatasourceError

    await conn.run("SELECT 1", max_rows=1, timeout_s=30)  # a ready worker, the one the query will use
    pids = list(conn.worker_pids)
    peak = PeakRSS(lambda: pids)
    started = time.perf_counter()
    out: dict[str, Any] = {}
    try:
        result = await conn.run(sql, max_rows=1000, timeout_s=TIMEOUT_S)
        out["outcome"] = "rows"
        out["bytes"] = len(json.dumps(result.rows))
    except DatasourceError as exc:
        out["outcome"] = type(exc).__name__
        out["bytes"] = 0
    returned = time.perf_counter()
    out["wall_s"] = returned - started
    # the work stopped when every worker that existed is dead or idle (no CPU over 100 ms)
    while True:
        before = [_cpu(p) for p in pids]
        await asyncio.sleep(0.1)
        after = [_cpu(p) for p in pids]
        if all(a < 0 or a - b < 0.01 for a, b in zip(after, before, strict=True)):
            break
    stopped = time.perf_counter() - 0.1
    out["stop_after_timeout_s"] = max(stopped - (started + TIMEOUT_S), 0.0) if out["wall_s"] >= TIMEOUT_S else 0.0
    out["peak_rss_mb"] = round(peak.stop() / 2**20)
    out["next_query_ok"] = (await conn.run("SELECT 1", max_rows=1, timeout_s=30)).rows == [[1]]
    return out


# ------------------------------------------------------------------------------------------- hop


async def run_hop(conns: dict[str, Any], repeats: int) -> list[dict[str, Any]]:
    """Median latency of small queries: sandbox (process hop) vs in-process (thread) path, interleaved."""
    from datasources._worker import to_json_value

    def in_process(conn: Any, sql: str) -> list[list[Any]]:
        if conn.dialect == "duckdb":
            cursor = conn._db.cursor()
            try:
                cursor.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
                cursor.execute(sql)
                return [[to_json_value(v) for v in row] for row in cursor.fetchmany(1001)]
            finally:
                cursor.close()
        return [[to_json_value(v) for v in row] for row in conn.fetchall(sql)]

    rows = []
    for source, sql in SMALL:
        conn = conns[source]
        sandboxed, threaded = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            await conn.run(sql, max_rows=1000, timeout_s=30)
            sandboxed.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await asyncio.to_thread(in_process, conn, sql)
            threaded.append((time.perf_counter() - t) * 1000)
        s, p = statistics.median(sandboxed), statistics.median(threaded)
        rows.append({"source": source, "sql": sql, "sandbox_ms": round(s, 3), "in_process_ms": round(p, 3),
                     "hop_ms": round(s - p, 3), "ratio": round(s / p, 2)})
    return rows


async def main_async(out: Path, repeats: int, skip_before: bool) -> dict[str, Any]:
    """Run both sections against demo data in ``artifacts/bench/sandbox-data``."""
    from datasources.demo import ensure_demo
    from datasources.registry import Registry

    data_dir = out / "sandbox-data"
    registry = Registry(data_dir)
    paths = {d: ensure_demo(data_dir, d) for d in ("flights", "movies")}
    conns = {d: registry.connect(d) for d in paths}
    try:
        hop = await run_hop(conns, repeats)
        worst = []
        for name, source, sql in WORST:
            dialect = conns[source].dialect
            before = {} if skip_before else run_before(dialect, paths[source], sql)
            after = await run_after(conns[source], sql)
            worst.append({"query": name, "before": before, "after": after})
            print(name, before, after, flush=True)
    finally:
        registry.close()
    limits = registry.limits
    return {"hop": hop, "worst": worst, "timeout_s": TIMEOUT_S, "repeats": repeats,
            "limits": {"memory_mb": limits.memory_mb, "rss_kill_mb": limits.rss_limit_bytes // 2**20,
                       "threads": limits.threads, "kill_grace_s": limits.kill_grace_s,
                       "max_result_bytes": limits.max_result_bytes}}


def to_markdown(results: dict[str, Any]) -> str:
    """The two tables of ``sandbox.md``."""
    lines = [f"Process hop, median of {results['repeats']} interleaved runs each (ms):", "",
             "| source | query | in-process | sandbox | hop | ratio |", "|---|---|---|---|---|---|"]
    for r in results["hop"]:
        lines.append(f"| {r['source']} | `{r['sql']}` | {r['in_process_ms']} | {r['sandbox_ms']} | "
                     f"{r['hop_ms']} | {r['ratio']}× |")
    lim = results["limits"]
    lines += ["", f"Worst queries, timeout {results['timeout_s']:g} s; after = memory {lim['memory_mb']} MB "
              f"(kill at {lim['rss_kill_mb']} MB RSS), grace {lim['kill_grace_s']:g} s:", "",
              "| query | before: peak RSS | before: outcome | before: stopped after timeout | after: peak RSS "
              "| after: outcome | after: stopped after timeout | bytes shipped before → after |",
              "|---|---|---|---|---|---|---|---|"]
    for w in results["worst"]:
        b, a = w["before"], w["after"]
        lines.append(
            f"| {w['query']} | {b.get('peak_rss_mb', '–')} MB | {b.get('outcome', '–')} | "
            f"{b.get('stop_after_timeout_s', 0):.2f} s | {a['peak_rss_mb']} MB | {a['outcome']} | "
            f"{a['stop_after_timeout_s']:.2f} s | {b.get('bytes', 0):,} → {a['bytes']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    if len(sys.argv) > 1 and sys.argv[1] == "--before-child":
        _before_child(sys.argv[2], sys.argv[3], sys.stdin.read())
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench"))
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--skip-before", action="store_true", help="Do not run the unbounded 'before' cases.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(main_async(args.out, args.repeats, args.skip_before))
    (args.out / "sandbox.json").write_text(json.dumps(results, indent=2))
    (args.out / "sandbox.md").write_text(to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()

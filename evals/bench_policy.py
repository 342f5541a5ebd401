"""What row and column policies cost, side by side in one run.

``uv run python -m evals.bench_policy [--out artifacts/bench] [--repeats 15] [--skip-postgres]``

* **rewrite**: median µs of :func:`datasources.policy.apply_policy_tree` per statement of the escape corpus
  (``tests/datasources/fixtures/policy_escapes.sql``, DuckDB dialect), next to the guard's own
  :func:`datasources.guard.check_sql` on the same statements;
* **query**: median ms of queries on the demo ``flights`` database (336,776 flights, DuckDB) three ways: no
  policy (every row), the policy's rewrite (``origin = 'JFK'`` as a filtered derived table) and the same filter
  written by hand in the WHERE clause — the fair baseline, since the rewrite returns that hand-filtered answer;
* **postgres** (when a server is on 127.0.0.1:5432): the same three ways on a 1,000,000-row table, including
  a query whose outer predicate hits the primary key, where ``OFFSET 0`` (the optimisation fence) stops the
  planner from pushing that predicate into the scan.

Writes ``policy.json`` and ``policy.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasources.guard import check_sql
from datasources.policy import PolicyRule, apply_policy, apply_policy_tree, policy_from_rules
from datasources.schema import Schema

ALICE = {"name": "alice", "roles": ["analyst"], "attrs": {"region": "north", "origin": "JFK"}}
FLIGHT_QUERIES = [
    ("count", "SELECT count(*) FROM flights", "SELECT count(*) FROM flights WHERE origin = 'JFK'"),
    ("by carrier", "SELECT carrier, avg(dep_delay) FROM flights GROUP BY carrier",
     "SELECT carrier, avg(dep_delay) FROM flights WHERE origin = 'JFK' GROUP BY carrier"),
    ("join airlines", "SELECT a.name, count(*) FROM flights f JOIN airlines a ON a.carrier = f.carrier GROUP BY a.name",
     "SELECT a.name, count(*) FROM flights f JOIN airlines a ON a.carrier = f.carrier WHERE f.origin = 'JFK' GROUP BY a.name"),
    ("self join", "SELECT count(*) FROM flights a JOIN flights b ON a.tailnum = b.tailnum AND a.flight = b.flight "
                  "WHERE a.month = 1 AND b.month = 2",
     "SELECT count(*) FROM flights a JOIN flights b ON a.tailnum = b.tailnum AND a.flight = b.flight "
     "WHERE a.month = 1 AND b.month = 2 AND a.origin = 'JFK' AND b.origin = 'JFK'"),
    ("one flight", "SELECT * FROM flights WHERE year = 2013 AND month = 7 AND day = 4 AND flight = 1545",
     "SELECT * FROM flights WHERE year = 2013 AND month = 7 AND day = 4 AND flight = 1545 AND origin = 'JFK'"),
]
PG_QUERIES = [
    ("count", "SELECT count(*) FROM orders", "SELECT count(*) FROM orders WHERE region = 'north'"),
    ("by status", "SELECT status, sum(amount) FROM orders GROUP BY status",
     "SELECT status, sum(amount) FROM orders WHERE region = 'north' GROUP BY status"),
    ("by primary key", "SELECT * FROM orders WHERE id = 123456",
     "SELECT * FROM orders WHERE id = 123456 AND region = 'north'"),
]


def _median_us(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def bench_rewrite(repeats: int) -> dict[str, Any]:
    """apply_policy per corpus statement (and the guard, for scale)."""
    from tests.datasources.test_policy_escapes import ESCAPES, RULES, schema_for

    schema = schema_for("duckdb")
    policy = policy_from_rules(RULES, ALICE, schema)
    guard: list[float] = []
    tree_only: list[float] = []
    rewrite: list[float] = []
    for case in ESCAPES:
        if "duckdb" not in case.engines or "{schema}" in case.sql:
            continue
        try:
            tree = check_sql(case.sql, schema)
            apply_policy_tree(tree, "duckdb", policy)
        except Exception:  # noqa: BLE001 - a statement for another engine's syntax
            continue
        guard.append(_median_us(lambda sql=case.sql: check_sql(sql, schema), repeats))
        tree_only.append(_median_us(lambda t=tree: apply_policy_tree(t, "duckdb", policy), repeats))
        rewrite.append(_median_us(lambda t=tree: apply_policy_tree(t, "duckdb", policy).sql(dialect="duckdb"), repeats))
    return {
        "statements": len(rewrite),
        "tree_median_us": round(statistics.median(tree_only), 1),
        "rewrite_median_us": round(statistics.median(rewrite), 1),
        "rewrite_p90_us": round(sorted(rewrite)[int(0.9 * len(rewrite))], 1),
        "guard_median_us": round(statistics.median(guard), 1),
    }


def _time_queries(run: Callable[[str], object], schema: Schema, rules: list[PolicyRule],
                  queries: list[tuple[str, str, str]], repeats: int) -> list[dict[str, Any]]:
    policy = policy_from_rules(rules, ALICE, schema)
    out = []
    for name, sql, by_hand in queries:
        rewritten = apply_policy(check_sql(sql, schema), schema.dialect, policy)
        for q in (sql, rewritten, by_hand):  # warm caches once
            run(q)
        timings: dict[str, list[float]] = {"open": [], "policy": [], "by_hand": []}
        for _ in range(repeats):  # interleaved so the three see the same machine load
            for key, q in (("open", sql), ("policy", rewritten), ("by_hand", by_hand)):
                start = time.perf_counter()
                run(q)
                timings[key].append((time.perf_counter() - start) * 1000)
        out.append({"query": name, **{f"{k}_ms": round(statistics.median(v), 2) for k, v in timings.items()}})
    return out


def bench_duckdb(repeats: int) -> list[dict[str, Any]]:
    """Query time on the demo flights database."""
    import duckdb

    from datasources.demo import ensure_demo
    from datasources.registry import Registry
    from graph.settings import get_settings

    data_dir = get_settings().data_dir
    ensure_demo(data_dir, "flights")
    registry = Registry(data_dir)
    try:
        schema = registry.schema("flights")
        path = registry.get("flights").path
    finally:
        registry.close()
    conn = duckdb.connect(str(data_dir / path if not Path(path).is_absolute() else path), read_only=True)
    rules = [PolicyRule("flights", "flights", roles=("analyst",), row_filter="origin = :user.origin")]
    try:
        return _time_queries(lambda q: conn.execute(q).fetchall(), schema, rules, FLIGHT_QUERIES, repeats)
    finally:
        conn.close()


def bench_postgres(repeats: int) -> list[dict[str, Any]] | None:
    """Query time on a 1,000,000-row PostgreSQL table (None without a server)."""
    try:
        import psycopg

        admin = psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True,
                                connect_timeout=3)
    except Exception:  # noqa: BLE001 - no server here
        return None
    from datasources.schema import Column, Table

    name = f"sqlbot_bench_{secrets.token_hex(4)}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname=name, autocommit=True) as conn:
            conn.execute("CREATE TABLE orders AS SELECT g AS id, (ARRAY['north','south','east','west'])[1 + g % 4] AS region, "
                         "g % 1000 AS amount, (ARRAY['open','paid','void'])[1 + g % 3] AS status "
                         "FROM generate_series(1, 1000000) g")
            conn.execute("ALTER TABLE orders ADD PRIMARY KEY (id)")
            conn.execute("CREATE INDEX ON orders (region)")
            conn.execute("ANALYZE orders")
            schema = Schema("pg", "postgres", (Table("orders", tuple(
                Column(c, t) for c, t in (("id", "INTEGER"), ("region", "TEXT"), ("amount", "INTEGER"), ("status", "TEXT")))),))
            rules = [PolicyRule("pg", "orders", roles=("analyst",), row_filter="region = :user.region")]
            return _time_queries(lambda q: conn.execute(q).fetchall(), schema, rules, PG_QUERIES, repeats)
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def report(results: dict[str, Any]) -> str:
    """The Markdown table of one run."""
    r = results["rewrite"]
    lines = [
        "# Row and column policies: cost",
        "",
        f"apply_policy over {r['statements']} corpus statements: median **{r['tree_median_us']} µs** per statement "
        f"for the tree rewrite (what execute_query adds: the SQL text is generated once anyway), "
        f"{r['rewrite_median_us']} µs (p90 {r['rewrite_p90_us']} µs) with the SQL text; the guard's check_sql on "
        f"the same statements: median {r['guard_median_us']} µs.",
        "",
    ]
    for title, rows in (("DuckDB, demo flights (336,776 rows), policy origin = 'JFK'", results["duckdb"]),
                        ("PostgreSQL, 1,000,000 rows, policy region = 'north' (OFFSET 0 fence)", results.get("postgres"))):
        if not rows:
            continue
        lines += [f"## {title}", "", "| query | no policy (all rows) ms | policy rewrite ms | filter by hand ms |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {x['query']} | {x['open_ms']} | {x['policy_ms']} | {x['by_hand_ms']} |" for x in rows]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench"))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"rewrite": bench_rewrite(max(5, args.repeats))}
    results["duckdb"] = bench_duckdb(args.repeats)
    results["postgres"] = None if args.skip_postgres else bench_postgres(args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "policy.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    text = report(results)
    (args.out / "policy.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

"""Benchmark of schema retrieval: recall of gold tables, prompt tokens, linking time, introspection time.

Run ``uv run python -m evals.bench_retrieval [--tables 1000] [--budget 6000] [--keep]``. It builds the
generated warehouse (``evals/large_schema.py``) in its own PostgreSQL database ``sqlbot_large_bench`` on
127.0.0.1:5432, introspects it through the product's own PostgreSQL datasource (cold, then cached), and for
every question of ``evals/datasets/large_schema.jsonl`` measures:

* recall of the gold tables at the budget (and at half and a quarter of it), and how many questions have
  every gold table;
* prompt tokens (the whole LLM prompt, ``llm.prompts.sql_messages``) with the whole schema and with the
  retrieved part, and the recall of the previous 12-table cut (``llm.prompts.select_tables``) for comparison;
* linking time per question (retrieval with its index warm; the one-off index build is reported apart).

Then defog's databases (``../shared/evals/defog``, loaded into DuckDB by ``evals.defog``; read from there,
never copied): recall of the tables the gold SQL reads at the full, half and quarter of each schema's size.
Results go to stdout (Markdown) and ``artifacts/bench/retrieval.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from datasources import introspect as introspection
from datasources.registry import DatasourceConfig, Registry
from datasources.schema import Schema
from datasources.server import ServerSpec
from evals.large_schema import DATASET, build, drop
from llm.base import SQLRequest
from llm.prompts import select_tables, sql_messages
from llm.retrieval import ValuesWithin, count_tokens, index_for, retrieve, subschema

DATABASE = "sqlbot_large_bench"


def _prompt_tokens(request: SQLRequest) -> int:
    return sum(count_tokens(content) for _, content in sql_messages(request, max_tables=10**6))


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else 0.0


def _fk_inference_ms(registry: Registry, datasource_id: str) -> float:
    """Time of foreign-key inference alone, over the catalogue of the datasource."""
    conn: Any = registry.connect(datasource_id)
    catalogue = conn.catalogue()
    raw = [
        introspection._RawTable(
            t.name,
            columns=[(name, dtype, "", "") for name, dtype, _ in t.columns],
            primary_key=t.primary_key,
            foreign_keys=[],
        )
        for t in catalogue
    ]
    started = time.perf_counter()
    introspection._infer_foreign_keys(raw, None)
    return (time.perf_counter() - started) * 1000


def large_schema(tables: int, budget: int, keep: bool) -> dict[str, Any]:
    """Build the generated warehouse and measure retrieval on its question set."""
    started = time.perf_counter()
    build(DATABASE, tables=tables)
    build_s = time.perf_counter() - started
    data_dir = Path(tempfile.mkdtemp(prefix="sqlbot-bench-retrieval-"))
    registry = Registry(data_dir)
    spec = ServerSpec(type="postgresql", host="127.0.0.1", port=5432, database=DATABASE, user="postgres")
    registry.add(DatasourceConfig(id="large", name="Large", type="postgresql", server=spec))
    try:
        started = time.perf_counter()
        schema = registry.schema("large")
        cold_s = time.perf_counter() - started
        cached = []
        for _ in range(20):
            started = time.perf_counter()
            registry.schema("large")
            cached.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        values = registry.values("large")
        values_s = time.perf_counter() - started
        fk_ms = _fk_inference_ms(registry, "large")
        started = time.perf_counter()
        index = index_for(schema)
        index_s = time.perf_counter() - started
        cases = [json.loads(line) for line in DATASET.read_text().splitlines() if line.strip()]
        result = _questions(schema, values, cases, budget)
    finally:
        registry.close()
        if not keep:
            drop(DATABASE)
    return {
        "tables": len(schema.tables),
        "foreign_keys": sum(len(t.foreign_keys) for t in schema.tables),
        "schema_tokens": index.total_tokens,
        "build_s": round(build_s, 1),
        "introspection_cold_s": round(cold_s, 2),
        "introspection_cached_ms": round(_median(cached), 3),
        "fk_inference_ms": round(fk_ms, 1),
        "value_index_s": round(values_s, 2),
        "retrieval_index_s": round(index_s, 2),
        **result,
    }


def _questions(schema: Schema, values: Any, cases: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    recall: dict[int, list[int]] = {b: [0, 0, 0] for b in (budget, budget // 2, budget // 4)}
    legacy = [0, 0]
    before: list[int] = []
    after: list[int] = []
    linking: list[float] = []
    kept_tables: list[int] = []
    misses: list[str] = []
    for case in cases:
        gold = set(case["gold_tables"])
        for b, tally in recall.items():
            found = retrieve(schema, case["question"], budget=b, values=values, locale=case["locale"])
            got = len(gold & {t.lower() for t in found.tables})
            tally[0] += got
            tally[1] += len(gold)
            tally[2] += got == len(gold)
            if b == budget:
                linking.append(found.elapsed_ms)
                kept_tables.append(len(found.tables))
                if got < len(gold):
                    misses.append(f"{case['id']}: {sorted(gold - set(found.tables))}")
                part = subschema(schema, found.tables)
                after.append(
                    _prompt_tokens(
                        SQLRequest(
                            case["question"],
                            part,
                            locale=case["locale"],
                            values=ValuesWithin(values, found.tables),
                            retrieved_from=len(schema.tables),
                        )
                    )
                )
        before.append(_prompt_tokens(SQLRequest(case["question"], schema, locale=case["locale"], values=values)))
        old = {t.name for t in select_tables(schema, case["question"])}
        legacy[0] += len(gold & old)
        legacy[1] += len(gold)
    return {
        "questions": len(cases),
        "budget": budget,
        "recall": {str(b): {"recall": round(t[0] / t[1], 4), "found": t[0], "gold": t[1], "complete_questions": t[2]} for b, t in recall.items()},
        "recall_previous_12_table_cut": round(legacy[0] / legacy[1], 4),
        "prompt_tokens_before_median": _median([float(x) for x in before]),
        "prompt_tokens_after_median": _median([float(x) for x in after]),
        "tables_kept_median": _median([float(x) for x in kept_tables]),
        "linking_ms_median": round(_median(linking), 2),
        "linking_ms_p95": round(_p95(linking), 2),
        "misses": misses,
    }


def _gold_tables(sql: str) -> set[str]:
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.ParseError:
        return set()
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return {t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes}


def defog(data_dir: Path) -> dict[str, Any]:
    """Recall on defog's databases at the full, half and quarter of each schema's own size in tokens."""
    from evals.defog import DEFOG_DBS, db_of, defog_registry, load_questions

    registry = defog_registry(data_dir)
    questions = load_questions().examples
    out: dict[str, Any] = {}
    try:
        for db in DEFOG_DBS:
            schema = registry.schema(f"defog_{db}")
            values = registry.values(f"defog_{db}")
            size = index_for(schema).total_tokens
            names = {t.name.lower() for t in schema.tables}
            row: dict[str, Any] = {"tables": len(schema.tables), "schema_tokens": size, "questions": 0}
            tallies = {"full": [0, 0], "half": [0, 0], "quarter": [0, 0]}
            for example in (e for e in questions if db_of(e) == db):
                gold = _gold_tables(example.gold_sql[0]) & names
                if not gold:
                    continue
                row["questions"] += 1
                for label, share in (("full", 1.0), ("half", 0.5), ("quarter", 0.25)):
                    found = retrieve(schema, example.question, budget=max(int(size * share), 1), values=values)
                    tallies[label][0] += len(gold & {t.lower() for t in found.tables})
                    tallies[label][1] += len(gold)
            row.update({label: round(t[0] / t[1], 4) if t[1] else None for label, t in tallies.items()})
            out[db] = row
    finally:
        registry.close()
    return out


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=6000)
    parser.add_argument("--keep", action="store_true", help="keep the generated database afterwards")
    parser.add_argument("--data-dir", type=Path, default=None, help="where defog's DuckDB copies are built")
    args = parser.parse_args()
    report: dict[str, Any] = {"large": large_schema(args.tables, args.budget, args.keep)}
    try:
        report["defog"] = defog(args.data_dir or Path(tempfile.mkdtemp(prefix="sqlbot-bench-defog-")))
    except (FileNotFoundError, RuntimeError) as exc:  # the questions or the defog-data package are missing
        report["defog"] = {"skipped": str(exc)}
    large = report["large"]
    print(f"## Generated warehouse: {large['tables']} tables, {large['foreign_keys']} foreign keys, ~{large['schema_tokens']} tokens of DDL")
    print(f"introspection cold {large['introspection_cold_s']} s (FK inference {large['fk_inference_ms']} ms), cached {large['introspection_cached_ms']} ms; "
          f"value index {large['value_index_s']} s; retrieval index {large['retrieval_index_s']} s")
    print("| budget | recall | questions with every gold table |\n|---|---|---|")
    for b, r in large["recall"].items():
        print(f"| {b} | {r['recall']:.1%} ({r['found']}/{r['gold']}) | {r['complete_questions']}/{large['questions']} |")
    print(f"previous 12-table cut: recall {large['recall_previous_12_table_cut']:.1%}")
    print(f"prompt tokens (median): {large['prompt_tokens_before_median']:.0f} whole schema → {large['prompt_tokens_after_median']:.0f} retrieved "
          f"({large['tables_kept_median']:.0f} tables)")
    print(f"linking time: median {large['linking_ms_median']} ms, p95 {large['linking_ms_p95']} ms")
    if large["misses"]:
        print("misses:", "; ".join(large["misses"]))
    print("\n## defog\n| db | tables | tokens | questions | full | half | quarter |\n|---|---|---|---|---|---|---|")
    for db, row in report["defog"].items():
        if isinstance(row, dict):
            print(f"| {db} | {row['tables']} | {row['schema_tokens']} | {row['questions']} | {row['full']:.1%} | {row['half']:.1%} | {row['quarter']:.1%} |")
        else:
            print(row)
    out = Path("artifacts/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

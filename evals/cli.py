"""``sqlbot eval`` and ``sqlbot bench``: registered on the main Typer app by :func:`register`."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

DatasetOpt = Annotated[
    str, typer.Option("--dataset", "-d", help="dev (the built-in dev set), defog (defog sql-eval), or a JSONL file.")
]


def _settings(data_dir: Path | None, base_url: str | None, model: str | None, api_key: str | None, **extra: Any) -> Any:
    from graph.settings import Settings, get_settings

    base = get_settings()
    updates: dict[str, Any] = {"max_rows": 100_000, **extra}
    if data_dir is not None:
        updates["data_dir"] = data_dir
    if base_url or model:
        updates |= {"llm_base_url": base_url, "llm_model": model, "llm_api_key": api_key or base.llm_api_key}
    return Settings(**(base.model_dump() | updates))


async def _evaluate(
    dataset: str,
    settings: Any,
    *,
    limit: int | None,
    defog_dbs: str | None,
    postgres: bool | None,
    pg_dsn: str,
    quiet: bool,
    glossary: Path | None = None,
) -> Any:
    from evals import defog
    from evals.accuracy import DEV, load_dataset
    from evals.report import EvalRun
    from evals.runner import CaseResult, registry_gold, run_cases
    from graph.builder import build_graph
    from graph.context import Context, StepTimings, registry_from_settings, writer_from_settings

    writer = writer_from_settings(settings)
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "sqlbot " + " ".join(sys.argv[1:]) if sys.argv and "sqlbot" in sys.argv[0] else "sqlbot eval",
        "writer": writer.name,
    }
    kwargs: dict[str, Any] = {}
    extra: dict[str, list[CaseResult]] = {}

    def progress(case: CaseResult) -> None:
        if not quiet:
            mark = "✔" if case.correct else "✖"
            typer.echo(f"{mark} {case.id:<16} {case.total_ms:7.0f} ms  {case.error[:90]}", err=True)

    if dataset == "defog":
        dbs = defog.split_dbs(defog_dbs)
        loaded = defog.load_questions(dbs=dbs)
        examples = loaded.examples[:limit] if limit else loaded.examples
        registry = defog.defog_registry(settings.data_dir, dbs, max_rows=settings.max_rows, query_timeout_s=settings.query_timeout_s)
        kwargs = {
            "gold_results": registry_gold(registry, transform=defog.to_duckdb),
            "gold_dialect": "postgres",
            "ordered": defog.defog_ordered,
        }
        meta |= {
            "databases": ", ".join(dbs),
            "skipped (database not shipped by defog-data)": ", ".join(f"{k}: {v}" for k, v in sorted(loaded.skipped.items())) or "none",
            "engine": "DuckDB (gold SQL transpiled from PostgreSQL with sqlglot)",
            "row order": "compared only for the order_by category or when the question asks for an order (defog's rule)",
        }
        reachable = defog.postgres_reachable(pg_dsn) if postgres is not False else False
        if postgres and not reachable:
            raise typer.BadParameter(f"PostgreSQL is not reachable at {pg_dsn}")
        if reachable:
            dsns = {db: defog.build_postgres(db, pg_dsn) for db in dbs}
            if not quiet:
                typer.echo("PostgreSQL path (postgresql datasources through the whole graph) ...", err=True)
            pg_registry = defog.postgres_registry(settings.data_dir, dsns, max_rows=settings.max_rows,
                                                  query_timeout_s=settings.query_timeout_s)
            pg_context = Context(settings=settings, registry=pg_registry, writer=writer, timings=StepTimings())
            try:
                extra["PostgreSQL (postgresql datasource, whole graph)"] = await run_cases(
                    build_graph(settings=settings), pg_context, examples, on_case=progress,
                    gold_results=registry_gold(pg_registry), gold_dialect="postgres", ordered=defog.defog_ordered,
                )
            finally:
                pg_registry.close()
            meta["postgres"] = "loaded and evaluated through the product's postgresql datasource (see its section)"
        else:
            meta["postgres"] = f"not reachable at {pg_dsn}: skipped"
        if postgres is not False and defog.mysql_reachable():
            databases = {db: defog.build_mysql(db) for db in dbs}
            if not quiet:
                typer.echo("MySQL/MariaDB path (mysql datasources through the whole graph) ...", err=True)
            my_registry = defog.mysql_registry(settings.data_dir, databases, max_rows=settings.max_rows,
                                               query_timeout_s=settings.query_timeout_s)
            my_context = Context(settings=settings, registry=my_registry, writer=writer, timings=StepTimings())
            try:
                extra["MySQL/MariaDB (mysql datasource, whole graph)"] = await run_cases(
                    build_graph(settings=settings), my_context, examples, on_case=progress,
                    gold_results=registry_gold(my_registry, transform=defog.to_mysql), gold_dialect="postgres",
                    ordered=defog.defog_ordered,
                )
            finally:
                my_registry.close()
            meta["mysql"] = "loaded into MariaDB/MySQL (types mapped) and evaluated; gold SQL transpiled with sqlglot"
        else:
            meta["mysql"] = "not reachable at 127.0.0.1:3306 (or --no-postgres): skipped"
        name = "defog sql-eval"
    else:
        path = DEV if dataset == "dev" else Path(dataset)
        examples = load_dataset(path)
        examples = examples[:limit] if limit else examples
        registry = registry_from_settings(settings)
        kwargs = {"gold_results": registry_gold(registry)}
        name = "dev set" if dataset == "dev" else path.name
    knowledge = None
    if glossary is not None:
        from knowledge.source import KnowledgeDoc

        knowledge = KnowledgeDoc.load(glossary)
        meta["knowledge"] = f"{glossary.name}: {len(knowledge.glossary)} glossary entries, {len(knowledge.examples)} examples"
    context = Context(settings=settings, registry=registry, writer=writer, timings=StepTimings(), knowledge=knowledge)
    graph = build_graph(settings=settings)
    try:
        cases = await run_cases(graph, context, examples, on_case=progress, **kwargs)
    finally:
        registry.close()
    return EvalRun(dataset=name, writer=writer.name, cases=cases, meta=meta, extra=extra)


def eval_command(
    dataset: DatasetOpt = "dev",
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for report.md, results.json and eval.png.")] = Path("artifacts/eval"),
    min_accuracy: Annotated[
        float | None, typer.Option(help="Exit with status 1 when execution accuracy is below this (0-1): a regression gate.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (default: SQLBOT_DATA_DIR).")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint (default: SQLBOT_LLM_BASE_URL; none: offline writer).")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (default: SQLBOT_LLM_MODEL).")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (default: SQLBOT_LLM_API_KEY).")] = None,
    defog_dbs: Annotated[str | None, typer.Option(help="defog: comma-separated databases (default: all 7 shipped).")] = None,
    postgres: Annotated[
        bool | None, typer.Option("--postgres/--no-postgres", help="defog: also evaluate on PostgreSQL (default: when reachable).")
    ] = None,
    pg_dsn: Annotated[str, typer.Option(envvar="SQLBOT_EVAL_PG_DSN", help="defog: PostgreSQL server to load the databases into.")] = "postgresql://postgres@127.0.0.1:5432/test",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-question lines.")] = False,
    glossary: Annotated[
        Path | None,
        typer.Option(help="Knowledge JSON (glossary, examples, instructions; the API's export format) the writers use."),
    ] = None,
) -> None:
    """Run a dataset through the graph; write a Markdown report, JSON and a PNG plot."""
    from evals.report import selective_lines, summarize, write

    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise typer.BadParameter("--min-accuracy is a fraction between 0 and 1", param_hint="--min-accuracy")
    settings = _settings(data_dir, base_url, model, api_key)
    run = asyncio.run(
        _evaluate(
            dataset, settings, limit=limit, defog_dbs=defog_dbs, postgres=postgres, pg_dsn=pg_dsn, quiet=quiet,
            glossary=glossary,
        )
    )
    paths = write(run, out)
    s = summarize(run.cases)
    typer.echo(
        f"{run.dataset} / {run.writer}: accuracy {s['accuracy']:.1%} ({s['correct']}/{s['questions']}), "
        f"precision {s['precision']:.1%} ({s['correct']}/{s['answered']} answered), "
        f"valid SQL {s['valid_sql_rate']:.1%}, first event {s['first_event_ms_median']:.1f} ms (median), "
        f"{s['model_calls_per_question']:.2f} model calls/question"
    )
    for line in selective_lines(run.cases)[1:]:
        typer.echo(line)
    for name, cases in run.extra.items():
        e = summarize(cases)
        typer.echo(
            f"{name}: accuracy {e['accuracy']:.1%} ({e['correct']}/{e['questions']}), "
            f"precision {e['precision']:.1%} ({e['correct']}/{e['answered']} answered)"
        )
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))
    if min_accuracy is not None and s["accuracy"] < min_accuracy:
        typer.echo(f"FAIL: accuracy {s['accuracy']:.1%} is below --min-accuracy {min_accuracy:.1%}", err=True)
        raise typer.Exit(1)


def bench_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where bench.json and bench.md are written.")] = Path("artifacts/bench"),
    only: Annotated[
        str | None,
        typer.Option(help="Comma-separated subset: overhead, server, peers, cache, batching, writer, scale (default: all)."),
    ] = None,
    repeats: Annotated[int, typer.Option(help="Runs per measured question (medians are taken over them).")] = 3,
    token_delay_ms: Annotated[float, typer.Option(help="The stand-in model's fixed delay per streamed token.")] = 5.0,
    latency_ms: Annotated[float, typer.Option(help="The stand-in model's delay before each reply starts.")] = 100.0,
    streams: Annotated[str, typer.Option(help="Concurrent streams for the server benchmark.")] = "1,100,1000",
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (default: SQLBOT_DATA_DIR).")] = None,
) -> None:
    """Benchmarks: orchestration overhead, the real server under load, peers, step cache, batching, writer speed."""
    from evals.bench import BenchConfig, run_bench

    config = BenchConfig(
        out=out,
        sections=tuple(s.strip() for s in only.split(",")) if only else BenchConfig.sections,
        repeats=repeats,
        token_delay_s=token_delay_ms / 1000,
        latency_s=latency_ms / 1000,
        streams=tuple(int(s) for s in streams.split(",")),
        data_dir=data_dir,
    )
    results = asyncio.run(run_bench(config))
    typer.echo(results["markdown"])
    typer.echo(f"wrote {config.out / 'bench.json'} and {config.out / 'bench.md'}")


def register(app: typer.Typer) -> None:
    """Add ``eval`` and ``bench`` to the ``sqlbot`` app."""
    app.command("eval")(eval_command)
    app.command("bench")(bench_command)


app = typer.Typer(help="SQLBot evals and benchmarks.", no_args_is_help=True, add_completion=False)
register(app)

if __name__ == "__main__":
    app()

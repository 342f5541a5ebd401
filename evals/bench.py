"""``sqlbot bench``: every benchmark side by side in one run, reported as medians and ratios.

All model-backed systems talk to the same local stand-in model (:class:`evals.peers.StandIn`, the scripted
OpenAI-compatible test server with a fixed latency and per-token delay, answering each system's real prompts
with the same gold SQL), over the same SQLite database (the ``movies`` demo), on the same questions.

Sections:

* ``overhead``: SQLBot end to end (graph + event mapping, LLM writer) minus the time inside model calls and
  queries, against a bare pipeline that makes the same two model calls and the same query with no graph;
* ``server``: the real ``sqlbot serve`` under 1/100/1000 concurrent streams (``evals/bench_server.py``,
  owned by the server);
* ``peers``: model calls, prompt characters, wall time and time to first progress for SQLBot, LangChain's
  ``create_sql_agent`` and the LangGraph tutorial's ReAct SQL agent;
* ``cache``: a repeated question with the step cache on (hit) and off (miss), and the very first (cold) run;
* ``batching``: protocol content events per answer vs raw model chunks, and the first-content delay;
* ``writer``: the offline writer's time to write SQL per question shape (``evals.accuracy.run_eval``);
* ``scale``: 1 vs 2 workers with the shared Redis event log and PostgreSQL store (``evals/bench_scale.py``),
  needs both servers on this machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import platform
import statistics
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.accuracy import DEV, Example, load_dataset, run_eval
from evals.report import clean, median, percentile
from llm.base import Chunk, Emit, ExplainRequest, SQLDraft, SQLRequest

SECTIONS = ("overhead", "server", "peers", "cache", "batching", "writer", "scale")


@dataclass
class BenchConfig:
    """What to run and how hard."""

    out: Path = Path("artifacts/bench")
    sections: tuple[str, ...] = SECTIONS
    repeats: int = 3
    token_delay_s: float = 0.005
    latency_s: float = 0.1
    streams: tuple[int, ...] = (1, 100, 1000)
    data_dir: Path | None = None
    questions: int = 5
    """English questions on the movies demo used by the model-backed sections."""


class TimedWriter:
    """Wraps a writer: time spent inside it, and the raw chunks it emitted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_ms = 0.0
        self.chunks = 0

    def reset(self) -> None:
        self.model_ms, self.chunks = 0.0, 0

    def _counting(self, emit: Emit) -> Emit:
        def counted(chunk: Chunk) -> None:
            self.chunks += 1
            emit(chunk)

        return counted

    async def write_sql(self, request: SQLRequest, emit: Emit) -> SQLDraft:
        started = time.perf_counter()
        try:
            return await self.inner.write_sql(request, self._counting(emit))  # type: ignore[no-any-return]
        finally:
            self.model_ms += (time.perf_counter() - started) * 1000

    async def explain(self, request: ExplainRequest, emit: Emit) -> str:
        started = time.perf_counter()
        try:
            return await self.inner.explain(request, self._counting(emit))  # type: ignore[no-any-return]
        finally:
            self.model_ms += (time.perf_counter() - started) * 1000


# ------------------------------------------------------------------------------------------------ setup


class Bench:
    """Shared fixtures: settings, the demo data, the questions and the stand-in model."""

    def __init__(self, config: BenchConfig) -> None:
        from graph.settings import Settings, get_settings

        self.config = config
        base = get_settings()
        self.settings = Settings(**(base.model_dump() | {"data_dir": config.data_dir or base.data_dir, "llm_base_url": None, "llm_model": None}))
        english = [e for e in load_dataset(DEV) if e.datasource == "movies" and e.locale == "en" and len(e.gold_sql) == 1]
        self.examples: list[Example] = english[: config.questions]
        self.golds = {e.question: e.gold_sql[0] for e in self.examples}

    def stand_in(self) -> Any:
        from evals.peers import StandIn

        return StandIn(self.golds, token_delay_s=self.config.token_delay_s, latency_s=self.config.latency_s)

    def context(self, writer: Any, **overrides: Any) -> Any:
        from graph.context import Context, StepTimings, registry_from_settings

        settings = self.settings.model_copy(update=overrides)
        return Context(settings=settings, registry=registry_from_settings(settings), writer=writer, timings=StepTimings())

    def llm_writer(self, base_url: str) -> TimedWriter:
        from llm.openai_writer import OpenAIWriter

        return TimedWriter(OpenAIWriter(base_url=base_url, model="stand-in", api_key="x", timeout_s=30))


async def sqlbot_run(graph: Any, context: Any, question: str, datasource: str | None = "movies") -> dict[str, Any]:
    """One run through the graph and event mapper, as the server does; timings as a person sees them."""
    from graph.events import start_run

    inputs: dict[str, Any] = {"question": question, "locale": "en"}
    if datasource:
        inputs["datasource_id"] = datasource
    started = time.perf_counter()
    first = first_content = None
    events = []
    stream = start_run(graph, inputs=inputs, context=context, session_id="bench")  # type: ignore[arg-type]
    async for event in stream:
        now = (time.perf_counter() - started) * 1000
        first = first if first is not None else now
        if event.type == "step_content" and first_content is None:
            first_content = now
        events.append(event.wire())
    wall = (time.perf_counter() - started) * 1000
    result = stream.state.get("result") or {}
    return {
        "wall_ms": wall,
        "first_event_ms": first,
        "first_content_ms": first_content,
        "query_ms": float(result.get("elapsed_ms", 0.0)),
        "events": events,
        "ok": bool(events) and events[-1]["type"] == "final_complete",
    }


async def bare_run(context: Any, question: str, datasource: str = "movies") -> dict[str, Any]:
    """The same model calls and query with no graph and no events: the floor SQLBot is compared with."""
    registry, writer = context.registry, context.writer
    started = time.perf_counter()
    schema = await asyncio.to_thread(registry.schema, datasource)
    values = await asyncio.to_thread(registry.values, datasource)
    draft = await writer.write_sql(SQLRequest(question, schema, "en", values=values), lambda _c: None)
    conn = await asyncio.to_thread(registry.connect, datasource)
    result = await conn.run(draft.sql, max_rows=context.settings.max_rows, timeout_s=30)
    rows = [list(r) for r in result.rows]
    await writer.explain(ExplainRequest(question, draft.sql, result.columns, rows, result.row_count, result.truncated, "en"), lambda _c: None)
    return {"wall_ms": (time.perf_counter() - started) * 1000, "query_ms": result.elapsed_ms}


# ------------------------------------------------------------------------------------------------ sections


async def bench_overhead(b: Bench) -> dict[str, Any]:
    from graph.builder import build_graph

    with b.stand_in() as server:
        writer = b.llm_writer(server.base_url)
        context = b.context(writer)
        graph = build_graph(settings=context.settings)
        rows: dict[str, list[dict[str, float]]] = defaultdict(list)
        for ex in b.examples:  # warm-up: schema, value index, connections, HTTP client
            await sqlbot_run(graph, context, ex.question)
            await bare_run(context, ex.question)
        for _ in range(b.config.repeats):
            for ex in b.examples:  # interleaved so machine noise hits both alike
                writer.reset()
                run = await sqlbot_run(graph, context, ex.question)
                assert run["ok"], run["events"][-1]
                rows["sqlbot"].append({"wall": run["wall_ms"], "model": writer.model_ms, "query": run["query_ms"]})
                writer.reset()
                bare = await bare_run(context, ex.question)
                rows["bare"].append({"wall": bare["wall_ms"], "model": writer.model_ms, "query": bare["query_ms"]})
        context.registry.close()
    out: dict[str, Any] = {}
    for name, samples in rows.items():
        out[name] = {
            "wall_ms": median(s["wall"] for s in samples),
            "model_ms": median(s["model"] for s in samples),
            "query_ms": median(s["query"] for s in samples),
            "overhead_ms": median(s["wall"] - s["model"] - s["query"] for s in samples),
            "overhead_p95_ms": percentile((s["wall"] - s["model"] - s["query"] for s in samples), 95),
            "runs": len(samples),
        }
    out["ratio_wall"] = out["sqlbot"]["wall_ms"] / out["bare"]["wall_ms"]
    out["ratio_overhead"] = out["sqlbot"]["overhead_ms"] / max(out["bare"]["overhead_ms"], 1e-9)
    out["extra_ms"] = out["sqlbot"]["wall_ms"] - out["bare"]["wall_ms"]
    return out


async def bench_peers(b: Bench) -> dict[str, Any]:
    from datasources.demo import ensure_demo
    from evals.peers import LangChainSQLAgent, LangGraphReActAgent, prompt_chars, sql_database
    from graph.builder import build_graph

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    path = ensure_demo(b.settings.data_dir, "movies")
    results: dict[str, Any] = {}
    with b.stand_in() as server:
        writer = b.llm_writer(server.base_url)
        context = b.context(writer)
        graph = build_graph(settings=context.settings)
        db = sql_database(path)

        async def sqlbot(question: str) -> dict[str, Any]:
            run = await sqlbot_run(graph, context, question)
            return {"wall_ms": run["wall_ms"], "first_progress_ms": run["first_event_ms"], "finished": run["ok"]}

        async def peer(agent: Any) -> Callable[[str], Any]:
            async def ask(question: str) -> dict[str, Any]:
                run = await agent.ask(question)
                return {"wall_ms": run.wall_ms, "first_progress_ms": run.first_progress_ms, "finished": run.finished}

            return ask

        systems = {
            "SQLBot (graph, LLM writer)": sqlbot,
            LangChainSQLAgent.name: await peer(LangChainSQLAgent(db, server.base_url)),
            LangGraphReActAgent.name: await peer(LangGraphReActAgent(db, server.base_url)),
        }
        for ask in systems.values():  # warm-up
            await ask(b.examples[0].question)
        samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for _ in range(b.config.repeats):
            for ex in b.examples:
                for name, ask in systems.items():
                    before = len(server.chat_requests)
                    run = await ask(ex.question)
                    requests = server.chat_requests[before:]
                    run |= {"model_calls": len(requests), "prompt_chars": sum(prompt_chars(r.body) for r in requests)}
                    samples[name].append(run)
        context.registry.close()
    for name, runs in samples.items():
        results[name] = {
            "questions": len(b.examples),
            "finished": sum(r["finished"] for r in runs) / len(runs),
            "model_calls": median(r["model_calls"] for r in runs),
            "prompt_chars": median(r["prompt_chars"] for r in runs),
            "wall_ms": median(r["wall_ms"] for r in runs),
            "first_progress_ms": median(r["first_progress_ms"] for r in runs),
        }
    base = results["SQLBot (graph, LLM writer)"]
    for r in results.values():
        r["ratio_wall_vs_sqlbot"] = r["wall_ms"] / base["wall_ms"]
        r["ratio_prompt_chars_vs_sqlbot"] = r["prompt_chars"] / base["prompt_chars"]
    return results


async def bench_cache(b: Bench) -> dict[str, Any]:
    from graph.builder import build_graph
    from llm.offline import OfflineWriter

    question = "average departure delay by airline"
    out: dict[str, Any] = {"question": question}
    cold = []
    for _ in range(b.config.repeats):  # a fresh registry and graph: nothing cached, connections to open
        context = b.context(OfflineWriter())
        run = await sqlbot_run(build_graph(settings=context.settings), context, question, datasource=None)
        cold.append(run["wall_ms"])
        context.registry.close()
    out["cold_ms"] = median(cold)
    for label, caching in (("miss", False), ("hit", True)):
        context = b.context(OfflineWriter(), enable_step_caching=caching)
        graph = build_graph(settings=context.settings)
        await sqlbot_run(graph, context, question, datasource=None)  # first run fills the caches (when on)
        walls, connect = [], []
        for _ in range(max(5, b.config.repeats * 3)):
            run = await sqlbot_run(graph, context, question, datasource=None)
            walls.append(run["wall_ms"])
            steps = {e["stepId"]: e["result"] for e in run["events"] if e["type"] == "step_complete"}
            connect.append(steps["step_003"]["duration"])
            out.setdefault(f"{label}_connect_cached", bool(steps["step_003"].get("cached")))
        out[f"{label}_ms"] = median(walls)
        out[f"{label}_connect_db_ms"] = median(connect)
        context.registry.close()
    out["speedup_hit_vs_miss"] = out["miss_ms"] / out["hit_ms"]
    return out


async def bench_batching(b: Bench) -> dict[str, Any]:
    from graph.builder import build_graph

    out: dict[str, Any] = {}
    with b.stand_in() as server:
        for window in (0, b.settings.content_batch_ms or 50):
            writer = b.llm_writer(server.base_url)
            context = b.context(writer, content_batch_ms=window)
            graph = build_graph(settings=context.settings)
            await sqlbot_run(graph, context, b.examples[0].question)
            events, chunks, first, total = [], [], [], []
            for _ in range(b.config.repeats):
                for ex in b.examples:
                    writer.reset()
                    run = await sqlbot_run(graph, context, ex.question)
                    events.append(sum(e["type"] == "step_content" for e in run["events"]))
                    total.append(len(run["events"]))
                    chunks.append(writer.chunks)
                    first.append(run["first_content_ms"])
            out[f"window_{window}ms"] = {
                "raw_model_chunks": median(chunks),
                "content_events": median(events),
                "all_events": median(total),
                "chunks_per_content_event": median(c / max(e, 1) for c, e in zip(chunks, events, strict=True)),
                "first_content_ms": median(first),
            }
            context.registry.close()
    return out


async def bench_writer(b: Bench) -> dict[str, Any]:
    from datasources.registry import Registry

    registry = Registry(b.settings.data_dir, max_rows=100_000)
    examples = load_dataset(DEV)
    await run_eval(examples, registry)  # warm-up: jieba's dictionary, schemas, value indexes
    times: dict[str, list[float]] = defaultdict(list)
    per_question: dict[str, list[float]] = defaultdict(list)
    for _ in range(b.config.repeats):
        report = await run_eval(examples, registry)
        for outcome in report.outcomes:
            per_question[outcome.example.id].append(outcome.write_ms)
    tags = {e.id: e.tags for e in examples}
    for qid, samples in per_question.items():
        m = statistics.median(samples)
        for tag in ("all", *tags[qid]):
            times[tag].append(m)
    registry.close()
    return {tag: {"questions": len(v), "median_ms": median(v), "p95_ms": percentile(v, 95), "max_ms": max(v)} for tag, v in sorted(times.items(), key=lambda kv: kv[0] != "all")}


async def bench_server(b: Bench) -> dict[str, Any]:
    try:
        from evals import bench_server
    except ImportError as exc:  # owned by the server: reported, not duplicated
        return {"skipped": f"evals/bench_server.py is not available: {exc}"}
    return await bench_server.main_async(quick=1000 not in b.config.streams)  # type: ignore[no-any-return]


async def bench_scale(b: Bench) -> dict[str, Any]:
    from evals import bench_scale

    streams = tuple(n for n in b.config.streams if n >= 100) or (100,)
    return await bench_scale.main_async(streams)


RUNNERS = {
    "scale": bench_scale,
    "overhead": bench_overhead,
    "server": bench_server,
    "peers": bench_peers,
    "cache": bench_cache,
    "batching": bench_batching,
    "writer": bench_writer,
}


# ------------------------------------------------------------------------------------------------ report


def _f(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}" if isinstance(x, float) else str(x)


def markdown(results: dict[str, Any]) -> str:
    """The benchmark tables."""
    meta = results["meta"]
    lines = [
        f"Run {meta['date']} on {meta['machine']}; stand-in model: {meta['latency_ms']:g} ms before each reply, "
        f"{meta['token_delay_ms']:g} ms per streamed token; {meta['questions']} questions × {meta['repeats']} repeats; medians.",
        "",
    ]
    r = results.get("overhead")
    if r:
        s, bare = r["sqlbot"], r["bare"]
        lines += [
            "### 1. Orchestration overhead",
            "",
            "| system | end to end ms | in model ms | in query ms | overhead ms (p95) |",
            "|---|---:|---:|---:|---:|",
            f"| SQLBot (graph + events) | {_f(s['wall_ms'])} | {_f(s['model_ms'])} | {_f(s['query_ms'])} | {_f(s['overhead_ms'])} ({_f(s['overhead_p95_ms'])}) |",
            f"| bare pipeline (same calls, no graph) | {_f(bare['wall_ms'])} | {_f(bare['model_ms'])} | {_f(bare['query_ms'])} | {_f(bare['overhead_ms'])} ({_f(bare['overhead_p95_ms'])}) |",
            "",
            f"End-to-end ratio SQLBot / bare: **{r['ratio_wall']:.3f}** (+{_f(r['extra_ms'])} ms per question).",
            "",
        ]
    r = results.get("server")
    if r:
        lines += ["### 2. Through the real server", ""]
        if "skipped" in r:
            lines += [r["skipped"], ""]
        else:
            lines += [
                "| concurrent streams | failed | first event median ms | first event p99 ms | complete median ms | lost | out of order |",
                "|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for key, v in r.items():
                if key.startswith("enhanced_"):
                    lines.append(
                        f"| {v['streams']} | {v['failed']} | {_f(v['ttfe_median_ms'])} | {_f(v['ttfe_p99_ms'])} | "
                        f"{_f(v['complete_median_ms'])} | {v['lost']} | {v['out_of_order']} |"
                    )
            if "memory" in r:
                m = r["memory"]
                lines += ["", f"Memory: {_f(m['kb_per_open_stream'])} KB per open stream ({m['open_streams']} streams waiting on a slow model)."]
            lines.append("")
    r = results.get("peers")
    if r:
        lines += [
            "### 3. Against peers (same questions, database and stand-in model)",
            "",
            "| system | finished | model calls / q | prompt chars / q | wall ms | first progress ms | wall vs SQLBot | prompt vs SQLBot |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, v in r.items():
            lines.append(
                f"| {name} | {v['finished']:.0%} | {_f(v['model_calls'], 0)} | {_f(v['prompt_chars'], 0)} | {_f(v['wall_ms'])} | "
                f"{_f(v['first_progress_ms'])} | {v['ratio_wall_vs_sqlbot']:.2f}× | {v['ratio_prompt_chars_vs_sqlbot']:.2f}× |"
            )
        lines.append("")
    r = results.get("cache")
    if r:
        lines += [
            "### 4. Step cache (offline writer, repeated question)",
            "",
            f"Question: “{r['question']}” (datasource chosen by the graph).",
            "",
            "| run | end to end ms | connect_db ms |",
            "|---|---:|---:|",
            f"| cold (fresh registry and graph) | {_f(r['cold_ms'])} | |",
            f"| miss (step caching off) | {_f(r['miss_ms'])} | {_f(r['miss_connect_db_ms'])} |",
            f"| hit (step caching on, repeat) | {_f(r['hit_ms'])} | {_f(r['hit_connect_db_ms'])} (cached: {r['hit_connect_cached']}) |",
            "",
            f"Hit is **{r['speedup_hit_vs_miss']:.1f}×** faster than miss.",
            "",
        ]
    r = results.get("batching")
    if r:
        lines += [
            "### 5. Content batching (LLM writer, stand-in model)",
            "",
            "| batch window | raw model chunks / answer | content events / answer | chunks per event | all events / answer | first content ms |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key, v in r.items():
            lines.append(
                f"| {key.removeprefix('window_')} | {_f(v['raw_model_chunks'], 0)} | {_f(v['content_events'], 0)} | "
                f"{_f(v['chunks_per_content_event'])} | {_f(v['all_events'], 0)} | {_f(v['first_content_ms'])} |"
            )
        lines.append("")
    r = results.get("scale")
    if r:
        from evals.bench_scale import markdown as scale_markdown

        lines += ["### 7. Scale-out: 1 vs 2 workers, shared Redis event log and PostgreSQL store", "",
                  scale_markdown(r), ""]
    r = results.get("writer")
    if r:
        lines += [
            "### 6. Offline writer: time to write SQL, per question shape (dev set)",
            "",
            "| shape | questions | median ms | p95 ms | max ms |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [f"| {tag} | {v['questions']} | {_f(v['median_ms'], 2)} | {_f(v['p95_ms'], 2)} | {_f(v['max_ms'], 2)} |" for tag, v in r.items()]
        lines.append("")
    return "\n".join(lines)


async def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Run the chosen sections in a fixed order; write ``bench.json`` and ``bench.md``."""
    unknown = [s for s in config.sections if s not in RUNNERS]
    if unknown:
        raise ValueError(f"unknown bench section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    b = Bench(config)
    results: dict[str, Any] = {
        "meta": {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}",
            "latency_ms": config.latency_s * 1000,
            "token_delay_ms": config.token_delay_s * 1000,
            "questions": len(b.examples),
            "repeats": config.repeats,
            "question_texts": [e.question for e in b.examples],
        }
    }
    for section in SECTIONS:
        if section in config.sections:
            started = time.perf_counter()
            results[section] = await RUNNERS[section](b)
            results["meta"][f"{section}_s"] = round(time.perf_counter() - started, 1)
    results = clean(results)
    text = markdown(results)
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    (config.out / "bench.md").write_text(text, encoding="utf-8")
    return {**results, "markdown": text}


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    import sys

    from evals.cli import app

    app(["bench", *sys.argv[1:]])

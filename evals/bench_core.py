"""Benchmark of the core engine (issue 2): orchestration overhead and offline end-to-end time.

Two ways of answering the same question with the same writer, registry and database, measured side by
side in one process and interleaved so machine noise hits both alike:

* ``graph``: the compiled LangGraph workflow streamed through the event mapper (``graph.events``), every
  protocol event built and validated — what the CLI and the server do;
* ``direct``: the same seven node functions awaited one after another with a no-op stream writer — no
  graph, no checkpoint channels, no event mapping.

The difference of the medians is the orchestration overhead; model and query time are in both.

    uv run python -m evals.bench_core [--runs 40] [--question "..."]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from langgraph.runtime import Runtime

from graph.builder import build_graph
from graph.context import Context
from graph.events import start_run
from graph.routes import route_after_execute
from graph.settings import get_settings
from graph.state import merge_steps
from nodes.analyzing_question import analyzing_question
from nodes.configure_chart import configure_chart
from nodes.connect_db import connect_db
from nodes.execute_query import execute_query
from nodes.generate_sql import generate_sql
from nodes.present_result import present_result
from nodes.select_datasource import select_datasource

QUESTIONS = [
    ("average departure delay by airline", "flights"),
    ("各地区的总销售额", "superstore"),
    ("how many flights were there in July", "flights"),
]


async def run_graph(graph: Any, context: Context, question: str, datasource: str | None) -> float:
    started = time.perf_counter()
    events = [e async for e in start_run(graph, inputs={"question": question, "datasource_id": datasource}, context=context, session_id="bench")]
    assert events[-1].type == "final_complete", events[-1]
    return (time.perf_counter() - started) * 1000


async def run_direct(context: Context, question: str, datasource: str | None) -> float:
    runtime: Runtime[Context] = Runtime(context=context, stream_writer=lambda _: None)
    state: dict[str, Any] = {"question": question, "datasource_id": datasource}

    async def step(node: Any) -> None:
        update = await node(state, runtime)
        for key, value in update.items():
            state[key] = merge_steps(state.get(key), value) if key == "steps" else value

    started = time.perf_counter()
    for node in (analyzing_question, select_datasource, connect_db, generate_sql, execute_query):
        await step(node)
    if route_after_execute(state, context.settings) == "configure_chart":  # type: ignore[arg-type]
        await step(configure_chart)
    await step(present_result)
    return (time.perf_counter() - started) * 1000


async def main(runs: int, only: str | None) -> None:
    settings = get_settings()
    context = Context.from_settings(settings)
    graph = build_graph(settings=settings)
    questions = [(only, None)] if only else QUESTIONS
    print(f"{'question':44} {'graph ms':>9} {'direct ms':>10} {'overhead ms':>12} {'ratio':>6}")
    for question, datasource in questions:
        for _ in range(3):  # warm caches: demo build, schema, value index, jieba
            await run_graph(graph, context, question, datasource)
            await run_direct(context, question, datasource)
        g, d = [], []
        for _ in range(runs):
            g.append(await run_graph(graph, context, question, datasource))
            d.append(await run_direct(context, question, datasource))
        mg, md = statistics.median(g), statistics.median(d)
        print(f"{question[:44]:44} {mg:9.2f} {md:10.2f} {mg - md:12.2f} {mg / md:6.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--question")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.question))

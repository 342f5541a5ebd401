"""Row and column permissions through the whole graph, for both writers: the offline writer and the LLM path
(the real ChatOpenAI client against the local OpenAI-compatible server)."""

from __future__ import annotations

import re
from typing import Any

from datasources.policy import PolicyRule, StaticPolicies
from graph.builder import build_graph
from graph.context import Context, StepTimings
from graph.settings import Settings
from llm.factory import make_writer
from llm.openai_writer import OpenAIWriter
from tests.graph.conftest import by_type, collect
from tests.graph.invariants import check_invariants
from tests.support.openai_server import OpenAIServer, Reply

WEST = {"name": "alice", "roles": ["analyst"], "attrs": {"region": "West"}}
RULES = StaticPolicies([
    PolicyRule("superstore", "superstore", roles=("analyst",), row_filter="superstore.region = :user.region",
               hidden_columns=("profit",)),
])
QUESTION = {"question": "total sales by region", "datasource_id": "superstore", "locale": "en"}


def context(settings: Settings, registry: Any, writer: Any) -> Context:
    return Context(settings=settings, registry=registry, writer=writer, timings=StepTimings(), policies=RULES)


def execute_step(events: list[dict[str, Any]]) -> dict[str, Any]:
    started = {e["step"]["id"]: e["step"]["name"] for e in by_type(events, "step_start")}
    return next(e for e in by_type(events, "step_complete") if started.get(e["stepId"]) == "execute_query")


async def test_offline_writer_results_are_filtered(settings: Settings, registry: Any) -> None:
    graph = build_graph(settings=settings)
    open_events = await collect(graph, QUESTION, context(settings, registry, make_writer()))
    assert {r["region"] for r in open_events[-1]["summary"]["output"]["data"]} == {"Central", "East", "South", "West"}, \
        "no principal: open mode, no policy"
    events = await collect(graph, {**QUESTION, "principal": WEST}, context(settings, registry, make_writer()))
    check_invariants(events)
    output = events[-1]["summary"]["output"]
    assert [r["region"] for r in output["data"]] == ["West"]
    step = execute_step(events)
    assert "filtered by your permissions on superstore" in step["result"]["summary"]
    assert "West" not in step["result"]["summary"], "the note names the table, never the filter's values"
    assert "Only rows you are permitted to see (superstore)." in output["interpretation"]


async def test_llm_path_results_are_filtered_and_the_prompt_omits_hidden_columns(
    settings: Settings, registry: Any, openai_server: OpenAIServer
) -> None:
    openai_server.push(
        Reply("```sql\nSELECT s.region, SUM(s.sales) AS sales FROM superstore AS s GROUP BY s.region\n```"),
        Reply("West sold the most."),
    )
    writer = OpenAIWriter(base_url=openai_server.base_url, model="scripted-model", api_key="x", timeout_s=5)
    events = await collect(build_graph(settings=settings), {**QUESTION, "principal": WEST},
                           context(settings, registry, writer))
    check_invariants(events)
    assert events[-1]["type"] == "final_complete"
    assert [r["region"] for r in events[-1]["summary"]["output"]["data"]] == ["West"]
    prompt = openai_server.chat_requests[0].text()
    columns = re.findall(r"^\s+(\w+) [A-Z]+", prompt, flags=re.M)  # the CREATE TABLE listing of the prompt
    assert "sales" in columns and "region" in columns and "profit" not in columns


async def test_llm_naming_a_hidden_column_is_refused(settings: Settings, registry: Any, openai_server: OpenAIServer) -> None:
    openai_server.push(Reply("```sql\nSELECT region, SUM(profit) FROM superstore GROUP BY region\n```"))
    writer = OpenAIWriter(base_url=openai_server.base_url, model="scripted-model", api_key="x", timeout_s=5)
    events = await collect(build_graph(settings=settings), {**QUESTION, "principal": WEST},
                           context(settings, registry, writer))
    check_invariants(events)
    error = events[-1]["error"]
    assert error["code"] == "COLUMN_NOT_PERMITTED" and "profit" in error["message"]
    assert error["suggestion"] and error["canRetry"] is False


async def test_open_mode_keeps_every_column(settings: Settings, registry: Any, openai_server: OpenAIServer) -> None:
    openai_server.push(Reply("```sql\nSELECT region, SUM(profit) FROM superstore GROUP BY region\n```"), Reply("ok"))
    writer = OpenAIWriter(base_url=openai_server.base_url, model="scripted-model", api_key="x", timeout_s=5)
    events = await collect(build_graph(settings=settings), QUESTION, context(settings, registry, writer))
    assert events[-1]["type"] == "final_complete" and events[-1]["summary"]["output"]["rowCount"] == 4
    assert "profit" in re.findall(r"^\s+(\w+) [A-Z]+", openai_server.chat_requests[0].text(), flags=re.M)

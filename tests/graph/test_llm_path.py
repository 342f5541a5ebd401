"""The LLM path end to end over real HTTP: the real ChatOpenAI client against the local OpenAI-compatible server."""

from graph.builder import build_graph
from graph.settings import Settings
from llm.openai_writer import OpenAIWriter
from tests.graph.conftest import by_type, collect, make_context
from tests.graph.invariants import check_invariants
from tests.graph.test_workflow import BAD_COLUMN, GOOD, QUESTION
from tests.support.openai_server import Cut, HTTPFault, OpenAIServer, Reply


def writer(server: OpenAIServer) -> OpenAIWriter:
    return OpenAIWriter(base_url=server.base_url, model="scripted-model", api_key="x", timeout_s=5)


async def test_model_repairs_its_wrong_column_through_the_graph(settings: Settings, registry, openai_server: OpenAIServer) -> None:
    openai_server.push(
        Reply(f"```sql\n{BAD_COLUMN}\n```", reasoning="The delay column is probably departure_delay."),
        Reply(f"Fixed the column name.\n```sql\n{GOOD}\n```", reasoning="The error says departure_delay does not exist."),
        Reply("Frontier Airlines has the highest average departure delay."),
    )
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer(openai_server)))
    check_invariants(events)
    assert events[-1]["type"] == "final_complete"
    sql_steps = [e for e in by_type(events, "step_start") if e["step"]["name"] == "generate_sql"]
    assert len(sql_steps) == 2 and sql_steps[1]["step"]["metadata"]["repair"] is True
    reasoning = "".join(e["content"].get("reasoning") or "" for e in by_type(events, "step_content") if e["stepId"] == "step_004")
    assert "departure_delay" in reasoning, "reasoning_content streams as reasoning"
    repair_prompt = openai_server.chat_requests[1].text()
    assert BAD_COLUMN in repair_prompt and "departure_delay" in repair_prompt.split(BAD_COLUMN)[-1], "the repair prompt carries the failed SQL and the error"
    output = events[-1]["summary"]["output"]
    assert output["sql"] == GOOD and output["rowCount"] == 16
    assert output["explanation"] == "Frontier Airlines has the highest average departure delay."


async def test_model_outage_is_retried_visibly_then_reported(settings: Settings, registry, openai_server: OpenAIServer) -> None:
    openai_server.push(HTTPFault(503), HTTPFault(503))  # the first try and the one automatic retry
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer(openai_server)))
    check_invariants(events)
    assert any("Retrying" in (e.get("message") or "") for e in by_type(events, "step_progress"))
    error = events[-1]["error"]
    assert error["code"] == "LLM_SERVICE_ERROR" and error["canRetry"] is True and "503" in error["detail"]
    assert len(openai_server.chat_requests) == 2


async def test_cut_stream_then_recovery(settings: Settings, registry, openai_server: OpenAIServer) -> None:
    openai_server.push(Cut(f"```sql\n{GOOD}\n```", after_tokens=4), Reply(f"```sql\n{GOOD}\n```"), Reply("ok"))
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer(openai_server)))
    check_invariants(events)
    assert events[-1]["type"] == "final_complete" and events[-1]["summary"]["output"]["rowCount"] == 16


async def test_knowledge_reaches_the_model_through_the_graph(settings: Settings, registry, openai_server: OpenAIServer) -> None:
    from dataclasses import replace

    from knowledge.models import GlossaryEntry, Instruction, SQLExample
    from knowledge.source import KnowledgeDoc

    knowledge = KnowledgeDoc(
        [GlossaryEntry(term="departure delay", synonyms=["起飞延误"], meaning="minutes late at the gate",
                       expression="AVG(dep_delay)", datasource="flights")],
        [SQLExample(question="average arrival delay by airline", datasource="flights",
                    sql="SELECT carrier, AVG(arr_delay) FROM flights GROUP BY carrier")],
        [Instruction(datasource="flights", text="Name airlines by airlines.name, never by code.")],
    )
    openai_server.push(Reply(f"```sql\n{GOOD}\n```"), Reply("ok"))
    context = replace(make_context(settings, registry, writer(openai_server)), knowledge=knowledge)
    events = await collect(build_graph(settings=settings), QUESTION, context)
    assert events[-1]["type"] == "final_complete"
    prompt = openai_server.chat_requests[0].text()
    assert "Name airlines by airlines.name, never by code." in prompt
    assert "departure delay / 起飞延误: minutes late at the gate (SQL: AVG(dep_delay))" in prompt
    assert "Q: average arrival delay by airline" in prompt

"""Retrying a failed run resumes its checkpoint at the failed step: completed steps are reused, not re-run."""

from langgraph.checkpoint.memory import InMemorySaver

from graph.builder import build_graph
from graph.settings import Settings
from llm.base import WriterError
from tests.graph.conftest import by_type, collect, make_context
from tests.graph.invariants import check_invariants
from tests.graph.test_workflow import GOOD, QUESTION
from tests.support.scripted_writer import ScriptedWriter


async def test_retry_reruns_only_the_failed_step_and_the_rest(settings: Settings, registry) -> None:
    writer = ScriptedWriter([WriterError("cannot", kind="not_understood"), GOOD])
    graph = build_graph(settings=settings, checkpointer=InMemorySaver())
    context = make_context(settings, registry, writer)
    config = {"configurable": {"thread_id": "chat-1"}}

    first = await collect(graph, QUESTION, context, config)
    check_invariants(first)
    assert first[-1]["type"] == "stream_error" and first[-1]["stepId"] == "step_004"
    assert first[-1]["error"]["code"] == "SQL_GENERATION_FAILED" and first[-1]["error"]["canRetry"] is True

    second = await collect(graph, None, context, config)
    check_invariants(second)
    starts = by_type(second, "step_start")
    reused = [e["step"]["name"] for e in starts if e["step"]["metadata"].get("reused")]
    assert reused == ["analyzing_question", "select_datasource", "connect_db"]
    ran = [e["step"]["name"] for e in starts if not e["step"]["metadata"].get("reused")]
    assert ran == ["generate_sql", "execute_query", "configure_chart", "present_result"]
    assert all(e["result"].get("reused") for e in by_type(second, "step_complete")[:3])
    assert len(writer.requests) == 2
    assert second[-1]["type"] == "final_complete" and second[-1]["summary"]["output"]["rowCount"] == 16


async def test_follow_up_question_sees_previous_turn(settings: Settings, registry) -> None:
    writer = ScriptedWriter([GOOD, "SELECT COUNT(*) AS n FROM airlines"])
    graph = build_graph(settings=settings, checkpointer=InMemorySaver())
    context = make_context(settings, registry, writer)
    config = {"configurable": {"thread_id": "chat-2"}}
    await collect(graph, QUESTION, context, config)
    events = await collect(graph, {"question": "and how many airlines are there?", "datasource_id": "flights"}, context, config)
    check_invariants(events)
    history = writer.requests[1].history
    assert [t.question for t in history] == [QUESTION["question"]] and history[0].sql == GOOD
    assert events[-1]["summary"]["output"]["data"] == [{"n": 16}]
    assert events[-1]["summary"]["failedSteps"] == 0


async def test_resume_without_a_failed_run_is_a_clean_error(settings: Settings, registry) -> None:
    graph = build_graph(settings=settings, checkpointer=InMemorySaver())
    context = make_context(settings, registry, ScriptedWriter([GOOD]))
    events = await collect(graph, None, context, {"configurable": {"thread_id": "never-used"}})
    check_invariants(events)
    assert events[-1]["type"] == "stream_error"

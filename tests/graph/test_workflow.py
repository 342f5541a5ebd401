"""The workflow end to end on the demo data, with a scripted writer (the real offline writer has its own tests)."""

from typing import Any

from graph.builder import build_graph
from graph.settings import Settings
from llm.base import WriterError
from tests.graph.conftest import by_type, collect, make_context
from tests.graph.invariants import check_invariants
from tests.support.scripted_writer import ScriptedWriter

GOOD = "SELECT a.name AS airline, AVG(f.dep_delay) AS avg_dep_delay FROM flights f JOIN airlines a ON f.carrier = a.carrier GROUP BY a.name ORDER BY avg_dep_delay DESC"
BAD_COLUMN = "SELECT a.name AS airline, AVG(f.departure_delay) AS avg_dep_delay FROM flights f JOIN airlines a ON f.carrier = a.carrier GROUP BY a.name"
QUESTION = {"question": "average departure delay by airline", "datasource_id": "flights", "locale": "en"}


def names(events: list[dict[str, Any]], kind: str) -> list[str]:
    out = []
    for e in by_type(events, kind):
        out.append(e["step"]["name"] if kind == "step_start" else e["stepId"])
    return out


async def test_success_streams_every_step_in_order(settings: Settings, registry) -> None:
    writer = ScriptedWriter([GOOD], explanation="Frontier is the most delayed.")
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer))
    check_invariants(events)
    assert names(events, "step_start") == [
        "analyzing_question", "select_datasource", "connect_db", "generate_sql", "execute_query", "configure_chart", "present_result",
    ]
    assert [e["step"]["id"] for e in by_type(events, "step_start")] == [f"step_00{i}" for i in range(1, 8)]
    sql_text = "".join(e["content"]["text"] for e in by_type(events, "step_content") if e["content"]["metadata"]["kind"] == "sql")
    assert sql_text == GOOD, "the SQL is streamed in pieces that add up to the statement"
    final = events[-1]
    assert final["type"] == "final_complete"
    output = final["summary"]["output"]
    assert output["rowCount"] == 16 and output["columns"] == ["airline", "avg_dep_delay"]
    assert output["data"][0]["airline"] == "Frontier Airlines Inc."
    assert output["chart"]["type"] == "bar" and output["chart"]["axis"]["x"]["value"] == "airline"
    assert output["explanation"] == "Frontier is the most delayed."
    assert final["summary"]["completedSteps"] == 7 and final["summary"]["failedSteps"] == 0
    completes = by_type(events, "step_complete")
    assert completes[0]["nextStep"]["name"] == "select_datasource"
    assert completes[-1].get("nextStep") is None
    assert all(isinstance(c["result"]["duration"], int) for c in completes)


async def test_failed_sql_is_repaired_and_leaves_no_failed_step(settings: Settings, registry) -> None:
    writer = ScriptedWriter([BAD_COLUMN, GOOD])
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer))
    check_invariants(events)
    starts = names(events, "step_start")
    assert starts.count("generate_sql") == 2 and starts.count("execute_query") == 2
    repair_start = [e for e in by_type(events, "step_start") if e["step"]["name"] == "generate_sql"][1]
    assert repair_start["step"]["metadata"] == {"attempt": 2, "repair": True}
    repair_request = writer.requests[1]
    assert repair_request.failed_sql == BAD_COLUMN and "departure_delay" in (repair_request.error or "")
    assert events[-1]["type"] == "final_complete" and events[-1]["summary"]["output"]["rowCount"] == 16


async def test_repairs_are_bounded_then_the_run_fails(settings: Settings, registry) -> None:
    writer = ScriptedWriter([BAD_COLUMN])
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer))
    check_invariants(events)
    assert len(writer.requests) == 1 + settings.max_retry_attempts
    errors = by_type(events, "step_error")
    assert [e["stepId"] for e in errors] == ["step_005"]
    assert errors[0]["error"]["code"] == "SQL_EXECUTION_FAILED"
    assert "departure_delay" in errors[0]["error"]["message"]
    assert events[-1]["type"] == "stream_error" and events[-1]["stepId"] == "step_005"


async def test_single_value_skips_the_chart_but_completes_it(settings: Settings, registry) -> None:
    writer = ScriptedWriter(["SELECT COUNT(*) AS flights FROM flights"])
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer))
    check_invariants(events)
    chart = [e for e in by_type(events, "step_complete") if e["stepId"] == "step_006"]
    assert chart and chart[0]["result"]["skipped"] is True and chart[0]["result"]["data"] == {"reason": "single_value"}
    assert events[-1]["summary"]["output"]["data"] == [{"flights": 336776}]
    assert events[-1]["summary"]["completedSteps"] == 7 and events[-1]["summary"]["skippedSteps"] == 1


async def test_writing_sql_is_refused_without_repair(settings: Settings, registry) -> None:
    writer = ScriptedWriter(["DELETE FROM flights"])
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer))
    check_invariants(events)
    assert len(writer.requests) == 1
    error = by_type(events, "step_error")[0]["error"]
    assert error["code"] == "INSUFFICIENT_PERMISSIONS" and error["canRetry"] is False and error["suggestion"]
    rows = await registry.connect("flights").run("SELECT COUNT(*) FROM flights", max_rows=10, timeout_s=5)
    assert rows.rows == [[336776]]


async def test_transient_model_failure_is_retried_visibly(settings: Settings, registry) -> None:
    writer = ScriptedWriter([WriterError("HTTP 503", kind="model_unavailable", detail="503 Service Unavailable"), GOOD])
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer))
    check_invariants(events)
    messages = [e.get("message") or "" for e in by_type(events, "step_progress") if e["stepId"] == "step_004"]
    assert any("Retrying" in m and "retry 1 of 1" in m for m in messages)
    assert events[-1]["type"] == "final_complete"
    assert names(events, "step_start").count("generate_sql") == 1, "an automatic retry is the same step, not a new one"


async def test_errors_are_in_the_run_locale(settings: Settings, registry) -> None:
    writer = ScriptedWriter([WriterError("no idea", kind="invalid_question")])
    events = await collect(build_graph(settings=settings), {**QUESTION, "locale": "zh"}, make_context(settings, registry, writer))
    check_invariants(events)
    error = events[-1]["error"]
    assert error["code"] == "INVALID_QUESTION" and error["title"] == "无法理解问题"
    assert by_type(events, "step_start")[0]["step"]["title"] == "分析问题意图"


async def test_unknown_datasource(settings: Settings, registry) -> None:
    events = await collect(build_graph(settings=settings), {**QUESTION, "datasource_id": "nope"}, make_context(settings, registry, ScriptedWriter([GOOD])))
    check_invariants(events)
    assert events[-1]["error"]["code"] == "DATASOURCE_NOT_FOUND" and events[-1]["stepId"] == "step_002"


async def test_empty_question(settings: Settings, registry) -> None:
    events = await collect(build_graph(settings=settings), {"question": "   "}, make_context(settings, registry, ScriptedWriter([GOOD])))
    check_invariants(events)
    assert events[-1]["error"]["code"] == "INVALID_QUESTION" and events[-1]["stepId"] == "step_001"


async def test_failed_explanation_does_not_lose_the_answer(settings: Settings, registry) -> None:
    writer = ScriptedWriter([GOOD], explanation=WriterError("down", kind="model_unavailable"))
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer))
    check_invariants(events)
    assert events[-1]["type"] == "final_complete" and "16 rows" in events[-1]["summary"]["output"]["explanation"]


async def test_missing_database_file_fails_at_connect_with_retry(settings: Settings, registry, tmp_path) -> None:
    import duckdb

    from datasources.registry import DatasourceConfig

    path = settings.data_dir / "vanishing.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
    registry.add(DatasourceConfig(id="vanishing", name="Vanishing", type="duckdb", path=path))
    try:
        path.unlink()
        events = await collect(build_graph(settings=settings), {**QUESTION, "datasource_id": "vanishing"}, make_context(settings, registry, ScriptedWriter([GOOD])))
        check_invariants(events)
        assert events[-1]["stepId"] == "step_003"
        error = events[-1]["error"]
        assert error["code"] == "DATABASE_CONNECTION_FAILED" and error["canRetry"] is True
        retries = [e for e in by_type(events, "step_progress") if e["stepId"] == "step_003" and "Retrying" in (e.get("message") or "")]
        assert len(retries) == 2, "the proposal's strategy: two automatic retries for a connection failure"
    finally:
        registry.remove("vanishing")


async def test_unknown_table_is_repaired(settings: Settings, registry) -> None:
    writer = ScriptedWriter(["SELECT COUNT(*) AS n FROM passengers", "SELECT COUNT(*) AS n FROM flights"])
    events = await collect(build_graph(settings=settings), QUESTION, make_context(settings, registry, writer))
    check_invariants(events)
    assert "passengers" in (writer.requests[1].error or "") and events[-1]["summary"]["output"]["data"] == [{"n": 336776}]

"""Step 7: explain the result in a sentence or two and assemble the answer."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.reporting import StepReporter
from graph.state import QueryResult, State, Turn
from llm.base import Chunk, ExplainRequest, WriterError


async def present_result(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Stream the explanation and remember this turn for follow-up questions."""
    report = StepReporter("present_result", runtime.stream_writer)
    zh = state.get("locale") == "zh"
    result: QueryResult = state.get("result") or QueryResult(
        columns=[], column_types=[], rows=[], row_count=0, truncated=False, elapsed_ms=0.0
    )
    request = ExplainRequest(
        question=state["question"],
        sql=state.get("sql") or "",
        columns=result["columns"],
        rows=result["rows"],
        row_count=result["row_count"],
        truncated=result["truncated"],
        locale=state.get("locale", "en"),
    )

    def emit(chunk: Chunk) -> None:
        report.content(chunk.text, chunk.reasoning, kind="explanation")

    try:
        explanation = await runtime.context.writer.explain(request, emit)
    except WriterError:
        # The answer is already in hand; a model failing to describe it must not lose it.
        explanation = (f"查询返回 {result['row_count']} 行。" if zh else f"The query returned {result['row_count']} rows.")
        report.content(explanation, kind="explanation")
    turn = Turn(question=state["question"], sql=state.get("sql"), columns=result["columns"], row_count=result["row_count"])
    summary = "结果已生成" if zh else "Answer ready"
    return {
        "explanation": explanation,
        "turns": [turn],
        "steps": report.record(summary, {"explanation": explanation}),
    }

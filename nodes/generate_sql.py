"""Step 4: write the SQL (or repair the statement that failed), streaming it as it is written."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from graph.access import writer_schema
from graph.context import Context
from graph.errors import SQLBotError, Text
from graph.protocol import ErrorCode
from graph.reporting import StepReporter
from graph.state import State
from llm.base import Chunk, SQLRequest, Turn, WriterError
from llm.retrieval import ValuesWithin, subschema

_WRITER_ERRORS: dict[str, ErrorCode] = {
    "not_understood": ErrorCode.SQL_GENERATION_FAILED,
    "bad_output": ErrorCode.SQL_GENERATION_FAILED,
    "invalid_question": ErrorCode.INVALID_QUESTION,
    "model_unavailable": ErrorCode.LLM_SERVICE_ERROR,
    "model_timeout": ErrorCode.TIMEOUT_ERROR,
}


def writer_error(exc: WriterError) -> SQLBotError:
    """Translate a writer's failure into the code, message and retry behaviour a person sees."""
    code = _WRITER_ERRORS[exc.kind]
    if exc.kind == "model_unavailable" and ("connect" in exc.detail.lower() or "connection" in str(exc).lower()):
        code = ErrorCode.NETWORK_ERROR
    worded = code in (ErrorCode.SQL_GENERATION_FAILED, ErrorCode.INVALID_QUESTION) and exc.suggestion
    message = Text(str(exc), str(exc)) if code is ErrorCode.SQL_GENERATION_FAILED or worded else None
    suggestion = Text(exc.suggestion, exc.suggestion) if exc.suggestion else None
    return SQLBotError(code, message, detail=exc.detail or str(exc), suggestion=suggestion)


async def generate_sql(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the writer for one statement; for a repair, hand it the failed SQL and the database's error."""
    report = StepReporter("generate_sql", runtime.stream_writer)
    ctx = runtime.context
    zh = state.get("locale") == "zh"
    source = state["datasource"]
    attempt = state.get("sql_attempts", 0) + 1
    failures = state.get("failures") or []
    failure = failures[-1] if state.get("needs_repair") and failures else None
    if failure:
        report.progress(None, f"正在修复SQL：{failure['message'][:160]}" if zh else f"Repairing the SQL: {failure['message'][:160]}")
    # with a row/column policy the writer never sees a hidden column, nor its values
    schema, policy = await writer_schema(state, ctx, source["id"])
    values: Any = await asyncio.to_thread(ctx.registry.values, source["id"])
    if policy is not None and values is not None:
        values = values.without(policy.hidden_columns)
    retrieved = state.get("retrieval")
    whole = len(schema.tables)
    if retrieved:  # a schema over the prompt budget: both writers see only the tables retrieved for this question
        schema = subschema(schema, retrieved["tables"])
        values = ValuesWithin(values, retrieved["tables"])
    knowledge = await ctx.knowledge.for_question(source["id"], state["question"]) if ctx.knowledge else None
    request = SQLRequest(
        question=state["question"],
        schema=schema,
        locale=state.get("locale", "en"),
        history=[Turn(t["question"], t["sql"], tuple(t["columns"]), t["row_count"]) for t in state.get("turns", [])[-3:]],
        failed_sql=failure["sql"] if failure else None,
        error=failure["message"] if failure else None,
        values=values,
        knowledge=knowledge or None,
        retrieved_from=whole if retrieved else None,
    )
    expected = ctx.timings.estimate_size("generate_sql")
    written = 0
    last_pct = -1

    def emit(chunk: Chunk) -> None:
        nonlocal written, last_pct
        report.content(chunk.text, chunk.reasoning, kind="sql")
        written += len(chunk.text)
        pct = min(99, written * 100 // max(expected, 1))
        if chunk.text and pct >= last_pct + 5:  # characters written against the typical length of recent SQL
            last_pct = pct
            report.progress(pct)

    try:
        draft = await ctx.writer.write_sql(request, emit)
    except WriterError as exc:
        raise writer_error(exc) from exc
    ctx.timings.record_size("generate_sql", len(draft.sql))
    if zh:
        summary = f"SQL 已{'修复' if failure else '生成'}（{ctx.writer.name}，{len(draft.sql)} 个字符）"
    else:
        summary = f"SQL {'repaired' if failure else 'written'} ({ctx.writer.name}, {len(draft.sql)} characters)"
    return {
        "sql": draft.sql,
        "sql_reasoning": draft.reasoning,
        "interpretation": draft.interpretation or None,
        "sql_attempts": attempt,
        "needs_repair": False,
        "model_calls": state.get("model_calls", 0) + draft.model_calls,
        "steps": report.record(
            summary,
            {"sql": draft.sql, "attempt": attempt, "writer": ctx.writer.name, "repair": bool(failure), "interpretation": draft.interpretation or None},
        ),
    }

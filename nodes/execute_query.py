"""Step 5: check the SQL is a read-only query on this datasource, then run it with a row cap and a timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from datasources.errors import ConnectionFailed, QueryFailed, QueryTimeout, ResourceLimitExceeded
from datasources.guard import SQLRejected, check_sql, limit_rows
from datasources.policy import ColumnNotPermitted, apply_policy_tree
from graph.access import resolve_policy
from graph.context import Context
from graph.errors import SQLBotError, Text
from graph.protocol import ErrorCode
from graph.reporting import StepReporter
from graph.state import QueryResult, SQLFailure, State

_LIMIT_HINT = {
    "memory": Text("Aggregate or filter before sorting or collecting values (fewer rows, no huge lists or strings), then ask again.",
                   "请先筛选或聚合再排序或汇总（更少的行，不要生成巨大的列表或字符串），然后再试。"),
    "size": Text("The query builds a value or a statement larger than allowed; ask for a summary instead of the raw value.",
                 "查询生成的值或语句超出允许的大小；请改为询问汇总结果。"),
}


def _failed(state: State, runtime: Runtime[Context], report: StepReporter, failure: SQLFailure) -> dict[str, Any]:
    """Send a fixable failure back to ``generate_sql``, or fail the run once the repair budget is spent."""
    zh = state.get("locale") == "zh"
    repairs_done = state.get("sql_attempts", 1) - 1
    budget = runtime.context.settings.max_retry_attempts
    if repairs_done >= budget:
        code = ErrorCode.SQL_SYNTAX_ERROR if failure["kind"] == "syntax" and budget == 0 else ErrorCode.SQL_EXECUTION_FAILED
        tried = (f"after {repairs_done} {'repair' if repairs_done == 1 else 'repairs'}" if repairs_done
                 else "and repairs are disabled")
        raise SQLBotError(
            code,
            Text(f"The query failed {tried}: {failure['message'][:300]}", f"查询失败（已修复 {repairs_done} 次）：{failure['message'][:300]}"),
            detail=f"{failure['message']}\n\nSQL:\n{failure['sql']}",
        )
    n = repairs_done + 1
    note = (f"查询失败，发回修复（第 {n}/{budget} 次）：" if zh else f"Query failed, sending it back for repair ({n}/{budget}): ") + failure["message"][:200]
    report.progress(None, note)
    return {
        "failures": [*(state.get("failures") or []), failure],
        "needs_repair": True,
        "result": None,
        "steps": report.record(note, {"error": failure["message"], "sql": failure["sql"], "repair": n}),
    }


async def execute_query(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the current SQL read-only; SQL errors are routed to repair, other failures end the run."""
    report = StepReporter("execute_query", runtime.stream_writer)
    ctx = runtime.context
    settings = ctx.settings
    zh = state.get("locale") == "zh"
    sql = state.get("sql") or ""
    source = state["datasource"]
    schema = await asyncio.to_thread(ctx.registry.schema, source["id"])
    try:
        # in a thread: a large statement must not hold up every other stream while it is parsed
        statement = await asyncio.to_thread(check_sql, sql, schema)
    except SQLRejected as exc:
        if exc.kind == "permission":
            raise SQLBotError(ErrorCode.INSUFFICIENT_PERMISSIONS, Text(str(exc), str(exc)), detail=sql) from exc
        if exc.kind == "too_complex":
            raise SQLBotError(ErrorCode.RESOURCE_LIMIT_EXCEEDED, Text(str(exc), str(exc)), detail=sql[:2000]) from exc
        # a parse error or a misremembered table is the writer's mistake: it gets the message and another go
        return _failed(state, runtime, report, SQLFailure(sql=sql, message=str(exc), kind=exc.kind))
    # row filters and hidden columns: after the guard, on the parsed tree, never left to a writer
    policy = resolve_policy(state, ctx, schema)
    if policy is not None:
        try:
            statement = await asyncio.to_thread(apply_policy_tree, statement, schema.dialect, policy)
        except ColumnNotPermitted as exc:
            raise SQLBotError(
                ErrorCode.COLUMN_NOT_PERMITTED,
                Text(f"The query reads {exc.table}.{exc.column}, a column you are not allowed to see.",
                     f"查询读取了 {exc.table}.{exc.column}，您无权查看该字段。"),
                detail=sql,
            ) from exc

    loop = asyncio.get_running_loop()

    def on_progress(pct: float) -> None:  # called from the query's worker thread
        loop.call_soon_threadsafe(report.progress, pct, None)

    try:
        connection = await asyncio.to_thread(ctx.registry.connect, source["id"])
        run = await connection.run(
            # cap the outer query (aggregates still see every row); one extra row detects truncation
            limit_rows(statement, settings.max_rows + 1, schema.dialect),
            max_rows=settings.max_rows,
            timeout_s=settings.query_timeout_s,
            on_progress=on_progress,
        )
    except QueryFailed as exc:
        if exc.kind == "permission":  # the database itself refused (second line, read-only transaction, privilege)
            raise SQLBotError(ErrorCode.INSUFFICIENT_PERMISSIONS, Text(str(exc), str(exc)), detail=sql) from exc
        if exc.kind in ("syntax", "semantic"):
            return _failed(state, runtime, report, SQLFailure(sql=sql, message=str(exc), kind=exc.kind))
        raise SQLBotError(ErrorCode.SQL_EXECUTION_FAILED, Text(str(exc), str(exc)), detail=sql) from exc
    except QueryTimeout as exc:
        limit = settings.query_timeout_s
        raise SQLBotError(
            ErrorCode.RESOURCE_LIMIT_EXCEEDED,
            Text(f"The query ran longer than {limit:g} s and was stopped.", f"查询运行超过 {limit:g} 秒，已被中止。"),
            detail=sql,
        ) from exc
    except ResourceLimitExceeded as exc:
        raise SQLBotError(ErrorCode.RESOURCE_LIMIT_EXCEEDED, Text(exc.message, exc.message), detail=sql, suggestion=_LIMIT_HINT[exc.limit]) from exc
    except ConnectionFailed as exc:
        raise SQLBotError(
            ErrorCode.DATABASE_CONNECTION_FAILED,
            Text(f"The database connection failed: {exc.message}", f"数据库连接失败：{exc.message}"),
            detail=exc.detail or str(exc),
        ) from None
    result = QueryResult(
        columns=list(run.columns),
        column_types=list(run.column_types),
        rows=[list(r) for r in run.rows],
        row_count=run.row_count,
        truncated=run.truncated,
        elapsed_ms=round(run.elapsed_ms, 2),
    )
    capped = (f"（已截断为前 {run.row_count} 行）" if zh else f" (capped at {run.row_count})") if run.truncated else ""
    summary = (f"返回 {run.row_count} 行{capped}，耗时 {run.elapsed_ms:.0f} 毫秒" if zh
               else f"{run.row_count} row{'' if run.row_count == 1 else 's'}{capped} in {run.elapsed_ms:.0f} ms")
    output: dict[str, Any] = {"rowCount": run.row_count, "truncated": run.truncated, "columns": result["columns"], "elapsedMs": result["elapsed_ms"]}
    filtered = policy.filtered_tables if policy is not None else []
    if filtered:  # say that rows were filtered and on which tables; never the filter's values
        summary += (f"（已按您的权限筛选：{'、'.join(filtered)}）" if zh
                    else f" (rows filtered by your permissions on {', '.join(filtered)})")
        output["rowFilters"] = filtered
    update: dict[str, Any] = {"result": result, "needs_repair": False, "steps": report.record(summary, output)}
    if filtered:  # the readback says so too, so the answer is not read as covering every row
        note = (f"仅包含您有权查看的行（{'、'.join(filtered)}）。" if zh
                else f"Only rows you are permitted to see ({', '.join(filtered)}).")
        before = state.get("interpretation") or ""
        update["interpretation"] = before if note in before else " ".join(p for p in (before, note) if p)
    return update

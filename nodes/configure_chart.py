"""Step 6 (optional): choose a chart for the result from its column kinds and cardinality."""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from datasources.schema import column_kind
from graph.context import Context
from graph.errors import SQLBotError
from graph.protocol import ErrorCode
from graph.reporting import StepReporter
from graph.state import QueryResult, State

_TIME_NAME = re.compile(r"(^|_)(date|day|week|month|year|quarter|hour|time|period|ym|dt)(_|$|s$)|日期|月|年", re.I)
_SHARE_WORDS = re.compile(r"share|percent|proportion|breakdown|distribution|占比|比例|构成|分布|份额", re.I)


def _kinds(result: QueryResult) -> list[str]:
    kinds: list[str] = []
    for name, sql_type in zip(result["columns"], result["column_types"], strict=True):
        kind = column_kind(sql_type)
        if kind == "number" and _TIME_NAME.search(name) and "avg" not in name.lower():
            kind = "time"  # year / month numbers are a time axis, not a measure
        kinds.append(kind)
    return kinds


def choose_chart(result: QueryResult, question: str) -> dict[str, Any] | None:
    """SQLBot's chart JSON for ``result``, or None when a table is the honest view."""
    columns, kinds, rows = result["columns"], _kinds(result), result["rows"]
    idx = {c: i for i, c in enumerate(columns)}

    def distinct(column: str) -> int:
        return len({r[idx[column]] for r in rows})

    measures = [c for c, k in zip(columns, kinds, strict=True) if k == "number"]
    times = [c for c, k in zip(columns, kinds, strict=True) if k == "time"]
    dims = [c for c, k in zip(columns, kinds, strict=True) if k in ("text", "bool")]
    if len(dims) == 2 and all(distinct(d) == len(rows) for d in dims):
        dims = dims[1:]  # a code and its name label the same rows: chart by the (later, readable) label
    width = len(measures) + len(times) + len(dims)
    if not measures or width > 4 or width < len(columns) - 1:
        return None

    def axis(x: str, ys: list[str], series: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"x": {"name": x, "value": x}, "y": [{"name": y, "value": y} for y in ys]}
        if series:
            out["series"] = {"name": series, "value": series}
        return out

    title = question.strip().rstrip("?？")[:80]
    if times and not dims:
        return {"type": "line", "title": title, "axis": axis(times[0], measures)}
    if times and len(dims) == 1 and len(measures) == 1:
        return {"type": "line", "title": title, "axis": axis(times[0], measures, dims[0])} if distinct(dims[0]) <= 10 else None
    if len(dims) == 1 and not times:
        values = [r[idx[measures[0]]] for r in rows]
        positive = all(isinstance(v, int | float) and v >= 0 for v in values)
        if len(measures) == 1 and 2 <= len(rows) <= 8 and positive and _SHARE_WORDS.search(question):
            return {"type": "pie", "title": title, "axis": axis(dims[0], measures)}
        return {"type": "column" if len(rows) <= 12 else "bar", "title": title, "axis": axis(dims[0], measures)}
    if len(dims) == 2 and len(measures) == 1 and not times and distinct(dims[1]) <= 10:
        return {"type": "column", "title": title, "axis": axis(dims[0], measures, dims[1])}
    return None


async def configure_chart(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pick bar, column, line or pie for the result, or fall back to a table."""
    report = StepReporter("configure_chart", runtime.stream_writer)
    zh = state.get("locale") == "zh"
    result = state.get("result")
    if result is None:
        raise SQLBotError(ErrorCode.CHART_CONFIG_FAILED, detail="no result to chart")
    chart = choose_chart(result, state["question"]) or {"type": "table", "title": state["question"][:80], "axis": {}}
    names = {"table": "表格", "bar": "条形图", "column": "柱状图", "line": "折线图", "pie": "饼图"}
    summary = f"图表类型：{names[chart['type']]}" if zh else f"Chart: {chart['type']}"
    if chart["axis"]:
        x, ys = chart["axis"]["x"]["value"], ", ".join(y["value"] for y in chart["axis"]["y"])
        report.content(f"x = {x}; y = {ys}", kind="trace")
    return {"chart": chart, "steps": report.record(summary, chart)}

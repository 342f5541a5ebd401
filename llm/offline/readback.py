"""Say what was understood: a one-sentence readback of an intent in the run's locale.

The readback is how a person catches a wrong reading ("Counted flights where origin = 'JFK', grouped by
dest, top 5 by the count"); it is streamed as the SQL step's reasoning and kept in the final output.
"""

from __future__ import annotations

from llm.offline.intent import Filter, Intent, Measure
from llm.offline.linking import Element

_AGG_EN = {
    "sum": "total {c}",
    "avg": "average {c}",
    "min": "minimum {c}",
    "max": "maximum {c}",
    "median": "median {c}",
    "count_distinct": "number of distinct {c}",
}
_AGG_ZH = {
    "sum": "{c} 的总和",
    "avg": "{c} 的平均值",
    "min": "{c} 的最小值",
    "max": "{c} 的最大值",
    "median": "{c} 的中位数",
    "count_distinct": "不同 {c} 的个数",
}


def _name(el: Element | None, main: str) -> str:
    if el is None:
        return main
    return (el.column or el.table) if el.table == main else el.label()


def _cond(f: Filter, main: str) -> str:
    text = f.describe()
    label = f.column.label()
    return text.replace(label, _name(f.column, main), 1) if f.column.table == main else text


def _measure(m: Measure, main: str, zh: bool) -> str:
    col = _name(m.column, main)
    if m.agg == "count":
        return f"{main} 的行数" if zh else f"the count of {main} rows"
    if m.agg == "quantile":
        pct = f"{m.fraction * 100:g}"
        return f"{col} 的第 {pct} 百分位数" if zh else f"the {pct}th percentile of {col}"
    if m.agg == "pct":
        cond = (" 且 " if zh else " and ").join(_cond(f, main) for f in m.condition)
        return f"满足 {cond} 的行所占百分比" if zh else f"the percentage of rows where {cond}"
    if m.agg == "share":
        return f"{col} 占总体的份额" if zh else f"each group's share of the total {col}"
    if m.agg == "ratio":
        den = _name(m.denominator, main)
        return f"SUM({col}) / SUM({den})"
    if m.agg == "avg_count":
        return f"每个时间段 {main} 行数的平均值" if zh else f"the average number of {main} rows per period"
    text = (_AGG_ZH if zh else _AGG_EN).get(m.agg, m.agg.upper() + "({c})").format(c=col)
    if m.scale != 1:
        text += f"（÷{m.scale:g}）" if zh else f" (divided by {m.scale:g})"
    return text


def readback(intent: Intent, locale: str, carried: str = "") -> str:
    """One sentence: what is computed, over which rows, grouped and ordered how."""
    zh = locale == "zh"
    sep = "，" if zh else ", "
    parts: list[str] = []
    measures = [_measure(m, intent.main, zh) for m in intent.measures]
    if [m.agg for m in intent.measures] == ["count"]:
        parts.append(f"统计 {intent.main} 的行数" if zh else f"Counted {intent.main} rows")
    elif measures:
        parts.append(("计算 " if zh else "Computed ") + ("、".join(measures) if zh else "; ".join(measures)))
    elif intent.select:
        cols = ", ".join(_name(c, intent.main) for c in intent.select)
        parts.append((f"列出 {intent.main} 的 {cols}" if zh else f"Listed {cols} of {intent.main}")
                     + (("（去重）" if zh else " (distinct values)") if intent.distinct else ""))
    else:
        parts.append(f"列出 {intent.main} 的行" if zh else f"Listed rows of {intent.main}")
    if intent.filters:
        conds = (" 且 " if zh else " and ").join(_cond(f, intent.main) for f in intent.filters)
        parts.append(f"条件：{conds}" if zh else f"where {conds}")
    if intent.dims:
        dims = []
        for d in intent.dims:
            text = _name(d.column, intent.main) + (f" ({d.bucket})" if d.bucket else "")
            if d.label is not None:
                text += f"（名称取自 {d.label.label()}）" if zh else f" (named by {d.label.label()})"
            dims.append(text)
        parts.append(("按 " + "、".join(dims) + " 分组") if zh else "grouped by " + ", ".join(dims))
    if intent.having:
        hs = [f"{_measure(hm, intent.main, zh)} {hf.op} {hf.value}" for hm, hf in intent.having]
        parts.append(("只保留 " + " 且 ".join(hs) + " 的组") if zh else "keeping groups where " + " and ".join(hs))
    if intent.count_groups:
        parts.append("再统计这样的组有多少个" if zh else "then counted those groups")
    if intent.partition:
        within = ", ".join(d.column.label() for d in intent.partition)
        parts.append(f"在每个 {within} 内排名" if zh else f"ranked within each {within}")
    order = None
    if intent.order_measure is not None and intent.measures:
        order = _measure(intent.measures[intent.order_measure], intent.main, zh)
        if [m.agg for m in intent.measures] == ["count"]:
            order = "行数" if zh else "the count"
    elif intent.order_column is not None:
        order = _name(intent.order_column, intent.main)
    if order is not None and intent.limit is not None:
        if zh:
            parts.append(f"按 {order}{'最高' if intent.descending else '最低'}的前 {intent.limit} 个")
        else:
            parts.append(f"{'top' if intent.descending else 'bottom'} {intent.limit} by {order}")
    elif order is not None:
        if zh:
            parts.append(f"按 {order}{'从高到低' if intent.descending else '从低到高'}排序")
        else:
            parts.append(f"ordered by {order}, {'highest' if intent.descending else 'lowest'} first")
    elif intent.limit is not None:
        parts.append(f"取前 {intent.limit} 行" if zh else f"first {intent.limit} rows")
    if intent.change is not None:
        parts.append("并计算与上一期相比的变化" if zh else "with the change from the previous period")
    if carried:
        parts.append(carried)
    return sep.join(parts) + ("。" if zh else ".")

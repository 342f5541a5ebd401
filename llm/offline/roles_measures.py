"""Role passes on measures: aggregates, scales, percentages, the collected filters, counts."""

from __future__ import annotations

from llm.base import WriterError
from llm.offline import lexicon
from llm.offline.intent import Agg, Dimension, Intent, Measure
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.roles_shared import AGG_CUES, default_agg, in_minutes
from llm.offline.roles_state import RoleState
from llm.offline.text import name_lemmas


def aggregate_measures(s: RoleState) -> None:
    """The measures' aggregates (SUM, AVG, MEDIAN, …) and ratios."""
    p, intent = s.p, s.intent
    for m, el, cue in s.measures:
        agg: Agg
        if id(m) in s.ratio_of:
            intent.measures.append(Measure("ratio", el, denominator=s.ratio_of[id(m)]))
            intent.trace.append(f"'{m.text}' → SUM({el.label()}) / SUM({s.ratio_of[id(m)].label()})")
            continue
        if cue is not None and cue.kind in AGG_CUES:
            agg = cue.kind  # type: ignore[assignment]
            if agg in ("max", "min") and (intent.dims or s.entity is not None):
                if cue.text not in lexicon.AGG_FUNCTION_WORDS:
                    agg = default_agg(el)
            for extra in _agg_chain(p, cue):  # "min and max air time"
                intent.measures.append(Measure(extra.kind, el))  # type: ignore[arg-type]
                intent.trace.append(f"'{extra.text} {m.text}' → {extra.kind.upper()}({el.label()})")
        elif s.superlative is not None and not intent.dims and s.entity is None and not s.counting:
            agg = s.superlative.kind  # type: ignore[assignment]
        else:
            agg = default_agg(el)
        intent.measures.append(Measure(agg, el))
        if agg == "quantile" and cue is not None:
            intent.measures[-1].fraction = float(cue.value)
        if agg in ("median", "quantile") and p.schema.dialect == "sqlite" and (
            agg == "quantile" or intent.dims or len(s.measures) > 1 or s.having
        ):  # one median over all the rows is written without MEDIAN (the builder sorts and takes the middle)
            raise WriterError(
                f"'{cue.text if cue is not None else agg}': this datasource is SQLite, which has no median or "
                "percentile function, so I would have to answer with an average instead; I did not.",
                kind="not_understood",
                suggestion="Ask for the average, minimum or maximum instead, or load the data into DuckDB.",
            )
        intent.trace.append(f"'{m.text}' → {agg.upper()}({el.label()})")


def scale_measures(s: RoleState) -> None:
    """Divide the measures by the answer's unit ("in thousands")."""
    p, intent = s.p, s.intent
    for c in s.scales:
        divisor, minutes_only = c.value
        scaled = [
            x
            for x in intent.measures
            if x.agg in ("sum", "avg", "min", "max")
            and x.column is not None
            and (not minutes_only or in_minutes(p, x.column))
        ]
        if not scaled:
            raise WriterError(f"'{c.text}': I could not tell which number to convert.", kind="not_understood")
        for x in scaled:
            x.scale = divisor
        intent.trace.append(f"'{c.text}' → divide by {divisor:g}")


def percentages(s: RoleState) -> None:
    """Percentages and shares: the conditions become the numerator."""
    p, intent = s.p, s.intent
    if s.percent:
        cond = s.conds or [f for pos, f in s.value_filters if pos > p.cues_of("percent")[0].start]
        if not cond and not intent.dims:
            # "飞往ATL的航班占全部航班的比例": with nothing after the cue, the named rows are the numerator.
            cond = [f for _, f in s.value_filters]
        if cond:
            base = intent.measures[0].column if intent.measures else None
            intent.measures = [Measure("pct", base, list(cond))]
            s.conds = [] if s.conds else s.conds
            s.value_filters = [(pos, f) for pos, f in s.value_filters if f not in cond]
            intent.trace.append("percentage of rows where " + " and ".join(f.describe() for f in cond))
        elif intent.dims:
            base = intent.measures[0].column if intent.measures else None
            intent.measures = [Measure("share", base)]
            intent.trace.append("share of the total per group")


def collect_filters(s: RoleState) -> None:
    """The value filters, row conditions and group conditions go into the intent."""
    intent = s.intent
    intent.filters.extend(f for _, f in s.value_filters)
    intent.filters.extend(s.conds)
    for hm, hf in s.having:
        if not any(x.agg == hm.agg and x.column == hm.column for x in intent.measures):
            intent.measures.append(hm)
        intent.having.append((hm, hf))


def counting(s: RoleState) -> None:
    """Counts: COUNT(DISTINCT …), COUNT(*) beside other measures, a count in a column's unit."""
    p, intent = s.p, s.intent
    if s.count_distinct is not None and not intent.measures:
        intent.measures.append(Measure("count_distinct", s.count_distinct))
        intent.trace.append(f"count distinct {s.count_distinct.label()}")
    if (
        intent.measures
        and s.entity is not None
        and all(m.agg in ("sum", "avg", "min", "max") for m in intent.measures)
        and any(_counts_entity(p, c, s.entity) for c in s.count_cues)
    ):
        # "纽约市的订单数量和总利润", "number of flights and average delay": the count is a measure too.
        intent.measures.insert(0, Measure("count"))
        intent.trace.append(f"'{s.entity.text}' counted → COUNT(*) of {p.main}")
    unit_sum = _counted_unit(p, s.count_cues)
    if not intent.measures and unit_sum is not None:
        # "一共卖出了多少件": a count in a column's own unit (订购数量（件）) is that column's total.
        intent.measures.append(Measure("sum", unit_sum[1]))
        intent.spans.append(unit_sum[0])
        intent.trace.append(f"'{p.q[unit_sum[0][0] : unit_sum[0][1]]}' → SUM({unit_sum[1].label()})")
    if not intent.measures and (s.counting or intent.dims):
        intent.measures.append(Measure("count"))
        intent.trace.append(f"aggregate COUNT(*) of {p.main}")
    _average_per_period(p, intent)


def _counts_entity(p: Parser, c: Cue, entity: Mention) -> bool:
    """A count word right beside the row noun: "number of orders", "how many flights", 订单数量, 航班数."""
    if c.end <= entity.start:
        return not p.gap_words(c.end, entity.start)
    counts_next = any(m.start >= c.end and not p.gap_words(c.end, m.start) for m in p.mentions)
    return not counts_next and entity.end <= c.start and not p.gap_words(entity.end, c.start)


def _counted_unit(p: Parser, count_cues: list[Cue]) -> tuple[tuple[int, int], Element] | None:
    """"多少件": a count word followed by the unit a numeric column of the main table is measured in."""
    for c in count_cues:
        tok = next((t for t in p.tokens if t.start == c.end and t.zh), None)
        if tok is None:
            continue
        for col in p.table(p.main).columns:
            if col.kind == "number" and (f"（{tok.text}）" in col.description_zh or f"({tok.text})" in col.description_zh):
                return (tok.start, tok.end), Element(p.main, col.name)
    return None


def _agg_chain(p: Parser, cue: Cue) -> list[Cue]:
    """Aggregate words joined to ``cue`` by "and" or a comma: "min and max air time", "最大值和最小值"."""
    out: list[Cue] = []
    current = cue
    for c in sorted(
        (c for c in p.cues if c.kind in AGG_CUES and c.end <= cue.start), key=lambda c: -c.start
    ):
        between = p.q[c.end : current.start].strip().lower()
        if between in ("and", "&", ",", "和", "与", "、", "及", "/") and c.kind != current.kind:
            out.append(c)
            current = c
        elif between:
            break
    return out


_PERIOD_PARTS = {"day": ("year", "month", "day"), "month": ("year", "month"), "year": ("year",)}


def _average_per_period(p: Parser, intent: Intent) -> None:
    """The count per calendar period averaged over the periods: "average flights per day", 每天平均多少航班."""
    if not p.has("avg") or [m.agg for m in intent.measures] != ["count"]:
        return
    for d in intent.dims:
        unit = d.bucket or next(iter(name_lemmas(d.column.column or "")), "")
        if unit not in _PERIOD_PARTS or (d.bucket is None and not p.is_time_part(d.column)):
            continue
        cols = {lem: c for c in p.table(d.column.table).columns for lem in name_lemmas(c.name)[:1]}
        parts = _PERIOD_PARTS[unit]
        if all(part in cols and cols[part].kind == "number" for part in parts):
            period = [Dimension(Element(d.column.table, cols[part].name)) for part in parts]
        elif d.bucket is not None:
            period = [d]
        else:
            continue
        intent.dims.remove(d)
        intent.average_over = period
        intent.measures[0] = Measure("avg_count")
        intent.trace.append(
            f"average over each {unit} ({', '.join(x.column.label() for x in period)}) of the count per {unit}"
        )
        return

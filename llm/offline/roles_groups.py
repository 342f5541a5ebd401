"""Role passes on groups: HAVING conditions, listed rows, count targets, GROUP BY columns."""

from __future__ import annotations

import re

from llm.base import WriterError
from llm.offline.intent import Dimension, Filter, Intent, Measure, describe_agg
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.roles_shared import EACH_VALUE, calendar_name, dated, default_agg, unique
from llm.offline.roles_state import RoleState


def group_conditions(s: RoleState) -> None:
    """Conditions on groups (HAVING) and counted groups."""
    p, intent = s.p, s.intent
    # Conditions on groups (HAVING): "airlines with average delay over 15", "利润为负的州", "directors with
    # more than 20 films". A bare measure ("利润") is compared per group only when the question is about the
    # groups themselves: no row noun, no count, no explicit "by" grouping.
    by_grouped = any(d.bucket for d in intent.dims) or any(
        g and p.near_before(m.start, ("by",), window=2) is not None for m, _, g in s.dims
    )
    groups_counted = _counted_groups(p, s.count_cues, s.dims)
    if groups_counted is not None and s.entity is None:
        # "how many sub-categories lost money": whether each group lost money, i.e. its total (issue 15)
        for f in s.adjective_conds:
            if default_agg(f.column) == "sum" and all(f is not g for g, _ in s.compared):
                s.compared.append((f, "sum"))
    if s.dims or intent.dims:
        for f, agg_word in s.compared:
            # "销售额超过1万美元的城市有几个", "how many cities have sales over 10,000": the groups are counted, so
            # an additive measure compared bare is the group's total (a non-additive one stays per row).
            group_total = groups_counted is not None and s.entity is None and default_agg(f.column) == "sum"
            if agg_word is None and (s.entity is not None or s.counting or by_grouped or f.op == "between") and not (
                group_total and not by_grouped and f.op != "between"
            ):
                continue
            s.having.append((Measure(agg_word or default_agg(f.column), f.column), f))  # type: ignore[arg-type]
        s.having += [(Measure("count"), f) for f in s.count_having]
    elif s.count_having:
        raise WriterError(
            "The question compares a number of rows, but names no group to count them in (e.g. 'directors with "
            "more than 20 films').",
            kind="not_understood",
        )
    if s.having and groups_counted is not None:
        intent.count_groups = True
        intent.trace.append(f"{groups_counted} → count the groups that pass")
    if s.having:
        s.conds = [f for f in s.conds if all(f is not h for _, h in s.having)]
        s.dims = [(m, el, True) for m, el, _ in s.dims]
        for hm, hf in s.having:
            intent.trace.append(
                f"group condition: {describe_agg(hm.agg)}({hf.column.label()}) {hf.op} {hf.value}"
            )


def row_listing(s: RoleState) -> None:
    """"Nolan films and their box office": the rows themselves, with the named columns."""
    p, intent = s.p, s.intent
    if (
        p.has("rows")
        and s.entity is not None
        and not s.counting
        and not intent.dims
        and not any(g for _, _, g in s.dims)
        and s.measures
        and all(cue is None for _, _, cue in s.measures)
    ):
        intent.select = unique([el for _, el, _ in s.measures] + intent.select)
        intent.trace.append("list the rows with " + ", ".join(el.label() for _, el, _ in s.measures))
        s.measures = []


def count_targets(s: RoleState) -> None:
    """Count targets: "how many airlines" → COUNT(DISTINCT carrier) unless it is the main table itself."""
    p, intent = s.p, s.intent
    for c in s.count_cues:
        following = [m for m in p.mentions if m.start >= c.end]
        first_after = min(following, key=lambda m: m.start) if following else None
        counted = next(
            (
                d
                for d in s.dims
                if not d[2]
                and first_after is not None
                and d[0] is first_after
                and len(p.gap_words(c.end, first_after.start)) <= 2
            ),
            None,
        )
        if counted is None:
            counted = next(
                (
                    d
                    for d in s.dims
                    if not d[2]
                    and 0 <= c.start - d[0].end <= 6
                    and p.q[d[0].end : c.start].strip(" 的有是") == ""
                ),
                None,
            )
        grouped_too = counted is not None and any(d[1] == counted[1] for d in s.dims if d is not counted)
        if grouped_too and counted is not None:
            # "number of planes built after 2005 by manufacturer": a column counted distinct within its own
            # groups is always 1, so the noun names the rows counted, not the column.
            s.dims.remove(counted)
            intent.spans.append((counted[0].start, counted[0].end))
        elif counted is not None and not p.near_before(counted[0].start, ("by",), window=1):
            s.count_distinct = counted[1]
            s.dims.remove(counted)


def group_dimensions(s: RoleState) -> None:
    """The grouped dimensions become GROUP BY columns, the others selected columns."""
    p, intent = s.p, s.intent
    prev_dim_end = 0
    s.dims.sort(key=lambda d: d[0].start)
    for m, el, grouped in s.dims:
        prev_dim = intent.dims[-1] if intent.dims else None
        joined = p.q[prev_dim_end : m.start].strip().lower() if prev_dim is not None else ""
        bare_group = (
            not grouped
            and prev_dim is not None
            and joined in ("and", "&", ",", "和", "与", "及", "、", "以及")
        )
        prev_dim_end = m.end
        dim_label = s.labels.get(id(m))
        if grouped or bare_group:
            prev_dim_end = m.end
            if dated(p, el) and any(d.bucket or calendar_name(d.column) for d in intent.dims):
                # "每年各上映了多少部": the release verb of rows already grouped by a period, not its raw date
                intent.spans.append((m.start, m.end))
                continue
            if not any(d.column == el for d in intent.dims):
                s.dim_mentions[el] = m
                intent.dims.append(Dimension(el, None, dim_label))
                named = f" (named by {dim_label.label()} via {el.label()})" if dim_label is not None else ""
                intent.trace.append(f"'{m.text}' → group by {el.label()}{named}")
        else:
            intent.select.append(el)


def compare_values(s: RoleState) -> None:
    """"Compare JFK and LGA", "horror vs comedies": values of one column asked side by side are groups."""
    p, intent = s.p, s.intent
    if (p.has("compare") or _asks_each_value(p)) and not intent.dims:
        _compare_groups(intent, s.value_filters)
    elif intent.dims:
        # "Consumer vs Corporate sales by region", 各地区家具与科技类的利润: several named values of one column
        # split each group too (the split answer holds their sum; the sum alone would hide the comparison).
        _compare_groups(intent, s.value_filters)


def _counted_groups(p: Parser, count_cues: list[Cue], dims: list[tuple[Mention, Element, bool]]) -> str | None:
    """Whether a count asks for the number of groups; the words that say so (for the trace), else None.

    "how many cities have total sales over 10,000", 有多少个城市…: the count right before the first grouping;
    "总利润为负的子类别有几个": the count asked at the end, right after the only grouping.
    """
    for c in count_cues:
        counted_dims = [d for d in dims if d[0].start >= c.end and len(p.gap_words(c.end, d[0].start)) <= 2]
        if counted_dims and counted_dims[0][0] is min((d[0] for d in dims), key=lambda m: m.start):
            return f"'{c.text} {counted_dims[0][0].text}'"
        last = max((d[0] for d in dims), key=lambda m: m.start, default=None)
        if last is None or last.end > c.start or len(dims) != 1 or p.q[c.end :].strip(" ？?。.！!"):
            continue
        if {t.text for t in p.gap_words(last.end, c.start)} <= {"有", "一共", "共", "总共"}:
            return f"'{last.text}…{c.text}'"
    return None


_WHICH_OR = re.compile(
    r"\bwhich\b.*\bor\b|\b(?:more|fewer|less|higher|lower|better|worse|bigger|smaller)\b.*\bor\b|哪(?:个|家|一个)",
    re.IGNORECASE,
)


def _asks_each_value(p: Parser) -> bool:
    """Two named values asked side by side: "A and B respectively", "A vs B", "did more leave from A or B"."""
    return bool(EACH_VALUE.search(p.q) or _WHICH_OR.search(p.q))


def _compare_groups(intent: Intent, value_filters: list[tuple[int, Filter]]) -> None:
    """Group by the column whose values are compared, keeping only those values (items of a list column)."""
    by_column: dict[Element, list[Filter]] = {}
    for _, f in value_filters:
        if f.op in ("in", "like", "like any") and all(d.column != f.column for d in intent.dims):
            by_column.setdefault(f.column, []).append(f)
    for el, filters in by_column.items():
        if filters[0].op == "in":
            intent.dims.append(Dimension(el))
            intent.trace.append(f"compared values → group by {el.label()}")
            return
        patterns = [v for f in filters for v in (f.value if f.op == "like any" else [f.value])]
        if len(patterns) >= 2:  # list column: one LIKE per value becomes one group per item
            items = [str(v).strip("%") for v in patterns]
            value_filters[:] = [(pos, f) for pos, f in value_filters if f not in filters]
            value_filters.append((0, Filter(el, "in", items, part="item")))
            intent.dims.append(Dimension(el))
            intent.trace.append(f"compared items → group by items of {el.label()} in {items}")
            return
